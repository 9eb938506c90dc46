/**
 * The contract between `MessageStore` and a storage backend. It is async and speaks only in the
 * shapes of `types.ts`: no SQL, no row ids, no SQLite pragmas, so a PostgreSQL backend can
 * implement it as well as the embedded SQLite one and the in-memory one.
 *
 * The store owns batching, validation, the clock and purge pacing; a backend owns atomicity:
 * `write` applies a whole batch in one transaction, `purgeChunk` deletes one bounded chunk in one
 * transaction, and reads see only committed data.
 */
import type { StoreError } from './errors.js'
import type {
  Hop,
  HopInput,
  MessageDetail,
  MessageQuery,
  MessageState,
  QueryResult,
  StateChange,
  StoreMessageInput,
  SupersedeInput,
} from './types.js'

/** One write in a batch handed to `StoreBackend.write`. The store has validated it and set its time. */
export type WriteOp =
  | (StoreMessageInput & {
      kind: 'insert'
      /** Creation time; the first history entry (`received`) has the same time. */
      time: Date
    })
  | {
      kind: 'transition'
      /** The store id of the message. */
      id: string
      state: MessageState
      time: Date
      error?: string | undefined
    }
  | (HopInput & {
      kind: 'hop'
      /** When the hop happened (the store sets it when the caller did not). */
      time: Date
    })
  | (SupersedeInput & {
      kind: 'supersede'
      /**
       * Time of the `completed` state change and of the hop of each record closed. The backend
       * finds the records when it applies the op, inside the batch's transaction, so a record
       * stored earlier in the same batch is seen.
       */
      time: Date
      /** The hop detail (the store filled in the default). */
      detail: string
    })

/**
 * The outcome of one op of a batch: `id` is the new id of an insert or hop, `closed` the number
 * of records a supersede marked completed. A transition on an unknown id fails alone
 * (`STORE_NOT_FOUND`) without failing the rest of the batch.
 */
export type WriteOutcome =
  | { ok: true; id?: string | undefined; closed?: number | undefined }
  | { ok: false; error: StoreError }

/** One bounded purge step: what to delete, at most how many rows, and where the last step stopped. */
export interface PurgeChunkRequest {
  olderThan: Date
  keepIncomplete: boolean
  /** Most messages (or hops) to examine in this step; the backend deletes at most this many. */
  limit: number
  /** The `next` of the previous step; absent on the first. */
  after?: string | undefined
}

/** The result of one purge step. */
export interface PurgeChunkResult {
  /** Messages deleted in this step (hops and history rows are not counted). */
  deleted: number
  /** Pass as `after` to continue; absent once nothing is left to examine. */
  next?: string | undefined
}

/** A storage backend for `MessageStore`: the embedded SQLite one, the in-memory one, or your own. */
export interface StoreBackend {
  /** Opens the storage and brings its schema to the current version. Called once by `start()`. */
  open(): Promise<void>
  /**
   * Applies a batch of writes in one transaction and returns one outcome per op, in order. Rejects
   * (with a `StoreError`) only if the whole batch could not be committed; then none of it was.
   */
  write(ops: readonly WriteOp[]): Promise<WriteOutcome[]>
  /** The message with its history, or `undefined` if the id is unknown (or malformed). */
  get(id: string): Promise<MessageDetail | undefined>
  /** The state changes of a message, oldest first; empty if the id is unknown. */
  history(id: string): Promise<StateChange[]>
  /** One page of matching messages, newest first; `cursor` is one this backend returned. */
  query(query: MessageQuery): Promise<QueryResult>
  /** The hops of a session in time order. */
  trace(sessionId: string): Promise<Hop[]>
  /** Deletes one bounded chunk in one transaction. */
  purgeChunk(request: PurgeChunkRequest): Promise<PurgeChunkResult>
  /**
   * Gives up to `maxPages` pages that purges freed back to the file system (SQLite: incremental
   * vacuum). Backends without a file leave it out.
   */
  reclaim?(maxPages: number): Promise<ReclaimResult>
  /** Releases the storage. Called once by `stop()` after the last write has settled. */
  close(): Promise<void>
}

/** What one `reclaim` step did. */
export interface ReclaimResult {
  /** Bytes given back to the file system by this step. */
  freedBytes: number
  /** Bytes still free inside the file (reused by later writes, or given back by later steps). */
  freeBytes: number
  /**
   * False when the file cannot give space back while open (an SQLite file created without
   * incremental vacuum, by a version before it): only an offline VACUUM shrinks it.
   */
  incremental: boolean
}

/**
 * Whether a query's results are ordered by creation time (then id), newest first, instead of by
 * id: a time window (`since`/`until`) without a correlation id, session or search value, which
 * select through their own indexes. Every backend orders, and makes cursors, by this rule.
 */
export function timeOrdered(query: MessageQuery): boolean {
  return (
    (query.since !== undefined || query.until !== undefined) &&
    query.correlationId === undefined &&
    query.sessionId === undefined &&
    query.search === undefined
  )
}
