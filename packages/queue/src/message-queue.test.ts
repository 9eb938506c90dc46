// The contract suite: the same cases against both backends (and the memory one spilling). The Redis cases use the private
// redis-server of the vitest global setup and a fresh queuePrefix per test.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_MARKER_VALUE, MessageQueue, isQueueError } from './index.js'
import type { BrowseResult, MessageQueueConfig, QueueMessage, QueuedMessageInfo } from './index.js'

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
    expect(await mq.deadLetterCount('q')).toBe(1)
    expect(await mq.deadLetterCount('other')).toBe(0)
    await mq.send('q', 'b')
    expect(await mq.redrive('q')).toBe(1)
    expect(await mq.deadLetterCount('q')).toBe(0)
    // A redriven message goes behind those already waiting.
    expect((await mq.receiveBatch('q', { max: 5 })).map((m) => m.payload)).toEqual(['b', 'a'])

    const drop = await make({ deadLetterEnabled: false })
    await drop.send('q', 'c')
    expect(await drop.nack((await drop.receive('q'))!, { requeue: false })).toBe('dropped')
    expect(await drop.deadLetters('q')).toEqual([])
    expect(await drop.deadLetterCount('q')).toBe(0)
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

  /** Every page of browse, with `limit` per page; checks each page's size. */
  async function browseAll(
    mq: MessageQueue,
    queue: string,
    limit: number,
    payloads = false,
  ): Promise<QueuedMessageInfo[]> {
    const out: QueuedMessageInfo[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < 10_000; pages++) {
      const page: BrowseResult = await mq.browse(queue, { limit, cursor, payloads })
      expect(page.messages.length).toBeLessThanOrEqual(limit)
      out.push(...page.messages)
      cursor = page.cursor
      if (cursor === null) return out
      expect(page.messages).toHaveLength(limit)
    }
    throw new Error('browse did not end')
  }

  it('browse lists in-flight, ready, key-blocked and delayed messages in order, with their fields', async () => {
    const mq = await make({ visibilityTimeout: 600 })
    expect(await mq.browse('q')).toEqual({ messages: [], cursor: null })
    const before = Date.now()
    const [r1, hi, k1, k2, dLate, dSoon, r2] = await mq.sendBatch('q', [
      { payload: 'r1 Zoë', headers: { type: 'ADT^A01' } },
      { payload: 'hi', priority: 5 },
      { payload: 'k1', orderingKey: 'MRN1', priority: -1 },
      { payload: 'k2', orderingKey: 'MRN1', priority: 9 },
      { payload: 'late', delayMs: 60_000 },
      { payload: 'soon', delayMs: 30_000 },
      { payload: 'r2' },
    ])
    const held = await mq.receive('q')
    expect(held?.id).toBe(hi)
    const failed = await mq.receive('q')
    expect(failed?.id).toBe(r1)
    expect(await mq.nack(failed!, { requeue: true, delayMs: 0, error: 'EPR down' })).toBe(
      'requeued',
    )
    const all = await browseAll(mq, 'q', 100)
    expect(all.map((m) => [m.id, m.state])).toEqual([
      [hi, 'in-flight'],
      [r1, 'ready'],
      [r2, 'ready'],
      [k1, 'ready'],
      // Behind k1 (same key): listed after the ready ones although its priority is higher.
      [k2, 'ready'],
      [dSoon, 'delayed'],
      [dLate, 'delayed'],
    ])
    const byId = new Map<string | undefined, QueuedMessageInfo>(all.map((m) => [m.id, m]))
    expect(byId.get(r1)).toEqual({
      id: r1,
      queue: 'q',
      state: 'ready',
      headers: { type: 'ADT^A01' },
      priority: 0,
      orderingKey: null,
      attempts: 1,
      enqueuedAt: expect.any(Number) as number,
      dueAt: null,
      lastError: 'EPR down',
      // UTF-8 bytes: 'ë' is two.
      payloadSize: 7,
    })
    expect(byId.get(r1)!.enqueuedAt).toBeGreaterThanOrEqual(before - 5_000)
    expect(byId.get(hi)).toMatchObject({ attempts: 1, lastError: null, priority: 5 })
    expect(byId.get(hi)!.dueAt).toBeGreaterThan(byId.get(hi)!.enqueuedAt + 500_000)
    expect(byId.get(k2)).toMatchObject({ orderingKey: 'MRN1', attempts: 0, dueAt: null })
    const soon = byId.get(dSoon)!
    expect(soon.dueAt! - soon.enqueuedAt).toBe(30_000)
    expect(all.every((m) => !('payload' in m))).toBe(true)
    const withBodies = await browseAll(mq, 'q', 3, true)
    expect(withBodies.map((m) => m.payload)).toEqual([
      'hi',
      'r1 Zoë',
      'r2',
      'k1',
      'k2',
      'soon',
      'late',
    ])
    // Browsing takes nothing.
    expect(await mq.depth('q')).toBe(6)
    expect(await mq.inFlight('q')).toBe(1)
  })

  it('browse pages with a keyset cursor: every stable message once, also while messages come and go', async () => {
    const mq = await make({ visibilityTimeout: 600 })
    const items = Array.from({ length: 40 }, (_, i) => ({
      payload: `m${i}`,
      priority: i % 3,
      ...(i % 10 === 0 ? { delayMs: 60_000 + i } : {}),
      ...(i % 7 === 0 ? { orderingKey: `k${i % 2}` } : {}),
    }))
    await mq.sendBatch('q', items)
    // Several in flight with the same visibility deadline: ties are ordered by id.
    await mq.receiveBatch('q', { max: 6 })
    const whole = await browseAll(mq, 'q', 1000)
    expect(whole).toHaveLength(40)
    for (const limit of [1, 3, 7]) {
      expect((await browseAll(mq, 'q', limit)).map((m) => m.id)).toEqual(whole.map((m) => m.id))
    }
    // While paging: a listed message is removed, an unlisted one removed, new ones sent (they
    // sort after the cursor: same or lower priority, later sequence). Stable ones: exactly once.
    const first = await mq.browse('q', { limit: 10 })
    const gone = [first.messages.at(-1)!.id, whole[25]!.id]
    for (const id of gone) expect((await mq.remove('q', id)).outcome).toBe('removed')
    const added = await mq.sendBatch('q', [{ payload: 'new1' }, { payload: 'new2' }])
    const rest: QueuedMessageInfo[] = []
    let cursor = first.cursor
    while (cursor !== null) {
      const page = await mq.browse('q', { limit: 4, cursor })
      rest.push(...page.messages)
      cursor = page.cursor
    }
    const seen = [...first.messages, ...rest].map((m) => m.id)
    expect(new Set(seen).size).toBe(seen.length)
    for (const m of whole) expect(seen.includes(m.id) || m.id === gone[1]).toBe(true)
    expect(seen).not.toContain(gone[1])
    for (const id of added) expect(seen).toContain(id)
  })

  it('browse rejects a bad limit or cursor', async () => {
    const mq = await make()
    await mq.send('q', 'x')
    for (const limit of [0, 1001, 1.5]) {
      await rejectsWith(mq.browse('q', { limit }), 'QUEUE_INVALID_ARGUMENT')
    }
    await rejectsWith(mq.browse('q', { cursor: 'not-a-cursor' }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(mq.browse('', {}), 'QUEUE_INVALID_ARGUMENT')
    expect((await mq.browse('q', { limit: 1000 })).messages).toHaveLength(1)
  })

  it('remove takes out a ready, delayed or dead message, refuses one in flight, and keeps the counters', async () => {
    const mq = await make({ visibilityTimeout: 600, maxRetries: 0 })
    const [ready, delayed, inflight, dead, other] = await mq.sendBatch('q', [
      { payload: 'ready', headers: { a: '1' }, priority: 1 },
      { payload: 'delayed', delayMs: 60_000 },
      { payload: 'inflight', priority: 9 },
      { payload: 'dead', priority: 8 },
      { payload: 'other' },
    ])
    const held = await mq.receive('q')
    expect(held?.id).toBe(inflight)
    const toDie = await mq.receive('q')
    expect(toDie?.id).toBe(dead)
    expect(await mq.nack(toDie!, { requeue: true, error: 'bad segment' })).toBe('dead-lettered')
    expect([await mq.depth('q'), await mq.inFlight('q')]).toEqual([3, 1])

    const r = await mq.remove('q', ready!)
    expect(r).toEqual({
      outcome: 'removed',
      from: 'waiting',
      message: {
        id: ready,
        queue: 'q',
        payload: 'ready',
        headers: { a: '1' },
        priority: 1,
        orderingKey: null,
        attempts: 0,
        enqueuedAt: expect.any(Number) as number,
        lastError: null,
      },
    })
    expect(await mq.remove('q', delayed!)).toMatchObject({
      outcome: 'removed',
      from: 'waiting',
      message: { payload: 'delayed' },
    })
    expect(await mq.remove('q', dead!)).toMatchObject({
      outcome: 'removed',
      from: 'dead',
      message: { payload: 'dead', attempts: 1, lastError: 'bad segment' },
    })
    expect(await mq.remove('q', inflight!)).toEqual({ outcome: 'in-flight' })
    expect(await mq.remove('q', 'no-such-id')).toEqual({ outcome: 'not-found' })
    expect(await mq.remove('q', ready!)).toEqual({ outcome: 'not-found' })
    expect(await mq.remove('other-queue', other!)).toEqual({ outcome: 'not-found' })
    await rejectsWith(mq.remove('q', ''), 'QUEUE_INVALID_ARGUMENT')

    expect([await mq.depth('q'), await mq.inFlight('q')]).toEqual([1, 1])
    expect(await mq.deadLetters('q')).toEqual([])
    expect((await browseAll(mq, 'q', 10)).map((m) => m.id)).toEqual([inflight, other])
    // The held delivery is untouched: its ack still works. Only `other` is ever delivered again.
    await mq.ack(held!)
    const rest = await mq.receiveBatch('q', { max: 10 })
    expect(rest.map((m) => m.id)).toEqual([other])
    await mq.ack(rest[0]!)
    expect([await mq.depth('q'), await mq.inFlight('q'), await mq.oldestAgeMs('q')]).toEqual([
      0, 0, 0,
    ])
    expect(await mq.browse('q')).toEqual({ messages: [], cursor: null })
  })

  it('remove of an ordering-key head lets the next of the key go; of a blocked one, skips it', async () => {
    const mq = await make({ visibilityTimeout: 600 })
    const [a1, a2, a3, a4] = await mq.sendBatch(
      'q',
      ['a1', 'a2', 'a3', 'a4'].map((payload) => ({ payload, orderingKey: 'MRN' })),
    )
    expect((await mq.remove('q', a3!)).outcome).toBe('removed')
    expect((await mq.remove('q', a1!)).outcome).toBe('removed')
    const next = await mq.receiveBatch('q', { max: 10 })
    expect(next.map((m) => m.id)).toEqual([a2])
    expect(await mq.remove('q', a2!)).toEqual({ outcome: 'in-flight' })
    await mq.ack(next[0]!)
    const last = await mq.receiveBatch('q', { max: 10 })
    expect(last.map((m) => m.id)).toEqual([a4])
    await mq.ack(last[0]!)
    expect(await mq.depth('q')).toBe(0)
    expect(await mq.oldestAgeMs('q')).toBe(0)
  })

  it('remove racing receives: each message goes to exactly one of them', async () => {
    // Redis: two MessageQueue instances (two connections, as two processes); memory: one.
    const receiver = await make({ visibilityTimeout: 600 })
    const remover =
      backend === 'redis'
        ? await make({ visibilityTimeout: 600, queuePrefix: receiver.config.queuePrefix })
        : receiver
    const ids = await receiver.sendBatch(
      'q',
      Array.from({ length: 300 }, (_, i) => ({ payload: `m${i}`, priority: i % 2 })),
    )
    const received: string[] = []
    const removed: string[] = []
    const inFlight: string[] = []
    await Promise.all([
      (async () => {
        for (;;) {
          const got = await receiver.receiveBatch('q', { max: 7 })
          if (got.length === 0) return
          received.push(...got.map((m) => m.id))
          await receiver.ackMany(got)
          await new Promise((r) => setImmediate(r))
        }
      })(),
      (async () => {
        for (const id of [...ids].reverse()) {
          // Give the receiver's round trips (timers, sockets) a turn between removes.
          await new Promise((r) => setImmediate(r))
          const r = await remover.remove('q', id)
          if (r.outcome === 'removed') {
            expect(r.from).toBe('waiting')
            expect(r.message.id).toBe(id)
            removed.push(id)
          } else if (r.outcome === 'in-flight') {
            inFlight.push(id)
          }
        }
      })(),
    ])
    expect(removed.filter((id) => received.includes(id))).toEqual([])
    expect(new Set([...received, ...removed]).size).toBe(300)
    expect(received.length + removed.length).toBe(300)
    for (const id of inFlight) expect(received).toContain(id)
    expect(await receiver.depth('q')).toBe(0)
    expect(await receiver.inFlight('q')).toBe(0)
    expect(await receiver.deadLetters('q')).toEqual([])
    expect(await receiver.receive('q')).toBeNull()
  })

  it('cancel requests: set by one client, read by another, cleared, and expiring', async () => {
    // Redis: the holder and the operator are two instances (two engine processes).
    const holder = await make({ visibilityTimeout: 600 })
    const operator =
      backend === 'redis'
        ? await make({ visibilityTimeout: 600, queuePrefix: holder.config.queuePrefix })
        : holder
    const id = await holder.send('q', 'poison')
    const held = await holder.receive('q')
    expect(held?.id).toBe(id)
    expect(await holder.cancelRequest('q', id)).toBeNull()
    await operator.requestCancel('q', id, 'receiver rejects it')
    expect(await holder.cancelRequest('q', id)).toBe('receiver rejects it')
    // Per queue: the same id elsewhere has none.
    expect(await holder.cancelRequest('other', id)).toBeNull()
    expect(await holder.clearCancel('q', id)).toBe(true)
    expect(await operator.cancelRequest('q', id)).toBeNull()
    expect(await holder.clearCancel('q', id)).toBe(false)
    // A request for a message that finished otherwise expires by itself.
    await operator.requestCancel('q', 'gone', 'late', { ttlMs: 30 })
    await new Promise((r) => setTimeout(r, 120))
    expect(await holder.cancelRequest('q', 'gone')).toBeNull()
    // The message itself is untouched by the request.
    expect(await holder.inFlight('q')).toBe(1)
    await rejectsWith(operator.requestCancel('q', '', 'x'), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(operator.requestCancel('q', id, ''), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(operator.requestCancel('q', id, 'x', { ttlMs: 0 }), 'QUEUE_INVALID_ARGUMENT')
  })

  it('markers: set by one client, read by another, per queue, and expiring', async () => {
    const a = await make()
    const b = backend === 'redis' ? await make({ queuePrefix: a.config.queuePrefix }) : a
    expect(await b.getMarker('PAS.In', 'h1')).toBeNull()
    await a.setMarker('PAS.In', 'h1', 'session-1', { ttlMs: 60_000 })
    expect(await b.getMarker('PAS.In', 'h1')).toBe('session-1')
    expect(await b.getMarker('LAB.In', 'h1')).toBeNull()
    // Set again: the newer value wins.
    await b.setMarker('PAS.In', 'h1', 'session-2', { ttlMs: 60_000 })
    expect(await a.getMarker('PAS.In', 'h1')).toBe('session-2')
    await a.setMarker('PAS.In', 'short', 'x', { ttlMs: 30 })
    await new Promise((r) => setTimeout(r, 120))
    expect(await b.getMarker('PAS.In', 'short')).toBeNull()
    await rejectsWith(a.setMarker('PAS.In', '', 'x', { ttlMs: 1 }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(a.setMarker('PAS.In', 'n', '', { ttlMs: 1 }), 'QUEUE_INVALID_ARGUMENT')
    await rejectsWith(a.setMarker('PAS.In', 'n', 'x', { ttlMs: 0 }), 'QUEUE_INVALID_ARGUMENT')
    // Up to MAX_MARKER_VALUE characters (an ACK carried back to a synchronous call), not more.
    const big = 'A'.repeat(MAX_MARKER_VALUE)
    await a.setMarker('PAS.In', 'big', big, { ttlMs: 60_000 })
    expect(await b.getMarker('PAS.In', 'big')).toBe(big)
    await rejectsWith(a.setMarker('PAS.In', 'n', big + 'A', { ttlMs: 1 }), 'QUEUE_INVALID_ARGUMENT')
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
