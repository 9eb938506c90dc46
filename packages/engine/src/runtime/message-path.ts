/**
 * The message path: what happens to a message between the host that received it and the hosts
 * that finish it, and what is durable at each step.
 *
 * 1. `admit`: WAL append (durable once it resolves in fsync mode). The caller may ACK from here
 *    on: the WAL is the durability promise. The hand-off that follows (store record, then enqueue
 *    to each target) runs without holding the ACK; `accept` is `admit` plus waiting for it.
 *    Concurrent admits from many connections share WAL group commits (nothing here serialises
 *    them); hand-offs issue their enqueues in admit order, so messages of one connection keep
 *    their order.
 * 2. Routers and operations `forward` new branches and `settle` their own.
 * 3. When a message's last branch settles, its WAL entry is completed (`walCompletion:
 *    'branches'`, the in-process queue default). With a shared Redis queue the WAL entry is
 *    completed as soon as every first-hop enqueue was acknowledged by Redis (`'enqueue'`): from
 *    then on Redis owns the message, as durable as its persistence settings make it.
 * 4. On restart, `resume` re-enqueues every WAL entry not completed from the start of its path
 *    (the targets it was received for). Delivery is therefore at least once: a message that was
 *    half-way delivered before a crash is delivered again.
 *
 * The store is the audit trail, not the durability: store writes (records, hops, states) go
 * through a `StoreBatcher` (held up to 1 ms, then committed together by @li/store, in call
 * order), and only the hand-off waits for one (it needs the record id). Completing a WAL entry and marking its record are issued at `settle` without
 * holding the worker: a completion lost in a crash only means the message is delivered again.
 * `idle()` waits for all of that; the Engine calls it before closing the WAL and the store.
 *
 * What it does not do: deduplicate (receivers see MSH-10 again after a crash) or order messages
 * across a restart relative to new arrivals (resumed entries are enqueued before services start).
 * A hand-off that fails after the ACK (the store or the queue refused: Redis down, a store
 * error) is not dropped: the message stays pending in the WAL and joins an in-process retry
 * backlog, retried every 1 s, backing off to every 5 s while it keeps failing, in admit order per
 * source (a source with a backlog defers its new hand-offs behind it), until it succeeds or the
 * path is closed (`close()`; the entry is then resumed at the next start). `handOffBacklog` says
 * how far behind it is (the Engine's `hand-off` health check). When more than 1,000 first
 * hand-off attempts are running, `admit` waits for its own before resolving (backpressure).
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { BatchRef, Envelope } from './envelope.js'
import { decodeEnvelope, encodeEnvelope } from './envelope.js'
import { peekHeader } from './hl7-peek.js'
import type { HeaderPeek } from './hl7-peek.js'
import type {
  HopStateLike,
  MetricsPort,
  QueueMessageLike,
  QueuePort,
  StorePort,
  WalEntryLike,
  WalPort,
} from './ports.js'
import { EngineError, isEngineError } from '../errors.js'
import { errorText } from './host.js'
import { StoreBatcher } from './store-batcher.js'
import type { StoreBatcherOptions } from './store-batcher.js'

/**
 * A new session id: a UUID version 7 (RFC 9562: the Unix time in ms in its first 48 bits, then
 * random bits), so ids made close in time sort close together. The store indexes records and
 * hops by session id; with random (version 4) ids every insert landed on a random page of those
 * two indexes, and each commit wrote one more page per message and per hop: SQLite's share of a
 * message fell by about a third with time-ordered ids (bench/path-profile.mjs, `pnpm loadtest`).
 */
export function newSessionId(): string {
  const t = Date.now().toString(16).padStart(12, '0')
  // randomUUID(): xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; keep its random bits and variant.
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${randomUUID().slice(15)}`
}

/** Queue header that names an envelope object held in this process (`envelopeOf`). */
const LOCAL_ENVELOPE = 'envRef'

/** Hand-offs running behind the ACKs beyond which `admit` waits for its own (backpressure). */
const MAX_HAND_OFFS_AHEAD = 1000

/** Default `localEnvelopeBytes`: bodies held as objects for the in-process queue's consumers. */
const LOCAL_ENVELOPE_BYTES = 32 * 1024 * 1024

/** Default `maxHandOffBacklog`. */
const MAX_HAND_OFF_BACKLOG = 10_000

/** First and longest wait between retries of failed hand-offs, ms (doubling in between). */
const RETRY_MIN_MS = 1000
const RETRY_MAX_MS = 5000

/** When a WAL entry is completed: after every branch finished, or once handed to the queue. */
export type WalCompletion = 'branches' | 'enqueue'

/** How a message's processing ended overall. */
export type PathOutcome = 'completed' | 'failed'

/** Dependencies of the message path. */
/** One value a stored message can be found by. */
export interface SearchValueLike {
  name: string
  value: string
}

export interface MessagePathOptions {
  wal: WalPort
  store: StorePort
  queue: QueuePort
  metrics?: MetricsPort | undefined
  logger: Logger
  walCompletion: WalCompletion
  /** Hand-offs running behind the ACKs beyond which `admit` waits for its own; default 1000. */
  maxHandOffsAhead?: number | undefined
  /**
   * Failed hand-offs waiting to be retried at which `admit` refuses new messages
   * (`ENGINE_HAND_OFF_BACKLOG_FULL`: the service NAKs, the sender resends later); default 10,000.
   * Each waiting hand-off holds its message in memory: without a bound, senders on open
   * connections during a long store or Redis outage would grow it until the process ran out.
   */
  maxHandOffBacklog?: number | undefined
  /** How store writes are grouped (see `StoreBatcher`). */
  storeBatch?: StoreBatcherOptions | undefined
  /**
   * The queue is the in-process one (it dies with this process): consumers in this process take
   * the envelope object handed to `send` instead of decoding the payload (see `envelopeOf`).
   */
  inProcessQueue?: boolean | undefined
  /**
   * Most bytes of message bodies kept as envelope objects for `envelopeOf` (in-process queue
   * only); default 32 MiB. Beyond it, envelopes travel only inside the queue payload, which the
   * queue may keep on disk: a long downstream outage must not hold every body on the heap.
   */
  localEnvelopeBytes?: number | undefined
  /**
   * The search values (IRIS search tables) of a message that `host` stores, or undefined when
   * the host has no SearchTableClass. A failure here must not lose the message: it is logged and
   * the message is stored without them.
   */
  searchValuesFor?:
    | ((host: string, raw: string, docCategory?: string) => readonly SearchValueLike[] | undefined)
    | undefined
  /** The ordering key for a message sent to `target` (per-key FIFO with PoolSize > 1). */
  orderingKeyFor?: ((target: string, raw: string) => string | undefined) | undefined
  /** Wait between retries of failed hand-offs, ms: `min` after a success, doubling to `max`. */
  retryMs?: { min: number; max: number } | undefined
  /**
   * Hosts with trace events on (IRIS LogTraceEvents, or LogGeneralTraceEvents on the production)
   * and their loggers: each hop they make, and each message they receive, is logged at debug
   * (ids, types, hosts, states; never the message body).
   */
  trace?: ReadonlyMap<string, Logger> | undefined
  /**
   * Services with ArchiveIO on and their loggers: each message they receive is logged at info
   * with its size and ids (never the body).
   */
  archiveIO?: ReadonlyMap<string, Logger> | undefined
}

/** How far the hand-offs that failed after their ACK are behind (`MessagePath.handOffBacklog`). */
export interface HandOffBacklog {
  /** Messages in the WAL whose store record or enqueue is waiting to be retried. */
  messages: number
  /** Sources (receiving hosts) with at least one such message. */
  sources: number
  /** Milliseconds since the first failure of the current backlog; 0 when there is none. */
  failingForMs: number
}

/** What a service hands to `accept`. */
export interface AcceptInput {
  /** The receiving host. */
  source: string
  /** The message text. */
  raw: string
  /** Where it goes next (TargetConfigNames, or the BadMessageHandler). */
  targets: readonly string[]
  /** The original file name (file services). */
  fileName?: string | undefined
  /** Extra store metadata (peer address, file name). */
  metadata?: Record<string, unknown> | undefined
  /** Stored as failed with this error (bad messages handed to a BadMessageHandler). */
  error?: string | undefined
  /** The service's MessageSchemaCategory, carried to routers (rule `docCategory`). */
  docCategory?: string | undefined
  /** The MSH peek, when the caller already made it (saves reading the header twice). */
  header?: HeaderPeek | undefined
  /** Join this session instead of starting one (the messages of a single-session batch). */
  sessionId?: string | undefined
  /** The message's place in an HL7 batch file (file service BatchHandling). */
  batch?: BatchRef | undefined
  /** `json` with `msgClass` for an object document (the Ens.AlertRequest of an alert). */
  format?: 'json' | undefined
  /** The IRIS class of a JSON document (routers match `msgClass` constraints against it). */
  msgClass?: string | undefined
}

/** What `accept` returns once the message is durable, stored and enqueued. */
export interface Accepted {
  walId: string
  sessionId: string
  storeId: string
  messageId: string
  messageType: string
}

/** What `admit` returns once the message is durable (WAL); the hand-off is still running. */
export interface Admitted {
  walId: string
  sessionId: string
  messageId: string
  messageType: string
  /**
   * Resolves once the message is stored and enqueued to every target, retried until that
   * succeeds; rejects only if the path is closed first (the message then stays in the WAL).
   */
  handedOff: Promise<Accepted>
}

/** One new branch a router sends on. */
export interface ForwardOutput {
  target: string
  /** The body: HL7 v2 text, or JSON text with `format: 'json'`. */
  raw: string
  format?: 'json' | undefined
  /** A synchronous call's reply token (`Envelope.replyTo`). */
  replyTo?: string | undefined
}

/** A hand-off that failed after the message was durable, waiting in the retry backlog. */
interface HandOffJob {
  /** Admit order (the backlog of a source is kept in this order). */
  seq: number
  walId: WalEntryLike['id']
  walKey: string
  input: AcceptInput
  header: HeaderPeek
  sessionId: string
  recovered: boolean
  /** The inbound store record to write, while `storeId` is unknown. */
  record: Parameters<StorePort['store']>[0]
  /** Set once the inbound record is stored. */
  storeId: string | undefined
  /** Targets not yet enqueued to. */
  remaining: readonly string[]
  resolve: (a: Accepted) => void
  reject: (e: unknown) => void
}

interface Tracked {
  walId: WalEntryLike['id']
  rootStoreId: string
  sessionId: string
  outstanding: number
  failed: boolean
  waiters: ((outcome: PathOutcome) => void)[]
}

/** How many finished messages `whenFinished` remembers. */
const FINISHED_KEPT = 10_000

/** Moves messages between hosts and keeps the WAL, the store and the trace in step. */
export class MessagePath {
  readonly #o: MessagePathOptions
  readonly #tracked = new Map<string, Tracked>()
  readonly #finished = new Map<string, PathOutcome>()
  /** The keys of `#finished` in insertion order, a ring of `FINISHED_KEPT` slots. */
  readonly #finishedKeys: (string | undefined)[] = new Array<string | undefined>(FINISHED_KEPT)
  #finishedNext = 0
  /** Resolves once the previous hand-off issued its enqueues (keeps admit order). */
  #issued: Promise<void> = Promise.resolve()
  /** Work that runs after the caller moved on (hand-offs, WAL completions); see `idle()`. */
  readonly #background = new Set<Promise<unknown>>()
  /** Hand-offs started and not finished. */
  #handOffs = 0
  /** Every store call goes through here, so that writes commit in large batches. */
  readonly #store: StoreBatcher
  /** Envelopes enqueued to the in-process queue and not yet taken, by their `envRef` header. */
  readonly #local = new Map<string, Envelope>()
  #localSeq = 0
  /** Characters of `raw` held in `#local` (a byte estimate: HL7 is mostly one byte a char). */
  #localChars = 0
  /** Admit order of hand-offs (`HandOffJob.seq`). */
  #seq = 0
  /** Failed hand-offs by source, each list in admit order; retried by `#retryRound`. */
  readonly #backlog = new Map<string, HandOffJob[]>()
  #backlogSize = 0
  /** When the current backlog started (its first failure), ms since the epoch; 0: none. */
  #failingSince = 0
  #retryDelay: number
  #retryTimer: NodeJS.Timeout | undefined
  #retrying = false
  #closed = false
  /** Records created before this are an earlier run's (see `#supersede`). */
  readonly #openedAt = new Date()

  constructor(options: MessagePathOptions) {
    this.#o = options
    this.#store = new StoreBatcher(options.store, options.storeBatch)
    this.#retryDelay = options.retryMs?.min ?? RETRY_MIN_MS
  }

  /** The hand-offs waiting to be retried (a backlog only exists while the store or queue fails). */
  get handOffBacklog(): HandOffBacklog {
    return {
      messages: this.#backlogSize,
      sources: this.#backlog.size,
      failingForMs: this.#failingSince === 0 ? 0 : Date.now() - this.#failingSince,
    }
  }

  /**
   * Whether `maxHandOffBacklog` failed hand-offs wait: `admit` then refuses new messages, and the
   * Engine's resume waits before handing off more (each waiting hand-off holds its body).
   */
  get handOffBacklogFull(): boolean {
    return this.#backlogSize >= (this.#o.maxHandOffBacklog ?? MAX_HAND_OFF_BACKLOG)
  }

  /** How WAL entries are completed. */
  get walCompletion(): WalCompletion {
    return this.#o.walCompletion
  }

  /** Messages whose WAL entry is still open in this process. */
  get inFlight(): number {
    return this.#tracked.size
  }

  /** The search values `host` stores `raw` with; a failure is logged and gives none. */
  #searchValues(
    host: string,
    raw: string,
    docCategory: string | undefined,
  ): readonly SearchValueLike[] | undefined {
    const fn = this.#o.searchValuesFor
    if (fn === undefined) return undefined
    try {
      const values = fn(host, raw, docCategory)
      return values === undefined || values.length === 0 ? undefined : values
    } catch (e) {
      // The error may quote the message: its text only at debug.
      this.#o.logger.warn(
        { host, code: (e as { code?: unknown }).code },
        'search values could not be read; the message is stored without them',
      )
      this.#o.logger.debug({ host, err: errorText(e) }, 'search values error')
      return undefined
    }
  }

  /** Make an inbound message durable, store it, and enqueue it to its targets. */
  async accept(input: AcceptInput): Promise<Accepted> {
    return (await this.admit(input)).handedOff
  }

  /**
   * Make an inbound message durable (WAL append) and start its hand-off (store record, enqueue).
   * Resolves as soon as the WAL append is durable: the point at which a service may ACK.
   */
  async admit(input: AcceptInput): Promise<Admitted> {
    const { wal } = this.#o
    if (this.handOffBacklogFull) {
      throw new EngineError(
        'ENGINE_HAND_OFF_BACKLOG_FULL',
        `${this.#backlogSize} accepted messages are waiting for the store or queue to take them (failing for ${Math.round((Date.now() - this.#failingSince) / 1000)} s; see the hand-off health check); this one is not accepted: resend it later`,
      )
    }
    const header = input.header ?? peekHeader(input.raw)
    const sessionId = input.sessionId ?? newSessionId()
    const metadata: Record<string, string> = {
      sessionId,
      source: input.source,
      targets: input.targets.join(','),
    }
    if (input.fileName !== undefined) metadata.fileName = input.fileName
    if (input.error !== undefined) metadata.error = input.error
    if (input.docCategory !== undefined) metadata.docCategory = input.docCategory
    if (input.batch !== undefined) metadata.batch = JSON.stringify(input.batch)
    if (input.format !== undefined) metadata.format = input.format
    if (input.msgClass !== undefined) metadata.msgClass = input.msgClass
    const entry = await wal.append({
      hostName: input.source,
      messageId: header.controlId,
      payload: input.raw,
      metadata,
    })
    const { admitted, first } = this.#admitted(entry.id, input, header, sessionId, false)
    // Backpressure: when hand-offs fall behind (a slow store or queue), the ACK waits for this
    // one's first attempt, as it always did before ACKs stopped waiting for them (not for a
    // retry: the message is durable, and an outage must not hold the ACK until it ends).
    if (this.#handOffs > (this.#o.maxHandOffsAhead ?? MAX_HAND_OFFS_AHEAD))
      await first.catch(() => undefined)
    return admitted
  }

  /**
   * Re-run a WAL entry that was not completed before a restart (at-least-once). Rejects when the
   * first attempt of its hand-off failed; the entry is then in the retry backlog.
   */
  async resume(entry: WalEntryLike): Promise<Accepted> {
    // Read once: a WAL entry's payload is read from its segment file on every access.
    const payload = entry.payload
    const raw = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8')
    const md = (entry.metadata ?? {}) as Record<string, unknown>
    const str = (k: string): string | undefined => (typeof md[k] === 'string' ? md[k] : undefined)
    const targets = (str('targets') ?? '').split(',').filter((t) => t !== '')
    const input: AcceptInput = {
      source: entry.hostName,
      raw,
      targets,
      fileName: str('fileName'),
      error: str('error'),
      docCategory: str('docCategory'),
    }
    const batch = str('batch')
    if (batch !== undefined) input.batch = JSON.parse(batch) as BatchRef
    if (str('format') === 'json') input.format = 'json'
    input.msgClass = str('msgClass')
    const sessionId = str('sessionId') ?? newSessionId()
    // A JSON document (an alert) has no MSH to peek at: its class is its message type.
    const header: HeaderPeek =
      input.format === 'json'
        ? {
            controlId: '',
            messageType: input.msgClass ?? '',
            version: '',
            acceptAckType: '',
            appAckType: '',
            hasMsh: false,
          }
        : peekHeader(raw)
    return this.#admitted(entry.id, input, header, sessionId, true).first
  }

  /** The message is in the WAL: track its branches and start the hand-off. */
  #admitted(
    walId: WalEntryLike['id'],
    input: AcceptInput,
    header: HeaderPeek,
    sessionId: string,
    recovered: boolean,
  ): { admitted: Admitted; first: Promise<Accepted> } {
    const walKey = String(walId)
    const metadata: Record<string, unknown> = { ...input.metadata, walId: walKey }
    if (recovered) metadata.recovered = true
    if (input.fileName !== undefined) metadata.fileName = input.fileName
    const record: HandOffJob['record'] = {
      hostName: input.source,
      messageId: header.controlId,
      payload: input.raw,
      messageType: header.messageType,
      correlationId: header.controlId,
      sessionId,
      direction: 'inbound',
      metadata,
    }
    if (input.format !== 'json') {
      const search = this.#searchValues(input.source, input.raw, input.docCategory)
      if (search !== undefined) record.search = search
    }
    // Issued now, so that store writes commit in admit order.
    const stored = this.#store.store(record)
    this.#o.metrics?.recordMessageReceived(input.source, header.messageType || undefined)
    this.#o.metrics?.recordMessageSize(input.source, 'in', Buffer.byteLength(input.raw))
    if (this.#o.trace !== undefined || this.#o.archiveIO !== undefined)
      this.#logReceived(walKey, input, header, sessionId, recovered)
    // Tracked before the caller can ACK, so that `whenFinished` (AckMode App) sees the message.
    if (this.#o.walCompletion === 'branches' && input.targets.length > 0) {
      this.#tracked.set(walKey, {
        walId,
        rootStoreId: '',
        sessionId,
        outstanding: input.targets.length,
        failed: input.error !== undefined,
        waiters: [],
      })
    }
    const previous = this.#issued
    let issued!: () => void
    this.#issued = new Promise<void>((resolve) => (issued = resolve))
    const job: HandOffJob = {
      seq: ++this.#seq,
      walId,
      walKey,
      input,
      header,
      sessionId,
      recovered,
      record,
      storeId: undefined,
      remaining: input.targets,
      resolve: noop,
      reject: noop,
    }
    const first = this.#handOff(
      walId,
      input,
      header,
      sessionId,
      recovered,
      { stored, previous, issued },
      job,
    )
    this.#handOffs++
    const handedOff = first.then(
      (accepted) => {
        this.#handOffs--
        return accepted
      },
      (e: unknown) => {
        this.#handOffs--
        return this.#handOffFailed(job, e)
      },
    )
    // Rejected only by `close()`; callers that care (AckMode App, file services) attach theirs.
    handedOff.catch(noop)
    this.#spawn(first.catch(noop))
    const admitted: Admitted = {
      walId: walKey,
      sessionId,
      messageId: header.controlId,
      messageType: header.messageType,
      handedOff,
    }
    return { admitted, first }
  }

  async #handOff(
    walId: WalEntryLike['id'],
    input: AcceptInput,
    header: HeaderPeek,
    sessionId: string,
    recovered: boolean,
    order: {
      stored: Promise<{ id: string }>
      previous: Promise<void>
      issued: () => void
    },
    progress: HandOffJob,
  ): Promise<Accepted> {
    const { wal } = this.#o
    const store = this.#store
    const walKey = String(walId)
    try {
      const rec = await order.stored
      progress.storeId = rec.id
      // Not held: a reader that sees the record (committed just now) then sees its first hop.
      void this.#quietly(() =>
        this.#store.recordHopNow({
          sessionId,
          messageId: rec.id,
          source: input.source,
          target: input.source,
          state: 'received',
          detail: recovered ? 'recovered from WAL' : undefined,
        }),
      )
      const error = input.error
      if (error !== undefined) void this.#quietly(() => store.markFailed(rec.id, error))
      if (recovered) this.#supersede(sessionId, input.source, header.controlId, rec.id)
      const accepted: Accepted = {
        walId: walKey,
        sessionId,
        storeId: rec.id,
        messageId: header.controlId,
        messageType: header.messageType,
      }
      const targets = input.targets
      if (targets.length === 0) {
        order.issued()
        progress.remaining = []
        await wal.complete(walId)
        if (input.error === undefined) await store.markCompleted(rec.id)
        this.#markFinished(walKey, 'completed')
        return accepted
      }
      const t = this.#tracked.get(walKey)
      if (t !== undefined) t.rootStoreId = rec.id
      const env = envelopeOf(progress, rec.id)
      const branches = this.#o.walCompletion === 'branches'
      // Redis hand-off. The inbound record is marked completed before any consumer can see the
      // message, so that a branch failing later (`settle`) always wins and marks it failed.
      if (!branches && input.error === undefined)
        void this.#quietly(() => store.markCompleted(rec.id))
      await order.previous
      // A source with failed hand-offs waiting keeps its order: this one queues up behind them.
      if (this.#backlog.has(input.source)) {
        throw new EngineError(
          'ENGINE_HAND_OFF_FAILED',
          'earlier hand-offs of this source are waiting to be retried',
        )
      }
      // Every send is issued before the next hand-off may issue its own.
      const sends = targets.map((target) => this.#enqueue(target, env))
      order.issued()
      try {
        await Promise.all(sends)
        progress.remaining = []
      } catch (e) {
        // Only the targets that refused are retried (the others have the message already).
        const settled = await Promise.allSettled(sends)
        progress.remaining = targets.filter((_, i) => settled[i]?.status === 'rejected')
        if (!branches) {
          await this.#quietly(() =>
            store.markFailed(rec.id, `hand-off to the queue failed: ${errorText(e)}`),
          )
        }
        throw e
      }
      // Redis owns the message from here: complete the WAL entry.
      if (!branches) await wal.complete(walId)
      return accepted
    } finally {
      order.issued()
    }
  }

  /**
   * A hand-off failed after the message was durable (and usually ACKed): the message stays
   * pending in the WAL and joins the retry backlog of its source, in admit order. Resolves when a
   * retry succeeds; rejects if the path is closed first.
   */
  #handOffFailed(job: HandOffJob, e: unknown): Promise<Accepted> {
    if (this.#closed) {
      this.#untrack(job.walKey)
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    const deferred = isEngineError(e) && e.code === 'ENGINE_HAND_OFF_FAILED'
    const log = { walId: job.walKey, sessionId: job.sessionId, source: job.input.source }
    if (this.#backlogSize === 0) {
      this.#failingSince = Date.now()
      this.#o.logger.warn(
        { ...log, err: errorText(e) },
        'hand-off failed after the message was made durable: it stays in the WAL and is retried',
      )
    } else if (!deferred) this.#o.logger.debug({ ...log, err: errorText(e) }, 'hand-off failed')
    return new Promise<Accepted>((resolve, reject) => {
      job.resolve = resolve
      job.reject = reject
      let jobs = this.#backlog.get(job.input.source)
      if (jobs === undefined) this.#backlog.set(job.input.source, (jobs = []))
      let i = jobs.length
      while (i > 0 && (jobs[i - 1]?.seq ?? 0) > job.seq) i--
      jobs.splice(i, 0, job)
      this.#backlogSize++
      this.#scheduleRetry()
    })
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retrying || this.#retryTimer !== undefined) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#spawn(this.#retryRound())
    }, this.#retryDelay)
    this.#retryTimer.unref()
  }

  /** Retry every source's backlog in order; a source stops at its first failure this round. */
  async #retryRound(): Promise<void> {
    this.#retrying = true
    let failure: unknown
    let handedOff = 0
    try {
      for (const [source, jobs] of this.#backlog) {
        while (jobs.length > 0 && !this.#closed) {
          const job = jobs[0] as HandOffJob
          let accepted: Accepted
          try {
            accepted = await this.#retryOne(job)
          } catch (e) {
            failure = e
            break
          }
          if (this.#closed) break
          jobs.shift()
          this.#backlogSize--
          handedOff++
          job.resolve(accepted)
        }
        if (jobs.length === 0) this.#backlog.delete(source)
      }
    } finally {
      this.#retrying = false
    }
    if (this.#closed) return
    const retry = this.#o.retryMs ?? { min: RETRY_MIN_MS, max: RETRY_MAX_MS }
    if (this.#backlogSize === 0) {
      this.#o.logger.warn(
        { handedOff, failedForMs: Date.now() - this.#failingSince },
        'hand-off backlog cleared: every message waiting in the WAL is handed off',
      )
      this.#failingSince = 0
      this.#retryDelay = retry.min
      return
    }
    this.#retryDelay = handedOff > 0 ? retry.min : Math.min(this.#retryDelay * 2, retry.max)
    this.#o.logger.warn(
      {
        err: errorText(failure),
        backlog: this.#backlogSize,
        sources: this.#backlog.size,
        handedOff,
        retryInMs: this.#retryDelay,
      },
      'hand-offs still failing; the messages stay in the WAL and are retried',
    )
    this.#scheduleRetry()
  }

  /** One retry of a failed hand-off: the steps it did not finish (record, enqueues, WAL). */
  async #retryOne(job: HandOffJob): Promise<Accepted> {
    const { input, sessionId } = job
    const branches = this.#o.walCompletion === 'branches'
    if (job.storeId === undefined) {
      const rec = await this.#store.store(job.record)
      job.storeId = rec.id
      const t = this.#tracked.get(job.walKey)
      if (t !== undefined) t.rootStoreId = rec.id
      this.hopLater(
        sessionId,
        rec.id,
        input.source,
        input.source,
        'received',
        job.recovered ? 'recovered from WAL' : undefined,
      )
      const error = input.error
      if (error !== undefined) void this.#quietly(() => this.#store.markFailed(rec.id, error))
      if (job.recovered) this.#supersede(sessionId, input.source, job.header.controlId, rec.id)
    }
    const storeId = job.storeId
    const accepted: Accepted = {
      walId: job.walKey,
      sessionId,
      storeId,
      messageId: job.header.controlId,
      messageType: job.header.messageType,
    }
    if (input.targets.length === 0) {
      await this.#o.wal.complete(job.walId)
      if (input.error === undefined) await this.#store.markCompleted(storeId)
      this.#markFinished(job.walKey, 'completed')
      return accepted
    }
    if (job.remaining.length > 0) {
      if (!branches && input.error === undefined)
        void this.#quietly(() => this.#store.markCompleted(storeId))
      const env = envelopeOf(job, storeId)
      for (let target = job.remaining[0]; target !== undefined; target = job.remaining[0]) {
        await this.#enqueue(target, env)
        job.remaining = job.remaining.slice(1)
      }
    }
    if (!branches) await this.#o.wal.complete(job.walId)
    return accepted
  }

  /** Forget a tracked message whose hand-off will not be retried here (AckMode App: failed). */
  #untrack(walKey: string): void {
    const t = this.#tracked.get(walKey)
    this.#tracked.delete(walKey)
    if (t !== undefined) for (const w of t.waiters) w('failed')
  }

  /**
   * Stop retrying failed hand-offs (the Engine calls it when it stops): their messages stay
   * pending in the WAL and are resumed at the next start; their `handedOff` promises reject.
   */
  close(): void {
    this.#closed = true
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    if (this.#backlogSize > 0) {
      this.#o.logger.warn(
        { backlog: this.#backlogSize },
        'stopping with hand-offs still failing: those messages stay in the WAL and are resumed at the next start',
      )
    }
    for (const jobs of this.#backlog.values()) {
      for (const job of jobs) {
        this.#untrack(job.walKey)
        job.reject(
          new EngineError(
            'ENGINE_HAND_OFF_FAILED',
            `stopped before the hand-off of WAL entry ${job.walKey} succeeded; it stays in the WAL and is resumed at the next start`,
          ),
        )
      }
    }
    this.#backlog.clear()
    this.#backlogSize = 0
    this.#failingSince = 0
  }

  /**
   * Send new branches of a message on from `from` (a router) to targets; the caller settles its
   * own branch afterwards. Each body that differs from the incoming one is stored as a new record.
   */
  async forward(env: Envelope, from: string, outputs: readonly ForwardOutput[]): Promise<void> {
    const t = this.#tracked.get(env.walId)
    if (t !== undefined) t.outstanding += outputs.length
    const stored = new Map<string, string>()
    for (const out of outputs) {
      let storeId = env.storeId
      let messageId = env.messageId
      if (out.raw !== env.raw) {
        const header =
          out.format === 'json'
            ? { controlId: env.messageId, messageType: '' }
            : peekHeader(out.raw)
        messageId = header.controlId
        const known = stored.get(out.raw)
        if (known !== undefined) storeId = known
        else {
          const metadata: Record<string, unknown> = {
            walId: env.walId,
            transformedFrom: env.storeId,
          }
          if (out.format !== undefined) metadata.format = out.format
          const search =
            out.format === 'json' ? undefined : this.#searchValues(from, out.raw, env.docCategory)
          const rec = await this.#store.store({
            hostName: from,
            messageId: header.controlId,
            payload: out.raw,
            messageType: header.messageType,
            correlationId: env.messageId,
            sessionId: env.sessionId,
            direction: 'outbound',
            metadata,
            ...(search === undefined ? {} : { search }),
          })
          storeId = rec.id
          stored.set(out.raw, storeId)
        }
      }
      // Built field by field: `delete` on a spread copy left an object in dictionary mode.
      const next: Envelope = {
        v: 1,
        walId: env.walId,
        sessionId: env.sessionId,
        rootStoreId: env.rootStoreId,
        storeId,
        messageId,
        source: from,
        raw: out.raw,
      }
      if (env.fileName !== undefined) next.fileName = env.fileName
      if (env.docCategory !== undefined) next.docCategory = env.docCategory
      if (out.format !== undefined) next.format = out.format
      if (env.batch !== undefined) next.batch = env.batch
      if (out.replyTo !== undefined) next.replyTo = out.replyTo
      await this.#enqueue(out.target, next)
    }
  }

  /**
   * The record an earlier run stored for a resumed message never finished: close it, pointing at
   * the copy that now carries the work, so it does not stay "incomplete" forever. Only inbound
   * records of the same source, session and MSH-10 created before this path was: the other
   * messages of a batch session, and the copies made by this run, are left alone. A held write
   * like the others, not waited for: the store finds the records inside its commit. It was a
   * query per resumed message, awaited before the enqueue (a store round trip behind every write
   * queued before it, and a flush of the held writes): see the README's resume figures.
   */
  #supersede(sessionId: string, source: string, controlId: string, newId: string): void {
    const detail = `superseded by ${newId} (resumed from the WAL)`
    this.#store
      .supersede({
        sessionId,
        hostName: source,
        by: newId,
        direction: 'inbound',
        correlationId: controlId,
        createdBefore: this.#openedAt,
        detail,
      })
      .then(
        (closed) => {
          if (this.#o.trace !== undefined && closed > 0)
            this.#traceHop(sessionId, undefined, source, source, 'completed', detail)
        },
        (e: unknown) => {
          this.#o.logger.warn(
            { err: errorText(e), sessionId },
            'could not close the superseded record',
          )
        },
      )
  }

  /**
   * Remember how a message ended (for `whenFinished`), keeping only the latest `FINISHED_KEPT`.
   * The oldest key is found in a ring of keys: deleting the first key of the Map instead made
   * V8 skip the deleted entries at its front on every call until the next rehash.
   */
  #markFinished(walKey: string, outcome: PathOutcome): void {
    const finished = this.#finished
    if (finished.has(walKey)) {
      finished.set(walKey, outcome)
      return
    }
    const slot = this.#finishedNext
    const oldest = this.#finishedKeys[slot]
    if (oldest !== undefined) finished.delete(oldest)
    this.#finishedKeys[slot] = walKey
    this.#finishedNext = slot + 1 === FINISHED_KEPT ? 0 : slot + 1
    finished.set(walKey, outcome)
  }

  /**
   * One branch of a message finished (delivered, deleted by a rule, or failed for good). The
   * last branch completes the WAL entry and marks the inbound record; those writes are issued
   * here and not waited for (see the module header), so the worker goes on to its next message.
   */
  async settle(
    env: Envelope,
    outcome: PathOutcome,
    failure?: { host: string; error: string },
  ): Promise<void> {
    const t = this.#tracked.get(env.walId)
    if (t === undefined) {
      // Not tracked here (Redis hand-off, another process, or a redriven dead letter).
      if (outcome === 'failed') {
        await this.#markRootFailed(env, failure).catch((e: unknown) => {
          this.#o.logger.warn(
            { err: errorText(e), sessionId: env.sessionId },
            'could not mark the message failed',
          )
        })
      }
      return
    }
    if (outcome === 'failed') t.failed = true
    t.outstanding -= 1
    if (t.outstanding > 0) return
    this.#tracked.delete(env.walId)
    const final: PathOutcome = t.failed ? 'failed' : 'completed'
    const rootStoreId = t.rootStoreId !== '' ? t.rootStoreId : env.rootStoreId
    // Issued in this order now (WAL completion, then the store's state change); not awaited.
    // One background task for both (fewer promises per message than one each).
    const completed = this.#quietly(() => this.#o.wal.complete(t.walId))
    const marked = this.#quietly(() =>
      final === 'completed'
        ? this.#store.markCompleted(rootStoreId)
        : this.#store.markFailed(rootStoreId, 'one or more branches failed'),
    )
    this.#spawn(Promise.all([completed, marked]))
    this.#markFinished(env.walId, final)
    for (const w of t.waiters) w(final)
  }

  /**
   * Mark the inbound record of an untracked envelope failed, if this engine's store holds it.
   * With Redis queues the message may have come in through another engine process, whose store
   * holds its inbound record: store ids are per store, so the same id here names another
   * message. The session id tells them apart (a read, on the failure path only); the branch
   * (`failure`) is then stored here as a failed outbound record.
   */
  async #markRootFailed(
    env: Envelope,
    failure: { host: string; error: string } | undefined,
  ): Promise<void> {
    const rec = await this.#store.get(env.rootStoreId)
    if (rec !== undefined && rec !== null && rec.sessionId === env.sessionId) {
      await this.#store.markFailed(env.rootStoreId, 'one or more branches failed')
      return
    }
    if (failure === undefined) return
    // Received by another engine: the failed branch is recorded here, where it failed, with its
    // body, so that a search for failed messages (on this engine, or `scope=cluster`) finds it
    // and it can be resent from here.
    const header = env.format === 'json' ? undefined : peekHeader(env.raw)
    const own = await this.#store.store({
      hostName: failure.host,
      messageId: env.messageId,
      payload: env.raw,
      messageType: header?.messageType ?? env.msgClass ?? '',
      correlationId: env.messageId,
      sessionId: env.sessionId,
      direction: 'outbound',
      metadata: { receivedElsewhere: true, rootStoreId: env.rootStoreId, source: env.source },
    })
    await this.#store.markFailed(own.id, failure.error)
  }

  /**
   * Resolves once every hand-off and every WAL/store write issued by `settle` has finished, and
   * every held store write was handed to the store (which commits it before it stops).
   */
  async idle(): Promise<void> {
    for (;;) {
      this.#store.flush()
      if (this.#background.size === 0) break
      await Promise.allSettled([...this.#background])
    }
  }

  #spawn(p: Promise<unknown>): void {
    this.#background.add(p)
    void p.finally(() => this.#background.delete(p))
  }

  /** A bookkeeping write, started now; its failure is logged, never thrown. */
  async #quietly(write: () => unknown): Promise<void> {
    try {
      await write()
    } catch (e) {
      this.#o.logger.warn({ err: errorText(e) }, 'could not record the message state')
    }
  }

  /**
   * Resolves when every branch of the message has finished (AckMode App). With `'enqueue'`
   * completion it resolves at once with `completed`: the hand-off to Redis is the commit point.
   */
  whenFinished(walId: string): Promise<PathOutcome> {
    const done = this.#finished.get(walId)
    if (done !== undefined) return Promise.resolve(done)
    const t = this.#tracked.get(walId)
    if (t === undefined) return Promise.resolve('completed')
    return new Promise((resolve) => t.waiters.push(resolve))
  }

  /**
   * Record one hop of a session; a failure to record is logged, never thrown. The message path
   * does not wait for hops (they are the audit trail, not the durability): the store commits
   * writes in call order, so a hop is in before any later state change of the same message.
   */
  async hop(
    sessionId: string,
    storeId: string | undefined,
    source: string,
    target: string,
    state: HopStateLike,
    detail?: string,
  ): Promise<void> {
    if (this.#o.trace !== undefined)
      this.#traceHop(sessionId, storeId, source, target, state, detail)
    try {
      await this.#store.recordHop({
        sessionId,
        messageId: storeId,
        source,
        target,
        state,
        detail,
      })
    } catch (e) {
      this.#o.logger.warn({ err: errorText(e), sessionId, source, target }, 'could not record hop')
    }
  }

  /**
   * The envelope a queue message carries. With the in-process queue, the first delivery takes
   * the object `#enqueue` handed over (a shallow copy: branches to several targets share it);
   * a redelivery, a dead letter redriven, or a Redis message decodes the payload, which always
   * holds the full envelope. Decoding flattened and copied the 3.3 KB body on every hop and was
   * 1.1–1.7% of the engine's CPU in bench/path-profile.mjs (PoolSize 8).
   */
  envelopeOf(message: QueueMessageLike): Envelope {
    const ref = message.headers[LOCAL_ENVELOPE]
    if (ref !== undefined) {
      const env = this.#local.get(ref)
      if (env !== undefined) {
        this.#local.delete(ref)
        this.#localChars -= env.raw.length
        return { ...env }
      }
    }
    return decodeEnvelope(message.payload)
  }

  /** LogTraceEvents / ArchiveIO of a received message: ids, type and size, never the body. */
  #logReceived(
    walKey: string,
    input: AcceptInput,
    header: HeaderPeek,
    sessionId: string,
    recovered: boolean,
  ): void {
    const line = {
      sessionId,
      walId: walKey,
      messageId: header.controlId,
      messageType: header.messageType,
      bytes: Buffer.byteLength(input.raw),
      targets: input.targets.join(','),
      ...(recovered ? { recovered: true } : {}),
      ...(input.fileName !== undefined ? { fileName: input.fileName } : {}),
    }
    this.#o.archiveIO?.get(input.source)?.info(line, 'ArchiveIO: message received')
    this.#o.trace?.get(input.source)?.debug(line, 'trace: message received')
  }

  /** LogTraceEvents: one hop, on the logger of the host that made it (queued: the sender). */
  #traceHop(
    sessionId: string,
    storeId: string | undefined,
    source: string,
    target: string,
    state: HopStateLike,
    detail: string | undefined,
  ): void {
    const logger = this.#o.trace?.get(state === 'queued' ? source : target)
    if (logger === undefined) return
    logger.debug(
      { sessionId, storeId, source, target, state, ...(detail !== undefined ? { detail } : {}) },
      'trace: hop',
    )
  }

  /**
   * `hop` for callers that do not wait for it (`void path.hop(...)`): the same write in the same
   * order, without a promise per call; a failure to record is logged.
   */
  hopLater(
    sessionId: string,
    storeId: string | undefined,
    source: string,
    target: string,
    state: HopStateLike,
    detail?: string,
  ): void {
    if (this.#o.trace !== undefined)
      this.#traceHop(sessionId, storeId, source, target, state, detail)
    this.#store.recordHopQuietly(
      { sessionId, messageId: storeId, source, target, state, detail },
      (e: unknown) => {
        this.#o.logger.warn(
          { err: errorText(e), sessionId, source, target },
          'could not record hop',
        )
      },
    )
  }

  /** Enqueue an envelope to a host's queue and record the hop as queued. */
  async #enqueue(target: string, env: Envelope): Promise<void> {
    const headers: Record<string, string> = { sessionId: env.sessionId, source: env.source }
    const options: { orderingKey?: string; headers: Record<string, string> } = { headers }
    const key = this.#o.orderingKeyFor?.(target, env.raw)
    if (key !== undefined && key !== '') options.orderingKey = key
    let ref: string | undefined
    // Held as an object only within the budget: past it (a backlog building up behind a slow or
    // stopped target), the queue payload below is the only copy, and the queue may spill it.
    if (
      this.#o.inProcessQueue === true &&
      this.#localChars + env.raw.length <= (this.#o.localEnvelopeBytes ?? LOCAL_ENVELOPE_BYTES)
    ) {
      ref = String(++this.#localSeq)
      headers[LOCAL_ENVELOPE] = ref
      this.#local.set(ref, env)
      this.#localChars += env.raw.length
    }
    try {
      await this.#o.queue.send(target, encodeEnvelope(env), options)
    } catch (e) {
      if (ref !== undefined && this.#local.delete(ref)) this.#localChars -= env.raw.length
      throw e
    }
    this.hopLater(env.sessionId, env.storeId, env.source, target, 'queued')
  }

  /** Enqueue a stored message again to `target` as a new branch (`Engine.resend`). */
  async resendTo(target: string, env: Envelope): Promise<void> {
    await this.#enqueue(target, env)
  }
}

function noop(): void {}

/** The first-hop envelope of a hand-off (first attempt and retries alike). */
function envelopeOf(job: HandOffJob, storeId: string): Envelope {
  const { input } = job
  const env: Envelope = {
    v: 1,
    walId: job.walKey,
    sessionId: job.sessionId,
    rootStoreId: storeId,
    storeId,
    messageId: job.header.controlId,
    source: input.source,
    raw: input.raw,
  }
  if (input.fileName !== undefined) env.fileName = input.fileName
  if (input.docCategory !== undefined) env.docCategory = input.docCategory
  if (input.batch !== undefined) env.batch = input.batch
  if (input.format !== undefined) env.format = input.format
  if (input.msgClass !== undefined) env.msgClass = input.msgClass
  return env
}
