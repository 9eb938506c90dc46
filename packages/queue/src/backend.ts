/**
 * The internal contract between MessageQueue and its two backends (memory, Redis). Both implement
 * the same state machine: waiting (ready or delayed) → in flight → acked (gone), requeued, or dead.
 * Validation, backoff and long polling live in MessageQueue; a backend only moves state.
 */
import type { BrowseCursor } from './browse-cursor.js'
import type {
  DeadLetter,
  NackOutcome,
  QueueMessage,
  QueuedMessageInfo,
  RemoveResult,
} from './types.js'

/** A validated message for a backend to store. */
export interface BackendSendItem {
  id: string
  payload: string
  headers: Record<string, string>
  priority: number
  /** Empty string when the message has no ordering key. */
  orderingKey: string
  delayMs: number
}

/** Result of one receive step (no waiting). */
export interface BackendReceiveResult {
  messages: QueueMessage[]
  /**
   * Messages dead-lettered (or dropped) because their visibility timeout ran out too often, or
   * (memory backend) because a spilled body could not be read back. `dropped`, when set, says
   * what happened; otherwise it follows the config's deadLetterEnabled.
   */
  deadLettered: { id: string; error: string | null; dropped?: boolean }[]
  /** Milliseconds until a delayed or in-flight message may become ready, or null if none. */
  nextDueInMs: number | null
}

/** Counters behind depth, inFlight and oldestAgeMs. */
export interface BackendStats {
  /** Messages not acked and not dead: waiting plus in flight. */
  live: number
  inFlight: number
  /** Enqueue time of the oldest live message, or null when there is none. */
  oldestEnqueuedAt: number | null
  /** The backend's clock (ms since epoch). */
  now: number
}

/** Behaviour knobs a backend needs, already in milliseconds. */
export interface BackendOptions {
  visibilityTimeoutMs: number
  maxRetries: number
  deadLetterEnabled: boolean
}

/** What MessageQueue needs from a store. */
export interface QueueBackend {
  start(): Promise<void>
  stop(): Promise<void>
  send(queue: string, items: BackendSendItem[]): Promise<void>
  receive(queue: string, max: number): Promise<BackendReceiveResult>
  ack(queue: string, items: { id: string; receipt: string }[]): Promise<boolean[]>
  nack(
    queue: string,
    id: string,
    receipt: string,
    requeue: boolean,
    delayMs: number,
    error: string | null,
  ): Promise<NackOutcome | 'stale'>
  /**
   * Moves the visibility deadline of a delivery to `ms` from now, if `receipt` is still its
   * current one (false: stale, it was acked, nacked or taken back).
   */
  extend(queue: string, id: string, receipt: string, ms: number): Promise<boolean>
  stats(queue: string): Promise<BackendStats>
  deadLetters(queue: string, limit: number): Promise<DeadLetter[]>
  /** How many dead letters the queue holds (without reading them). */
  deadLetterCount(queue: string): Promise<number>
  /** Moves one dead letter (id) or all (null) back to the queue; returns how many moved. */
  redrive(queue: string, id: string | null): Promise<number>
  /** Records a cancel request for message `id` of `queue` (see MessageQueue.requestCancel). */
  setCancel(queue: string, id: string, reason: string, ttlMs: number): Promise<void>
  /** The reason of a cancel request still in force, or null. */
  getCancel(queue: string, id: string): Promise<string | null>
  /** Deletes a cancel request; true if there was one. */
  clearCancel(queue: string, id: string): Promise<boolean>
  /** Records `value` under marker `name` of `queue` for `ttlMs` (see MessageQueue.setMarker). */
  setMarker(queue: string, name: string, value: string, ttlMs: number): Promise<void>
  /** The value of marker `name` of `queue` still in force, or null. */
  getMarker(queue: string, name: string): Promise<string | null>
  /**
   * Calls `wake` when another client may have made a message of `queue` ready (best effort; a
   * backend shared by nobody else needs none). Long polls still poll, so a missed call only adds latency.
   */
  watch?(queue: string, wake: () => void): void
  /**
   * Up to `limit` messages not acked and not dead, strictly after `after` (null: from the start)
   * in browse order (browse-cursor.ts); `next` is the position of the last one listed when more
   * follow, else null. Delayed messages that are due are made ready first.
   */
  browse(
    queue: string,
    after: BrowseCursor | null,
    limit: number,
    payloads: boolean,
  ): Promise<{ messages: QueuedMessageInfo[]; next: BrowseCursor | null }>
  /** Removes one waiting or dead message atomically; refuses one in flight. */
  remove(queue: string, id: string): Promise<RemoveResult>
}
