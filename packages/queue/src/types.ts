/** Public shapes of @li/queue: config, call options, messages, dead letters and events. */
import type { QueueError } from './errors.js'

/** Which store holds the queues. */
export type QueueBackendKind = 'redis' | 'memory'

/** Config of a MessageQueue. Durations are in seconds (fractions allowed), as in the seed. */
export interface MessageQueueConfig {
  /** `'redis'` (default) or `'memory'` (in-process, lost on exit). */
  backend?: QueueBackendKind
  /** Redis URL; default `redis://localhost:6379`. */
  redisUrl?: string
  /** Prefix of every Redis key; default `li:queue`. */
  queuePrefix?: string
  /** Seconds a received message stays invisible before it is redelivered; default 30. */
  visibilityTimeout?: number
  /** Deliveries after the first before a message is dead-lettered; default 3 (at most 4 deliveries). */
  maxRetries?: number
  /** Seconds before the first redelivery after a nack; doubles each attempt, with jitter; default 5. */
  retryDelay?: number
  /** Keep messages that ran out of retries in a dead-letter queue (true, default) or drop them. */
  deadLetterEnabled?: boolean
  /**
   * Memory backend: most bytes of message bodies (string length, all queues of this
   * MessageQueue, waiting, in flight and dead) held on the heap; bodies beyond it are written to
   * spill files and read back on delivery. Default 64 MiB; `Infinity` never spills. Ignored on Redis.
   */
  memoryLimitBytes?: number
  /**
   * Memory backend: directory under which this queue makes its own spill run directory
   * (`li-queue-spill-<pid>-<random>`, created at the first spill, removed by `stop()`); run
   * directories left there by a crashed run are removed by `start()`. Default `''`: os.tmpdir().
   * Spill files are not durable (no fsync): the memory backend keeps nothing across an exit.
   */
  spillDirectory?: string
}

/** MessageQueueConfig with every default filled in. */
export type ResolvedQueueConfig = Required<MessageQueueConfig>

/** Options of `send`. */
export interface SendOptions {
  /** Integer from -1000 to 1000; higher is served first; default 0. FIFO within a priority. */
  priority?: number
  /** Milliseconds before the message becomes visible; default 0. */
  delayMs?: number
  /** Messages with the same key are delivered one at a time, in send order (e.g. a patient's MRN). */
  orderingKey?: string
  /** String headers carried with the message. */
  headers?: Record<string, string>
}

/** One message of `sendBatch`. */
export interface SendBatchItem extends SendOptions {
  /** The message body. */
  payload: string
}

/** Options of `receive`. */
export interface ReceiveOptions {
  /** Milliseconds to wait for a message when none is ready (long poll); default 0. */
  waitMs?: number
}

/** Options of `receiveBatch`. */
export interface ReceiveBatchOptions extends ReceiveOptions {
  /** Most messages to take at once, 1 to 1000; default 100. */
  max?: number
}

/** Options of `nack`. */
export interface NackOptions {
  /** Put the message back for another delivery (true) or dead-letter it now (false). */
  requeue: boolean
  /** Milliseconds before the redelivery; default the config's exponential backoff with jitter. */
  delayMs?: number
  /** Why the delivery failed; kept as the message's last error and in its history. */
  error?: string | Error
}

/** What a nack did with the message. */
export type NackOutcome = 'requeued' | 'dead-lettered' | 'dropped'

/** A delivered message. Pass it back to `ack` or `nack`. */
export interface QueueMessage {
  /** Unique id given by `send`. */
  readonly id: string
  /** Queue name. */
  readonly queue: string
  /** The body as sent. */
  readonly payload: string
  /** Headers as sent. */
  readonly headers: Readonly<Record<string, string>>
  /** Priority as sent. */
  readonly priority: number
  /** Ordering key as sent, or null. */
  readonly orderingKey: string | null
  /** Deliveries so far, this one included (1 on the first delivery). */
  readonly attempts: number
  /** Same as `attempts`. */
  readonly deliveryCount: number
  /** When the message was sent (ms since epoch, clock of the backend). */
  readonly enqueuedAt: number
  /** Identifies this delivery; an ack after a redelivery is refused as stale. */
  readonly receipt: string
}

/** One failed delivery in a message's history. */
export interface DeliveryRecord {
  /** Which delivery (1-based). */
  attempt: number
  /** When it was delivered (ms since epoch). */
  deliveredAt: number
  /** When it ended (nack, or visibility timeout noticed). */
  endedAt: number
  /** `'nacked'` by a consumer, or `'expired'` (not acked within the visibility timeout). */
  outcome: 'nacked' | 'expired'
  /** The error given to nack, if any. */
  error: string | null
}

/** A message in the dead-letter queue. */
export interface DeadLetter {
  /** Message id. */
  id: string
  /** Queue name. */
  queue: string
  /** The body as sent. */
  payload: string
  /** Headers as sent. */
  headers: Record<string, string>
  /** Priority as sent. */
  priority: number
  /** Ordering key as sent, or null. */
  orderingKey: string | null
  /** When it was first sent (ms since epoch). */
  enqueuedAt: number
  /** When it was dead-lettered (ms since epoch). */
  deadLetteredAt: number
  /** Deliveries made. */
  attempts: number
  /** The last error (from nack, or the visibility timeout). */
  lastError: string | null
  /** Every failed delivery, oldest first. */
  history: DeliveryRecord[]
}

/** Options of `deadLetters`. */
export interface DeadLettersOptions {
  /** Most dead letters to return, oldest first; default 100. */
  limit?: number
}

/** Result of `ackMany`. */
export interface AckManyResult {
  /** How many deliveries were acknowledged. */
  acked: number
  /** Ids whose receipt was stale (redelivered or already acked); they were not acknowledged. */
  stale: string[]
}

/** Events a MessageQueue emits (it never logs). */
export interface MessageQueueEvents {
  /** A message ran out of retries (or was nacked without requeue) and was dead-lettered or dropped. */
  deadLettered: [info: { queue: string; id: string; error: string | null; dropped: boolean }]
  /** The Redis connection failed; calls fail with QUEUE_UNAVAILABLE until it reconnects. */
  connectionError: [error: Error]
  /** The Redis connection is (again) ready. */
  ready: []
  /**
   * Memory backend: a spill file could not be written (`QUEUE_SPILL_WRITE_FAILED`: the bodies
   * stay in memory, over the budget; the disk is tried again a second later) or cleaned up, or a
   * spilled body could not be read back (`QUEUE_SPILL_READ_FAILED`: the message was dead-lettered
   * with that reason). No message is dropped for it.
   */
  spillError: [error: QueueError]
}

/** One message that is not acked and not dead, as `browse` lists it. */
export interface QueuedMessageInfo {
  /** Message id. */
  id: string
  /** Queue name. */
  queue: string
  /**
   * `'in-flight'`: delivered to a consumer and not yet acked or nacked (also after its visibility
   * deadline, until a receive takes it back); `'ready'`: can be received now (or as soon as the
   * message ahead of it in its ordering key is done); `'delayed'`: waiting for a retry delay or a
   * send delay.
   */
  state: 'in-flight' | 'ready' | 'delayed'
  /** Headers as sent. */
  headers: Readonly<Record<string, string>>
  /** Priority as sent. */
  priority: number
  /** Ordering key as sent, or null. */
  orderingKey: string | null
  /** Deliveries so far (0 if never delivered). */
  attempts: number
  /** When the message was sent (ms since epoch, clock of the backend). */
  enqueuedAt: number
  /** ready: null; delayed: when it becomes ready; in-flight: its visibility deadline (ms since epoch). */
  dueAt: number | null
  /** Last nack error or visibility-timeout text, or null. */
  lastError: string | null
  /** Length of the payload in bytes of its UTF-8 encoding (not UTF-16 code units). */
  payloadSize: number
  /** The body; only when browse was called with `{ payloads: true }`. */
  payload?: string
}

/** Options of `browse`. */
export interface BrowseOptions {
  /** Most messages per page, 1 to 1000; default 100. */
  limit?: number
  /** The `cursor` of the previous page; null or absent for the first page. */
  cursor?: string | null
  /** Include each message's body (read back from a spill file on the memory backend); default false. */
  payloads?: boolean
}

/** One page of `browse`. */
export interface BrowseResult {
  /** Messages of this page, in browse order (see `MessageQueue.browse`). */
  messages: QueuedMessageInfo[]
  /** Pass back for the next page; null at the end. */
  cursor: string | null
}

/**
 * A message taken out of its queue by `remove`, for the caller to record: a dead letter's fields
 * without the dead-letter time and delivery history (`attempts` is 0 if it was never delivered).
 */
export type RemovedMessage = Omit<DeadLetter, 'deadLetteredAt' | 'history'>

/** What `remove` did. */
export type RemoveResult =
  | { outcome: 'removed'; from: 'waiting' | 'dead'; message: RemovedMessage }
  | { outcome: 'in-flight' }
  | { outcome: 'not-found' }
