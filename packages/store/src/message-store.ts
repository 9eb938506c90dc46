/**
 * `MessageStore`: the engine's audit trail of messages, their states and session hops.
 *
 * Writes are batched: each call queues its write and gets a promise; on the next turn of the event
 * loop (setImmediate) the queue is handed to the backend in batches of at most `maxBatchSize`, one
 * transaction each, and every caller's promise settles after its batch committed. A burst of 64
 * concurrent callers thus costs one commit instead of 64, and the loop is yielded between batches
 * so timers and sockets keep running. Reads first wait for every write queued before them, so a
 * caller always reads its own writes, and backends read committed data only, so nobody sees half a
 * batch.
 *
 * `purge` deletes in chunks of `purgeChunkSize` rows, one transaction each, yielding between chunks
 * so that writers and readers interleave with a long purge and memory stays flat.
 *
 * What it does not do: it is not the durability promise behind an ACK (that is @li/wal); it does
 * not enforce a state machine (any state may follow any other: a failed message may be retried);
 * it does not deduplicate by HL7 message id; it does not log (it emits `batch` and `purge` events).
 */
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import type { StoreBackend, WriteOp, WriteOutcome } from './backend.js'
import { StoreError, isStoreError } from './errors.js'
import { SqliteBackend } from './sqlite-backend.js'
import { WorkerSqliteBackend } from './worker-backend.js'
import {
  HOP_STATES,
  MESSAGE_STATES,
  type Hop,
  type HopInput,
  type HopState,
  type MessageDetail,
  type MessageMetadata,
  type MessageQuery,
  type MessageRecord,
  type MessageState,
  type PurgeOptions,
  type QueryResult,
  type SearchQuery,
  type SearchValue,
  type StateChange,
  type StoreMessageInput,
  type SupersedeInput,
} from './types.js'

/** The file name of the default SQLite database inside `dataDir`. */
export const DEFAULT_DATABASE_FILE = 'messages.db'

/** Options of `new MessageStore()`. Give exactly one of `backend`, `path` or `dataDir`. */
export interface MessageStoreOptions {
  /** A backend of your own (for example `MemoryBackend` from `@li/store/testing`). */
  backend?: StoreBackend | undefined
  /** The SQLite database file of the default backend. */
  path?: string | undefined
  /** The data directory; the default backend uses `<dataDir>/messages.db`. */
  dataDir?: string | undefined
  /** SQLite `synchronous` of the default backend: `normal` (default) or `full`. See the README. */
  synchronous?: 'normal' | 'full' | undefined
  /**
   * Run the default SQLite backend in a worker thread (`WorkerSqliteBackend`), so commits and
   * checkpoints do not hold the event loop. Default false. See the README's write-mix figures.
   */
  worker?: boolean | undefined
  /**
   * Most writes committed in one transaction. Default 256: a batch of 192 writes (64 callers x 3)
   * took a median 0.6–0.9 ms on the benchmark machine, so a full batch holds the event loop for
   * a millisecond or two, apart from SQLite's WAL checkpoints (see the README).
   */
  maxBatchSize?: number | undefined
  /**
   * Most rows examined (and deleted) per purge transaction. Default 500: a chunk (with its 1,500
   * history rows and 6 secondary indexes) took a median 6–8 ms on the busy benchmark machine, 2,000-row
   * chunks 45 ms, and writers only get in between chunks.
   */
  purgeChunkSize?: number | undefined
  /** The clock used for creation and state-change times; for tests. Default `() => new Date()`. */
  now?: (() => Date) | undefined
}

/** Options of `MessageStore.getFailed()`. */
export interface FailedQuery {
  hostName?: string | undefined
  /** Page size, 1 to 1000; default 100. */
  limit?: number | undefined
  cursor?: string | undefined
}

/** Events of `MessageStore`, for metrics: it emits, it never logs. */
export interface MessageStoreEvents {
  /** A write batch committed (or failed: `failed` true). */
  batch: [info: { size: number; durationMs: number; failed: boolean }]
  /** A purge chunk committed; `deleted` is the running total of this purge, `durationMs` the chunk's. */
  purge: [info: { deleted: number; done: boolean; durationMs: number }]
  /**
   * After a purge, the space it freed was given back to the file system (`bytes`, in steps of at
   * most 8 MiB, then this event once). `freeBytes` is what stays free inside the file;
   * `incremental` false means the file was created by a version without incremental vacuum and
   * only an offline `VACUUM` shrinks it.
   */
  reclaim: [info: { bytes: number; freeBytes: number; incremental: boolean; durationMs: number }]
}

/** Pages given back per reclaim step after a purge (8 MiB with SQLite's 4 KiB pages). */
const RECLAIM_PAGES = 2048

interface Pending {
  op: WriteOp
  resolve: (outcome: WriteOutcome) => void
  reject: (error: unknown) => void
}

/** Most records one query page may return. */
export const MAX_QUERY_LIMIT = 1000

const noop = (): void => {}

function invalid(message: string): StoreError {
  return new StoreError('STORE_INVALID_ARGUMENT', message)
}

/** Most search values one message may be stored with. */
export const MAX_SEARCH_VALUES = 200
/** Longest search value. */
export const MAX_SEARCH_VALUE_LENGTH = 255
const SEARCH_NAME = /^[\w.%]{1,64}$/

function searchName(name: unknown): string {
  if (typeof name !== 'string' || !SEARCH_NAME.test(name)) {
    throw invalid(`a search name is 1-64 letters, digits, _, . or %, got ${describe(name)}`)
  }
  return name
}

function searchValue(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length > MAX_SEARCH_VALUE_LENGTH ||
    value.includes('\u0000') ||
    value.includes('\u0001')
  ) {
    throw invalid(
      `a search value is a string of at most ${MAX_SEARCH_VALUE_LENGTH} characters without NUL or SOH, got ${typeof value === 'string' ? `${value.length} characters` : describe(value)}`,
    )
  }
  return value
}

/** Checks and copies `StoreMessageInput.search`; undefined when there is none. */
function searchValues(search: unknown): SearchValue[] | undefined {
  if (search === undefined) return undefined
  if (!Array.isArray(search)) throw invalid('search must be an array of { name, value }')
  if (search.length > MAX_SEARCH_VALUES) {
    throw invalid(`at most ${MAX_SEARCH_VALUES} search values per message, got ${search.length}`)
  }
  if (search.length === 0) return undefined
  return search.map((s: unknown) => {
    if (typeof s !== 'object' || s === null)
      throw invalid('search must be an array of { name, value }')
    const { name, value } = s as { name?: unknown; value?: unknown }
    return { name: searchName(name), value: searchValue(value) }
  })
}

function searchQuery(q: unknown): SearchQuery | undefined {
  if (q === undefined) return undefined
  if (typeof q !== 'object' || q === null) throw invalid('search must be { name, value, prefix? }')
  const { name, value, prefix } = q as { name?: unknown; value?: unknown; prefix?: unknown }
  if (prefix !== undefined && typeof prefix !== 'boolean') {
    throw invalid(`search.prefix must be true or false, got ${describe(prefix)}`)
  }
  const out: SearchQuery = { name: searchName(name), value: searchValue(value) }
  if (prefix === true) out.prefix = true
  return out
}

function containsText(value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw invalid(`contains must be 1 to 200 characters of text, got ${describe(value)}`)
  }
  return value
}

function requireString(value: unknown, name: string, nonEmpty: boolean): string {
  if (typeof value !== 'string' || (nonEmpty && value === '')) {
    throw invalid(`${name} must be a ${nonEmpty ? 'non-empty ' : ''}string, got ${describe(value)}`)
  }
  return value
}

function optionalString(value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : requireString(value, name, true)
}

function requireDate(value: unknown, name: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw invalid(`${name} must be a valid Date, got ${describe(value)}`)
  }
  return value
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40))
  if (value instanceof Date) return `Date(${String(value.getTime())})`
  return value === null ? 'null' : typeof value
}

function positiveInt(
  value: number | undefined,
  name: string,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw invalid(`${name} must be an integer from 1 to ${max}, got ${String(value)}`)
  }
  return value
}

/** A JSON copy of the metadata, so the record returned is exactly what was stored. */
function normaliseMetadata(value: unknown): MessageMetadata | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      `metadata must be a plain object, got ${Array.isArray(value) ? 'array' : describe(value)}`,
    )
  }
  try {
    return JSON.parse(JSON.stringify(value)) as MessageMetadata
  } catch (cause) {
    throw new StoreError(
      'STORE_INVALID_ARGUMENT',
      `metadata must be JSON-serialisable: ${String(cause)}`,
      {
        cause,
      },
    )
  }
}

function invalidLimit(): never {
  throw invalid(`query() needs a limit from 1 to ${MAX_QUERY_LIMIT}`)
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : error.message
  return typeof error === 'string' ? error : String(error)
}

/**
 * The message store: batched writes, committed reads, traces and chunked retention over a
 * pluggable backend (embedded SQLite by default).
 * @example
 * const store = new MessageStore({ dataDir: './data' })
 * await store.start()
 * const m = await store.store({ hostName: 'PAS.In', messageId: 'MSG1', payload, messageType: 'ADT^A01', correlationId: 'MSG1' })
 * await store.markProcessing(m.id)
 * await store.markCompleted(m.id)
 * await store.stop()
 */
export class MessageStore extends EventEmitter<MessageStoreEvents> {
  readonly #backend: StoreBackend
  readonly #maxBatchSize: number
  readonly #purgeChunkSize: number
  readonly #now: () => Date
  #status: 'new' | 'starting' | 'open' | 'stopping' | 'stopped' = 'new'
  #queue: Pending[] = []
  #draining = false
  #scheduled = false
  /**
   * The promise of the latest queued write. Batches commit in queue order, so once it settles
   * every earlier write has too; readers wait for it through `#tail` (made only when read, not a
   * `then` per write).
   */
  #last: Promise<WriteOutcome> | undefined
  #purging: Promise<number> | undefined

  constructor(options: MessageStoreOptions) {
    super()
    const given = [options.backend, options.path, options.dataDir].filter((x) => x !== undefined)
    if (given.length !== 1) {
      throw invalid(
        `MessageStore needs exactly one of backend, path or dataDir; got ${given.length}`,
      )
    }
    if (options.backend !== undefined) {
      this.#backend = options.backend
    } else {
      const path =
        options.path !== undefined
          ? requireString(options.path, 'path', true)
          : join(requireString(options.dataDir, 'dataDir', true), DEFAULT_DATABASE_FILE)
      this.#backend =
        options.worker === true
          ? new WorkerSqliteBackend({ path, synchronous: options.synchronous })
          : new SqliteBackend({ path, synchronous: options.synchronous })
    }
    this.#maxBatchSize = positiveInt(options.maxBatchSize, 'maxBatchSize', 256, 100_000)
    this.#purgeChunkSize = positiveInt(options.purgeChunkSize, 'purgeChunkSize', 500, 1_000_000)
    this.#now = options.now ?? (() => new Date())
  }

  /** Opens the backend and runs pending schema migrations. Call once before anything else. */
  async start(): Promise<void> {
    if (this.#status !== 'new') {
      throw new StoreError('STORE_CLOSED', `start() called on a store that is ${this.#status}`)
    }
    this.#status = 'starting'
    try {
      await this.#backend.open()
    } catch (e) {
      this.#status = 'stopped'
      throw e
    }
    this.#status = 'open'
  }

  /**
   * Stores a new message in state `received`; resolves with the record (and its store-assigned
   * `id`) once the batch holding it has committed.
   */
  async store(input: StoreMessageInput): Promise<MessageRecord> {
    this.#assertOpen('store')
    if (typeof input !== 'object' || input === null) throw invalid('store() needs a message object')
    const hostName = requireString(input.hostName, 'hostName', true)
    const messageId = requireString(input.messageId, 'messageId', false)
    const payload = requireString(input.payload, 'payload', false)
    const messageType = requireString(input.messageType, 'messageType', false)
    const correlationId = requireString(input.correlationId, 'correlationId', false)
    const sessionId = optionalString(input.sessionId, 'sessionId')
    const direction = input.direction
    if (direction !== undefined && direction !== 'inbound' && direction !== 'outbound') {
      throw invalid(`direction must be 'inbound' or 'outbound', got ${describe(direction)}`)
    }
    const metadata = normaliseMetadata(input.metadata)
    const search = searchValues(input.search)
    const time = this.#now()
    const outcome = await this.#enqueue({
      kind: 'insert',
      hostName,
      messageId,
      payload,
      messageType,
      correlationId,
      sessionId,
      direction,
      metadata,
      time,
      ...(search === undefined ? {} : { search }),
    })
    const record: MessageRecord = {
      id: this.#newId(outcome, 'store'),
      hostName,
      messageId,
      payload,
      messageType,
      correlationId,
      state: 'received',
      createdAt: time,
      updatedAt: time,
    }
    if (sessionId !== undefined) record.sessionId = sessionId
    if (direction !== undefined) record.direction = direction
    if (metadata !== undefined) record.metadata = metadata
    return record
  }

  /** Records that a host started working on the message. `STORE_NOT_FOUND` for an unknown id. */
  markProcessing(id: string): Promise<void> {
    return this.#transition(id, 'processing', undefined)
  }

  /** Records that the message was handled. `STORE_NOT_FOUND` for an unknown id. */
  markCompleted(id: string): Promise<void> {
    return this.#transition(id, 'completed', undefined)
  }

  /** Records that handling failed, with the error text (an Error's message). */
  markFailed(id: string, error: unknown): Promise<void> {
    return this.#transition(id, 'failed', errorText(error))
  }

  /**
   * Records one hop of a session (source → target, state, time) for its trace; resolves with the
   * hop once committed.
   */
  async recordHop(input: HopInput): Promise<Hop> {
    this.#assertOpen('recordHop')
    if (typeof input !== 'object' || input === null) throw invalid('recordHop() needs a hop object')
    const sessionId = requireString(input.sessionId, 'sessionId', true)
    const messageId = optionalString(input.messageId, 'messageId')
    const source = requireString(input.source, 'source', true)
    const target = requireString(input.target, 'target', true)
    if (!HOP_STATES.includes(input.state)) {
      throw invalid(
        `hop state must be one of ${HOP_STATES.join(', ')}, got ${describe(input.state)}`,
      )
    }
    const state: HopState = input.state
    const time = input.time === undefined ? this.#now() : requireDate(input.time, 'time')
    const detail =
      input.detail === undefined ? undefined : requireString(input.detail, 'detail', false)
    const outcome = await this.#enqueue({
      kind: 'hop',
      sessionId,
      messageId,
      source,
      target,
      state,
      time,
      detail,
    })
    const hop: Hop = {
      id: this.#newId(outcome, 'recordHop'),
      sessionId,
      source,
      target,
      state,
      time,
    }
    if (messageId !== undefined) hop.messageId = messageId
    if (detail !== undefined) hop.detail = detail
    return hop
  }

  /**
   * Closes the records a newer one stands in for: every record of `sessionId` held by `hostName`
   * (of `direction`, with `correlationId` and created before `createdBefore`, when given) that is
   * still `received` or
   * `processing`, except `by`, is marked `completed`, and a `completed` hop (host to host, with
   * `detail`) is recorded for each. A write like any other: batched with the writes around it,
   * applied in call order inside one transaction; it finds the records when it is applied, with no
   * read round trip. Resolves with the number of records closed once committed.
   * @example
   * // The engine resumed a message of a crashed run under the new record r2:
   * await store.supersede({ sessionId: 'S1', hostName: 'PAS.In', by: r2.id, direction: 'inbound' })
   */
  async supersede(input: SupersedeInput): Promise<number> {
    this.#assertOpen('supersede')
    if (typeof input !== 'object' || input === null)
      throw invalid('supersede() needs an object with sessionId, hostName and by')
    const sessionId = requireString(input.sessionId, 'sessionId', true)
    const hostName = requireString(input.hostName, 'hostName', true)
    const by = requireString(input.by, 'by', true)
    const direction = input.direction
    if (direction !== undefined && direction !== 'inbound' && direction !== 'outbound') {
      throw invalid(`direction must be 'inbound' or 'outbound', got ${describe(direction)}`)
    }
    const correlationId =
      input.correlationId === undefined
        ? undefined
        : requireString(input.correlationId, 'correlationId', false)
    const createdBefore =
      input.createdBefore === undefined
        ? undefined
        : requireDate(input.createdBefore, 'createdBefore')
    const detail =
      input.detail === undefined
        ? `superseded by ${by}`
        : requireString(input.detail, 'detail', false)
    const outcome = await this.#enqueue({
      kind: 'supersede',
      sessionId,
      hostName,
      by,
      direction,
      correlationId,
      createdBefore,
      detail,
      time: this.#now(),
    })
    if (!outcome.ok) throw outcome.error
    return outcome.closed ?? 0
  }

  /** The message with its state history, or `undefined` if the store does not hold it. */
  async get(id: string): Promise<MessageDetail | undefined> {
    this.#assertOpen('get')
    requireString(id, 'id', true)
    await this.#tail
    return this.#backend.get(id)
  }

  /** The state changes of a message, oldest first, each with its time and error text. */
  async history(id: string): Promise<StateChange[]> {
    this.#assertOpen('history')
    requireString(id, 'id', true)
    await this.#tail
    return this.#backend.history(id)
  }

  /** The hops of a session in time order (IRIS Visual Trace: source, target, time, state). */
  async trace(sessionId: string): Promise<Hop[]> {
    this.#assertOpen('trace')
    requireString(sessionId, 'sessionId', true)
    await this.#tail
    return this.#backend.trace(sessionId)
  }

  /**
   * One page of messages matching every given filter, newest first (reverse store order); pass
   * `nextCursor` back as `cursor` for the next page.
   */
  async query(query: MessageQuery): Promise<QueryResult> {
    this.#assertOpen('query')
    if (typeof query !== 'object' || query === null) throw invalid('query() needs a query object')
    if (query.state !== undefined && !MESSAGE_STATES.includes(query.state)) {
      throw invalid(
        `state must be one of ${MESSAGE_STATES.join(', ')}, got ${describe(query.state)}`,
      )
    }
    const normalised: MessageQuery = {
      hostName: optionalString(query.hostName, 'hostName'),
      messageType: optionalString(query.messageType, 'messageType'),
      state: query.state,
      correlationId: optionalString(query.correlationId, 'correlationId'),
      sessionId: optionalString(query.sessionId, 'sessionId'),
      search: searchQuery(query.search),
      contains: containsText(query.contains),
      since: query.since === undefined ? undefined : requireDate(query.since, 'since'),
      until: query.until === undefined ? undefined : requireDate(query.until, 'until'),
      limit:
        query.limit === undefined
          ? invalidLimit()
          : positiveInt(query.limit, 'limit', 1, MAX_QUERY_LIMIT),
      cursor: optionalString(query.cursor, 'cursor'),
    }
    await this.#tail
    return this.#backend.query(normalised)
  }

  /** One page of `failed` messages, newest first, optionally of one host. */
  getFailed(options: FailedQuery = {}): Promise<QueryResult> {
    return this.query({
      hostName: options.hostName,
      state: 'failed',
      limit: options.limit ?? 100,
      cursor: options.cursor,
    })
  }

  /**
   * Deletes messages created before `olderThan` (with their history, and the hops of sessions
   * left without messages) in chunks of `purgeChunkSize`, one transaction each, yielding to the
   * event loop between chunks. Resolves with the number of messages deleted. One purge at a time.
   * `keepIncomplete` defaults to `true`: unfinished messages (and whole unfinished sessions) stay
   * unless the caller passes `false`.
   */
  purge(options: PurgeOptions): Promise<number> {
    try {
      this.#assertOpen('purge')
      if (typeof options !== 'object' || options === null) throw invalid('purge() needs options')
      requireDate(options.olderThan, 'olderThan')
      if (options.keepIncomplete !== undefined && typeof options.keepIncomplete !== 'boolean') {
        throw invalid('purge() keepIncomplete must be true or false (it defaults to true)')
      }
      if (this.#purging !== undefined) throw invalid('a purge is already running on this store')
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    const run = this.#runPurge(options.olderThan, options.keepIncomplete ?? true)
    this.#purging = run
    const clear = (): void => {
      this.#purging = undefined
    }
    run.then(clear, clear)
    return run
  }

  /**
   * Commits every queued write, waits for a running purge to reach a chunk boundary, and closes
   * the backend. Calls made after `stop()` began reject with `STORE_CLOSED`.
   */
  async stop(): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'stopping') return
    if (this.#status === 'new') {
      this.#status = 'stopped'
      return
    }
    this.#status = 'stopping'
    await this.#tail
    await this.#purging?.then(noop, noop)
    this.#status = 'stopped'
    await this.#backend.close()
  }

  async #runPurge(olderThan: Date, keepIncomplete: boolean): Promise<number> {
    let deleted = 0
    let after: string | undefined
    for (;;) {
      if (this.#status !== 'open') {
        throw new StoreError(
          'STORE_CLOSED',
          `purge stopped by stop() after deleting ${deleted} messages; run it again after start()`,
        )
      }
      const started = performance.now()
      const chunk = await this.#backend.purgeChunk({
        olderThan,
        keepIncomplete,
        limit: this.#purgeChunkSize,
        after,
      })
      deleted += chunk.deleted
      after = chunk.next
      this.emit('purge', {
        deleted,
        done: after === undefined,
        durationMs: performance.now() - started,
      })
      if (after === undefined) {
        if (deleted > 0) await this.#reclaim()
        return deleted
      }
      // Let queued writes, reads and timers run between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  /**
   * Gives the space a purge freed back to the file system, a bounded step at a time (other
   * writes run between steps); stops early at `stop()`. A failure is reported as the purge's.
   */
  async #reclaim(): Promise<void> {
    const reclaim = this.#backend.reclaim?.bind(this.#backend)
    if (reclaim === undefined) return
    const started = performance.now()
    let bytes = 0
    for (;;) {
      const r = await reclaim(RECLAIM_PAGES)
      bytes += r.freedBytes
      if (!r.incremental || r.freedBytes === 0 || r.freeBytes === 0 || this.#status !== 'open') {
        this.emit('reclaim', {
          bytes,
          freeBytes: r.freeBytes,
          incremental: r.incremental,
          durationMs: performance.now() - started,
        })
        return
      }
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  async #transition(id: string, state: MessageState, error: string | undefined): Promise<void> {
    this.#assertOpen(`mark ${state}`)
    requireString(id, 'id', true)
    const outcome = await this.#enqueue({ kind: 'transition', id, state, time: this.#now(), error })
    if (!outcome.ok) throw outcome.error
  }

  #newId(outcome: WriteOutcome, what: string): string {
    if (!outcome.ok) throw outcome.error
    if (outcome.id === undefined) {
      throw new StoreError('STORE_INTERNAL', `the backend returned no id for ${what}()`)
    }
    return outcome.id
  }

  #assertOpen(what: string): void {
    if (this.#status !== 'open') {
      throw new StoreError(
        'STORE_CLOSED',
        `${what}: the message store is ${this.#status}; call start() first and nothing after stop()`,
      )
    }
  }

  #enqueue(op: WriteOp): Promise<WriteOutcome> {
    const promise = new Promise<WriteOutcome>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject })
    })
    this.#last = promise
    if (!this.#draining && !this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => void this.#drain())
    }
    return promise
  }

  /** Settles once every write queued so far has (whether it succeeded or not). */
  get #tail(): Promise<void> {
    const last = this.#last
    return last === undefined ? Promise.resolve() : last.then(noop, noop)
  }

  async #drain(): Promise<void> {
    this.#scheduled = false
    this.#draining = true
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatchSize)
        const started = performance.now()
        try {
          const outcomes = await this.#backend.write(batch.map((p) => p.op))
          this.emit('batch', {
            size: batch.length,
            durationMs: performance.now() - started,
            failed: false,
          })
          batch.forEach((p, i) => {
            const outcome = outcomes[i]
            if (outcome === undefined) {
              p.reject(
                new StoreError('STORE_INTERNAL', `the backend returned no outcome for write ${i}`),
              )
            } else {
              p.resolve(outcome)
            }
          })
        } catch (e) {
          this.emit('batch', {
            size: batch.length,
            durationMs: performance.now() - started,
            failed: true,
          })
          const error = isStoreError(e)
            ? e
            : new StoreError('STORE_INTERNAL', `writing a batch failed: ${String(e)}`, { cause: e })
          for (const p of batch) p.reject(error)
        }
        // Yield between batches so timers and sockets run during a long burst.
        if (this.#queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve))
      }
    } finally {
      this.#draining = false
    }
  }
}
