// The memory backend over its memory budget: with a budget of 1 KiB almost every body goes to a
// spill file (real files in a fresh temp directory per test) and must come back intact, in the
// same order, through redelivery, dead letters and redrive; drained segments are deleted; a spill
// directory that cannot be written keeps the bodies in memory and reports it; a spill file that
// cannot be read dead-letters the message with the reason. Browse reads bodies back only when
// asked for payloads; remove releases a body's spill accounting.
import { spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MessageQueue, isQueueError } from './index.js'
import type { BrowseResult, MessageQueueConfig, QueueError, QueuedMessageInfo } from './index.js'
import type { BackendSendItem } from './backend.js'
import { MemoryBackend } from './memory-backend.js'

let base = ''
const open: MessageQueue[] = []

beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), 'li-spill-test-'))
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((q) => q.stop()))
  rmSync(base, { recursive: true, force: true })
})

async function make(
  extra: MessageQueueConfig = {},
): Promise<{ mq: MessageQueue; errors: QueueError[] }> {
  const mq = new MessageQueue({
    backend: 'memory',
    memoryLimitBytes: 1024,
    spillDirectory: base,
    visibilityTimeout: 30,
    retryDelay: 0,
    ...extra,
  })
  const errors: QueueError[] = []
  mq.on('spillError', (e) => errors.push(e))
  open.push(mq)
  await mq.start()
  return { mq, errors }
}

/** Files in the run directories under the spill base (one run per started queue that spilled). */
function spillFiles(dir = base): string[] {
  const out: string[] = []
  for (const run of readdirSync(dir)) {
    for (const f of readdirSync(path.join(dir, run))) out.push(path.join(dir, run, f))
  }
  return out
}

/** A distinct ~200-byte body; some with non-ASCII text, as HL7 names can be. */
function body(i: number): string {
  return `MSH|^~\\&|PAS|RXX|EPR|RXX|${i}|ADT^A01|${i}|P|2.4\rPID|||${i}^^^RXX||${i % 7 === 0 ? 'Ñúñez^Zoë' : 'SMITH^JOHN'}|`.padEnd(
    200,
    'x',
  )
}

describe('memory backend over its memory budget (1 KiB)', () => {
  it('spills bodies beyond the budget and delivers all of them intact and FIFO; drained segments are deleted', async () => {
    const { mq, errors } = await make()
    const sent = Array.from({ length: 300 }, (_, i) => body(i))
    for (let i = 0; i < sent.length; i += 50) {
      await mq.sendBatch(
        'q',
        sent.slice(i, i + 50).map((payload) => ({ payload })),
      )
    }
    expect(spillFiles().length).toBeGreaterThan(0)
    expect(await mq.depth('q')).toBe(300)
    const got = []
    for (;;) {
      const batch = await mq.receiveBatch('q', { max: 37 })
      if (batch.length === 0) break
      got.push(...batch)
    }
    expect(got.map((m) => m.payload)).toEqual(sent)
    expect(await mq.inFlight('q')).toBe(300)
    expect(await mq.depth('q')).toBe(0)
    expect(await mq.ackMany(got)).toEqual({ acked: 300, stale: [] })
    expect(spillFiles()).toEqual([])
    expect(errors).toEqual([])
    await mq.stop()
    // The run directory goes on stop.
    expect(readdirSync(base)).toEqual([])
  })

  it('keeps priorities and per-key order for spilled bodies', async () => {
    const { mq } = await make()
    const items = Array.from({ length: 60 }, (_, i) => ({
      payload: body(i),
      priority: i % 3,
      ...(i % 2 === 0 ? { orderingKey: `k${i % 4}` } : {}),
    }))
    await mq.sendBatch('q', items)
    const order: string[] = []
    for (;;) {
      const batch = await mq.receiveBatch('q', { max: 100 })
      if (batch.length === 0) break
      order.push(...batch.map((m) => m.payload))
      await mq.ackMany(batch)
    }
    expect(order).toHaveLength(60)
    // Per key: send order.
    for (const k of ['k0', 'k2']) {
      const sentOfKey = items.filter((it) => it.orderingKey === k).map((it) => it.payload)
      expect(order.filter((p) => sentOfKey.includes(p))).toEqual(sentOfKey)
    }
    // Unkeyed: by priority, FIFO within a priority (they were all ready from the start).
    const unkeyed = items.filter((it) => it.orderingKey === undefined)
    const expected = [...unkeyed]
      .sort((a, b) => b.priority - a.priority || items.indexOf(a) - items.indexOf(b))
      .map((it) => it.payload)
    expect(order.filter((p) => unkeyed.some((u) => u.payload === p))).toEqual(expected)
    expect(spillFiles()).toEqual([])
  })

  it('redelivers the same body after the visibility timeout, and after a nack', async () => {
    const { mq } = await make({ visibilityTimeout: 0.1 })
    const sent = Array.from({ length: 20 }, (_, i) => body(i))
    await mq.sendBatch(
      'q',
      sent.map((payload) => ({ payload })),
    )
    const first = await mq.receiveBatch('q', { max: 20 })
    expect(first.map((m) => m.payload)).toEqual(sent)
    await new Promise((r) => setTimeout(r, 150))
    const again = await mq.receiveBatch('q', { max: 20 })
    expect(again.map((m) => [m.payload, m.attempts])).toEqual(sent.map((p) => [p, 2]))
    await mq.extendVisibility(again[0]!, 60_000)
    expect(await mq.nack(again[1]!, { requeue: true, delayMs: 0, error: 'EPR down' })).toBe(
      'requeued',
    )
    const third = await mq.receive('q')
    expect(third?.payload).toBe(sent[1])
    expect(third?.attempts).toBe(3)
  })

  it('keeps bodies and headers through dead-lettering and redrive', async () => {
    const { mq } = await make({ maxRetries: 0 })
    const sent = Array.from({ length: 30 }, (_, i) => body(i))
    const headers = (i: number): Record<string, string> =>
      i % 3 === 0 ? {} : { sessionId: `s-${i}`, source: 'PAS "In"\n' }
    await mq.sendBatch(
      'q',
      sent.map((payload, i) => ({ payload, headers: headers(i) })),
    )
    const first = await mq.receiveBatch('q', { max: 30 })
    expect(first.map((m) => m.headers)).toEqual(sent.map((_, i) => headers(i)))
    for (const m of first) {
      expect(await mq.nack(m, { requeue: true, error: 'rejected' })).toBe('dead-lettered')
    }
    const dead = await mq.deadLetters('q')
    expect(dead.map((d) => d.payload)).toEqual(sent)
    expect(dead.map((d) => d.headers)).toEqual(sent.map((_, i) => headers(i)))
    expect(dead[0]!.lastError).toBe('rejected')
    expect(await mq.redrive('q')).toBe(30)
    const back = await mq.receiveBatch('q', { max: 30 })
    expect(back.map((m) => m.payload)).toEqual(sent)
    expect(back.map((m) => m.headers)).toEqual(sent.map((_, i) => headers(i)))
    await mq.ackMany(back)
    expect(spillFiles()).toEqual([])
  })

  it('deletes a segment file once its last body is acked, and rotates segments', async () => {
    const b = new MemoryBackend(
      { visibilityTimeoutMs: 60_000, maxRetries: 3, deadLetterEnabled: true },
      { memoryLimitBytes: 1024, spillDirectory: base, segmentBytes: 2_000 },
    )
    await b.start()
    const items = Array.from({ length: 100 }, (_, i) => ({
      id: `m${i}`,
      payload: body(i),
      headers: {},
      priority: 0,
      orderingKey: '',
      delayMs: 0,
    }))
    for (let i = 0; i < 100; i += 5) await b.send('q', items.slice(i, i + 5))
    const stats = b.spillStats()
    // Five 200-byte bodies fit in the 1 KiB budget; the other 19 five-body writes (~1,000 bytes
    // each) go two to a 2,000-byte segment.
    expect(stats.memoryBytes).toBeLessThanOrEqual(1024)
    expect(stats.spilledBodies).toBe(95)
    expect(stats.segments).toBeGreaterThanOrEqual(7)
    expect(spillFiles()).toHaveLength(stats.segments)
    const { messages } = await b.receive('q', 100)
    expect(messages.map((m) => m.payload)).toEqual(items.map((it) => it.payload))
    // Ack from the back: the newest segments drain first and go one by one.
    let files = spillFiles().length
    for (const m of [...messages].reverse()) {
      expect(await b.ack('q', [{ id: m.id, receipt: m.receipt }])).toEqual([true])
      const now = spillFiles().length
      expect(now).toBeLessThanOrEqual(files)
      files = now
    }
    expect(spillFiles()).toEqual([])
    expect(b.spillStats()).toMatchObject({ memoryBytes: 0, spilledBodies: 0, segments: 0 })
    await b.stop()
    expect(readdirSync(base)).toEqual([])
  })

  it('spills each queue into its own segments, so a queue that drains frees its files while another waits', async () => {
    const b = new MemoryBackend(
      { visibilityTimeoutMs: 60_000, maxRetries: 3, deadLetterEnabled: true },
      { memoryLimitBytes: 0, spillDirectory: base, segmentBytes: 2_000 },
    )
    await b.start()
    const item = (q: string, i: number) => ({
      id: `${q}${i}`,
      payload: body(i),
      headers: {},
      priority: 0,
      orderingKey: '',
      delayMs: 0,
    })
    // Interleaved, as a router's queue and a stopped operation's queue fill during an outage.
    for (let i = 0; i < 40; i++) {
      await b.send('router', [item('r', i)])
      await b.send('stopped', [item('s', i)])
    }
    const both = spillFiles().length
    const { messages } = await b.receive('router', 100)
    expect(messages).toHaveLength(40)
    for (const m of messages) await b.ack('router', [{ id: m.id, receipt: m.receipt }])
    // Only the waiting queue's segments are left (about half the files), and its bodies are intact.
    const left = spillFiles().length
    expect(left).toBeLessThan(both)
    expect(left).toBeLessThanOrEqual(Math.ceil(both / 2))
    const waiting = await b.receive('stopped', 100)
    expect(waiting.messages.map((m) => m.payload)).toEqual(
      Array.from({ length: 40 }, (_, i) => body(i)),
    )
    await b.stop()
  })

  it('keeps bodies in memory and reports QUEUE_SPILL_WRITE_FAILED when the spill directory cannot be written', async () => {
    // A regular file where the spill directory should be: mkdir under it fails (ENOTDIR), as a
    // full or read-only disk would.
    const blocker = path.join(base, 'not-a-directory')
    writeFileSync(blocker, '')
    const { mq, errors } = await make({ spillDirectory: path.join(blocker, 'spill') })
    const sent = Array.from({ length: 50 }, (_, i) => body(i))
    await mq.sendBatch(
      'q',
      sent.map((payload) => ({ payload })),
    )
    await mq.send('q', body(50))
    // start() already reports that it cannot look for stale runs there; the failed write says the
    // bodies stay in memory, once: the second send (within a second) does not try the disk again.
    expect(errors.every((e) => isQueueError(e) && e.code === 'QUEUE_SPILL_WRITE_FAILED')).toBe(true)
    expect(errors.filter((e) => e.message.includes('stay in memory'))).toHaveLength(1)
    expect(await mq.depth('q')).toBe(51)
    const got = await mq.receiveBatch('q', { max: 100 })
    expect(got.map((m) => m.payload)).toEqual([...sent, body(50)])
    expect(await mq.ackMany(got)).toEqual({ acked: 51, stale: [] })
  })

  it('dead-letters a message whose spilled body cannot be read, with the reason, and goes on', async () => {
    const { mq, errors } = await make()
    const dead: unknown[] = []
    mq.on('deadLettered', (d) => dead.push(d))
    const sent = Array.from({ length: 20 }, (_, i) => body(i))
    await mq.sendBatch(
      'q',
      sent.map((payload) => ({ payload })),
    )
    // Cut every spill file short: the spilled bodies can no longer be read back.
    for (const f of spillFiles()) truncateSync(f, 0)
    const got = await mq.receiveBatch('q', { max: 20 })
    // The bodies that fit in the budget are delivered; the others are dead letters, not lost.
    expect(got.length).toBeGreaterThan(0)
    expect(got.length).toBeLessThan(20)
    expect(got.map((m) => m.payload)).toEqual(sent.slice(0, got.length))
    const lost = 20 - got.length
    expect(dead).toHaveLength(lost)
    expect(dead[0]).toMatchObject({ queue: 'q', dropped: false })
    expect((dead[0] as { error: string }).error).toContain('cannot read a spilled message body')
    expect(errors.filter((e) => e.code === 'QUEUE_SPILL_READ_FAILED')).toHaveLength(lost)
    expect(await mq.depth('q')).toBe(0)
    // Listing them needs their bodies: a typed error, not a crash and not an empty payload.
    const listed: unknown = await mq.deadLetters('q').catch((e: unknown) => e)
    expect(isQueueError(listed) && listed.code).toBe('QUEUE_SPILL_READ_FAILED')
  })

  it('browse reads spilled bodies back only with payloads; remove releases their spill files', async () => {
    const { mq, errors } = await make()
    const sent = Array.from({ length: 120 }, (_, i) => body(i))
    const ids = await mq.sendBatch(
      'q',
      sent.map((payload, i) => ({ payload, headers: { n: String(i) } })),
    )
    expect(spillFiles().length).toBeGreaterThan(0)
    const pages: QueuedMessageInfo[] = []
    let cursor: string | null = null
    do {
      const page: BrowseResult = await mq.browse('q', { limit: 50, cursor, payloads: true })
      pages.push(...page.messages)
      cursor = page.cursor
    } while (cursor !== null)
    expect(pages.map((m) => m.payload)).toEqual(sent)
    expect(pages.map((m) => m.headers)).toEqual(sent.map((_, i) => ({ n: String(i) })))
    expect(pages.map((m) => m.payloadSize)).toEqual(sent.map((b) => Buffer.byteLength(b)))
    // Remove every other one (spilled or not), receive the rest: nothing left on disk.
    for (let i = 0; i < ids.length; i += 2) {
      const r = await mq.remove('q', ids[i]!)
      expect(r.outcome === 'removed' && r.message.payload).toBe(sent[i])
    }
    expect(await mq.depth('q')).toBe(60)
    const rest = await mq.receiveBatch('q', { max: 1000 })
    expect(rest.map((m) => m.payload)).toEqual(sent.filter((_, i) => i % 2 === 1))
    await mq.ackMany(rest)
    expect(spillFiles()).toEqual([])
    expect(errors).toEqual([])
  })

  it('remove of spilled messages gives back their memory and spill accounting, waiting and dead', async () => {
    const b = new MemoryBackend(
      { visibilityTimeoutMs: 60_000, maxRetries: 0, deadLetterEnabled: true },
      { memoryLimitBytes: 1024, spillDirectory: base, segmentBytes: 2_000 },
    )
    await b.start()
    const items = Array.from({ length: 40 }, (_, i): BackendSendItem => ({
      id: `m${i}`,
      payload: body(i),
      headers: i % 2 === 0 ? { n: String(i) } : {},
      priority: 0,
      orderingKey: i % 5 === 0 ? 'K' : '',
      delayMs: i % 3 === 0 ? 60_000 : 0,
    }))
    await b.send('q', items)
    expect(b.spillStats().spilledBodies).toBeGreaterThan(30)
    // Dead-letter two messages, then remove everything: in memory, spilled, delayed, key-blocked.
    const { messages } = await b.receive('q', 2)
    for (const m of messages) await b.nack('q', m.id, m.receipt, false, 0, 'x')
    for (const it of items) {
      const r = await b.remove('q', it.id)
      expect(r.outcome).toBe('removed')
      if (r.outcome === 'removed') {
        expect(r.message.payload).toBe(it.payload)
        expect(r.message.headers).toEqual(it.headers)
        expect(r.from).toBe(messages.some((m) => m.id === it.id) ? 'dead' : 'waiting')
      }
    }
    expect(b.spillStats()).toMatchObject({ memoryBytes: 0, spilledBodies: 0, segments: 0 })
    expect(spillFiles()).toEqual([])
    expect(await b.stats('q')).toMatchObject({ live: 0, inFlight: 0, oldestEnqueuedAt: null })
    expect(await b.deadLetters('q', 100)).toEqual([])
    expect((await b.receive('q', 100)).messages).toEqual([])
    await b.stop()
  })

  it('browse without payloads does not read spilled bodies; an unreadable one is a typed error, and remove keeps it', async () => {
    const { mq } = await make()
    const sent = Array.from({ length: 20 }, (_, i) => body(i))
    const ids = await mq.sendBatch(
      'q',
      sent.map((payload) => ({ payload })),
    )
    for (const f of spillFiles()) truncateSync(f, 0)
    const page = await mq.browse('q', { limit: 100 })
    expect(page.messages.map((m) => m.payloadSize)).toEqual(sent.map((b) => Buffer.byteLength(b)))
    const listed: unknown = await mq.browse('q', { payloads: true }).catch((e: unknown) => e)
    expect(isQueueError(listed) && listed.code).toBe('QUEUE_SPILL_READ_FAILED')
    const removed: unknown = await mq.remove('q', ids[19]!).catch((e: unknown) => e)
    expect(isQueueError(removed) && removed.code).toBe('QUEUE_SPILL_READ_FAILED')
    expect((removed as Error).message).toContain('the message stays')
    expect(await mq.depth('q')).toBe(20)
    expect((await mq.browse('q', { limit: 100 })).messages.map((m) => m.id)).toEqual(ids)
  })

  it('removes spill run directories left by a run that is gone, and keeps other files', async () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    const goneDir = path.join(base, `li-queue-spill-${child.stdout.toString()}-0a1b2c3d`)
    const oursDir = path.join(base, `li-queue-spill-${process.pid}-deadbeef`)
    for (const d of [goneDir, oursDir]) {
      mkdirSync(d)
      writeFileSync(path.join(d, 'seg-1.spill'), 'x'.repeat(100))
    }
    writeFileSync(path.join(base, 'unrelated.txt'), 'keep me')
    const { mq, errors } = await make()
    expect(existsSync(goneDir)).toBe(false)
    expect(existsSync(oursDir)).toBe(false)
    expect(readdirSync(base)).toEqual(['unrelated.txt'])
    // A second queue on the same base does not remove the live run directory of the first.
    await mq.sendBatch(
      'q',
      Array.from({ length: 20 }, (_, i) => ({ payload: body(i) })),
    )
    const live = readdirSync(base).filter((n) => n.startsWith('li-queue-spill-'))
    expect(live).toHaveLength(1)
    await make()
    expect(readdirSync(base).filter((n) => n.startsWith('li-queue-spill-'))).toEqual(live)
    expect((await mq.receiveBatch('q', { max: 20 })).map((m) => m.payload)).toEqual(
      Array.from({ length: 20 }, (_, i) => body(i)),
    )
    expect(errors).toEqual([])
  })
})
