// The SQLite backend in a worker thread, against a real file: same answers as in-thread, reads see
// resolved (and merely queued) writes, errors keep their codes. From the sources (as here) the
// worker runs them through test/ts-loader.mjs; the built package runs dist/sqlite-worker.js.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isStoreError } from '../src/errors.js'
import { MessageStore } from '../src/message-store.js'
import { WorkerSqliteBackend } from '../src/worker-backend.js'

let dir: string
const stores: MessageStore[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'li-store-worker-'))
})

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function open(file = 'messages.db'): Promise<MessageStore> {
  const store = new MessageStore({ path: join(dir, file), worker: true })
  stores.push(store)
  await store.start()
  return store
}

const base = {
  hostName: 'PAS.In',
  messageId: 'MSG1',
  payload: 'MSH|^~\\&|PAS|RXH|EPR|RXH|20260101120000||ADT^A01|MSG1|P|2.4',
  messageType: 'ADT^A01',
  correlationId: 'c1',
}

describe('WorkerSqliteBackend', () => {
  it('stores, records history and hops, and answers reads like the in-thread backend', async () => {
    const store = await open()
    const m = await store.store({ ...base, sessionId: 'S1', metadata: { walId: '7' } })
    await store.markProcessing(m.id)
    await store.markFailed(m.id, new Error('ACK AE'))
    await store.recordHop({ sessionId: 'S1', source: 'PAS.In', target: 'EPR.Out', state: 'failed' })
    const detail = await store.get(m.id)
    expect(detail?.metadata).toEqual({ walId: '7' })
    expect(detail?.createdAt).toBeInstanceOf(Date)
    expect(detail?.history.map((h) => [h.state, h.error])).toEqual([
      ['received', undefined],
      ['processing', undefined],
      ['failed', 'ACK AE'],
    ])
    expect((await store.getFailed({ hostName: 'PAS.In' })).records.map((r) => r.id)).toEqual([m.id])
    expect((await store.trace('S1')).map((h) => `${h.source} -> ${h.target} ${h.state}`)).toEqual([
      'PAS.In -> EPR.Out failed',
    ])
    expect(await store.history(m.id)).toHaveLength(3)
  })

  it('lets a read see every write queued before it, awaited or not', async () => {
    const store = await open()
    const ids = await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.store({ ...base, messageId: `M${i}` })),
    )
    const marks = ids.map((r) => store.markCompleted(r.id))
    const page = await store.query({ state: 'completed', limit: 100 })
    expect(page.records).toHaveLength(50)
    await Promise.all(marks)
  })

  it('carries every field of a mixed batch across the thread, one outcome per write', async () => {
    const store = await open()
    const at = new Date('2026-11-27T12:00:00.123Z')
    // Issued in one tick, so they cross as one encoded batch.
    const a = store.store({ ...base, sessionId: 'S2', direction: 'inbound' })
    const lost = store.markCompleted('424242').then(
      () => undefined,
      (e: unknown) => e,
    )
    const b = store.store({ ...base, messageId: 'MSG2', metadata: { peer: '10.0.0.1' } })
    const hop = store.recordHop({
      sessionId: 'S2',
      messageId: '1',
      source: 'PAS.In',
      target: 'Router',
      state: 'received',
      time: at,
      detail: 'AA',
    })
    const [ra, rb, h] = await Promise.all([a, b, hop])
    expect(Number(rb.id)).toBe(Number(ra.id) + 1)
    expect(isStoreError(await lost) && ((await lost) as { code: string }).code).toBe(
      'STORE_NOT_FOUND',
    )
    expect((await store.get(ra.id))?.direction).toBe('inbound')
    expect((await store.get(rb.id))?.metadata).toEqual({ peer: '10.0.0.1' })
    const [traced] = await store.trace('S2')
    expect(traced).toEqual({
      id: h.id,
      sessionId: 'S2',
      messageId: '1',
      source: 'PAS.In',
      target: 'Router',
      state: 'received',
      time: at,
      detail: 'AA',
    })
  })

  it('supersedes across the thread: the count comes back, the records and hops are written', async () => {
    const store = await open()
    const old = await store.store({ ...base, sessionId: 'S4', direction: 'inbound' })
    const now = await store.store({ ...base, sessionId: 'S4', direction: 'inbound' })
    const hop = store.recordHop({
      sessionId: 'S4',
      source: 'PAS.In',
      target: 'PAS.In',
      state: 'received',
    })
    // In one batch with a hop before it and a state change after it.
    const [, closed] = await Promise.all([
      hop,
      store.supersede({ sessionId: 'S4', hostName: 'PAS.In', by: now.id, direction: 'inbound' }),
      store.markProcessing(now.id),
    ])
    expect(closed).toBe(1)
    expect((await store.get(old.id))?.history.map((h) => h.state)).toEqual([
      'received',
      'completed',
    ])
    expect((await store.get(now.id))?.state).toBe('processing')
    expect((await store.trace('S4')).map((h) => [h.messageId, h.state, h.detail])).toEqual([
      [undefined, 'received', undefined],
      [old.id, 'completed', `superseded by ${now.id}`],
    ])
  })

  it('fails only the state change of an unknown id, with its code', async () => {
    const store = await open()
    const m = store.store(base)
    const bad = store.markCompleted('999').then(
      () => undefined,
      (e: unknown) => e,
    )
    const e = await bad
    expect(isStoreError(e) && e.code).toBe('STORE_NOT_FOUND')
    expect((await store.get((await m).id))?.state).toBe('received')
  })

  it('purges in chunks through the worker and closes the file on stop', async () => {
    const store = await open()
    for (let i = 0; i < 5; i++) {
      const r = await store.store({ ...base, messageId: `M${i}`, sessionId: `S${i}` })
      await store.markCompleted(r.id)
    }
    const deleted = await store.purge({
      olderThan: new Date(Date.now() + 1000),
      keepIncomplete: true,
    })
    expect(deleted).toBe(5)
    await store.stop()
    const again = await open()
    expect((await again.query({ limit: 10 })).records).toHaveLength(0)
  })

  it('reports a file it cannot open with its code, like the in-thread backend', async () => {
    const path = join(dir, 'not-a-db')
    writeFileSync(path, 'this is not a SQLite database, just text long enough to have a header')
    const store = new MessageStore({ path, worker: true })
    const e = await store.start().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isStoreError(e) && e.code).toBe('STORE_IO')
  })

  it('rejects calls after close with STORE_CLOSED', async () => {
    const backend = new WorkerSqliteBackend({ path: join(dir, 'closed.db') })
    await backend.open()
    await backend.close()
    const e = await backend.get('1').then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isStoreError(e) && e.code).toBe('STORE_CLOSED')
  })
})
