// The contract suite: the same cases against both backends (and the memory one spilling). The Redis cases use the private
// redis-server of the vitest global setup and a fresh queuePrefix per test.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageQueue, isQueueError } from './index.js'
import type { MessageQueueConfig, QueueMessage } from './index.js'

// 'memory-spill': the memory backend with a budget of 0 bytes, so every body goes through a spill
// file and is read back on delivery; it must behave exactly as the other two.
const backends = ['memory', 'redis', 'memory-spill'] as const

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const e: unknown = await p.then(
    () => new Error('expected a rejection'),
    (err: unknown) => err,
  )
  expect(isQueueError(e) ? e.code : e).toBe(code)
}

describe.each(backends)('MessageQueue contract (%s)', (backend) => {
  const open: MessageQueue[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((q) => q.stop()))
  })

  async function make(extra: MessageQueueConfig = {}): Promise<MessageQueue> {
    const mq = new MessageQueue({
      backend: backend === 'memory-spill' ? 'memory' : backend,
      ...(backend === 'redis' ? { redisUrl: redisUrl(), queuePrefix: `t:${randomUUID()}` } : {}),
      ...(backend === 'memory-spill' ? { memoryLimitBytes: 0 } : {}),
      visibilityTimeout: 1,
      retryDelay: 0,
      ...extra,
    })
    open.push(mq)
    await mq.start()
    return mq
  }

  it('round-trips a message with its fields, and counts depth, in flight and age', async () => {
    const mq = await make()
    expect(await mq.receive('q')).toBeNull()
    expect(await mq.oldestAgeMs('q')).toBe(0)
    const id = await mq.send('q', 'MSH|^~\\&|A', { headers: { type: 'ADT^A01' }, priority: 2 })
    expect(await mq.depth('q')).toBe(1)
    const msg = await mq.receive('q')
    expect(msg).toMatchObject({
      id,
      queue: 'q',
      payload: 'MSH|^~\\&|A',
      headers: { type: 'ADT^A01' },
      priority: 2,
      orderingKey: null,
      attempts: 1,
      deliveryCount: 1,
    })
    expect(msg!.enqueuedAt).toBeGreaterThan(0)
    expect(await mq.depth('q')).toBe(0)
    expect(await mq.inFlight('q')).toBe(1)
    expect(await mq.oldestAgeMs('q')).toBeGreaterThanOrEqual(0)
    await mq.ack(msg!)
    expect(await mq.inFlight('q')).toBe(0)
    expect(await mq.receive('q')).toBeNull()
    await rejectsWith(mq.ack(msg!), 'QUEUE_STALE_RECEIPT')
  })

  it('serves higher priority first and FIFO within a priority', async () => {
    const mq = await make()
    await mq.sendBatch('q', [
      { payload: 'low1' },
      { payload: 'high1', priority: 5 },
      { payload: 'low2' },
      { payload: 'neg', priority: -1 },
      { payload: 'high2', priority: 5 },
    ])
    const got = await mq.receiveBatch('q', { max: 10 })
    expect(got.map((m) => m.payload)).toEqual(['high1', 'high2', 'low1', 'low2', 'neg'])
    expect(await mq.ackMany(got)).toEqual({ acked: 5, stale: [] })
  })

  it('keeps a delayed message invisible until it is due', async () => {
    const mq = await make()
    await mq.send('q', 'later', { delayMs: 300 })
    await mq.send('q', 'now')
    expect((await mq.receive('q'))?.payload).toBe('now')
    expect(await mq.receive('q')).toBeNull()
    expect(await mq.depth('q')).toBe(1)
    const later = await mq.receive('q', { waitMs: 5000 })
    expect(later?.payload).toBe('later')
  })

  it('redelivers an unacked message after the visibility timeout and refuses the stale ack', async () => {
    const mq = await make()
    const id = await mq.send('q', 'x')
    const first = await mq.receive('q')
    expect(await mq.receive('q')).toBeNull()
    const again = await mq.receive('q', { waitMs: 5000 })
    expect(again).toMatchObject({ id, attempts: 2 })
    expect(again!.receipt).not.toBe(first!.receipt)
    await rejectsWith(mq.ack(first!), 'QUEUE_STALE_RECEIPT')
    await rejectsWith(mq.nack(first!, { requeue: true }), 'QUEUE_STALE_RECEIPT')
    await mq.ack(again!)
  })

  it('extendVisibility keeps a held delivery invisible past its timeout; a stale receipt is refused', async () => {
    const mq = await make() // visibility timeout 1 s
    const id = await mq.send('q', 'held')
    const held = await mq.receive('q')
    expect(held?.id).toBe(id)
    // Extended every 400 ms for about 2.4 s: over twice the timeout, never redelivered.
    for (let i = 0; i < 6; i++) {
      await mq.extendVisibility(held!, 2000)
      await new Promise((r) => setTimeout(r, 400))
      expect(await mq.receive('q')).toBeNull()
    }
    await mq.ack(held!)
    await rejectsWith(mq.extendVisibility(held!, 1000), 'QUEUE_STALE_RECEIPT')
    // Not extended: taken back after the timeout, and the old receipt cannot extend the new delivery.
    await mq.send('q', 'dropped')
    const first = await mq.receive('q')
    const again = await mq.receive('q', { waitMs: 5000 })
    expect(again?.id).toBe(first?.id)
    await rejectsWith(mq.extendVisibility(first!, 1000), 'QUEUE_STALE_RECEIPT')
    await mq.extendVisibility(again!, 1000)
    await mq.ack(again!)
    await rejectsWith(mq.extendVisibility(again!, 0), 'QUEUE_INVALID_ARGUMENT')
  })

  it('retries maxRetries times, then dead-letters with the last error and history; redrive brings it back', async () => {
    const mq = await make({ maxRetries: 2 })
    const dead: string[] = []
    mq.on('deadLettered', (d) => dead.push(d.id))
    const id = await mq.send('q', 'poison', { headers: { a: 'b' } })
    const outcomes: string[] = []
    for (let i = 1; i <= 3; i++) {
      const m = await mq.receive('q', { waitMs: 2000 })
      expect(m).toMatchObject({ id, attempts: i })
      outcomes.push(await mq.nack(m!, { requeue: true, delayMs: 0, error: new Error(`bad ${i}`) }))
    }
    expect(outcomes).toEqual(['requeued', 'requeued', 'dead-lettered'])
    expect(dead).toEqual([id])
    expect(await mq.receive('q')).toBeNull()
    expect(await mq.depth('q')).toBe(0)
    const [dl, ...rest] = await mq.deadLetters('q')
    expect(rest).toEqual([])
    expect(dl).toMatchObject({
      id,
      payload: 'poison',
      headers: { a: 'b' },
      attempts: 3,
      lastError: 'bad 3',
    })
    expect(dl!.history.map((h) => [h.attempt, h.outcome, h.error])).toEqual([
      [1, 'nacked', 'bad 1'],
      [2, 'nacked', 'bad 2'],
      [3, 'nacked', 'bad 3'],
    ])
    expect(dl!.deadLetteredAt).toBeGreaterThanOrEqual(dl!.enqueuedAt)
    await rejectsWith(mq.redrive('q', 'no-such-id'), 'QUEUE_NOT_FOUND')
    expect(await mq.redrive('q', id)).toBe(1)
    expect(await mq.deadLetters('q')).toEqual([])
    const back = await mq.receive('q')
    expect(back).toMatchObject({ id, attempts: 1 })
    await mq.ack(back!)
  })

  it('dead-letters at once on nack without requeue, or drops when dead letters are off', async () => {
    const mq = await make()
    await mq.send('q', 'a')
    expect(await mq.nack((await mq.receive('q'))!, { requeue: false, error: 'rejected' })).toBe(
      'dead-lettered',
    )
    expect((await mq.deadLetters('q', { limit: 1 }))[0]?.lastError).toBe('rejected')
    await mq.send('q', 'b')
    expect(await mq.redrive('q')).toBe(1)
    // A redriven message goes behind those already waiting.
    expect((await mq.receiveBatch('q', { max: 5 })).map((m) => m.payload)).toEqual(['b', 'a'])

    const drop = await make({ deadLetterEnabled: false })
    await drop.send('q', 'c')
    expect(await drop.nack((await drop.receive('q'))!, { requeue: false })).toBe('dropped')
    expect(await drop.deadLetters('q')).toEqual([])
    expect(await drop.depth('q')).toBe(0)
  })

  it('dead-letters a message whose visibility timeout ran out more than maxRetries times', async () => {
    const mq = await make({ maxRetries: 0, visibilityTimeout: 0.2 })
    const id = await mq.send('q', 'slow')
    expect(await mq.receive('q')).toMatchObject({ id })
    const events: unknown[] = []
    mq.on('deadLettered', (d) => events.push(d))
    // Waiting past the timeout lets the receive script take it back and dead-letter it.
    expect(await mq.receive('q', { waitMs: 600 })).toBeNull()
    const [dl] = await mq.deadLetters('q')
    expect(dl).toMatchObject({ id, attempts: 1 })
    expect(dl!.history.map((h) => h.outcome)).toEqual(['expired'])
    expect(events).toHaveLength(1)
  })

  it('delivers messages of one ordering key one at a time and in order; other keys in parallel', async () => {
    const mq = await make()
    await mq.sendBatch('q', [
      { payload: 'A1', orderingKey: 'A' },
      { payload: 'A2', orderingKey: 'A' },
      { payload: 'B1', orderingKey: 'B' },
      { payload: 'A3', orderingKey: 'A' },
      { payload: 'free' },
    ])
    const first = await mq.receiveBatch('q', { max: 10 })
    expect(first.map((m) => m.payload)).toEqual(['A1', 'B1', 'free'])
    expect(first[0]!.orderingKey).toBe('A')
    expect(await mq.depth('q')).toBe(2)
    expect(await mq.receive('q')).toBeNull()
    await mq.ackMany(first)
    const a2 = await mq.receive('q')
    expect(a2?.payload).toBe('A2')
    // A nack keeps A2 at the head of its key: A3 must not overtake it.
    await mq.nack(a2!, { requeue: true, delayMs: 100 })
    expect(await mq.receive('q')).toBeNull()
    const a2again = await mq.receive('q', { waitMs: 3000 })
    expect(a2again).toMatchObject({ payload: 'A2', attempts: 2 })
    expect(await mq.receive('q')).toBeNull()
    // Dead-lettering the head releases the next message of the key.
    await mq.nack(a2again!, { requeue: false, error: 'bad' })
    const a3 = await mq.receive('q')
    expect(a3?.payload).toBe('A3')
    await mq.ack(a3!)
    expect(await mq.depth('q')).toBe(0)
  })

  it('keeps priority, key and delay order across batches larger than one Redis command chunk', async () => {
    const mq = await make()
    // 1,200 messages: priorities 0..2, every 4th keyed (two keys), every 10th delayed out of reach.
    const items = Array.from({ length: 1200 }, (_, i) => ({
      payload: String(i),
      priority: i % 3,
      ...(i % 4 === 0 ? { orderingKey: `k${i % 8}` } : {}),
      ...(i % 10 === 9 ? { delayMs: 600_000 } : {}),
    }))
    await mq.sendBatch('q', items)
    const visible = items
      .map((it, i) => ({ ...it, i }))
      .filter((it) => it.delayMs === undefined && (it.orderingKey === undefined || it.i < 8))
      .sort((a, b) => b.priority - a.priority || a.i - b.i)
    const first = await mq.receiveBatch('q', { max: 1000 })
    expect(first.map((m) => m.payload)).toEqual(visible.map((it) => String(it.i)))
    // A pair repeated within one ackMany is stale the second time.
    expect(await mq.ackMany([...first, first[0]!])).toEqual({
      acked: first.length,
      stale: [first[0]!.id],
    })
    // Acking the two keys' heads released their next messages, and nothing else.
    const next = await mq.receiveBatch('q', { max: 1000 })
    expect(next.map((m) => m.payload).sort()).toEqual(['12', '8'])
    expect(await mq.depth('q')).toBe(1200 - first.length - 2)
  })

  it('redelivers the head of a key after its visibility timeout, still ahead of the rest of the key', async () => {
    const mq = await make()
    await mq.sendBatch('q', [
      { payload: 'K1', orderingKey: 'K' },
      { payload: 'K2', orderingKey: 'K' },
    ])
    expect((await mq.receive('q'))?.payload).toBe('K1')
    const again = await mq.receive('q', { waitMs: 5000 })
    expect(again).toMatchObject({ payload: 'K1', attempts: 2 })
    await mq.ack(again!)
    expect((await mq.receive('q'))?.payload).toBe('K2')
  })

  it('wakes a long poll when a message is sent, and reports stale receipts in ackMany', async () => {
    const mq = await make()
    const waiting = mq.receive('q', { waitMs: 10_000 })
    setTimeout(() => void mq.send('q', 'wake'), 20)
    const m = await waiting
    expect(m?.payload).toBe('wake')
    await mq.ack(m!)
    expect(await mq.ackMany([m!])).toEqual({ acked: 0, stale: [m!.id] })
  })

  it('keeps queues apart', async () => {
    const mq = await make()
    await mq.send('one', '1')
    await mq.send('two', '2')
    expect((await mq.receive('two'))?.payload).toBe('2')
    expect(await mq.depth('one')).toBe(1)
  })

  it('rejects bad arguments and calls before start or after stop', async () => {
    const mq = await make()
    await rejectsWith(mq.send('q', 'x', { priority: 1.5 }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.send('q', 'x', { priority: 5000 }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.send('q', 'x', { delayMs: -1 }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.send('q', 'x', { orderingKey: '' }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.send('', 'x'), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.send('q', 42 as unknown as string), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.receiveBatch('q', { max: 0 }), 'QUEUE_INVALID_ARGUMENT')
    const idle = new MessageQueue({ backend: 'memory' })
    await rejectsWith(idle.send('q', 'x'), 'QUEUE_CLOSED')
    await mq.stop()
    await rejectsWith(mq.receive('q'), 'QUEUE_CLOSED')
    await rejectsWith(mq.start(), 'QUEUE_CLOSED')
  })

  it('ends a pending long poll on stop', async () => {
    const mq = await make()
    const waiting = mq.receive('q', { waitMs: 30_000 })
    await new Promise((r) => setTimeout(r, 20))
    await mq.stop()
    expect(await waiting).toBeNull()
  })
})

describe('MessageQueue config', () => {
  it('fills in the seed defaults and rejects bad values', () => {
    const mq = new MessageQueue({ backend: 'memory' })
    expect(mq.config).toEqual({
      backend: 'memory',
      redisUrl: 'redis://localhost:6379',
      queuePrefix: 'li:queue',
      visibilityTimeout: 30,
      maxRetries: 3,
      retryDelay: 5,
      deadLetterEnabled: true,
      memoryLimitBytes: 64 * 1024 * 1024,
      spillDirectory: '',
    })
    for (const bad of [
      { visibilityTimeout: 0 },
      { maxRetries: -1 },
      { retryDelay: Number.NaN },
      { backend: 'sqlite' },
      { redisUrl: 'localhost' },
      { memoryLimitBytes: -1 },
      { memoryLimitBytes: Number.NaN },
      { spillDirectory: 42 },
    ]) {
      expect(() => new MessageQueue(bad as MessageQueueConfig)).toThrow(
        expect.objectContaining({ code: 'QUEUE_INVALID_ARGUMENT' }),
      )
    }
  })

  it('backs off exponentially from retryDelay, with jitter between half and full', () => {
    const mq = new MessageQueue({ backend: 'memory', retryDelay: 5 })
    for (const [attempt, full] of [
      [1, 5000],
      [2, 10_000],
      [4, 40_000],
    ] as const) {
      const d = mq.retryDelayMs(attempt)
      expect(d).toBeGreaterThanOrEqual(full / 2)
      expect(d).toBeLessThanOrEqual(full)
    }
    expect(mq.retryDelayMs(40)).toBeLessThanOrEqual(3_600_000)
  })
})

export type { QueueMessage }
