/**
 * MessageQueue: reliable named queues with ack, visibility timeout, priorities, delays, ordering
 * keys, retries with backoff and dead letters, on Redis (shared by many processes) or in memory.
 * Delivery is at least once: a consumer that dies before ack has its message redelivered after
 * the visibility timeout, so handlers must tolerate a repeat. It validates arguments and computes
 * backoff; concurrent calls share backend round trips (group-commit.ts for send and ack,
 * receiver.ts for receive and the long poll); the backend moves state atomically. It emits
 * events, never logs.
 */
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { BackendSendItem, QueueBackend } from './backend.js'
import { decodeBrowseCursor, encodeBrowseCursor } from './browse-cursor.js'
import { QueueError } from './errors.js'
import { GroupCommit } from './group-commit.js'
import { DEFAULT_MEMORY_LIMIT_BYTES, MemoryBackend } from './memory-backend.js'
import { MAX_RECEIVE, Receiver } from './receiver.js'
import { RedisBackend } from './redis-backend.js'
import type {
  AckManyResult,
  BrowseOptions,
  BrowseResult,
  DeadLetter,
  DeadLettersOptions,
  MessageQueueConfig,
  MessageQueueEvents,
  NackOptions,
  NackOutcome,
  QueueMessage,
  ReceiveBatchOptions,
  ReceiveOptions,
  RemoveResult,
  ResolvedQueueConfig,
  SendBatchItem,
  SendOptions,
} from './types.js'

/** The defaults of MessageQueueConfig (durations in seconds). */
export const QUEUE_DEFAULTS: Readonly<ResolvedQueueConfig> = Object.freeze({
  backend: 'redis',
  redisUrl: 'redis://localhost:6379',
  queuePrefix: 'li:queue',
  visibilityTimeout: 30,
  maxRetries: 3,
  retryDelay: 5,
  deadLetterEnabled: true,
  memoryLimitBytes: DEFAULT_MEMORY_LIMIT_BYTES,
  spillDirectory: '',
})

/** Priorities are integers in this range; the Redis score packs them with a 1e12 sequence. */
const MAX_PRIORITY = 1000
/** Upper bound of one backoff delay: one hour. */
const MAX_BACKOFF_MS = 3_600_000
/**
 * Concurrent sends (and acks) of one queue are merged up to this many messages per script call (a
 * caller's own larger batch is not split). Measured with SLOWLOG, 1 KiB payloads: a send script
 * of 100 messages runs ~0.8 ms, of 1,000 ~9 ms; a merged script should not hold Redis for long.
 */
const MAX_GROUP = 100
/**
 * Closed send (ack) groups of one queue that may be in flight at once (see group-commit.ts). With
 * one, a producer's 4 concurrent sendBatch(100) calls went out one round trip after another and
 * the producer fell behind 8 consumers (bench: consumers idle, polling an empty queue).
 */
const GROUP_WINDOW = 4
/** Most messages one `browse` page returns (the default is 100). */
const MAX_BROWSE = 1000

/** Fills in defaults and checks every value; throws QUEUE_INVALID_ARGUMENT on a bad one. */
export function resolveQueueConfig(config: MessageQueueConfig = {}): ResolvedQueueConfig {
  const c: ResolvedQueueConfig = { ...QUEUE_DEFAULTS }
  // Only known keys: a typo such as `visibilityTimeOut` must not sneak into the resolved config.
  for (const k of Object.keys(QUEUE_DEFAULTS) as (keyof ResolvedQueueConfig)[]) {
    const v = config[k]
    if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v
  }
  if (c.backend !== 'redis' && c.backend !== 'memory') {
    invalid(`config.backend must be 'redis' or 'memory', got ${JSON.stringify(c.backend)}`)
  }
  if (typeof c.redisUrl !== 'string' || !/^rediss?:\/\//.test(c.redisUrl)) {
    invalid(
      `config.redisUrl must start with redis:// or rediss://, got ${JSON.stringify(c.redisUrl)}`,
    )
  }
  if (typeof c.queuePrefix !== 'string' || c.queuePrefix === '' || /[{}]/.test(c.queuePrefix)) {
    invalid(
      `config.queuePrefix must be a non-empty string without braces, got ${JSON.stringify(c.queuePrefix)}`,
    )
  }
  positive('visibilityTimeout', c.visibilityTimeout, false)
  positive('retryDelay', c.retryDelay, true)
  if (!Number.isInteger(c.maxRetries) || c.maxRetries < 0) {
    invalid(`config.maxRetries must be an integer >= 0, got ${String(c.maxRetries)}`)
  }
  if (typeof c.deadLetterEnabled !== 'boolean') {
    invalid(
      `config.deadLetterEnabled must be a boolean, got ${JSON.stringify(c.deadLetterEnabled)}`,
    )
  }
  if (
    typeof c.memoryLimitBytes !== 'number' ||
    Number.isNaN(c.memoryLimitBytes) ||
    c.memoryLimitBytes < 0
  ) {
    invalid(
      `config.memoryLimitBytes must be a number of bytes >= 0 (Infinity: never spill), got ${String(c.memoryLimitBytes)}`,
    )
  }
  if (typeof c.spillDirectory !== 'string') {
    invalid(
      `config.spillDirectory must be a directory path ('' for the OS temp directory), got ${JSON.stringify(c.spillDirectory)}`,
    )
  }
  return c
}

/**
 * Reliable queues on Redis or in memory. Call `start()` first and `stop()` at the end.
 * @example
 * const mq = new MessageQueue({ backend: 'memory', visibilityTimeout: 30 })
 * await mq.start()
 * await mq.send('adt', 'MSH|...', { orderingKey: 'MRN123' })
 * const msg = await mq.receive('adt', { waitMs: 1000 })
 * if (msg) await mq.ack(msg)
 */
export class MessageQueue extends EventEmitter<MessageQueueEvents> {
  /** The config with defaults filled in. */
  readonly config: Readonly<ResolvedQueueConfig>
  readonly #backend: QueueBackend
  #state: 'new' | 'started' | 'stopped' = 'new'
  // Concurrent single calls share round trips: see group-commit.ts and receiver.ts.
  readonly #sends: GroupCommit<BackendSendItem, null>
  readonly #acks: GroupCommit<{ id: string; receipt: string }, boolean>
  readonly #receiver: Receiver

  constructor(config: MessageQueueConfig = {}) {
    super()
    this.config = Object.freeze(resolveQueueConfig(config))
    const opts = {
      visibilityTimeoutMs: Math.round(this.config.visibilityTimeout * 1000),
      maxRetries: this.config.maxRetries,
      deadLetterEnabled: this.config.deadLetterEnabled,
    }
    this.#backend =
      this.config.backend === 'memory'
        ? new MemoryBackend(opts, {
            memoryLimitBytes: this.config.memoryLimitBytes,
            spillDirectory: this.config.spillDirectory,
            onSpillError: (e) => this.emit('spillError', e),
          })
        : new RedisBackend(opts, this.config.redisUrl, this.config.queuePrefix, {
            onError: (e) => this.emit('connectionError', e),
            onReady: () => this.emit('ready'),
          })
    const backend = this.#backend
    this.#sends = new GroupCommit(
      async (queue, items) => {
        await backend.send(queue, items)
        return items.map(() => null)
      },
      MAX_GROUP,
      GROUP_WINDOW,
    )
    this.#acks = new GroupCommit(
      (queue, items) => backend.ack(queue, items),
      MAX_GROUP,
      GROUP_WINDOW,
    )
    this.#receiver = new Receiver(
      (queue, max) => backend.receive(queue, max),
      (queue, r) => {
        for (const d of r.deadLettered) {
          this.emit('deadLettered', {
            queue,
            id: d.id,
            error: d.error,
            dropped: d.dropped ?? !this.config.deadLetterEnabled,
          })
        }
      },
      (queue) => backend.watch?.(queue, () => this.#receiver.wake(queue)),
    )
  }

  /**
   * Connects (Redis) and allows calls. Throws QUEUE_UNAVAILABLE if Redis cannot be reached; the
   * client keeps reconnecting in the background, so call start() again later (or stop()).
   */
  async start(): Promise<void> {
    if (this.#state === 'stopped')
      throw new QueueError('QUEUE_CLOSED', 'This MessageQueue was stopped; create a new one.')
    await this.#backend.start()
    this.#state = 'started'
  }

  /**
   * Ends pending long polls (they return nothing, or what their call in progress brings), lets
   * sends and acks already made finish, and closes the connection. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    await Promise.all([this.#receiver.stop(), this.#sends.drain(), this.#acks.drain()])
    await this.#backend.stop()
  }

  /** Whether `start()` succeeded and `stop()` was not called. */
  get running(): boolean {
    return this.#state === 'started'
  }

  /** Sends one message; returns its id. */
  async send(queue: string, payload: string, options: SendOptions = {}): Promise<string> {
    const [id] = await this.sendBatch(queue, [{ ...options, payload }])
    return id!
  }

  /**
   * Sends many messages in one atomic round trip, in order; returns their ids. Concurrent sends
   * to the same queue share a round trip (each batch stays whole and atomic).
   */
  async sendBatch(queue: string, items: readonly SendBatchItem[]): Promise<string[]> {
    this.#open()
    checkQueue(queue)
    const list: unknown = items
    if (!Array.isArray(list)) invalid('sendBatch items must be an array')
    const out: BackendSendItem[] = items.map((it, i) => toSendItem(it, `items[${i}]`))
    if (out.length > 0) {
      await this.#sends.submit(queue, out)
      this.#wake(queue)
    }
    return out.map((it) => it.id)
  }

  /** Takes the next message (highest priority, oldest first), or null; waits up to `waitMs` for one. */
  async receive(queue: string, options: ReceiveOptions = {}): Promise<QueueMessage | null> {
    const [msg] = await this.receiveBatch(queue, { waitMs: options.waitMs ?? 0, max: 1 })
    return msg ?? null
  }

  /**
   * Takes up to `max` messages at once (one round trip); waits up to `waitMs` for at least one.
   * Concurrent receives on the same queue share round trips and are served in call order.
   */
  async receiveBatch(queue: string, options: ReceiveBatchOptions = {}): Promise<QueueMessage[]> {
    this.#open()
    checkQueue(queue)
    const max = options.max ?? 100
    const waitMs = options.waitMs ?? 0
    if (!Number.isInteger(max) || max < 1 || max > MAX_RECEIVE)
      invalid(`max must be an integer 1..${MAX_RECEIVE}, got ${String(max)}`)
    if (!Number.isFinite(waitMs) || waitMs < 0)
      invalid(`waitMs must be a number >= 0, got ${String(waitMs)}`)
    return this.#receiver.receive(queue, max, waitMs)
  }

  /** Acknowledges a delivery: the message is done and removed. Throws QUEUE_STALE_RECEIPT if it was redelivered meanwhile. */
  async ack(msg: QueueMessage): Promise<void> {
    const { stale } = await this.ackMany([msg])
    if (stale.length > 0) {
      throw new QueueError(
        'QUEUE_STALE_RECEIPT',
        `ack of message ${msg.id} on queue ${msg.queue} refused: receipt ${msg.receipt} is no longer current (already acked, or its visibility timeout expired and it was redelivered).`,
      )
    }
  }

  /**
   * Acknowledges many deliveries of one queue in one round trip; stale ones are reported, not
   * thrown. Concurrent acks of the same queue share a round trip.
   */
  async ackMany(msgs: readonly QueueMessage[]): Promise<AckManyResult> {
    this.#open()
    if (msgs.length === 0) return { acked: 0, stale: [] }
    const queue = msgs[0]!.queue
    if (msgs.some((m) => m.queue !== queue)) invalid('ackMany takes messages of one queue only')
    const ok = await this.#acks.submit(
      queue,
      msgs.map((m) => ({ id: m.id, receipt: m.receipt })),
    )
    // An ack can unblock the next message of an ordering key.
    this.#wake(queue)
    const stale = msgs.filter((_, i) => !ok[i]).map((m) => m.id)
    return { acked: msgs.length - stale.length, stale }
  }

  /**
   * Gives a delivery back. With `requeue` it is redelivered after `delayMs` (default: retryDelay
   * doubled per attempt, with jitter) unless it has used up maxRetries; otherwise, or without
   * `requeue`, it is dead-lettered (or dropped when dead letters are disabled).
   */
  async nack(msg: QueueMessage, options: NackOptions): Promise<NackOutcome> {
    this.#open()
    const delayMs = options.delayMs ?? this.retryDelayMs(msg.attempts)
    if (!Number.isFinite(delayMs) || delayMs < 0)
      invalid(`delayMs must be a number >= 0, got ${String(delayMs)}`)
    const error =
      options.error === undefined
        ? null
        : options.error instanceof Error
          ? options.error.message
          : String(options.error)
    const r = await this.#backend.nack(
      msg.queue,
      msg.id,
      msg.receipt,
      options.requeue,
      Math.round(delayMs),
      error,
    )
    if (r === 'stale') {
      throw new QueueError(
        'QUEUE_STALE_RECEIPT',
        `nack of message ${msg.id} on queue ${msg.queue} refused: receipt ${msg.receipt} is no longer current.`,
      )
    }
    if (r === 'requeued') this.#wake(msg.queue)
    else
      this.emit('deadLettered', { queue: msg.queue, id: msg.id, error, dropped: r === 'dropped' })
    return r
  }

  /**
   * Keeps a delivery invisible for `ms` more milliseconds from now (for a consumer that holds a
   * message longer than the visibility timeout, e.g. while it retries a delivery). Throws
   * QUEUE_STALE_RECEIPT when the receipt is no longer current (acked, nacked, or taken back after
   * its timeout and possibly redelivered elsewhere): the holder no longer owns the message.
   */
  async extendVisibility(msg: QueueMessage, ms: number): Promise<void> {
    this.#open()
    if (!Number.isFinite(ms) || ms <= 0) invalid(`ms must be a number > 0, got ${String(ms)}`)
    const ok = await this.#backend.extend(msg.queue, msg.id, msg.receipt, Math.round(ms))
    if (!ok) {
      throw new QueueError(
        'QUEUE_STALE_RECEIPT',
        `extendVisibility of message ${msg.id} on queue ${msg.queue} refused: receipt ${msg.receipt} is no longer current.`,
      )
    }
  }

  /** The backoff before redelivery after failed delivery number `attempt`: retryDelay * 2^(attempt-1), times 0.5..1 (jitter). */
  retryDelayMs(attempt: number): number {
    const base = Math.min(
      this.config.retryDelay * 1000 * 2 ** Math.max(0, attempt - 1),
      MAX_BACKOFF_MS,
    )
    return Math.round(base * (0.5 + Math.random() / 2))
  }

  /** Messages waiting (ready or delayed), not counting those in flight or dead. */
  async depth(queue: string): Promise<number> {
    const s = await this.#stats(queue)
    return s.live - s.inFlight
  }

  /** Messages delivered and not yet acked (an expired delivery counts until a receive takes it back). */
  async inFlight(queue: string): Promise<number> {
    return (await this.#stats(queue)).inFlight
  }

  /** Age in ms of the oldest message not yet acked or dead-lettered (waiting or in flight); 0 when empty. */
  async oldestAgeMs(queue: string): Promise<number> {
    const s = await this.#stats(queue)
    return s.oldestEnqueuedAt === null ? 0 : Math.max(0, s.now - s.oldestEnqueuedAt)
  }

  /** Dead letters, oldest first, each with its last error and failed-delivery history. */
  async deadLetters(queue: string, options: DeadLettersOptions = {}): Promise<DeadLetter[]> {
    this.#open()
    checkQueue(queue)
    const limit = options.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1)
      invalid(`limit must be an integer >= 1, got ${String(limit)}`)
    return this.#backend.deadLetters(queue, limit)
  }

  /** How many dead letters `queue` holds, without reading them (one ZCARD on Redis). */
  async deadLetterCount(queue: string): Promise<number> {
    this.#open()
    checkQueue(queue)
    return this.#backend.deadLetterCount(queue)
  }

  /**
   * Moves one dead letter (`id`) or all of them back onto the queue with a fresh retry budget
   * (behind messages already waiting; a keyed one goes to the end of its key). Returns how many
   * moved; throws QUEUE_NOT_FOUND when `id` is not a dead letter of the queue.
   */
  async redrive(queue: string, id?: string): Promise<number> {
    this.#open()
    checkQueue(queue)
    const n = await this.#backend.redrive(queue, id ?? null)
    if (id !== undefined && n === 0) {
      throw new QueueError(
        'QUEUE_NOT_FOUND',
        `redrive: message ${id} is not a dead letter of queue ${queue}.`,
      )
    }
    if (n > 0) this.#wake(queue)
    return n
  }

  /**
   * Lists messages not acked and not dead, a page at a time, without taking them: in flight first
   * (by visibility deadline), then ready (the order receive hands them out: higher priority
   * first, FIFO within a priority), then keyed messages waiting behind an earlier message of
   * their ordering key (in send order; `'ready'`, or `'delayed'` while a send delay runs), then
   * delayed (by due time); ties by id. Delayed messages that are due are made ready first.
   * Pass `cursor` back for the next page (null at the end). A message that keeps its state is
   * listed once; one that changes state or section while you page (received, nacked, its key
   * head acked) may be listed twice or not at all; one added before the cursor is not listed.
   * Throws QUEUE_INVALID_ARGUMENT (limit not 1..1000, a cursor not from browse) and, memory
   * backend, QUEUE_SPILL_READ_FAILED when a spilled body (with `payloads`) or spilled headers
   * cannot be read back.
   * @example
   * let cursor: string | null = null
   * do {
   *   const page = await mq.browse('EPR.Out', { cursor, limit: 500 })
   *   for (const m of page.messages) console.log(m.id, m.state, m.attempts, m.lastError)
   *   cursor = page.cursor
   * } while (cursor !== null)
   */
  async browse(queue: string, options: BrowseOptions = {}): Promise<BrowseResult> {
    this.#open()
    checkQueue(queue)
    const limit = options.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BROWSE)
      invalid(`browse limit must be an integer 1..${MAX_BROWSE}, got ${String(limit)}`)
    const cursor = options.cursor ?? null
    if (cursor !== null && typeof cursor !== 'string')
      invalid(`browse cursor must be a string from browse or null, got ${typeof cursor}`)
    const payloads = options.payloads ?? false
    if (typeof payloads !== 'boolean')
      invalid(`browse payloads must be a boolean, got ${typeof payloads}`)
    const after = cursor === null ? null : decodeBrowseCursor(cursor)
    const { messages, next } = await this.#backend.browse(queue, after, limit, payloads)
    return { messages, cursor: next === null ? null : encodeBrowseCursor(next) }
  }

  /**
   * Removes one message that waits (ready or delayed) or is dead-lettered, atomically (a
   * concurrent receive on any process gets it or the remover does, never both). Returns what was
   * removed (with its payload, headers, attempts, enqueuedAt, and where it was) so the caller can
   * record it, or says why not: `'in-flight'` (held by a consumer: not removed; the holder must
   * ack or nack it) or `'not-found'`. A removed message is gone: never delivered again, not in
   * the dead letters; a removed head of an ordering key lets the key's next message go.
   * Memory backend: throws QUEUE_SPILL_READ_FAILED (the message stays) when its spilled body
   * cannot be read back.
   */
  async remove(queue: string, id: string): Promise<RemoveResult> {
    this.#open()
    checkQueue(queue)
    checkId('remove', id)
    const r = await this.#backend.remove(queue, id)
    // The next message of the removed one's ordering key may now be ready.
    if (r.outcome === 'removed' && r.from === 'waiting') this.#wake(queue)
    return r
  }

  /**
   * Asks whoever holds message `id` of `queue` to give it up (an operator aborting a message that
   * a consumer, possibly in another process sharing the Redis queue, keeps retrying). The queue
   * does not act on it: the holder reads it with `cancelRequest` (for example before each retry)
   * and acks the message away, then calls `clearCancel`. The request expires after `ttlMs`
   * (default 1 hour), so one for a message that finished otherwise does not linger.
   * Throws QUEUE_INVALID_ARGUMENT for an empty id or reason, or a ttl not > 0.
   * @example await mq.requestCancel('EPR.Out', id, 'receiver rejects it for ever')
   */
  async requestCancel(
    queue: string,
    id: string,
    reason: string,
    options: { ttlMs?: number } = {},
  ): Promise<void> {
    this.#open()
    checkQueue(queue)
    checkId('requestCancel', id)
    if (typeof reason !== 'string' || reason === '' || reason.length > 1000)
      invalid(`requestCancel: reason must be 1..1000 characters, got ${JSON.stringify(reason)}`)
    const ttlMs = options.ttlMs ?? 3_600_000
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      invalid(`requestCancel: ttlMs must be a number > 0, got ${String(ttlMs)}`)
    await this.#backend.setCancel(queue, id, reason, Math.ceil(ttlMs))
  }

  /** The reason of a cancel request for message `id` still in force, or null. */
  async cancelRequest(queue: string, id: string): Promise<string | null> {
    this.#open()
    checkQueue(queue)
    checkId('cancelRequest', id)
    return this.#backend.getCancel(queue, id)
  }

  /** Deletes the cancel request for message `id` (once acted on); true if there was one. */
  async clearCancel(queue: string, id: string): Promise<boolean> {
    this.#open()
    checkQueue(queue)
    checkId('clearCancel', id)
    return this.#backend.clearCancel(queue, id)
  }

  /**
   * Records `value` under marker `name` of `queue` for `ttlMs`: a small shared fact with an
   * expiry, seen by every process on the same Redis (in-process queues: this process only). The
   * engine marks the messages a service accepted (DuplicateWindow), so that a sender's resend is
   * recognised by whichever engine it reaches, and the replies of synchronous calls. Throws
   * QUEUE_INVALID_ARGUMENT for an empty or over-long name or value (`MAX_MARKER_VALUE`
   * characters), or a ttl not > 0.
   * @example await mq.setMarker('PAS.In', contentHash, sessionId, { ttlMs: 600_000 })
   */
  async setMarker(
    queue: string,
    name: string,
    value: string,
    options: { ttlMs: number },
  ): Promise<void> {
    this.#open()
    checkQueue(queue)
    checkMarker('setMarker', name)
    if (typeof value !== 'string' || value === '' || value.length > MAX_MARKER_VALUE)
      invalid(
        `setMarker: value must be 1..${MAX_MARKER_VALUE} characters, got ${value.length === 0 ? '""' : `${value.length} characters`}`,
      )
    const ttlMs = options.ttlMs
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      invalid(`setMarker: ttlMs must be a number > 0, got ${String(ttlMs)}`)
    await this.#backend.setMarker(queue, name, value, Math.ceil(ttlMs))
  }

  /** The value of marker `name` of `queue` still in force, or null (see `setMarker`). */
  async getMarker(queue: string, name: string): Promise<string | null> {
    this.#open()
    checkQueue(queue)
    checkMarker('getMarker', name)
    return this.#backend.getMarker(queue, name)
  }

  async #stats(queue: string): ReturnType<QueueBackend['stats']> {
    this.#open()
    checkQueue(queue)
    return this.#backend.stats(queue)
  }

  #open(): void {
    if (this.#state === 'new')
      throw new QueueError('QUEUE_CLOSED', 'MessageQueue is not started; call start() first.')
    if (this.#state === 'stopped') throw new QueueError('QUEUE_CLOSED', 'MessageQueue was stopped.')
  }

  /** Wakes the long poll of this process on `queue` (other processes find the work on their next poll). */
  #wake(queue: string): void {
    this.#receiver.wake(queue)
  }
}

function invalid(message: string): never {
  throw new QueueError('QUEUE_INVALID_ARGUMENT', message)
}

function positive(name: string, v: unknown, allowZero: boolean): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    invalid(
      `config.${name} must be a number of seconds ${allowZero ? '>= 0' : '> 0'}, got ${String(v)}`,
    )
  }
}

/** The longest marker value `setMarker` takes, in characters. */
export const MAX_MARKER_VALUE = 65_536

function checkQueue(queue: string): void {
  if (typeof queue !== 'string' || queue === '' || queue.length > 200 || /[{}]/.test(queue)) {
    invalid(`queue name must be 1..200 characters without braces, got ${JSON.stringify(queue)}`)
  }
}

function checkId(what: string, id: string): void {
  if (typeof id !== 'string' || id === '' || id.length > 200)
    invalid(`${what}: id must be a message id (1..200 characters), got ${JSON.stringify(id)}`)
}

function checkMarker(what: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.length > 200)
    invalid(`${what}: name must be 1..200 characters, got ${JSON.stringify(name)}`)
}

function toSendItem(it: SendBatchItem, where: string): BackendSendItem {
  if (typeof it.payload !== 'string')
    invalid(`${where}: payload must be a string, got ${typeof it.payload}`)
  const priority = it.priority ?? 0
  if (!Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) {
    invalid(
      `${where}: priority must be an integer -${MAX_PRIORITY}..${MAX_PRIORITY}, got ${String(priority)}`,
    )
  }
  const delayMs = it.delayMs ?? 0
  if (!Number.isFinite(delayMs) || delayMs < 0)
    invalid(`${where}: delayMs must be a number >= 0, got ${String(delayMs)}`)
  const key = it.orderingKey ?? ''
  if (typeof key !== 'string' || key.length > 256 || (it.orderingKey !== undefined && key === '')) {
    invalid(
      `${where}: orderingKey must be a string of 1..256 characters, got ${JSON.stringify(it.orderingKey)}`,
    )
  }
  const headers = it.headers ?? {}
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') invalid(`${where}: header ${k} must be a string, got ${typeof v}`)
  }
  return {
    id: randomUUID(),
    payload: it.payload,
    headers,
    priority,
    orderingKey: key,
    delayMs: Math.round(delayMs),
  }
}
