// MessagePath over a real WAL (fsync), a memory store and the in-process queue: the ACK point
// (`admit`) is the WAL append; the hand-off (store record, enqueue) follows, with backpressure.
import path from 'node:path'
import { MessageQueue } from '@li/queue'
import type { MessageStore } from '@li/store'
import { createMemoryStore } from '@li/store/testing'
import { Wal } from '@li/wal'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MessagePath, decodeEnvelope } from '../src/index.js'
import type { MessagePathOptions } from '../src/index.js'
import { hl7, removeDir, tempDir } from './helpers.js'

// One WAL, memory store and memory queue per test, for every describe below.
let dir: string
let wal: Wal
let store: MessageStore
let queue: MessageQueue

beforeEach(async () => {
  dir = await tempDir('path')
  wal = new Wal({ directory: path.join(dir, 'wal'), syncMode: 'fsync' })
  await wal.start()
  store = createMemoryStore()
  await store.start()
  queue = new MessageQueue({ backend: 'memory' })
  await queue.start()
})

afterEach(async () => {
  await queue.stop()
  await store.stop()
  await wal.stop()
  await removeDir(dir)
})

describe('MessagePath.admit', () => {
  const create = (extra: Partial<MessagePathOptions> = {}): MessagePath =>
    new MessagePath({
      wal,
      store,
      queue,
      logger: pino({ level: 'silent' }),
      walCompletion: 'branches',
      // Store writes are held until a read or idle() flushes them: the hand-off cannot finish.
      storeBatch: { windowMs: 60_000, maxOps: 10_000 },
      ...extra,
    })

  it('resolves once the WAL append is durable; storing and enqueueing follow', async () => {
    const p = create()
    const admitted = await p.admit({ source: 'In', raw: hl7('ADT^A01', 'A-1'), targets: ['Out'] })
    expect(wal.pending().map((e) => e.messageId)).toEqual(['A-1'])
    expect(await queue.depth('Out')).toBe(0)
    await p.idle()
    const accepted = await admitted.handedOff
    expect(await queue.depth('Out')).toBe(1)
    expect((await store.get(accepted.storeId))?.state).toBe('received')
  })

  it('keeps admit order for the enqueues', async () => {
    const p = create()
    const ids = ['O-1', 'O-2', 'O-3', 'O-4']
    const admitted = await Promise.all(
      ids.map((id) => p.admit({ source: 'In', raw: hl7('ADT^A01', id), targets: ['Out'] })),
    )
    await p.idle()
    await Promise.all(admitted.map((a) => a.handedOff))
    const got = await queue.receiveBatch('Out', { max: 10 })
    expect(got.map((m) => m.payload.split('|')[9])).toEqual(ids)
  })

  it('waits for its own hand-off when too many are behind (backpressure)', async () => {
    const p = create({ maxHandOffsAhead: 0, storeBatch: { windowMs: 1 } })
    await p.admit({ source: 'In', raw: hl7('ADT^A01', 'B-1'), targets: ['Out'] })
    // With nothing allowed ahead, admit resolved only after the enqueue.
    expect(await queue.depth('Out')).toBe(1)
    await p.idle()
  })

  it('hands the envelope object to an in-process consumer; a redelivery decodes the payload', async () => {
    const p = create({ inProcessQueue: true })
    const admitted = await p.admit({ source: 'In', raw: hl7('ADT^A01', 'A-9'), targets: ['Out'] })
    await p.idle()
    await admitted.handedOff
    const first = await queue.receive('Out')
    expect(first).not.toBeNull()
    const env = p.envelopeOf(first!)
    expect(env).toMatchObject({ messageId: 'A-9', source: 'In', raw: hl7('ADT^A01', 'A-9') })
    // The payload still holds the whole envelope (dead letters, redrive, the HTTP API).
    expect(decodeEnvelope(first!.payload)).toEqual(env)
    await queue.nack(first!, { requeue: true, delayMs: 0, error: 'again' })
    const second = await queue.receive('Out')
    expect(second?.receipt).not.toBe(first!.receipt)
    expect(p.envelopeOf(second!)).toEqual(env)
  })

  it('holds envelope objects only within localEnvelopeBytes; past it consumers decode the payload', async () => {
    const body = hl7('ADT^A01', 'L-0')
    // Room for two bodies: the third and later go through the queue payload only.
    const p = create({ inProcessQueue: true, localEnvelopeBytes: body.length * 2 })
    const ids = ['L-0', 'L-1', 'L-2', 'L-3']
    const admitted = await Promise.all(
      ids.map((id) => p.admit({ source: 'In', raw: hl7('ADT^A01', id), targets: ['Out'] })),
    )
    await p.idle()
    await Promise.all(admitted.map((a) => a.handedOff))
    const got = await queue.receiveBatch('Out', { max: 10 })
    expect(got.map((m) => m.headers.envRef !== undefined)).toEqual([true, true, false, false])
    // Every consumer gets the same envelope either way, in order.
    expect(got.map((m) => p.envelopeOf(m).raw)).toEqual(ids.map((id) => hl7('ADT^A01', id)))
    // Taking the held ones gave their budget back: the next message is held again.
    const more = await p.admit({ source: 'In', raw: hl7('ADT^A01', 'L-4'), targets: ['Out'] })
    await p.idle()
    await more.handedOff
    const next = await queue.receive('Out')
    expect(next?.headers.envRef).toBeDefined()
    expect(p.envelopeOf(next!).messageId).toBe('L-4')
  })
})

describe('MessagePath.resume', () => {
  const create = (): MessagePath =>
    new MessagePath({
      wal,
      store,
      queue,
      logger: pino({ level: 'silent' }),
      walCompletion: 'branches',
      storeBatch: { windowMs: 1 },
    })

  it('closes the records of the earlier run as superseded, not those of its own run, and keeps WAL order', async () => {
    // The earlier run: messages handed off and never finished. S-1 and S-2 share a batch
    // session; the sender gave both messages of batch-2 the same MSH-10.
    const first = create()
    const inputs = [
      { id: 'S-1', sessionId: 'batch-1' },
      { id: 'S-2', sessionId: 'batch-1' },
      { id: 'S-9', sessionId: 'batch-2' },
      { id: 'S-9', sessionId: 'batch-2' },
      { id: 'S-3', sessionId: undefined },
    ]
    const ids = inputs.map((i) => i.id)
    for (const { id, sessionId } of inputs) {
      const a = await first.admit({
        source: 'In',
        raw: hl7('ADT^A01', id),
        targets: ['Out'],
        sessionId,
      })
      await a.handedOff
    }
    await first.idle()
    const earlier = (await store.query({ hostName: 'In', limit: 10 })).records
    expect(earlier.map((r) => r.state)).toEqual(inputs.map(() => 'received'))
    // The next run starts later than the earlier run's last record (a restart takes longer).
    await new Promise((r) => setTimeout(r, 5))
    const second = create()
    const pending = wal.pending()
    expect(pending.map((e) => e.messageId)).toEqual(ids)
    const resumed = await Promise.all(pending.map((e) => second.resume(e)))
    await second.idle()
    for (const old of earlier) {
      expect((await store.get(old.id))?.history.map((h) => h.state)).toEqual([
        'received',
        'completed',
      ])
      const closedBy = (await store.trace(old.sessionId!))
        .filter((h) => h.messageId === old.id && h.state === 'completed')
        .map((h) => h.detail)
      expect(closedBy).toHaveLength(1)
      // Each points at the copy of its own WAL entry (batch-2's two are alike: either copy).
      const copies = resumed.filter((a) =>
        old.sessionId === 'batch-2' ? a.sessionId === 'batch-2' : a.walId === old.metadata?.walId,
      )
      expect(copies.map((c) => `superseded by ${c.storeId} (resumed from the WAL)`)).toContain(
        closedBy[0],
      )
    }
    // The resumed copies carry the work: none closed another copy made by this run.
    for (const copy of resumed) {
      const record = await store.get(copy.storeId)
      expect(record?.state).toBe('received')
      expect(record?.metadata?.recovered).toBe(true)
    }
    const got = await queue.receiveBatch('Out', { max: 20 })
    expect(got.map((m) => m.payload.split('|')[9])).toEqual([...ids, ...ids])
  })
})
