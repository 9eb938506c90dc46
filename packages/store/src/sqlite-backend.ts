/**
 * The embedded default backend: one SQLite file (better-sqlite3) in WAL journal mode.
 *
 * What it does: applies each batch from `MessageStore` in one transaction (one commit per batch
 * instead of one per call), its hops inserted together at the end (`RowBuffer`); serves reads
 * from committed data only; purges in bounded chunks walked by a keyset cursor, so each chunk
 * examines at most `limit` rows whatever the size of the table and never binds more than a
 * handful of parameters per statement (Mirth's pruner died on one DELETE with ~30,000
 * parameters).
 *
 * What it does not do: it does not share the file between processes for writing (one engine
 * process per data directory), and it does not fsync on its own schedule: durability is SQLite's,
 * per commit, set by `synchronous` (see the README).
 *
 * better-sqlite3 is synchronous, so every call blocks the event loop for its duration; the store
 * keeps that short by bounding batch and chunk sizes. The longest stalls left are SQLite's
 * automatic WAL checkpoints (every 1000 WAL pages, inside the commit that crosses it, with an
 * fsync): 8–17 ms on the benchmark machine against a median batch of about 1 ms. Moving them to a
 * worker thread was tried: it only helped while the WAL was left to grow without bound (750 MB
 * during the 1,000,000-row purge benchmark), and bounding it brought the stalls back.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type {
  PurgeChunkRequest,
  PurgeChunkResult,
  ReclaimResult,
  StoreBackend,
  WriteOp,
  WriteOutcome,
} from './backend.js'
import { timeOrdered } from './backend.js'
import { StoreError, isStoreError } from './errors.js'
import { migrateSqlite } from './sqlite-migrations.js'
import {
  OP_HOP,
  OP_INSERT,
  decodeSearch,
  encodeSearch,
  OP_SUPERSEDE,
  OP_TRANSITION,
  type EncodedOutcomes,
  type EncodedSlot,
} from './write-codec.js'
import type {
  Hop,
  HopState,
  MessageDetail,
  MessageDirection,
  MessageMetadata,
  MessageQuery,
  MessageRecord,
  MessageState,
  QueryResult,
  StateChange,
} from './types.js'
import { CONTAINS_SCAN_LIMIT } from './types.js'

/** Options of the SQLite backend. */
export interface SqliteBackendOptions {
  /** The database file; its directory is created if missing. */
  path: string
  /**
   * `normal` (default): in WAL mode a commit survives a crash of the process, and the last
   * commits before a power loss or OS crash may roll back; the WAL package, not the store, holds
   * the ACK durability promise. `full`: every commit waits for an fsync as well.
   */
  synchronous?: 'normal' | 'full' | undefined
  /** How long a write waits for a lock held by another connection before `STORE_IO`. Default 5000 ms. */
  busyTimeoutMs?: number | undefined
}

/**
 * Most rows one INSERT statement of a `RowBuffer` writes. A batch's hops are inserted together
 * at its end, this many a statement: one statement per hop cost about 1 µs of CPU more per hop
 * (a statement run and reset, a binding call, the AUTOINCREMENT bookkeeping), and an engine
 * message records six hops. History rows were tried the same way and saved nothing measurable.
 */
const ROWS_PER_INSERT = 16

/**
 * The rows of one table that the batch being applied writes, queued in call order and inserted
 * by `flush()` at the end of the batch, inside its transaction. Used for hops: nothing in a batch
 * reads the hops table, and ids follow the order rows were queued in as before, so what a batch
 * writes and returns is the same as with one INSERT per row, for fewer statements.
 */
class RowBuffer {
  readonly #db: Database.Database
  readonly #head: string
  readonly #row: string
  readonly #columns: number
  #values: (string | number | null)[] = []
  #rows = 0
  /** The INSERT of n rows at index n, prepared when first needed. */
  readonly #statements: Database.Statement[] = []

  constructor(db: Database.Database, table: string, columns: readonly string[]) {
    this.#db = db
    this.#head = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `
    this.#row = `(${columns.map(() => '?').join(', ')})`
    this.#columns = columns.length
  }

  /** Rows queued. */
  get rows(): number {
    return this.#rows
  }

  /** Queues one row: a value per column, in the constructor's column order. */
  push(...values: (string | number | null)[]): void {
    for (const v of values) this.#values.push(v)
    this.#rows++
  }

  /** Forgets the queued rows (a batch that failed half-way). */
  clear(): void {
    this.#values = []
    this.#rows = 0
  }

  /**
   * Inserts the queued rows in order and returns the id of the first. The rows of one flush get
   * consecutive ids: each new rowid is one more than the largest in the table (for hops, the
   * largest it ever held: AUTOINCREMENT), and nothing else inserts into it in between.
   */
  flush(): number {
    const total = this.#rows
    const values = this.#values
    this.clear()
    let last = 0
    for (let row = 0; row < total; row += ROWS_PER_INSERT) {
      const n = Math.min(ROWS_PER_INSERT, total - row)
      const info = this.#insert(n).run(values.slice(row * this.#columns, (row + n) * this.#columns))
      if (info.changes !== n) {
        throw new StoreError(
          'STORE_INTERNAL',
          `${this.#head}... of ${n} rows changed ${info.changes} rows in ${this.#db.name}`,
        )
      }
      last = Number(info.lastInsertRowid)
    }
    return last - total + 1
  }

  #insert(n: number): Database.Statement {
    let statement = this.#statements[n]
    if (statement === undefined) {
      statement = this.#db.prepare(this.#head + new Array<string>(n).fill(this.#row).join(', '))
      this.#statements[n] = statement
    }
    return statement
  }
}

/** The WAL file is truncated back to this size after a checkpoint let it restart. */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

interface MessageRow {
  id: number
  host_name: string
  message_id: string
  message_type: string
  correlation_id: string
  session_id: string | null
  direction: string | null
  payload: string
  metadata: string | null
  state: string
  error: string | null
  created_at: number
  updated_at: number
}

interface HistoryRow {
  state: string
  time: number
  error: string | null
}

interface HopRow {
  id: number
  session_id: string
  message_id: number | null
  source: string
  target: string
  state: string
  time: number
  detail: string | null
}

interface ScanRow {
  id: number
  time: number
  state: string | null
  session_id: string | null
}

const MESSAGE_COLUMNS =
  'id, host_name, message_id, message_type, correlation_id, session_id, direction, payload, metadata, state, error, created_at, updated_at'

const CURSOR_PREFIX = 'c1.'
/** Cursor of a time-window query (`since`/`until`): `t1.<created_at>.<id>`. */
const TIME_CURSOR_PREFIX = 't1.'

/** Purge cursors start before the earliest time a JS Date can hold. */
const PURGE_START = '-8640000000000000:0'

/** Parses a store id of this backend (a positive decimal integer) or returns undefined. */
function parseId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined
  const n = Number(id)
  return Number.isSafeInteger(n) ? n : undefined
}

/** Maps a better-sqlite3 failure to a StoreError: I/O-like SQLite codes become `STORE_IO`. */
function toStoreError(e: unknown, what: string): StoreError {
  if (isStoreError(e)) return e
  const code = (e as { code?: unknown }).code
  const io =
    typeof code === 'string' &&
    /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM|NOMEM)/.test(code)
  return new StoreError(io ? 'STORE_IO' : 'STORE_INTERNAL', `${what} failed: ${String(e)}`, {
    cause: e,
  })
}

/** The indexes of the hop ops of a batch. */
function hopOpIndexes(ops: readonly WriteOp[]): number[] {
  const out: number[] = []
  for (let i = 0; i < ops.length; i++) if (ops[i]?.kind === 'hop') out.push(i)
  return out
}

function rowToRecord(row: MessageRow): MessageRecord {
  const record: MessageRecord = {
    id: String(row.id),
    hostName: row.host_name,
    messageId: row.message_id,
    payload: row.payload,
    messageType: row.message_type,
    correlationId: row.correlation_id,
    state: row.state as MessageState,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
  if (row.session_id !== null) record.sessionId = row.session_id
  if (row.direction !== null) record.direction = row.direction as MessageDirection
  if (row.metadata !== null) record.metadata = JSON.parse(row.metadata) as MessageMetadata
  if (row.error !== null) record.error = row.error
  return record
}

function rowToChange(row: HistoryRow): StateChange {
  const change: StateChange = { state: row.state as MessageState, time: new Date(row.time) }
  if (row.error !== null) change.error = row.error
  return change
}

function rowToHop(row: HopRow): Hop {
  const hop: Hop = {
    id: String(row.id),
    sessionId: row.session_id,
    source: row.source,
    target: row.target,
    state: row.state as HopState,
    time: new Date(row.time),
  }
  if (row.message_id !== null) hop.messageId = String(row.message_id)
  if (row.detail !== null) hop.detail = row.detail
  return hop
}

/** The statements of the write path. */
interface WriteStatements {
  insertMessage: Database.Statement
  insertHistory: Database.Statement
  updateState: Database.Statement
  /** Hops of the batch, inserted at its end; `hopIndexes` says which op each one is (-1: none). */
  hops: RowBuffer
  hopIndexes: number[]
  insertSearch: Database.Statement
  /** The ids a supersede op closes (through the session index). */
  superseded: Database.Statement
}

function prepareWrites(db: Database.Database): WriteStatements {
  return {
    insertMessage: db.prepare(
      `INSERT INTO messages (host_name, message_id, message_type, correlation_id, session_id, direction, payload, metadata, state, error, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'received', NULL, ?, ?)`,
    ),
    insertHistory: db.prepare(
      'INSERT INTO message_history (message_id, state, time, error) VALUES (?, ?, ?, ?)',
    ),
    insertSearch: db.prepare(
      'INSERT INTO message_search (message_id, name, value) VALUES (?, ?, ?)',
    ),
    updateState: db.prepare(
      'UPDATE messages SET state = ?, error = ?, updated_at = ? WHERE id = ?',
    ),
    hops: new RowBuffer(db, 'hops', [
      'session_id',
      'message_id',
      'source',
      'target',
      'state',
      'time',
      'detail',
    ]),
    hopIndexes: [],
    superseded: db
      .prepare(
        `SELECT id FROM messages
         WHERE session_id = @sessionId AND host_name = @hostName AND id <> @by
           AND state IN ('received', 'processing')
           AND (@direction IS NULL OR direction = @direction)
           AND (@correlationId IS NULL OR correlation_id = @correlationId)
           AND (@before IS NULL OR created_at < @before)`,
      )
      .pluck(),
  }
}

/** The embedded single-file SQLite backend (better-sqlite3, WAL journal mode). */
export class SqliteBackend implements StoreBackend {
  readonly path: string
  readonly #synchronous: 'normal' | 'full'
  readonly #busyTimeoutMs: number
  #db: Database.Database | undefined
  #statements = new Map<string, Database.Statement>()
  /** The write path's statements, prepared once at `open()` (no per-write cache look-up). */
  #writes: WriteStatements | undefined
  #applyBatch: ((ops: readonly WriteOp[]) => WriteOutcome[]) | undefined
  #applyEncoded: ((slots: readonly EncodedSlot[]) => EncodedOutcomes) | undefined

  constructor(options: SqliteBackendOptions) {
    if (typeof options.path !== 'string' || options.path === '') {
      throw new StoreError('STORE_INVALID_ARGUMENT', 'SqliteBackend needs a non-empty `path`')
    }
    this.path = options.path
    this.#synchronous = options.synchronous ?? 'normal'
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5000
  }

  open(): Promise<void> {
    if (this.#db !== undefined) return Promise.resolve()
    let db: Database.Database
    let writes: WriteStatements
    try {
      mkdirSync(dirname(this.path), { recursive: true })
      db = new Database(this.path)
    } catch (e) {
      return Promise.reject(toStoreError(e, `opening ${this.path}`))
    }
    try {
      db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`)
      // Takes effect only in a new, empty file, and only before the switch to WAL writes its
      // header (an existing file keeps its mode until an offline VACUUM): purged pages can then be
      // given back to the file system (`reclaim`).
      db.pragma('auto_vacuum = INCREMENTAL')
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string
      if (mode !== 'wal') {
        throw new StoreError(
          'STORE_IO',
          `SQLite refused WAL journal mode for ${this.path} (got ${mode}); use a local file system`,
        )
      }
      db.pragma(`synchronous = ${this.#synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
      db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
      migrateSqlite(db)
      writes = prepareWrites(db)
    } catch (e) {
      db.close()
      return Promise.reject(toStoreError(e, `opening ${this.path}`))
    }
    this.#db = db
    this.#writes = writes
    this.#applyBatch = db.transaction((ops: readonly WriteOp[]) => this.#applyOps(ops))
    this.#applyEncoded = db.transaction((slots: readonly EncodedSlot[]) =>
      this.#applyEncodedOps(slots),
    )
    return Promise.resolve()
  }

  write(ops: readonly WriteOp[]): Promise<WriteOutcome[]> {
    try {
      const apply = this.#applyBatch
      if (apply === undefined) throw this.#closed()
      return Promise.resolve(apply(ops))
    } catch (e) {
      return Promise.reject(toStoreError(e, `writing a batch of ${ops.length} to ${this.path}`))
    }
  }

  /**
   * `write()` for a batch encoded by `encodeWrites` (write-codec.ts), in one transaction: what
   * the worker thread of `WorkerSqliteBackend` runs, so that no op objects cross the thread.
   */
  writeEncoded(slots: readonly EncodedSlot[], count: number): Promise<EncodedOutcomes> {
    try {
      const apply = this.#applyEncoded
      if (apply === undefined) throw this.#closed()
      return Promise.resolve(apply(slots))
    } catch (e) {
      return Promise.reject(toStoreError(e, `writing a batch of ${count} to ${this.path}`))
    }
  }

  get(id: string): Promise<MessageDetail | undefined> {
    return this.#read('get', () => {
      const n = parseId(id)
      if (n === undefined) return undefined
      // One read transaction, so the record and its history are from the same commit.
      return this.#database().transaction(() => {
        const row = this.#stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`).get(n) as
          MessageRow | undefined
        if (row === undefined) return undefined
        return { ...rowToRecord(row), history: this.#history(n) }
      })()
    })
  }

  history(id: string): Promise<StateChange[]> {
    return this.#read('history', () => {
      const n = parseId(id)
      return n === undefined ? [] : this.#history(n)
    })
  }

  query(query: MessageQuery): Promise<QueryResult> {
    return this.#read('query', () => {
      const where: string[] = []
      const params: Record<string, string | number> = { limit: query.limit + 1 }
      const eq = (column: string, name: string, value: string | undefined): void => {
        if (value === undefined) return
        where.push(`${column} = @${name}`)
        params[name] = value
      }
      eq('host_name', 'hostName', query.hostName)
      eq('message_type', 'messageType', query.messageType)
      eq('state', 'state', query.state)
      eq('correlation_id', 'correlationId', query.correlationId)
      eq('session_id', 'sessionId', query.sessionId)
      if (query.search !== undefined) {
        // Through (name, value): the matches first, then their rows by id.
        params.searchName = query.search.name
        if (query.search.prefix === true) {
          where.push(
            'id IN (SELECT message_id FROM message_search WHERE name = @searchName AND value >= @searchFrom AND value < @searchTo)',
          )
          params.searchFrom = query.search.value
          params.searchTo = `${query.search.value}\uffff`
        } else {
          where.push(
            'id IN (SELECT message_id FROM message_search WHERE name = @searchName AND value = @searchValue)',
          )
          params.searchValue = query.search.value
        }
      }
      if (query.since !== undefined) {
        where.push('created_at >= @since')
        params.since = query.since.getTime()
      }
      if (query.until !== undefined) {
        where.push('created_at < @until')
        params.until = query.until.getTime()
      }
      // A time window is ordered by creation time, newest first, and walked through the
      // creation-time index: ordered by id, a host's hour of yesterday scanned every newer row of
      // the host first (4.1 s on 500,000 messages; 0.3 ms now). A correlation id, session or
      // search value is more selective than any window: those keep their own index and the id
      // order; so does a failed/unfinished state, through its index (see `selectiveState`).
      const byTime = timeOrdered(query)
      // Unfinished and failed messages are few: their state index beats walking the window.
      const selectiveState = query.state !== undefined && query.state !== 'completed'
      const cursor = query.cursor
      if (cursor !== undefined) {
        const bad = (): StoreError =>
          new StoreError(
            'STORE_INVALID_ARGUMENT',
            `query cursor ${JSON.stringify(cursor.slice(0, 40))} is not one this store returned for these filters`,
          )
        if (byTime) {
          const m = cursor.startsWith(TIME_CURSOR_PREFIX)
            ? /^(\d+)\.(\d+)$/.exec(cursor.slice(TIME_CURSOR_PREFIX.length))
            : null
          if (m === null) throw bad()
          where.push('(created_at, id) < (@cursorTime, @cursor)')
          params.cursorTime = Number(m[1])
          params.cursor = Number(m[2])
        } else {
          const after = cursor.startsWith(CURSOR_PREFIX)
            ? parseId(cursor.slice(CURSOR_PREFIX.length))
            : undefined
          if (after === undefined) throw bad()
          where.push('id < @cursor')
          params.cursor = after
        }
      }
      const from =
        ' FROM messages' +
        (byTime && !selectiveState ? ' INDEXED BY messages_created' : '') +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        (byTime ? ' ORDER BY created_at DESC, id DESC' : ' ORDER BY id DESC')
      const cursorOf = (r: { id: number; created_at: number }): string =>
        byTime ? `${TIME_CURSOR_PREFIX}${r.created_at}.${r.id}` : `${CURSOR_PREFIX}${r.id}`
      if (query.contains !== undefined) return this.#queryContains(query, from, params, cursorOf)
      const rows = this.#stmt(`SELECT ${MESSAGE_COLUMNS}${from} LIMIT @limit`).all(
        params,
      ) as MessageRow[]
      const more = rows.length > query.limit
      if (more) rows.pop()
      const result: QueryResult = { records: rows.map(rowToRecord) }
      const last = rows[rows.length - 1]
      if (more && last !== undefined) result.nextCursor = cursorOf(last)
      return result
    })
  }

  /**
   * `query` with `contains`: walks at most CONTAINS_SCAN_LIMIT messages of the other filters in
   * page order, testing each payload with `instr` (not indexed: the payloads are read), then
   * reads the matching rows. The cursor is the last message examined, so a page that hit the scan
   * limit goes on from there even when it found nothing.
   */
  #queryContains(
    query: MessageQuery,
    from: string,
    params: Record<string, string | number>,
    cursorOf: (r: { id: number; created_at: number }) => string,
  ): QueryResult {
    const scanned = this.#stmt(
      `SELECT id, created_at, instr(payload, @contains) > 0 AS hit${from} LIMIT @scan`,
    ).all({ ...params, contains: query.contains ?? '', scan: CONTAINS_SCAN_LIMIT }) as {
      id: number
      created_at: number
      hit: number
    }[]
    const hits: number[] = []
    let last: { id: number; created_at: number } | undefined
    for (const r of scanned) {
      if (hits.length === query.limit) break
      last = r
      if (r.hit === 1) hits.push(r.id)
    }
    const byId = this.#stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`)
    const records = hits.map((id) => rowToRecord(byId.get(id) as MessageRow))
    const result: QueryResult = { records }
    // More to look at: the page stopped before the end of what was scanned, or the scan was cut.
    const more = last !== scanned[scanned.length - 1] || scanned.length === CONTAINS_SCAN_LIMIT
    if (more && last !== undefined) result.nextCursor = cursorOf(last)
    return result
  }

  trace(sessionId: string): Promise<Hop[]> {
    return this.#read('trace', () => {
      const rows = this.#stmt(
        'SELECT id, session_id, message_id, source, target, state, time, detail FROM hops WHERE session_id = ? ORDER BY time, id',
      ).all(sessionId) as HopRow[]
      return rows.map(rowToHop)
    })
  }

  /**
   * Two phases, walked by the cursor `m:<time>:<id>` then `h:<time>:<id>`: first messages created
   * before `olderThan` (in creation order, through the `created_at` index), then hops older than
   * `olderThan` whose session has no message left. Each call examines at most `limit` rows.
   */
  purgeChunk(request: PurgeChunkRequest): Promise<PurgeChunkResult> {
    try {
      const db = this.#database()
      const [phase = 'm', t = '-1', i = '0'] = (request.after ?? `m:${PURGE_START}`).split(':')
      const params = {
        olderThan: request.olderThan.getTime(),
        afterTime: Number(t),
        afterId: Number(i),
        limit: request.limit,
      }
      if (phase === 'm') {
        return Promise.resolve(db.transaction(() => this.#purgeMessages(request, params))())
      }
      return Promise.resolve(db.transaction(() => this.#purgeHops(params))())
    } catch (e) {
      return Promise.reject(toStoreError(e, `purging ${this.path}`))
    }
  }

  /**
   * `PRAGMA incremental_vacuum(maxPages)`: moves pages from the end of the file into free ones
   * and truncates it (the file shrinks at the next WAL checkpoint). One bounded step, so other
   * writes wait at most for it.
   */
  reclaim(maxPages: number): Promise<ReclaimResult> {
    try {
      const db = this.#database()
      const pageSize = db.pragma('page_size', { simple: true }) as number
      const before = db.pragma('freelist_count', { simple: true }) as number
      const incremental = (db.pragma('auto_vacuum', { simple: true }) as number) === 2
      if (!incremental || before === 0) {
        return Promise.resolve({ freedBytes: 0, freeBytes: before * pageSize, incremental })
      }
      db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(maxPages))})`)
      const after = db.pragma('freelist_count', { simple: true }) as number
      return Promise.resolve({
        freedBytes: (before - after) * pageSize,
        freeBytes: after * pageSize,
        incremental,
      })
    } catch (e) {
      return Promise.reject(toStoreError(e, `reclaiming free space in ${this.path}`))
    }
  }

  close(): Promise<void> {
    const db = this.#db
    this.#db = undefined
    this.#applyBatch = undefined
    this.#applyEncoded = undefined
    this.#writes = undefined
    this.#statements.clear()
    try {
      // The last connection to close checkpoints the WAL and removes it.
      db?.close()
    } catch (e) {
      return Promise.reject(toStoreError(e, `closing ${this.path}`))
    }
    return Promise.resolve()
  }

  #purgeMessages(
    request: PurgeChunkRequest,
    params: { olderThan: number; afterTime: number; afterId: number; limit: number },
  ): PurgeChunkResult {
    const rows = this.#stmt(
      `SELECT id, created_at AS time, state, session_id FROM messages
       WHERE created_at < @olderThan AND (created_at, id) > (@afterTime, @afterId)
       ORDER BY created_at, id LIMIT @limit`,
    ).all(params) as ScanRow[]
    const sessionDone = new Map<string, boolean>()
    const openInSession = this.#stmt(
      "SELECT 1 FROM messages WHERE session_id = ? AND state <> 'completed' LIMIT 1",
    )
    const deleteHistory = this.#stmt('DELETE FROM message_history WHERE message_id = ?')
    const deleteSearch = this.#stmt('DELETE FROM message_search WHERE message_id = ?')
    const deleteMessage = this.#stmt('DELETE FROM messages WHERE id = ?')
    let deleted = 0
    for (const row of rows) {
      if (request.keepIncomplete) {
        if (row.state !== 'completed') continue
        if (row.session_id !== null) {
          let done = sessionDone.get(row.session_id)
          if (done === undefined) {
            done = openInSession.get(row.session_id) === undefined
            sessionDone.set(row.session_id, done)
          }
          if (!done) continue
        }
      }
      deleteHistory.run(row.id)
      deleteSearch.run(row.id)
      deleteMessage.run(row.id)
      deleted++
    }
    const last = rows[rows.length - 1]
    if (rows.length < params.limit || last === undefined)
      return { deleted, next: `h:${PURGE_START}` }
    return { deleted, next: `m:${last.time}:${last.id}` }
  }

  #purgeHops(params: {
    olderThan: number
    afterTime: number
    afterId: number
    limit: number
  }): PurgeChunkResult {
    const rows = this.#stmt(
      `SELECT id, time, NULL AS state, session_id FROM hops
       WHERE time < @olderThan AND (time, id) > (@afterTime, @afterId)
       ORDER BY time, id LIMIT @limit`,
    ).all(params) as ScanRow[]
    const sessionGone = new Map<string, boolean>()
    const anyInSession = this.#stmt('SELECT 1 FROM messages WHERE session_id = ? LIMIT 1')
    const deleteHop = this.#stmt('DELETE FROM hops WHERE id = ?')
    for (const row of rows) {
      const session = row.session_id ?? ''
      let gone = sessionGone.get(session)
      if (gone === undefined) {
        gone = anyInSession.get(session) === undefined
        sessionGone.set(session, gone)
      }
      if (gone) deleteHop.run(row.id)
    }
    const last = rows[rows.length - 1]
    if (rows.length < params.limit || last === undefined) return { deleted: 0 }
    return { deleted: 0, next: `h:${last.time}:${last.id}` }
  }

  /** `write()`'s transaction: the ops in order, then the hops they queued (`#endBatch`). */
  #applyOps(ops: readonly WriteOp[]): WriteOutcome[] {
    this.#beginBatch()
    const outcomes = ops.map((op, i) => this.#apply(op, i))
    const ids: number[] = new Array<number>(ops.length).fill(0)
    this.#endBatch(ids)
    for (const i of hopOpIndexes(ops)) outcomes[i] = { ok: true, id: String(ids[i]) }
    return outcomes
  }

  #apply(op: WriteOp, index: number): WriteOutcome {
    switch (op.kind) {
      case 'insert':
        return {
          ok: true,
          id: String(
            this.#insert(
              op.hostName,
              op.messageId,
              op.payload,
              op.messageType,
              op.correlationId,
              op.sessionId ?? null,
              op.direction ?? null,
              op.metadata ?? null,
              op.time.getTime(),
              encodeSearch(op.search),
            ),
          ),
        }
      case 'transition': {
        const error = this.#transition(op.id, op.state, op.time.getTime(), op.error ?? null)
        return error === undefined ? { ok: true } : { ok: false, error }
      }
      case 'hop':
        // Its id once the batch's hops are in (`#applyOps`).
        this.#queueHop(
          index,
          op.sessionId,
          op.messageId ?? null,
          op.source,
          op.target,
          op.state,
          op.time.getTime(),
          op.detail ?? null,
        )
        return { ok: true }
      case 'supersede':
        return {
          ok: true,
          closed: this.#supersede(
            op.sessionId,
            op.hostName,
            op.by,
            op.direction ?? null,
            op.correlationId ?? null,
            op.createdBefore?.getTime() ?? null,
            op.time.getTime(),
            op.detail,
          ),
        }
    }
  }

  /** Applies one batch encoded by `encodeWrites` (see write-codec.ts), slot by slot. */
  #applyEncodedOps(slots: readonly EncodedSlot[]): EncodedOutcomes {
    const ids: number[] = []
    const errors: EncodedOutcomes['errors'] = []
    this.#beginBatch()
    let i = 0
    while (i < slots.length) {
      const kind = slots[i]
      if (kind === OP_INSERT) {
        ids.push(
          this.#insert(
            slots[i + 1] as string,
            slots[i + 2] as string,
            slots[i + 3] as string,
            slots[i + 4] as string,
            slots[i + 5] as string,
            slots[i + 6] as string | null,
            slots[i + 7] as string | null,
            slots[i + 8] as MessageMetadata | null,
            slots[i + 9] as number,
            slots[i + 10] as string | null,
          ),
        )
        i += 11
      } else if (kind === OP_TRANSITION) {
        const error = this.#transition(
          slots[i + 1] as string,
          slots[i + 2] as MessageState,
          slots[i + 3] as number,
          slots[i + 4] as string | null,
        )
        if (error !== undefined) {
          errors.push({ index: ids.length, code: error.code, message: error.message })
          ids.push(-1)
        } else ids.push(0)
        i += 5
      } else if (kind === OP_HOP) {
        this.#queueHop(
          ids.length,
          slots[i + 1] as string,
          slots[i + 2] as string | null,
          slots[i + 3] as string,
          slots[i + 4] as string,
          slots[i + 5] as HopState,
          slots[i + 6] as number,
          slots[i + 7] as string | null,
        )
        ids.push(0) // the hop's id once the batch's hops are in
        i += 8
      } else if (kind === OP_SUPERSEDE) {
        ids.push(
          this.#supersede(
            slots[i + 1] as string,
            slots[i + 2] as string,
            slots[i + 3] as string,
            slots[i + 4] as string | null,
            slots[i + 5] as string | null,
            slots[i + 6] as number | null,
            slots[i + 7] as number,
            slots[i + 8] as string,
          ),
        )
        i += 9
      } else {
        throw new StoreError(
          'STORE_INTERNAL',
          `encoded write batch: unknown op ${JSON.stringify(kind)} at slot ${i}`,
        )
      }
    }
    this.#endBatch(ids)
    return { ids: Float64Array.from(ids), errors }
  }

  #insert(
    hostName: string,
    messageId: string,
    payload: string,
    messageType: string,
    correlationId: string,
    sessionId: string | null,
    direction: string | null,
    metadata: MessageMetadata | null,
    time: number,
    search: string | null,
  ): number {
    const w = this.#writes
    if (w === undefined) throw this.#closed()
    const info = w.insertMessage.run(
      hostName,
      messageId,
      messageType,
      correlationId,
      sessionId,
      direction,
      payload,
      metadata === null ? null : JSON.stringify(metadata),
      time,
      time,
    )
    const id = Number(info.lastInsertRowid)
    w.insertHistory.run(id, 'received', time, null)
    for (const s of decodeSearch(search)) w.insertSearch.run(id, s.name, s.value)
    return id
  }

  /** Returns the error of a transition on an unknown id (it fails alone), else undefined. */
  #transition(
    id: string,
    state: MessageState,
    time: number,
    error: string | null,
  ): StoreError | undefined {
    const w = this.#writes
    if (w === undefined) throw this.#closed()
    const n = parseId(id)
    if (n === undefined || w.updateState.run(state, error, time, n).changes === 0) {
      return new StoreError(
        'STORE_NOT_FOUND',
        `cannot mark message ${JSON.stringify(id.slice(0, 40))} ${state}: no such message in ${this.path}`,
      )
    }
    w.insertHistory.run(n, state, time, error)
    return undefined
  }

  /** Starts a batch with no rows queued (a batch that threw half-way left its own). */
  #beginBatch(): void {
    const w = this.#writes
    if (w === undefined) throw this.#closed()
    w.hops.clear()
    w.hopIndexes = []
  }

  /** Inserts the rows the batch queued, and writes each hop's id to `ids[its op's index]`. */
  #endBatch(ids: number[]): void {
    const w = this.#writes
    if (w === undefined) throw this.#closed()
    if (w.hops.rows === 0) return
    const indexes = w.hopIndexes
    w.hopIndexes = []
    const first = w.hops.flush()
    for (let j = 0; j < indexes.length; j++) {
      const index = indexes[j] as number
      if (index >= 0) ids[index] = first + j
    }
  }

  /**
   * Queues a hop (inserted by `#endBatch`, in call order, so its id is what one INSERT per hop
   * gave); `index` is its op's place in the batch, -1 for a supersede's own hops.
   */
  #queueHop(
    index: number,
    sessionId: string,
    messageId: string | null,
    source: string,
    target: string,
    state: HopState,
    time: number,
    detail: string | null,
  ): void {
    const w = this.#writes
    if (w === undefined) throw this.#closed()
    const linked = messageId === null ? undefined : parseId(messageId)
    w.hops.push(sessionId, linked ?? null, source, target, state, time, detail)
    w.hopIndexes.push(index)
  }

  /** Marks the records a supersede op names completed, each with a hop; returns how many. */
  #supersede(
    sessionId: string,
    hostName: string,
    by: string,
    direction: string | null,
    correlationId: string | null,
    before: number | null,
    time: number,
    detail: string,
  ): number {
    const w = this.#writes
    if (w === undefined) throw this.#closed()
    const ids = w.superseded.all({
      sessionId,
      hostName,
      // An id this backend never returned excludes nothing.
      by: parseId(by) ?? 0,
      direction,
      correlationId,
      before,
    }) as number[]
    for (const id of ids) {
      w.updateState.run('completed', null, time, id)
      w.insertHistory.run(id, 'completed', time, null)
      w.hops.push(sessionId, id, hostName, hostName, 'completed', time, detail)
      w.hopIndexes.push(-1) // no op of its own: the supersede returns a count
    }
    return ids.length
  }

  #history(id: number): StateChange[] {
    const rows = this.#stmt(
      'SELECT state, time, error FROM message_history WHERE message_id = ? ORDER BY id',
    ).all(id) as HistoryRow[]
    return rows.map(rowToChange)
  }

  #read<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn())
    } catch (e) {
      return Promise.reject(toStoreError(e, `${what} on ${this.path}`))
    }
  }

  #database(): Database.Database {
    if (this.#db === undefined) throw this.#closed()
    return this.#db
  }

  #stmt(sql: string): Database.Statement {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.#database().prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #closed(): StoreError {
    return new StoreError('STORE_CLOSED', `the SQLite backend for ${this.path} is not open`)
  }
}
