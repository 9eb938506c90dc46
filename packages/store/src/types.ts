/**
 * The data model of @li/store: messages, their state changes, session hops and queries.
 * Backend-neutral: times are `Date`s, ids and cursors are opaque strings, so the same shapes
 * serve the embedded SQLite backend, the in-memory backend and a later PostgreSQL backend.
 */

/**
 * Where a message is in its life:
 * - `received`: stored, not yet picked up (the state `store()` gives it);
 * - `processing`: a host is working on it;
 * - `completed`: delivered or handled; the only state `purge({ keepIncomplete: true })` removes;
 * - `failed`: handling failed; the error text is in its history. Failed messages count as
 *   incomplete, so they stay until an operator resends them or purges with `keepIncomplete: false`.
 */
export type MessageState = 'received' | 'processing' | 'completed' | 'failed'

/** Every message state, in life-cycle order. */
export const MESSAGE_STATES: readonly MessageState[] = [
  'received',
  'processing',
  'completed',
  'failed',
]

/**
 * The state shown on one hop of a session trace (IRIS "Visual Trace" header status). The message
 * states plus `queued` (waiting for a target), `sent` (written, ACK not yet seen) and `discarded`.
 */
export type HopState = MessageState | 'queued' | 'sent' | 'discarded'

/** Every hop state. */
export const HOP_STATES: readonly HopState[] = [
  'received',
  'processing',
  'completed',
  'failed',
  'queued',
  'sent',
  'discarded',
]

/** Which way a message travels relative to the engine. */
export type MessageDirection = 'inbound' | 'outbound'

/** JSON-serialisable extra data kept with a message (for example MSH-3/MSH-4, the peer address). */
export type MessageMetadata = Record<string, unknown>

/** What a caller hands to `MessageStore.store()`. */
export interface StoreMessageInput {
  /** The production host (service, process or operation) that holds the message. */
  hostName: string
  /** The HL7 message control id (MSH-10) or another id from the sender; not unique in the store. */
  messageId: string
  /** The message as received or sent (HL7 v2 text). */
  payload: string
  /** The message type, for example `ADT^A01`. */
  messageType: string
  /** Ties together the messages of one conversation (for example an inbound message and its ACK). */
  correlationId: string
  /** The session (IRIS session id) the message belongs to; used by traces and `keepIncomplete`. */
  sessionId?: string | undefined
  /** Which way the message travels. */
  direction?: MessageDirection | undefined
  /** JSON-serialisable extra data. */
  metadata?: MessageMetadata | undefined
  /**
   * Values the message can be found by with `query({ search })`, for example every patient
   * identifier in it (IRIS search tables). Stored exactly as given: normalise case and separators
   * before storing and before searching. Not returned with the record. At most
   * `MAX_SEARCH_VALUES`; names are 1–64 letters, digits, `_`, `.` or `%`; values up to 255
   * characters.
   */
  search?: readonly SearchValue[] | undefined
}

/** One value a message can be found by (`StoreMessageInput.search`). */
export interface SearchValue {
  /** The property, for example `PatientID`. */
  name: string
  /** Its value as stored. */
  value: string
}

/** A search in `MessageQuery.search`: messages stored with this name and value. */
export interface SearchQuery {
  name: string
  /** Compared exactly, or as a prefix with `prefix: true`. */
  value: string
  /** Match every value that starts with `value`. */
  prefix?: boolean | undefined
}

/** One stored message as it stands now. */
export interface MessageRecord extends StoreMessageInput {
  /** The store-assigned unique id (opaque string; not the HL7 MSH-10). */
  id: string
  /** The current state. */
  state: MessageState
  /** The error text of the last `markFailed`, while the message is `failed`. */
  error?: string | undefined
  /** When the store accepted the message. */
  createdAt: Date
  /** When the state last changed. */
  updatedAt: Date
}

/** One state change of a message. */
export interface StateChange {
  state: MessageState
  time: Date
  /** The error text given to `markFailed`. */
  error?: string | undefined
}

/** A message together with every state change it went through, oldest first. */
export interface MessageDetail extends MessageRecord {
  history: StateChange[]
}

/** What a caller hands to `MessageStore.recordHop()`: one step of a session between two hosts. */
export interface HopInput {
  sessionId: string
  /** The store id of the message carried on this hop, if it was stored. */
  messageId?: string | undefined
  /** The host the message came from. */
  source: string
  /** The host the message went to. */
  target: string
  state: HopState
  /** When the hop happened; defaults to now. */
  time?: Date | undefined
  /** Free text shown with the hop (for example an ACK code or an error). */
  detail?: string | undefined
}

/** One recorded hop of a session trace. */
export interface Hop extends HopInput {
  /** The store-assigned unique id of the hop. */
  id: string
  /** When the hop happened. */
  time: Date
}

/**
 * What `MessageStore.supersede()` closes: the unfinished records a host holds in a session that
 * another record of the same host now stands in for (for example the copies of a run that
 * crashed, once the engine resumed those messages under new records).
 */
export interface SupersedeInput {
  /** The session of the records to close. */
  sessionId: string
  /** Only records held by this host. */
  hostName: string
  /** The store id of the record that carries the work now; it is never closed. */
  by: string
  /** Only records travelling this way; default either way. */
  direction?: MessageDirection | undefined
  /** Only records with this correlation id (the copies of one message); default any. */
  correlationId?: string | undefined
  /** Only records created before this time (those of an earlier run); default any time. */
  createdBefore?: Date | undefined
  /**
   * The detail of the `completed` hop recorded for each record closed (source and target: the
   * host); default `superseded by <by>`.
   */
  detail?: string | undefined
}

/** Filters and page of `MessageStore.query()`. All filters combine with AND. */
export interface MessageQuery {
  hostName?: string | undefined
  messageType?: string | undefined
  state?: MessageState | undefined
  correlationId?: string | undefined
  sessionId?: string | undefined
  /** Only messages stored with this search value (`StoreMessageInput.search`). */
  search?: SearchQuery | undefined
  /**
   * Only messages whose payload contains this text (case-sensitive; 1 to 200 characters). The
   * payloads are read, not indexed, so each page examines at most `CONTAINS_SCAN_LIMIT` messages
   * of the other filters: a page can hold fewer than `limit` records, none even, and still have
   * a `nextCursor`. Narrow it with `since`/`until` or a host.
   */
  contains?: string | undefined
  /** Only messages created at or after this time. */
  since?: Date | undefined
  /** Only messages created before this time. */
  until?: Date | undefined
  /** Page size, 1 to 1000. */
  limit: number
  /** The `nextCursor` of the previous page. */
  cursor?: string | undefined
}

/** Most messages one page of a `contains` query examines. */
export const CONTAINS_SCAN_LIMIT = 20_000

/** One page of messages, newest first. */
export interface QueryResult {
  records: MessageRecord[]
  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string | undefined
}

/** Options of `MessageStore.purge()`. */
export interface PurgeOptions {
  /** Remove messages (and their history and hops) created before this time. */
  olderThan: Date
  /**
   * Keep a message unless it is `completed` and every message of its session is `completed`
   * (IRIS KeepIntegrity). Defaults to `true`: dropping unfinished messages takes an explicit
   * `false`.
   */
  keepIncomplete?: boolean
}
