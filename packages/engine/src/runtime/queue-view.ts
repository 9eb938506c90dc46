/**
 * The Queues view of a running production (IRIS: Management Portal > Queues, with Abort and
 * Abort All): what waits in a router's or operation's queue and why, and how an operator takes a
 * poison message out of it.
 *
 * Aborting never loses track of a message: a message taken off a queue is recorded as a failed
 * branch of its session ("aborted by operator: ..."), its WAL entry is settled as for any failed
 * delivery, and the stored message can still be resent (`Engine.resend`). An aborted message is
 * acknowledged off the queue, not dead-lettered: the operator chose to drop it.
 */
import type { Logger } from 'pino'
import type { BrowseResult, MessageQueue, QueuedMessageInfo } from '@li/queue'
import { EngineError } from '../errors.js'
import { decodeEnvelope } from './envelope.js'
import type { Envelope } from './envelope.js'
import { peekHeader } from './hl7-peek.js'
import type { Host } from './host.js'
import { errorText } from './host.js'
import type { MessagePath } from './message-path.js'
import { OperationHost, settleAborted } from './operation-host.js'
import type { AbortOutcome, HeldMessage } from './operation-host.js'
import type { MetricsPort } from './ports.js'
import { QueueHost, sleep } from './queue-host.js'

/** Most messages one `queueContents` page returns. */
export const MAX_QUEUE_PAGE = 1000

/** Most messages one `abortAll` call takes off a queue (call again while `more`). */
export const MAX_ABORT_ALL = 100_000

/** How long an abort waits for a message another consumer holds to leave the queue, ms. */
const ABORT_WAIT_MS = 10_000

/** How often it looks, ms. */
const POLL_MS = 250

/** One message of a host's queue, as the Queues view shows it. Never the message body. */
export interface QueueEntry {
  /** Queue message id: what `abortQueued` takes. */
  id: string
  /** `in-flight`: a worker holds it (delivering, or between retries); `ready`; `delayed`. */
  state: QueuedMessageInfo['state']
  sessionId: string | null
  /** Store id of the body (GET /api/messages/:id). */
  storeId: string | null
  /** MSH-10. */
  messageId: string | null
  /** MSH-9, e.g. `ADT^A01`. */
  messageType: string | null
  /** The host that queued it. */
  source: string | null
  priority: number
  /** Deliveries the queue made (a redelivery after a restart or a visibility timeout adds one). */
  deliveries: number
  /** When it was queued (ms since epoch). */
  enqueuedAt: number
  /** Delayed: when it becomes ready; in flight: its visibility deadline; else null. */
  dueAt: number | null
  /** The last error the queue recorded for it (a nack or a visibility timeout), or null. */
  lastError: string | null
  /** Size of the queue payload (the envelope), in bytes (UTF-8). */
  size: number
  /**
   * Set when an operation of this engine is working on it: its delivery attempts, whether it
   * waits for a retry and why (connect refused, AE, no ACK within ResponseTimeout, ...).
   */
  delivery?: Omit<HeldMessage, 'queueMessageId'>
}

/** One page of a host's queue. */
export interface QueueContents {
  host: string
  /** Messages not acknowledged: waiting plus in flight. */
  depth: number
  inFlight: number
  /** Age of the oldest message not acknowledged, ms (0 when empty). */
  oldestAgeMs: number
  /** In-flight first, then in delivery order, then delayed by due time. */
  messages: QueueEntry[]
  /** Pass back for the next page; null on the last. */
  cursor: string | null
}

/** What `abortQueued` did with one queue message. */
export interface AbortResult {
  id: string
  host: string
  /**
   * `aborted`: off the queue, recorded as failed. `completed`/`failed`: the attempt running
   * when the abort came ended the message anyway (`finished`: the same, seen from another
   * engine process: see its trace). `requeued`: the host stopped first (still queued).
   * `requested`: another engine process holds it and has not acted within 10 s; it will at its
   * next retry (the request stays for an hour). `in-flight`: a router is working on it: try again.
   */
  outcome: AbortOutcome | 'in-flight' | 'requested' | 'finished'
  sessionId?: string | undefined
}

/** What `abortAll` did. */
export interface AbortAllResult {
  host: string
  /** Messages taken off the queue (waiting ones, and those this engine's operation held). */
  aborted: number
  /** Messages left in flight: held by a router, or by another engine process (asked to abort them). */
  inFlight: number
  /** True when the call stopped at MAX_ABORT_ALL: call again. */
  more: boolean
}

/** What the view needs from the engine. */
export interface QueueViewDeps {
  queue: MessageQueue
  path: MessagePath
  host: (name: string) => Host
  logger: Logger
  metrics: MetricsPort
}

/** Queues view and aborts over one engine's queue. */
export class QueueView {
  readonly #d: QueueViewDeps

  constructor(deps: QueueViewDeps) {
    this.#d = deps
  }

  /** One page of `host`'s queue (see QueueContents). */
  async contents(
    host: string,
    options: { limit?: number | undefined; cursor?: string | null | undefined } = {},
  ): Promise<QueueContents> {
    const h = this.#queued(host)
    const limit = options.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUEUE_PAGE) {
      throw new EngineError(
        'ENGINE_INVALID_ARGUMENT',
        `queue contents: limit must be an integer from 1 to ${MAX_QUEUE_PAGE}, got ${String(limit)}`,
      )
    }
    const { queue } = this.#d
    const page: BrowseResult = await queue.browse(host, {
      limit,
      cursor: options.cursor ?? null,
      payloads: true,
    })
    const held = new Map<string, HeldMessage>()
    if (h instanceof OperationHost) for (const m of h.held()) held.set(m.queueMessageId, m)
    const [depth, inFlight, oldestAgeMs] = await Promise.all([
      queue.depth(host),
      queue.inFlight(host),
      queue.oldestAgeMs(host),
    ])
    return {
      host,
      depth: depth + inFlight,
      inFlight,
      oldestAgeMs,
      messages: page.messages.map((m) => entryOf(m, held.get(m.id))),
      cursor: page.cursor,
    }
  }

  /** Abort one message of `host`'s queue (see AbortResult); throws ENGINE_QUEUE_MESSAGE_NOT_FOUND. */
  async abort(host: string, id: string, reason: string): Promise<AbortResult> {
    const h = this.#queued(host)
    if (h instanceof OperationHost) {
      const held = h.abortHeld(id, reason)
      if (held !== undefined) return this.#done(host, id, await held)
    }
    const r = await this.#d.queue.remove(host, id)
    if (r.outcome === 'not-found') {
      throw new EngineError(
        'ENGINE_QUEUE_MESSAGE_NOT_FOUND',
        `no message ${id} in the queue of ${host} (delivered, aborted, or never there); list it with GET /api/queues/${host}`,
      )
    }
    if (r.outcome === 'removed') {
      const env = this.#envelope(host, r.message)
      await this.#record(host, env, r.from, reason)
      return this.#done(host, id, 'aborted', env?.sessionId, r.from)
    }
    if (!(h instanceof OperationHost)) return this.#done(host, id, 'in-flight')
    return this.#done(host, id, await this.#abortInFlight(h, host, id, reason))
  }

  /**
   * Abort every waiting message of `host`'s queue (IRIS Abort All), and the ones its operation
   * holds (here, or, through the queue, in another engine process); at most MAX_ABORT_ALL per
   * call. Dead letters are left alone. Waiting messages go first, while the operation still holds
   * the message it retries, so that its worker cannot take the next one meanwhile.
   */
  async abortAll(host: string, reason: string): Promise<AbortAllResult> {
    const h = this.#queued(host)
    const op = h instanceof OperationHost ? h : undefined
    let aborted = 0
    let inFlight = 0
    const heldHere = new Set((op?.held() ?? []).map((m) => m.queueMessageId))
    const elsewhere: string[] = []
    let cursor: string | null = null
    let more = false
    scan: for (;;) {
      const page: BrowseResult = await this.#d.queue.browse(host, { limit: MAX_QUEUE_PAGE, cursor })
      for (const m of page.messages) {
        if (aborted >= MAX_ABORT_ALL) {
          more = true
          break scan
        }
        if (m.state === 'in-flight') {
          if (!heldHere.has(m.id)) elsewhere.push(m.id)
          continue
        }
        const r = await this.#d.queue.remove(host, m.id)
        if (r.outcome === 'removed') {
          await this.#record(host, this.#envelope(host, r.message), r.from, reason)
          aborted++
        } else if (r.outcome === 'in-flight') elsewhere.push(m.id)
      }
      if (page.cursor === null) break
      cursor = page.cursor
    }
    const outcomes = await Promise.all([
      ...[...heldHere].map((id) => op?.abortHeld(id, reason) ?? Promise.resolve(undefined)),
      ...elsewhere.map((id) =>
        op === undefined
          ? Promise.resolve('in-flight' as const)
          : this.#abortInFlight(op, host, id, reason),
      ),
    ])
    for (const o of outcomes) {
      if (o === 'aborted') aborted++
      else if (o === 'in-flight' || o === 'requested') inFlight++
    }
    this.#d.logger.info({ host, aborted, inFlight, more }, 'queue aborted')
    return { host, aborted, inFlight, more }
  }

  /**
   * Abort a message in flight that no worker of this engine holds: a worker here may be about to
   * start it, or an operation of another engine sharing the Redis queue retries it. Asks both
   * (the local worker before its first attempt, the other engine at its next retry check, at
   * most a second later) and waits up to ABORT_WAIT_MS for the message to leave the queue.
   */
  async #abortInFlight(
    op: OperationHost,
    host: string,
    id: string,
    reason: string,
  ): Promise<AbortResult['outcome']> {
    const { queue } = this.#d
    const here = op.abortWhenStarted(id, reason)
    await queue.requestCancel(host, id, reason)
    const deadline = Date.now() + ABORT_WAIT_MS
    let outcome: AbortResult['outcome'] = 'requested'
    try {
      for (;;) {
        const o = await Promise.race([here, sleep(POLL_MS).then(() => undefined)])
        if (o !== undefined) {
          outcome = o
          break
        }
        const r = await queue.remove(host, id)
        if (r.outcome === 'removed') {
          // Its holder gave it back (stopped) before acting on the request.
          await this.#record(host, this.#envelope(host, r.message), r.from, reason)
          outcome = 'aborted'
          break
        }
        if (r.outcome === 'not-found') {
          // Gone: the holder cleared the request if it aborted the message, else it finished.
          outcome = (await queue.cancelRequest(host, id)) === null ? 'aborted' : 'finished'
          break
        }
        if (Date.now() >= deadline) break
      }
    } finally {
      op.forgetAbort(id)
    }
    // Left in force while `requested`: the holder acts on it at its next retry.
    if (outcome !== 'requested') {
      await queue.clearCancel(host, id).catch((e: unknown) => {
        this.#d.logger.warn(
          { host, queueMessage: id, err: errorText(e) },
          'could not clear an abort request (it expires by itself)',
        )
      })
    }
    return outcome
  }

  #done(
    host: string,
    id: string,
    outcome: AbortResult['outcome'],
    sessionId?: string,
    from?: 'waiting' | 'dead',
  ): AbortResult {
    this.#d.logger.info(
      { host, queueMessage: id, outcome, ...(from === undefined ? {} : { from }) },
      'queued message abort',
    )
    return sessionId === undefined ? { id, host, outcome } : { id, host, outcome, sessionId }
  }

  /** The envelope of a removed message; undefined (logged) when the payload is not one. */
  #envelope(
    host: string,
    m: { id: string; payload: string; headers: Readonly<Record<string, string>>; attempts: number },
  ): Envelope | undefined {
    try {
      return this.#d.path.envelopeOf(m)
    } catch (e) {
      this.#d.logger.error(
        { host, queueMessage: m.id, err: errorText(e) },
        'aborted queue message held no envelope; nothing to record',
      )
      return undefined
    }
  }

  /** Record a removed message as a failed branch and settle it (waiting), or note it (dead). */
  async #record(
    host: string,
    env: Envelope | undefined,
    from: 'waiting' | 'dead',
    reason: string,
  ): Promise<void> {
    if (env === undefined) return
    const { path, metrics } = this.#d
    if (from === 'dead') {
      // Already settled as failed when it was dead-lettered: only the trace changes.
      path.hopLater(
        env.sessionId,
        env.storeId,
        env.source,
        host,
        'discarded',
        `dead letter removed by operator: ${reason}`,
      )
      return
    }
    await settleAborted(path, metrics, env, host, reason)
  }

  #queued(name: string): QueueHost {
    const h = this.#d.host(name)
    if (!(h instanceof QueueHost)) {
      throw new EngineError(
        'ENGINE_INVALID_ARGUMENT',
        `${name} is a ${h.kind}; only routers and operations have queues`,
      )
    }
    return h
  }
}

function entryOf(m: QueuedMessageInfo, held: HeldMessage | undefined): QueueEntry {
  let env: Envelope | undefined
  if (m.payload !== undefined) {
    try {
      env = decodeEnvelope(m.payload)
    } catch {
      // Not an engine envelope (written by something else): listed with what the queue knows.
      env = undefined
    }
  }
  const type = env !== undefined && env.format !== 'json' ? peekHeader(env.raw).messageType : ''
  const entry: QueueEntry = {
    id: m.id,
    state: m.state,
    sessionId: env?.sessionId ?? m.headers.sessionId ?? null,
    storeId: env?.storeId ?? null,
    messageId: env?.messageId ?? null,
    messageType: type === '' ? (env?.msgClass ?? null) : type,
    source: env?.source ?? m.headers.source ?? null,
    priority: m.priority,
    deliveries: m.attempts,
    enqueuedAt: m.enqueuedAt,
    dueAt: m.dueAt,
    lastError: m.lastError,
    size: m.payloadSize,
  }
  if (held !== undefined) {
    const { queueMessageId: _, ...delivery } = held
    entry.delivery = delivery
  }
  return entry
}
