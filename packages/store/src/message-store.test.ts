// Contract tests of MessageStore, run against both backends: the embedded SQLite one (a real
// database file in a temp directory) and the in-memory one from @li/store/testing.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { StoreError, isStoreError } from './errors.js'
import { MemoryBackend } from './memory-backend.js'
import { MessageStore, type MessageStoreOptions } from './message-store.js'
import type { MessageRecord, StoreMessageInput, SupersedeInput } from './types.js'
import { CONTAINS_SCAN_LIMIT } from './types.js'

const ADT =
  'MSH|^~\\&|PAS|RXH|EPR|RXH|20260101120000||ADT^A01|MSG1|P|2.4\rPID|1||123456^^^NHS||DOE^JANE'

function message(overrides: Partial<StoreMessageInput> = {}): StoreMessageInput {
  return {
    hostName: 'PAS.In',
    messageId: 'MSG1',
    payload: ADT,
    messageType: 'ADT^A01',
    correlationId: 'corr-1',
    ...overrides,
  }
}

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2026, 0, 1)): {
  now: () => Date
  advance: (ms: number) => void
} {
  let t = start
  return { now: () => new Date(t), advance: (ms) => (t += ms) }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

const dirs: string[] = []
const stores: MessageStore[] = []

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const backends: [string, () => Pick<MessageStoreOptions, 'backend' | 'dataDir'>][] = [
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'li-store-'))
      dirs.push(dir)
      return { dataDir: dir }
    },
  ],
  ['memory', () => ({ backend: new MemoryBackend() })],
]

describe.each(backends)('MessageStore on the %s backend', (_name, makeBackend) => {
  async function open(
    options: Omit<MessageStoreOptions, 'backend' | 'dataDir'> = {},
  ): Promise<MessageStore> {
    const store = new MessageStore({ ...makeBackend(), ...options })
    stores.push(store)
    await store.start()
    return store
  }

  it('stores a message as received with a unique id, and get() returns it with its history', async () => {
    const clock = manualClock()
    const store = await open({ now: clock.now })
    const a = await store.store(
      message({ sessionId: 's1', direction: 'inbound', metadata: { peer: '10.0.0.1' } }),
    )
    const b = await store.store(message())
    expect(a.id).not.toBe(b.id)
    expect(a).toMatchObject({
      state: 'received',
      hostName: 'PAS.In',
      sessionId: 's1',
      direction: 'inbound',
    })
    expect(a.createdAt).toEqual(clock.now())
    const got = await store.get(a.id)
    expect(got).toEqual({ ...a, history: [{ state: 'received', time: clock.now() }] })
    expect(await store.get('999999')).toBeUndefined()
    expect(await store.get('not-an-id')).toBeUndefined()
  })

  it('records every state change with its time and error text', async () => {
    const clock = manualClock()
    const store = await open({ now: clock.now })
    const m = await store.store(message())
    clock.advance(10)
    await store.markProcessing(m.id)
    clock.advance(10)
    await store.markFailed(m.id, new Error('ACK AE from EPR: PID-3 missing'))
    clock.advance(10)
    await store.markProcessing(m.id)
    clock.advance(10)
    await store.markCompleted(m.id)
    const t0 = Date.UTC(2026, 0, 1)
    expect(await store.history(m.id)).toEqual([
      { state: 'received', time: new Date(t0) },
      { state: 'processing', time: new Date(t0 + 10) },
      { state: 'failed', time: new Date(t0 + 20), error: 'ACK AE from EPR: PID-3 missing' },
      { state: 'processing', time: new Date(t0 + 30) },
      { state: 'completed', time: new Date(t0 + 40) },
    ])
    const got = await store.get(m.id)
    expect(got?.state).toBe('completed')
    expect(got?.error).toBeUndefined()
    expect(got?.updatedAt).toEqual(new Date(t0 + 40))
  })

  it('batches concurrent writes into few commits and resolves each caller after commit', async () => {
    const store = await open()
    const batches: number[] = []
    store.on('batch', ({ size }) => batches.push(size))
    const records = await Promise.all(
      Array.from({ length: 300 }, (_, i) => store.store(message({ messageId: `M${i}` }))),
    )
    expect(new Set(records.map((r) => r.id)).size).toBe(300)
    expect(batches.reduce((a, b) => a + b, 0)).toBe(300)
    expect(batches.length).toBeLessThan(10)
    await Promise.all(records.map((r) => store.markProcessing(r.id)))
    await Promise.all(records.map((r) => store.markCompleted(r.id)))
    const page = await store.query({ state: 'completed', limit: 1000 })
    expect(page.records).toHaveLength(300)
  })

  it('fails only the state change on an unknown id, not the rest of its batch', async () => {
    const store = await open()
    const m = await store.store(message())
    const [bad, good] = await Promise.allSettled([
      store.markCompleted('424242'),
      store.markCompleted(m.id),
    ])
    expect(bad.status).toBe('rejected')
    expect(bad.status === 'rejected' && isStoreError(bad.reason) && bad.reason.code).toBe(
      'STORE_NOT_FOUND',
    )
    expect(good.status).toBe('fulfilled')
    expect((await store.get(m.id))?.state).toBe('completed')
  })

  it('lets a reader see writes queued before the read, even if not yet awaited', async () => {
    const store = await open()
    const m = await store.store(message())
    const pending = store.markFailed(m.id, 'connection refused')
    const got = await store.get(m.id)
    expect(got?.state).toBe('failed')
    expect(got?.error).toBe('connection refused')
    await pending
  })

  it('queries by each filter, newest first, with keyset pages that neither skip nor repeat', async () => {
    const clock = manualClock()
    const store = await open({ now: clock.now })
    const ids: string[] = []
    for (let i = 0; i < 25; i++) {
      clock.advance(1000)
      const m = await store.store(
        message({
          hostName: i % 2 === 0 ? 'PAS.In' : 'EPR.Out',
          messageType: i % 5 === 0 ? 'ORU^R01' : 'ADT^A01',
          correlationId: `corr-${i % 3}`,
          sessionId: `s${i % 4}`,
        }),
      )
      ids.push(m.id)
      if (i % 7 === 0) await store.markFailed(m.id, 'no ACK')
    }
    const all: string[] = []
    let cursor: string | undefined
    do {
      const page = await store.query({ limit: 4, cursor })
      all.push(...page.records.map((r) => r.id))
      cursor = page.nextCursor
      // A message stored between pages is newer than the cursor and must not appear in later pages.
      if (all.length === 8) await store.store(message({ correlationId: 'late' }))
    } while (cursor !== undefined)
    expect(all).toEqual([...ids].reverse())

    const byHost = await store.query({ hostName: 'EPR.Out', limit: 100 })
    expect(byHost.records.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 2 === 1).reverse())
    expect(byHost.nextCursor).toBeUndefined()
    const byType = await store.query({ messageType: 'ORU^R01', limit: 100 })
    expect(byType.records).toHaveLength(5)
    const byCorrelation = await store.query({ correlationId: 'corr-1', limit: 100 })
    expect(byCorrelation.records.map((r) => r.id)).toEqual(
      ids.filter((_, i) => i % 3 === 1).reverse(),
    )
    const bySession = await store.query({ sessionId: 's2', hostName: 'PAS.In', limit: 100 })
    expect(bySession.records.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 4 === 2).reverse())
    const t0 = Date.UTC(2026, 0, 1)
    const window = await store.query({
      since: new Date(t0 + 3000),
      until: new Date(t0 + 6000),
      limit: 100,
    })
    expect(window.records.map((r) => r.id)).toEqual([ids[4], ids[3], ids[2]])
    const failedPas = await store.query({ hostName: 'PAS.In', state: 'failed', limit: 100 })
    expect(failedPas.records.map((r) => r.id)).toEqual([ids[14], ids[0]])
    const failed = await store.getFailed()
    expect(failed.records.map((r) => r.id)).toEqual([ids[21], ids[14], ids[7], ids[0]])
    expect(failed.records[0]?.error).toBe('no ACK')
    const failedEpr = await store.getFailed({ hostName: 'EPR.Out', limit: 1 })
    expect(failedEpr.records.map((r) => r.id)).toEqual([ids[21]])
    expect(failedEpr.nextCursor).toBeDefined()
  })

  it('finds messages whose payload contains a text, with the other filters, in pages', async () => {
    const store = await open()
    const adt = (nhs: string): string => ADT.replace('123456^^^NHS', `${nhs}^^^NHS`)
    const a = await store.store(message({ payload: adt('9434765919') }))
    const b = await store.store(message({ hostName: 'LAB.In', payload: adt('9434765919') }))
    await store.store(message({ payload: adt('4010232137') }))
    const c = await store.store(message({ payload: adt('9434765919') + '\rNTE|1||check' }))
    const ids = async (q: Parameters<MessageStore['query']>[0]): Promise<string[]> =>
      (await store.query(q)).records.map((r) => r.id)
    expect(await ids({ contains: '9434765919', limit: 10 })).toEqual([c.id, b.id, a.id])
    expect(await ids({ contains: '9434765919', hostName: 'PAS.In', limit: 10 })).toEqual([
      c.id,
      a.id,
    ])
    expect(await ids({ contains: 'NTE|1||check', limit: 10 })).toEqual([c.id])
    // Case-sensitive, and a text nobody holds.
    expect(await ids({ contains: 'nte|1', limit: 10 })).toEqual([])
    expect(await ids({ contains: 'ZZZ', limit: 10 })).toEqual([])
    // Pages: the cursor goes on after the last message examined.
    const first = await store.query({ contains: '9434765919', limit: 2 })
    expect(first.records.map((r) => r.id)).toEqual([c.id, b.id])
    const second = await store.query({ contains: '9434765919', limit: 2, cursor: first.nextCursor })
    expect(second.records.map((r) => r.id)).toEqual([a.id])
    expect(second.nextCursor).toBeUndefined()
    // With a time window too (time-ordered cursors).
    const windowed = await store.query({ contains: '9434765919', since: new Date(0), limit: 1 })
    expect(windowed.records.map((r) => r.id)).toEqual([c.id])
    const next = await store.query({
      contains: '9434765919',
      since: new Date(0),
      limit: 5,
      cursor: windowed.nextCursor,
    })
    expect(next.records.map((r) => r.id)).toEqual([b.id, a.id])
    for (const bad of ['', 'x'.repeat(201), 42]) {
      const e = await rejection(store.query({ contains: bad as string, limit: 1 }))
      expect((e as StoreError).code).toBe('STORE_INVALID_ARGUMENT')
    }
  })

  it('examines at most CONTAINS_SCAN_LIMIT messages a page, and says where to go on', async () => {
    const store = await open()
    const hit = await store.store(message({ payload: `${ADT}\rNTE|1||needle` }))
    const others = Array.from({ length: CONTAINS_SCAN_LIMIT }, () => store.store(message()))
    await Promise.all(others)
    // The newest CONTAINS_SCAN_LIMIT messages hold no match: an empty page, with a cursor.
    const first = await store.query({ contains: 'needle', limit: 10 })
    expect(first.records).toEqual([])
    expect(first.nextCursor).toBeDefined()
    const second = await store.query({ contains: 'needle', limit: 10, cursor: first.nextCursor })
    expect(second.records.map((r) => r.id)).toEqual([hit.id])
    expect(second.nextCursor).toBeUndefined()
  })

  it('finds messages by their search values, exactly or by prefix, newest first, in pages', async () => {
    const store = await open()
    const pid = (v: string): { name: string; value: string } => ({ name: 'PatientID', value: v })
    const a = await store.store(
      message({
        search: [pid('mrn123'), pid('nhs943'), { name: 'PatientName', value: 'smith^jane' }],
      }),
    )
    const b = await store.store(message({ hostName: 'LAB.In', search: [pid('mrn123')] }))
    const c = await store.store(message({ search: [pid('mrn999')] }))
    await store.store(message())
    const ids = async (q: Parameters<MessageStore['query']>[0]): Promise<string[]> =>
      (await store.query(q)).records.map((r) => r.id)
    expect(await ids({ search: { name: 'PatientID', value: 'mrn123' }, limit: 10 })).toEqual([
      b.id,
      a.id,
    ])
    expect(await ids({ search: { name: 'PatientID', value: 'mrn' }, limit: 10 })).toEqual([])
    expect(
      await ids({ search: { name: 'PatientID', value: 'mrn', prefix: true }, limit: 10 }),
    ).toEqual([c.id, b.id, a.id])
    expect(
      await ids({ search: { name: 'PatientName', value: 'smith', prefix: true }, limit: 10 }),
    ).toEqual([a.id])
    // The name matters: the same value under another name is not a match.
    expect(await ids({ search: { name: 'PatientAcct', value: 'mrn123' }, limit: 10 })).toEqual([])
    expect(
      await ids({ search: { name: 'PatientID', value: 'mrn123' }, hostName: 'PAS.In', limit: 10 }),
    ).toEqual([a.id])
    const first = await store.query({ search: { name: 'PatientID', value: 'mrn123' }, limit: 1 })
    expect(first.records.map((r) => r.id)).toEqual([b.id])
    const second = await store.query({
      search: { name: 'PatientID', value: 'mrn123' },
      limit: 1,
      cursor: first.nextCursor,
    })
    expect(second.records.map((r) => r.id)).toEqual([a.id])
    expect(second.nextCursor).toBeUndefined()
    // The values are not part of the record.
    expect((await store.get(a.id)) as object).not.toHaveProperty('search')
    for (const bad of [
      [{ name: 'Patient ID', value: 'x' }],
      [{ name: 'PatientID', value: 'x'.repeat(256) }],
      [{ name: 'PatientID', value: 'a\u0000b' }],
      Array.from({ length: 201 }, (_, i) => pid(String(i))),
    ]) {
      const e = await rejection(store.store(message({ search: bad })))
      expect((e as StoreError).code).toBe('STORE_INVALID_ARGUMENT')
    }
    const e = await rejection(store.query({ search: { name: '', value: 'x' }, limit: 1 }))
    expect((e as StoreError).code).toBe('STORE_INVALID_ARGUMENT')
  })

  it('pages through a time window newest first by creation time, with any other filter', async () => {
    const clock = manualClock()
    const store = await open({ now: clock.now })
    const ids: string[] = []
    for (let i = 0; i < 30; i++) {
      const r = await store.store(message({ hostName: i % 2 === 0 ? 'PAS.In' : 'LAB.In' }))
      if (i % 7 === 0) await store.markFailed(r.id, 'no ACK')
      ids.push(r.id)
      clock.advance(1000)
    }
    const start = Date.UTC(2026, 0, 1)
    // Messages 5..24 (created at start + 5 s .. start + 24 s), PAS.In only: the even ones.
    const window = { since: new Date(start + 5000), until: new Date(start + 25_000) }
    const want = ids.filter((_, i) => i >= 5 && i < 25 && i % 2 === 0).reverse()
    const got: string[] = []
    let cursor: string | undefined
    do {
      const page = await store.query({ hostName: 'PAS.In', ...window, limit: 3, cursor })
      got.push(...page.records.map((r) => r.id))
      cursor = page.nextCursor
    } while (cursor !== undefined)
    expect(got).toEqual(want)
    // A failed state in the window (its own index) pages the same way.
    const failed = await store.query({ state: 'failed', ...window, limit: 10 })
    expect(failed.records.map((r) => r.id)).toEqual([ids[21], ids[14], ids[7]])
    // A cursor from a query without a window does not fit one with a window, and the other way.
    const plain = await store.query({ hostName: 'PAS.In', limit: 2 })
    const e1 = await rejection(
      store.query({ hostName: 'PAS.In', ...window, limit: 2, cursor: plain.nextCursor }),
    )
    expect((e1 as StoreError).code).toBe('STORE_INVALID_ARGUMENT')
    const timed = await store.query({ ...window, limit: 2 })
    const e2 = await rejection(store.query({ limit: 2, cursor: timed.nextCursor }))
    expect((e2 as StoreError).code).toBe('STORE_INVALID_ARGUMENT')
  })

  it('records hops and returns a session trace in time order', async () => {
    const store = await open()
    const m = await store.store(message({ sessionId: 'sess-9' }))
    const t = Date.UTC(2026, 0, 1, 12)
    await store.recordHop({
      sessionId: 'sess-9',
      source: 'Router',
      target: 'EPR.Out',
      state: 'sent',
      time: new Date(t + 5),
    })
    const first = await store.recordHop({
      sessionId: 'sess-9',
      messageId: m.id,
      source: 'PAS.In',
      target: 'Router',
      state: 'completed',
      time: new Date(t),
    })
    await store.recordHop({ sessionId: 'other', source: 'A', target: 'B', state: 'queued' })
    await store.recordHop({
      sessionId: 'sess-9',
      source: 'EPR.Out',
      target: 'Router',
      state: 'failed',
      time: new Date(t + 9),
      detail: 'AE',
    })
    const trace = await store.trace('sess-9')
    expect(trace.map((h) => [h.source, h.target, h.state, h.time.getTime() - t])).toEqual([
      ['PAS.In', 'Router', 'completed', 0],
      ['Router', 'EPR.Out', 'sent', 5],
      ['EPR.Out', 'Router', 'failed', 9],
    ])
    expect(trace[0]).toEqual(first)
    expect(trace[0]?.messageId).toBe(m.id)
    expect(trace[2]?.detail).toBe('AE')
    expect(await store.trace('none')).toEqual([])
  })

  it('supersede closes the unfinished records of a host in a session, except the new one, with a hop each', async () => {
    const clock = manualClock()
    const store = await open({ now: clock.now })
    const inbound = (overrides: Partial<StoreMessageInput> = {}): Promise<MessageRecord> =>
      store.store(message({ sessionId: 'S1', direction: 'inbound', ...overrides }))
    const received = await inbound()
    const processing = await inbound()
    await store.markProcessing(processing.id)
    const failed = await inbound()
    await store.markFailed(failed.id, 'AE')
    const done = await inbound()
    await store.markCompleted(done.id)
    const otherHost = await inbound({ hostName: 'Router' })
    const outbound = await inbound({ direction: 'outbound' })
    const otherSession = await inbound({ sessionId: 'S2' })
    const otherMessage = await inbound({ correlationId: 'corr-2' })
    clock.advance(1000)
    const startedAt = clock.now()
    clock.advance(1000)
    const sameRun = await inbound()
    const by = await inbound()
    clock.advance(5)
    const closed = await store.supersede({
      sessionId: 'S1',
      hostName: 'PAS.In',
      by: by.id,
      direction: 'inbound',
      correlationId: 'corr-1',
      createdBefore: startedAt,
      detail: `superseded by ${by.id} (resumed from the WAL)`,
    })
    expect(closed).toBe(2)
    const state = async (r: MessageRecord): Promise<string | undefined> =>
      (await store.get(r.id))?.state
    expect(await state(received)).toBe('completed')
    expect(await state(processing)).toBe('completed')
    expect(await state(failed)).toBe('failed')
    expect(await state(otherHost)).toBe('received')
    expect(await state(outbound)).toBe('received')
    expect(await state(otherSession)).toBe('received')
    expect(await state(otherMessage)).toBe('received')
    expect(await state(sameRun)).toBe('received')
    expect(await state(by)).toBe('received')
    const t = clock.now()
    expect(await store.history(processing.id)).toEqual([
      { state: 'received', time: new Date(Date.UTC(2026, 0, 1)) },
      { state: 'processing', time: new Date(Date.UTC(2026, 0, 1)) },
      { state: 'completed', time: t },
    ])
    const hops = await store.trace('S1')
    expect(hops.map((h) => [h.messageId, h.source, h.target, h.state, h.detail])).toEqual(
      [received, processing].map((r) => [
        r.id,
        'PAS.In',
        'PAS.In',
        'completed',
        `superseded by ${by.id} (resumed from the WAL)`,
      ]),
    )
    expect(hops.every((h) => h.time.getTime() === t.getTime())).toBe(true)
    // Without the optional filters: any direction, correlation id and time; the default detail.
    expect(await store.supersede({ sessionId: 'S1', hostName: 'PAS.In', by: by.id })).toBe(3)
    expect(await state(outbound)).toBe('completed')
    expect(await state(otherMessage)).toBe('completed')
    expect(await state(sameRun)).toBe('completed')
    expect((await store.trace('S1')).at(-1)?.detail).toBe(`superseded by ${by.id}`)
    expect(await store.supersede({ sessionId: 'S1', hostName: 'PAS.In', by: by.id })).toBe(0)
  })

  it('supersede sees a record stored earlier in the same batch, and checks its input', async () => {
    const store = await open()
    const batches: number[] = []
    store.on('batch', ({ size }) => batches.push(size))
    // Issued in one tick: one batch, applied in call order.
    const [old, closed] = await Promise.all([
      store.store(message({ sessionId: 'S3' })),
      store.supersede({ sessionId: 'S3', hostName: 'PAS.In', by: '999999' }),
    ])
    expect(batches).toEqual([2])
    expect(closed).toBe(1)
    expect((await store.get(old.id))?.state).toBe('completed')
    const code = async (input: unknown): Promise<unknown> => {
      const e = await rejection(store.supersede(input as SupersedeInput))
      return isStoreError(e) ? e.code : e
    }
    expect(await code({ sessionId: 'S3', hostName: 'PAS.In' })).toBe('STORE_INVALID_ARGUMENT')
    expect(await code({ sessionId: '', hostName: 'PAS.In', by: '1' })).toBe(
      'STORE_INVALID_ARGUMENT',
    )
    expect(await code({ sessionId: 'S3', hostName: 'PAS.In', by: '1', direction: 'up' })).toBe(
      'STORE_INVALID_ARGUMENT',
    )
    expect(
      await code({ sessionId: 'S3', hostName: 'PAS.In', by: '1', createdBefore: 'yesterday' }),
    ).toBe('STORE_INVALID_ARGUMENT')
    expect(await code(null)).toBe('STORE_INVALID_ARGUMENT')
  })

  it('purges old messages, keeping incomplete ones and whole unfinished sessions (keepIncomplete)', async () => {
    const clock = manualClock()
    const store = await open({ now: clock.now, purgeChunkSize: 3 })
    const done = async (sessionId?: string): Promise<string> => {
      const m = await store.store(message({ sessionId }))
      await store.markCompleted(m.id)
      return m.id
    }
    const oldDone = [await done(), await done(), await done('closed')]
    const oldFailed = (await store.store(message())).id
    await store.markFailed(oldFailed, 'AE')
    const oldReceived = (await store.store(message())).id
    const openSessionDone = await done('open')
    await store.recordHop({ sessionId: 'closed', source: 'A', target: 'B', state: 'completed' })
    await store.recordHop({ sessionId: 'open', source: 'A', target: 'B', state: 'completed' })
    clock.advance(60_000)
    const cutoff = clock.now()
    const openSessionPending = (await store.store(message({ sessionId: 'open' }))).id
    const recentDone = await done()

    const progress: number[] = []
    store.on('purge', ({ deleted }) => progress.push(deleted))
    // keepIncomplete defaults to true.
    expect(await store.purge({ olderThan: cutoff })).toBe(3)
    expect(progress.length).toBeGreaterThan(1)
    for (const id of oldDone) expect(await store.get(id)).toBeUndefined()
    for (const id of [oldFailed, oldReceived, openSessionDone, openSessionPending, recentDone]) {
      expect(await store.get(id)).toBeDefined()
    }
    expect(await store.trace('closed')).toEqual([])
    expect(await store.trace('open')).toHaveLength(1)

    expect(await store.purge({ olderThan: cutoff, keepIncomplete: false })).toBe(3)
    for (const id of [oldFailed, oldReceived, openSessionDone])
      expect(await store.get(id)).toBeUndefined()
    expect(await store.history(oldFailed)).toEqual([])
    expect(await store.get(openSessionPending)).toBeDefined()
    expect(await store.trace('open')).toHaveLength(1)
  })

  it('stops a running purge at a chunk boundary when stop() is called', async () => {
    const store = await open({ purgeChunkSize: 10 })
    await Promise.all(Array.from({ length: 200 }, () => store.store(message())))
    const purge = store.purge({ olderThan: new Date(Date.now() + 60_000), keepIncomplete: false })
    const second = await rejection(store.purge({ olderThan: new Date(), keepIncomplete: false }))
    expect(isStoreError(second) && second.code).toBe('STORE_INVALID_ARGUMENT')
    await store.stop()
    const e = await rejection(purge)
    expect(isStoreError(e) && e.code).toBe('STORE_CLOSED')
    expect(String((e as Error).message)).toMatch(/after deleting \d+ messages/)
  })

  it('rejects malformed input with STORE_INVALID_ARGUMENT', async () => {
    const store = await open()
    const codes = async (p: Promise<unknown>): Promise<unknown> => {
      const e = await rejection(p)
      return isStoreError(e) ? e.code : e
    }
    expect(await codes(store.store(message({ hostName: '' })))).toBe('STORE_INVALID_ARGUMENT')
    expect(await codes(store.store({ ...message(), payload: 42 as unknown as string }))).toBe(
      'STORE_INVALID_ARGUMENT',
    )
    expect(await codes(store.store(message({ metadata: { n: 1n } })))).toBe(
      'STORE_INVALID_ARGUMENT',
    )
    expect(await codes(store.query({ limit: 0 }))).toBe('STORE_INVALID_ARGUMENT')
    expect(await codes(store.query({} as never))).toBe('STORE_INVALID_ARGUMENT')
    expect(await codes(store.query({ limit: 1001 }))).toBe('STORE_INVALID_ARGUMENT')
    expect(await codes(store.query({ limit: 10, cursor: 'garbage' }))).toBe(
      'STORE_INVALID_ARGUMENT',
    )
    expect(await codes(store.query({ limit: 10, state: 'lost' as never }))).toBe(
      'STORE_INVALID_ARGUMENT',
    )
    expect(
      await codes(
        store.purge({ olderThan: new Date(), keepIncomplete: 'yes' as unknown as boolean }),
      ),
    ).toBe('STORE_INVALID_ARGUMENT')
    expect(
      await codes(
        store.recordHop({ sessionId: 's', source: 'a', target: 'b', state: 'lost' as never }),
      ),
    ).toBe('STORE_INVALID_ARGUMENT')
  })

  it('refuses calls before start() and after stop(), and commits queued writes on stop()', async () => {
    const options = makeBackend()
    const store = new MessageStore(options)
    const before = await rejection(store.store(message()))
    expect(isStoreError(before) && before.code).toBe('STORE_CLOSED')
    await store.start()
    const m = await store.store(message())
    const queued = store.markCompleted(m.id)
    await store.stop()
    await queued
    const after = await rejection(store.get(m.id))
    expect(isStoreError(after) && after.code).toBe('STORE_CLOSED')
    // The same file (or the same memory backend) opened again holds the committed state.
    const reopened = new MessageStore(options)
    stores.push(reopened)
    await reopened.start()
    expect((await reopened.get(m.id))?.state).toBe('completed')
  })
})

describe('MessageStore batching', () => {
  it('rejects every caller of a batch the backend could not commit, and recovers after', async () => {
    const backend = new MemoryBackend()
    const store = new MessageStore({ backend })
    stores.push(store)
    await store.start()
    backend.failWrites = new StoreError('STORE_IO', 'disk full')
    const results = await Promise.allSettled([store.store(message()), store.store(message())])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    backend.failWrites = undefined
    const m = await store.store(message())
    expect((await store.query({ limit: 10 })).records.map((r) => r.id)).toEqual([m.id])
  })

  it('needs exactly one of backend, path or dataDir', () => {
    expect(() => new MessageStore({})).toThrow(/exactly one/)
    expect(() => new MessageStore({ path: 'a.db', dataDir: '.' })).toThrow(/exactly one/)
    expect(() => new MessageStore({ dataDir: '.', maxBatchSize: 0 })).toThrow(/maxBatchSize/)
  })
})
