// Tests of the embedded SQLite backend against real database files in temp directories.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isStoreError } from './errors.js'
import { MessageStore } from './message-store.js'
import type { Hop } from './types.js'
import { SQLITE_SCHEMA_VERSION, migrateSqlite, sqliteSchemaVersion } from './sqlite-migrations.js'

let dir: string
const stores: MessageStore[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'li-store-sqlite-'))
})

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function open(options: ConstructorParameters<typeof MessageStore>[0]): Promise<MessageStore> {
  const store = new MessageStore(options)
  stores.push(store)
  await store.start()
  return store
}

function count(db: Database.Database, sql: string): number {
  return (db.prepare(sql).get() as { n: number }).n
}

const base = {
  hostName: 'PAS.In',
  messageId: 'MSG1',
  payload: 'MSH|^~\\&|PAS|RXH|EPR|RXH|20260101120000||ADT^A01|MSG1|P|2.4',
  messageType: 'ADT^A01',
  correlationId: 'c',
}

describe('SqliteBackend', () => {
  it('keeps one WAL-mode file at <dataDir>/messages.db, creating the directory', async () => {
    const dataDir = join(dir, 'nested', 'data')
    const store = await open({ dataDir })
    await store.store(base)
    const file = join(dataDir, 'messages.db')
    expect(existsSync(file)).toBe(true)
    const db = new Database(file, { readonly: true })
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
      expect(sqliteSchemaVersion(db)).toBe(SQLITE_SCHEMA_VERSION)
      // Another connection sees whole batches only: every message has its `received` history row.
      expect(count(db, 'SELECT COUNT(*) AS n FROM messages')).toBe(1)
      expect(count(db, 'SELECT COUNT(*) AS n FROM message_history')).toBe(1)
    } finally {
      db.close()
    }
  })

  it('purges 20,000 rows in bounded chunks, with their history, and keeps incomplete sessions', async () => {
    const path = join(dir, 'purge.db')
    let t = Date.UTC(2026, 0, 1)
    const store = await open({
      path,
      purgeChunkSize: 500,
      maxBatchSize: 2000,
      now: () => new Date(t),
    })
    // 20,000 old messages: 19,000 completed in closed sessions, 500 failed, 500 completed in
    // sessions that still hold a received message.
    const ids = await Promise.all(
      Array.from({ length: 20_000 }, (_, i) =>
        store.store({ ...base, sessionId: `s${i % 10_000}` }).then((r) => r.id),
      ),
    )
    const openSessions = new Set<string>()
    await Promise.all(
      ids.map((id, i) => {
        if (i >= 19_000 && i < 19_500) return store.markFailed(id, 'AE')
        if (i >= 19_500) openSessions.add(`s${i % 10_000}`)
        return store.markCompleted(id)
      }),
    )
    t += 60_000
    const cutoff = new Date(t)
    for (const s of openSessions) await store.store({ ...base, sessionId: s })
    let chunks = 0
    store.on('purge', () => chunks++)
    // Sessions s9000..s9499 hold a failed message (i >= 19,000) as well as a completed one.
    const kept = await store.purge({ olderThan: cutoff, keepIncomplete: true })
    expect(kept).toBe(20_000 - 500 - 500 - 500 - 500)
    expect(chunks).toBeGreaterThanOrEqual(40)
    const all = await store.purge({ olderThan: cutoff, keepIncomplete: false })
    expect(all).toBe(2000)
    await store.stop()
    const db = new Database(path, { readonly: true })
    try {
      expect(count(db, 'SELECT COUNT(*) AS n FROM messages')).toBe(500)
      expect(count(db, 'SELECT COUNT(*) AS n FROM message_history')).toBe(500)
    } finally {
      db.close()
    }
  })

  it('gives the space a purge freed back to the file system (new files: incremental vacuum)', async () => {
    const path = join(dir, 'reclaim.db')
    let t = Date.UTC(2026, 0, 1)
    const fill = async (store: MessageStore): Promise<void> => {
      const body = `${base.payload}\rOBX|1|TX|||${'x'.repeat(8000)}`
      for (let i = 0; i < 3000; i += 500) {
        const recs = await Promise.all(
          Array.from({ length: 500 }, (_, j) =>
            store.store({ ...base, payload: body, sessionId: `r${i + j}` }),
          ),
        )
        await Promise.all(recs.map((r) => store.markCompleted(r.id)))
      }
    }
    const sizeOf = (file: string): number => {
      const db = new Database(file, { readonly: true })
      try {
        const pages = db.pragma('page_count', { simple: true }) as number
        const size = db.pragma('page_size', { simple: true }) as number
        return pages * size
      } finally {
        db.close()
      }
    }
    let store = await open({ path, now: () => new Date(t) })
    await fill(store)
    await store.stop()
    const full = sizeOf(path)
    expect(full).toBeGreaterThan(20 * 1024 * 1024)

    store = await open({ path, now: () => new Date(t) })
    const reclaimed: { bytes: number; incremental: boolean }[] = []
    store.on('reclaim', (r) => reclaimed.push(r))
    t += 60_000
    expect(await store.purge({ olderThan: new Date(t) })).toBe(3000)
    await store.stop()
    expect(reclaimed).toHaveLength(1)
    expect(reclaimed[0]?.incremental).toBe(true)
    expect(reclaimed[0]?.bytes).toBeGreaterThan(full / 2)
    expect(sizeOf(path)).toBeLessThan(full / 4)

    // A file made before incremental vacuum (auto_vacuum NONE) says so and stays as it is.
    const old = join(dir, 'old.db')
    const raw = new Database(old)
    raw.pragma('journal_mode = WAL')
    migrateSqlite(raw)
    raw.close()
    store = await open({ path: old, now: () => new Date(t) })
    await fill(store)
    const before = sizeOf(old)
    const seen: { bytes: number; incremental: boolean; freeBytes: number }[] = []
    store.on('reclaim', (r) => seen.push(r))
    t += 60_000
    expect(await store.purge({ olderThan: new Date(t) })).toBe(3000)
    expect(seen).toEqual([expect.objectContaining({ bytes: 0, incremental: false })])
    expect(seen[0]?.freeBytes).toBeGreaterThan(before / 2)
  })

  it('upgrades a version 1 database to the current schema at start(), keeping its rows', async () => {
    const path = join(dir, 'v1.db')
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    migrateSqlite(db, 1)
    expect(sqliteSchemaVersion(db)).toBe(1)
    db.prepare(
      `INSERT INTO messages (host_name, message_id, message_type, correlation_id, session_id, payload, state, error, created_at, updated_at)
       VALUES ('PAS.In', 'OLD1', 'ADT^A08', 'old', 'sess-old', 'MSH|...', 'failed', 'timeout', 1000, 2000)`,
    ).run()
    db.prepare(
      `INSERT INTO message_history (message_id, state, time, error) VALUES (1, 'received', 1000, NULL), (1, 'failed', 2000, 'timeout')`,
    ).run()
    db.close()

    const store = await open({ path })
    const old = await store.get('1')
    expect(old).toMatchObject({
      messageId: 'OLD1',
      state: 'failed',
      error: 'timeout',
      sessionId: 'sess-old',
    })
    expect(old?.history.map((h) => h.state)).toEqual(['received', 'failed'])
    expect((await store.query({ sessionId: 'sess-old', limit: 5 })).records).toHaveLength(1)
    await store.recordHop({
      sessionId: 'sess-old',
      source: 'PAS.In',
      target: 'Router',
      state: 'failed',
    })
    expect(await store.trace('sess-old')).toHaveLength(1)
    const next = await store.store(base)
    expect(Number(next.id)).toBeGreaterThan(1)
    await store.stop()
    const check = new Database(path, { readonly: true })
    try {
      expect(sqliteSchemaVersion(check)).toBe(SQLITE_SCHEMA_VERSION)
    } finally {
      check.close()
    }
  })

  it('migration 3 narrows the session index of a version-2 file to (session_id)', async () => {
    const path = join(dir, 'v2.db')
    const db = new Database(path)
    migrateSqlite(db, 2)
    db.close()
    const store = await open({ path })
    const m = await store.store({ ...base, sessionId: 's2' })
    await store.markCompleted(m.id)
    expect(
      (await store.query({ sessionId: 's2', state: 'completed', limit: 5 })).records,
    ).toHaveLength(1)
    await store.stop()
    const check = new Database(path, { readonly: true })
    try {
      expect(sqliteSchemaVersion(check)).toBe(SQLITE_SCHEMA_VERSION)
      const columns = check.pragma("index_info('messages_session')") as { name: string }[]
      expect(columns.map((c) => c.name)).toEqual(['session_id'])
    } finally {
      check.close()
    }
  })

  it('rolls back a failing migration and reports STORE_MIGRATION_FAILED', async () => {
    const path = join(dir, 'broken.db')
    const db = new Database(path)
    migrateSqlite(db, 1)
    db.exec('CREATE TABLE hops (x INTEGER)') // makes migration 2 fail half-way
    db.close()
    const store = new MessageStore({ path })
    const e = await store.start().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isStoreError(e) && e.code).toBe('STORE_MIGRATION_FAILED')
    expect(String((e as Error).message)).toMatch(/schema version 2/)
    const check = new Database(path, { readonly: true })
    try {
      expect(sqliteSchemaVersion(check)).toBe(1)
      expect(
        count(check, "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'messages_session'"),
      ).toBe(0)
    } finally {
      check.close()
    }
  })

  it('refuses a database from a newer version of @li/store', async () => {
    const path = join(dir, 'newer.db')
    const db = new Database(path)
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`)
    db.close()
    const e = await new MessageStore({ path }).start().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isStoreError(e) && e.code).toBe('STORE_MIGRATION_FAILED')
    expect(String((e as Error).message)).toMatch(/newer/)
  })

  it('reports a file that is not a database as STORE_IO', async () => {
    const path = join(dir, 'junk.db')
    writeFileSync(
      path,
      'this is not an SQLite database, just some text long enough to have a header',
    )
    const e = await new MessageStore({ path }).start().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isStoreError(e) && e.code).toBe('STORE_IO')
  })

  it('opens and writes with synchronous=FULL', async () => {
    const store = await open({ path: join(dir, 'full.db'), synchronous: 'full' })
    const m = await store.store(base)
    expect((await store.get(m.id))?.state).toBe('received')
  })
})

describe.each([
  ['in-thread', false],
  ['worker', true],
])('hops and history rows of a batch (%s backend)', (_name, worker) => {
  it('are inserted together at the end of the batch, with the ids and order of one INSERT each', async () => {
    const store = await open({ path: join(dir, `rows-${String(worker)}.db`), worker })
    const old = await store.store({ ...base, sessionId: 'S1', direction: 'inbound' })
    const now = await store.store({ ...base, sessionId: 'S1', direction: 'inbound' })
    const first = await store.recordHop({
      sessionId: 'S1',
      source: 'A',
      target: 'A',
      state: 'received',
    })
    const batches: number[] = []
    store.on('batch', ({ size }) => batches.push(size))
    // One batch: 20 hops (more than one INSERT statement's rows), a state change, a supersede
    // (which writes a hop and a history row of its own) and a failing state change between them.
    const hop = (i: number): Promise<Hop> =>
      store.recordHop({
        sessionId: 'S1',
        source: 'A',
        target: `T${i}`,
        state: 'queued',
        ...(i % 3 === 0 ? { detail: `d${i}` } : {}),
      })
    const hops: Promise<Hop>[] = []
    for (let i = 0; i < 8; i++) hops.push(hop(i))
    const processing = store.markProcessing(old.id)
    for (let i = 8; i < 12; i++) hops.push(hop(i))
    const closed = store.supersede({ sessionId: 'S1', hostName: 'PAS.In', by: now.id })
    for (let i = 12; i < 20; i++) hops.push(hop(i))
    const unknown = store.markCompleted('999999').then(
      () => 'resolved',
      (e: unknown) => (isStoreError(e) ? e.code : 'other'),
    )
    const got = await Promise.all(hops)
    await processing
    expect(await closed).toBe(1)
    expect(await unknown).toBe('STORE_NOT_FOUND')
    expect(batches).toEqual([23])
    // Ids in call order, one after another: hops 0-11, the supersede's hop, hops 12-19.
    const base0 = Number(first.id) + 1
    expect(got.map((h) => Number(h.id))).toEqual(got.map((_, i) => base0 + i + (i < 12 ? 0 : 1)))
    const trace = await store.trace('S1')
    const byId = new Map(trace.map((h) => [h.id, h]))
    for (const h of got) expect(byId.get(h.id)).toEqual(h)
    expect(byId.get(String(base0 + 12))).toMatchObject({
      messageId: old.id,
      source: 'PAS.In',
      target: 'PAS.In',
      state: 'completed',
      detail: `superseded by ${now.id}`,
    })
    expect(trace).toHaveLength(22)
    // History in call order: received, processing (this batch), completed (the supersede).
    expect((await store.history(old.id)).map((c) => c.state)).toEqual([
      'received',
      'processing',
      'completed',
    ])
    expect((await store.history(now.id)).map((c) => c.state)).toEqual(['received'])
  })
})

describe('search values in SQLite', () => {
  it('are found through their index and leave with their message when it is purged', async () => {
    const path = join(dir, 'search.db')
    const store = await open({ path })
    const kept = await store.store({ ...base, search: [{ name: 'PatientID', value: 'mrn1' }] })
    const gone = await store.store({
      ...base,
      search: [
        { name: 'PatientID', value: 'mrn1' },
        { name: 'PatientID', value: 'mrn2' },
      ],
    })
    await store.markCompleted(gone.id)
    const found = await store.query({ search: { name: 'PatientID', value: 'mrn1' }, limit: 5 })
    expect(found.records.map((r) => r.id)).toEqual([gone.id, kept.id])
    expect(await store.purge({ olderThan: new Date(Date.now() + 60_000) })).toBe(1)
    const after = await store.query({ search: { name: 'PatientID', value: 'mrn1' }, limit: 5 })
    expect(after.records.map((r) => r.id)).toEqual([kept.id])
    await store.stop()
    const check = new Database(path, { readonly: true })
    try {
      const rows = check.prepare('SELECT message_id, value FROM message_search').all()
      expect(rows).toEqual([{ message_id: Number(kept.id), value: 'mrn1' }])
      const plan = check
        .prepare(
          "EXPLAIN QUERY PLAN SELECT message_id FROM message_search WHERE name = 'PatientID' AND value = 'mrn1'",
        )
        .all() as { detail: string }[]
      expect(plan.map((p) => p.detail).join(' ')).toContain('message_search_value')
    } finally {
      check.close()
    }
  })
})

describe('message type index (schema 5)', () => {
  it('finds a message type through its index, newest first, without a sort', async () => {
    const path = join(dir, 'type.db')
    const store = await open({ path })
    const a = await store.store({ ...base, messageType: 'MDM^T02' })
    await store.store({ ...base, messageType: 'ADT^A01' })
    const b = await store.store({ ...base, messageType: 'MDM^T02' })
    const page = await store.query({ messageType: 'MDM^T02', limit: 5 })
    expect(page.records.map((r) => r.id)).toEqual([b.id, a.id])
    await store.stop()
    const check = new Database(path, { readonly: true })
    try {
      const plan = check
        .prepare(
          "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE message_type = 'MDM^T02' ORDER BY id DESC LIMIT 50",
        )
        .all() as { detail: string }[]
      const text = plan.map((p) => p.detail).join(' ')
      expect(text).toContain('messages_type')
      expect(text).not.toContain('TEMP B-TREE')
    } finally {
      check.close()
    }
  })
})
