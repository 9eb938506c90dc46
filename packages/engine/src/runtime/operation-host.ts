/**
 * The business operation base: dequeue → deliver → read the reply → ReplyCodeActions → complete,
 * retry, suspend, fail or disable. Subclasses implement only `deliver` (MLLP, file, HTTP).
 *
 * Retries hold the message (IRIS semantics): with PoolSize 1 nothing overtakes a message that is
 * being retried, so FIFO holds. A transport error (connect failure, no ACK within
 * ResponseTimeout) is retried every RetryInterval seconds until FailureTimeout seconds have passed
 * since the first attempt (-1 = forever), then the message fails. When the host stops during a
 * retry the message goes back to its queue (and, after a crash, comes back from the WAL).
 */
import type { ProductionItem } from '../production/types.js'
import {
  ackActionFor,
  DEFAULT_REPLY_CODE_ACTIONS,
  parseReplyCodeActions,
} from '../iris/reply-code-actions.js'
import type { ReplyCodeAction, ReplyDecision } from '../iris/reply-code-actions.js'
import type { Envelope } from './envelope.js'
import type { MessagePath } from './message-path.js'
import type { MetricsPort, QueueMessageLike } from './ports.js'
import { peekHeader } from './hl7-peek.js'
import { errorText } from './host.js'
import type { HostContext } from './host-context.js'
import { QueueHost, sleep } from './queue-host.js'
import type { Disposition } from './queue-host.js'
import { ItemSettings } from './settings.js'
import { VisibilityKeeper } from './visibility.js'

/** What a delivery returned: the reply text (an ACK) or nothing for transports without replies. */
export interface Delivery {
  reply?: string | undefined
  /** Where it went (file path, URL, peer), for the trace. */
  detail?: string | undefined
}

/**
 * A message an operation is working on (delivering, or holding between retries): what the Queues
 * view shows for a queue's in-flight messages, and what `abortHeld` can end.
 */
export interface HeldMessage {
  /** The queue message id (what `Engine.abortQueued` takes). */
  queueMessageId: string
  sessionId: string
  /** Store id of the body being delivered. */
  storeId: string
  /** MSH-10 of the body. */
  messageId: string
  /** When the first attempt started (ms since epoch). */
  since: number
  /** Attempts made so far (the running one included). */
  attempts: number
  /** `delivering` while an attempt runs; `retrying` while it waits for the next one. */
  phase: 'delivering' | 'retrying'
  /** Why the last attempt is being retried (connect refused, AE, no ACK within ...), or null. */
  lastError: string | null
  /** When the next attempt starts, while retrying (ms since epoch). */
  nextAttemptAt: number | null
}

/**
 * What became of a held message an operator aborted: `aborted` (it left the queue, recorded as
 * failed), or, when the abort came during an attempt that then ended the message anyway,
 * `completed` (delivered) or `failed`; `requeued` when the host stopped first (it stays queued).
 */
export type AbortOutcome = 'aborted' | 'completed' | 'failed' | 'requeued'

/** A held message and the operator's abort, if any. */
interface Held extends HeldMessage {
  abortReason: string | undefined
  /** Set once the abort took effect. */
  aborted: boolean
  /** Ends the wait between retries early (made only while retrying). */
  wake: AbortController | undefined
  /** Callers of `abortHeld` waiting for the outcome (made only when one asks). */
  waiters: ((outcome: AbortOutcome) => void)[] | undefined
}

/**
 * Record a message an operator took off `host`'s queue: counted as failed (`aborted`), its
 * branch traced as failed "aborted by operator: reason", and its session settled (a restart does
 * not resume it). The one record of an abort, whether the operation held the message or the
 * Queues view removed it while it waited.
 */
export async function settleAborted(
  path: MessagePath,
  metrics: MetricsPort | undefined,
  env: Envelope,
  host: string,
  reason: string,
): Promise<void> {
  const text = `aborted by operator: ${reason}`
  metrics?.recordMessageFailed(host, 'aborted')
  path.hopLater(env.sessionId, env.storeId, env.source, host, 'failed', text)
  await path.settle(env, 'failed', { host, error: text })
}

/** Operation timing settings, in seconds as IRIS stores them. */
export interface OperationTiming {
  retryInterval: number
  /** -1 = retry forever. */
  failureTimeout: number
}

/** Base class of business operations. */
export abstract class OperationHost extends QueueHost {
  readonly kind = 'operation' as const
  protected readonly settings: ItemSettings
  readonly #actions: ReplyCodeAction[]
  /** IRIS ArchiveIO: log each delivered message's size and ids at info (never its body). */
  readonly #archiveIO: boolean
  /** IRIS AlertOnError. */
  readonly #alertOnError: boolean
  /** IRIS AlertRetryGracePeriod, ms: how long a message may be retried before AlertOnError alerts. */
  readonly #alertRetryGraceMs: number
  readonly timing: OperationTiming
  /** Messages being delivered or retried, by queue message id. */
  readonly #held = new Map<string, Held>()
  /**
   * Aborts asked for messages this engine received but no worker has started yet (a worker
   * takes them next): applied when `handle` starts them, before any attempt.
   */
  readonly #pendingAborts = new Map<
    string,
    { reason: string; waiters: ((o: AbortOutcome) => void)[] }
  >()

  constructor(
    item: ProductionItem,
    ctx: HostContext,
    defaults: { replyCodeActions?: string; failureTimeout?: number } = {},
  ) {
    super(item, ctx)
    this.settings = new ItemSettings(item)
    this.#archiveIO = this.settings.boolean('ArchiveIO', false)
    this.#alertOnError = this.settings.boolean('AlertOnError', false)
    this.#alertRetryGraceMs = this.settings.number('AlertRetryGracePeriod', 0) * 1000
    this.#actions = parseReplyCodeActions(
      this.settings.string(
        'ReplyCodeActions',
        defaults.replyCodeActions ?? DEFAULT_REPLY_CODE_ACTIONS,
      ),
    )
    this.timing = {
      retryInterval: this.settings.number('RetryInterval', 5),
      failureTimeout: this.settings.number('FailureTimeout', defaults.failureTimeout ?? 15),
    }
  }

  /** Send one message; throw on transport errors (they are retried). */
  protected abstract deliver(env: Envelope, signal: AbortSignal): Promise<Delivery>

  /** The messages this operation is delivering or holding for retries, oldest first. */
  held(): HeldMessage[] {
    return [...this.#held.values()].map((h) => ({
      queueMessageId: h.queueMessageId,
      sessionId: h.sessionId,
      storeId: h.storeId,
      messageId: h.messageId,
      since: h.since,
      attempts: h.attempts,
      phase: h.phase,
      lastError: h.lastError,
      nextAttemptAt: h.nextAttemptAt,
    }))
  }

  /**
   * Abort a message this operation holds (IRIS: abort the active message of a queue). Between
   * retries it ends at once; during an attempt it ends when the attempt does (at most
   * ResponseTimeout), unless that attempt delivered it. The message is acknowledged off the queue
   * (not dead-lettered), its branch recorded as failed with `reason`. Returns undefined when
   * the message is not held here.
   */
  abortHeld(queueMessageId: string, reason: string): Promise<AbortOutcome> | undefined {
    const h = this.#held.get(queueMessageId)
    if (h === undefined) return undefined
    h.abortReason ??= reason
    const done = new Promise<AbortOutcome>((resolve) => (h.waiters ??= []).push(resolve))
    h.wake?.abort()
    return done
  }

  /**
   * Abort a message that is in flight but not held by a worker yet (received for a worker that
   * has not started it): it is aborted as soon as a worker of this engine starts it, before any
   * attempt. The promise resolves then; call `forgetAbort` when giving up waiting (the message
   * may be held elsewhere).
   */
  abortWhenStarted(queueMessageId: string, reason: string): Promise<AbortOutcome> {
    const held = this.abortHeld(queueMessageId, reason)
    if (held !== undefined) return held
    let p = this.#pendingAborts.get(queueMessageId)
    if (p === undefined) {
      p = { reason, waiters: [] }
      this.#pendingAborts.set(queueMessageId, p)
    }
    const entry = p
    return new Promise((resolve) => entry.waiters.push(resolve))
  }

  /** Drop a request made with `abortWhenStarted` (its waiters are not resolved). */
  forgetAbort(queueMessageId: string): void {
    this.#pendingAborts.delete(queueMessageId)
  }

  protected override async handle(env: Envelope, m?: QueueMessageLike): Promise<Disposition> {
    // While the message is held for retries, its queue visibility is extended (a shared Redis
    // queue would otherwise redeliver it elsewhere after the visibility timeout).
    const hold = new VisibilityKeeper(this.ctx.queue, m, this.ctx.queueVisibilityMs, this.logger)
    const held: Held | undefined =
      m === undefined
        ? undefined
        : {
            queueMessageId: m.id,
            sessionId: env.sessionId,
            storeId: env.storeId,
            messageId: env.messageId,
            since: Date.now(),
            attempts: 0,
            phase: 'delivering',
            lastError: null,
            nextAttemptAt: null,
            abortReason: undefined,
            aborted: false,
            wake: undefined,
            waiters: undefined,
          }
    if (held !== undefined) {
      this.#held.set(held.queueMessageId, held)
      if (this.#pendingAborts.size > 0) {
        const p = this.#pendingAborts.get(held.queueMessageId)
        if (p !== undefined) {
          this.#pendingAborts.delete(held.queueMessageId)
          held.abortReason = p.reason
          held.waiters = p.waiters
        }
      }
    }
    let outcome: AbortOutcome = 'requeued'
    const got: { reply?: string } = {}
    try {
      const d = await this.#handle(env, hold, held, got)
      outcome =
        held?.aborted === true ? 'aborted' : d.ack ? 'completed' : d.requeue ? 'requeued' : 'failed'
      // A synchronous call (BPL async="0") waits for this message: tell it how it ended. A
      // requeued message is not ended: its reply comes when it is.
      if (env.replyTo !== undefined && outcome !== 'requeued')
        this.ctx.callReplies?.send(env.replyTo, {
          outcome: outcome === 'completed' ? 'completed' : outcome,
          ...(got.reply !== undefined ? { response: got.reply } : {}),
          ...(!d.ack && d.error !== '' ? { error: d.error } : {}),
        })
      return d
    } finally {
      hold.stop()
      if (held !== undefined) {
        this.#held.delete(held.queueMessageId)
        if (held.waiters !== undefined) for (const w of held.waiters) w(outcome)
      }
    }
  }

  async #handle(
    env: Envelope,
    hold: VisibilityKeeper,
    held: Held | undefined,
    got: { reply?: string },
  ): Promise<Disposition> {
    const { path } = this.ctx
    // MSA-2 must equal this body's MSH-10, which the envelope already carries (the hand-off and
    // `forward` peeked it); peeking the header again on every hop only re-read the same field.
    const controlId =
      env.format !== 'json' && typeof env.messageId === 'string'
        ? env.messageId
        : peekHeader(env.raw).controlId
    const started = Date.now()
    path.hopLater(env.sessionId, env.storeId, env.source, this.name, 'processing')
    let attempt = 0
    // AlertOnError while retrying: one alert per message, once its errors outlast the grace.
    let retryAlerted = false
    for (;;) {
      if (this.stopping) {
        return { ack: false, requeue: true, delayMs: 0, error: 'operation stopped during delivery' }
      }
      if (held?.abortReason !== undefined) return this.#abort(env, held)
      attempt++
      if (held !== undefined) {
        held.attempts = attempt
        held.phase = 'delivering'
        held.nextAttemptAt = null
      }
      let decision: ReplyDecision
      let detail: string | undefined
      try {
        const d = await this.deliver(env, this.signal)
        detail = d.detail
        if (d.reply !== undefined) got.reply = d.reply
        else delete got.reply
        if (d.reply === undefined) {
          decision = {
            retry: false,
            warn: false,
            outcome: 'complete',
            ackCode: '',
            reason: 'delivered',
          }
        } else {
          decision = ackActionFor(this.#actions, d.reply, { controlId })
        }
      } catch (e) {
        decision = { retry: true, warn: false, outcome: 'fail', ackCode: '', reason: errorText(e) }
      }
      if (decision.warn)
        this.logger.warn({ sessionId: env.sessionId, reason: decision.reason }, 'reply warning')
      const elapsed = (Date.now() - started) / 1000
      const { retryInterval, failureTimeout } = this.timing
      // Aborted during an attempt that is to be retried: end it now rather than wait.
      if (decision.retry && held?.abortReason !== undefined && !this.stopping) {
        held.lastError = decision.reason
        return this.#abort(env, held)
      }
      if (
        decision.retry &&
        !this.stopping &&
        (failureTimeout < 0 || elapsed + retryInterval <= failureTimeout)
      ) {
        // The first failed attempt is a warning (the event log shows a receiver that is down);
        // the attempts after it, every RetryInterval, are information.
        this.logger[attempt === 1 ? 'warn' : 'info'](
          {
            sessionId: env.sessionId,
            attempt,
            reason: decision.reason,
            retryInSeconds: retryInterval,
          },
          'delivery will be retried',
        )
        if (
          this.#alertOnError &&
          !retryAlerted &&
          Date.now() - started >= this.#alertRetryGraceMs
        ) {
          retryAlerted = true
          this.ctx.alert(
            this.name,
            `retrying since ${new Date(started).toISOString()} (attempt ${attempt}): ${decision.reason}`,
            env.sessionId,
          )
        }
        if (attempt === 1)
          path.hopLater(
            env.sessionId,
            env.storeId,
            this.name,
            this.name,
            'sent',
            `retrying: ${decision.reason}`,
          )
        hold.start()
        if (held === undefined) await sleep(retryInterval * 1000, this.signal)
        else {
          held.phase = 'retrying'
          held.lastError = decision.reason
          held.nextAttemptAt = Date.now() + retryInterval * 1000
          held.wake = new AbortController()
          await this.#retryWait(held, retryInterval * 1000)
          held.wake = undefined
        }
        continue
      }
      if (decision.retry && this.stopping) {
        return {
          ack: false,
          requeue: true,
          delayMs: 0,
          error: `operation stopped while retrying: ${decision.reason}`,
        }
      }
      return this.#finish(env, decision, detail, started)
    }
  }

  /**
   * The wait between retries: ends early when the host stops or an operator aborts the message
   * here, and checks at least once a second for an abort asked through the queue (by another
   * engine process sharing a Redis queue, whose API the operator happened to call).
   */
  async #retryWait(held: Held, ms: number): Promise<void> {
    const { queue } = this.ctx
    const until = Date.now() + ms
    for (;;) {
      const reason = await this.#queuedCancel(held)
      if (reason !== null) {
        held.abortReason ??= reason
        return
      }
      const left = until - Date.now()
      if (left <= 0 || this.stopping || held.abortReason !== undefined) return
      await sleep(
        queue.cancelRequest === undefined ? left : Math.min(left, 1000),
        this.signal,
        held.wake?.signal,
      )
      if (this.stopping || held.abortReason !== undefined) return
    }
  }

  /** A cancel request for `held` recorded in the queue, or null (also when it cannot be read). */
  async #queuedCancel(held: Held): Promise<string | null> {
    const { queue } = this.ctx
    if (queue.cancelRequest === undefined) return null
    try {
      return await queue.cancelRequest(this.name, held.queueMessageId)
    } catch (e) {
      // Redis down: the retries go on; an abort asked meanwhile is seen at a later check.
      this.logger.warn(
        { err: errorText(e), queueMessage: held.queueMessageId },
        'could not read abort requests from the queue',
      )
      return null
    }
  }

  /**
   * End a held message an operator aborted: acknowledged off the queue (not dead-lettered), its
   * branch recorded as failed with the reason, the session settled.
   */
  async #abort(env: Envelope, held: Held): Promise<Disposition> {
    held.aborted = true
    this.logger.warn(
      { sessionId: env.sessionId, queueMessage: held.queueMessageId, attempts: held.attempts },
      'message aborted by operator',
    )
    await settleAborted(this.ctx.path, this.ctx.metrics, env, this.name, held.abortReason ?? '')
    // The request through the queue (if that is how it came) is done with.
    const { queue } = this.ctx
    if (queue.clearCancel !== undefined) {
      await queue.clearCancel(this.name, held.queueMessageId).catch((e: unknown) => {
        this.logger.warn(
          { err: errorText(e), queueMessage: held.queueMessageId },
          'could not clear the abort request (it expires by itself)',
        )
      })
    }
    return { ack: true }
  }

  async #finish(
    env: Envelope,
    decision: ReplyDecision,
    detail: string | undefined,
    started: number,
  ): Promise<Disposition> {
    const { path, metrics } = this.ctx
    const code = decision.ackCode === '' ? '' : `${decision.ackCode}: `
    switch (decision.outcome) {
      case 'complete': {
        metrics?.recordMessageSent(this.name, detail ?? this.name)
        const bytes = Buffer.byteLength(env.raw)
        metrics?.recordMessageSize(this.name, 'out', bytes)
        if (this.#archiveIO) {
          this.logger.info(
            {
              sessionId: env.sessionId,
              messageId: env.messageId,
              bytes,
              ackCode: decision.ackCode,
              detail,
            },
            'ArchiveIO: message delivered',
          )
        }
        metrics?.recordProcessingTime(this.name, (Date.now() - started) / 1000)
        path.hopLater(
          env.sessionId,
          env.storeId,
          env.source,
          this.name,
          'completed',
          `${code}${decision.reason}`,
        )
        await path.settle(env, 'completed')
        return { ack: true }
      }
      case 'suspend':
      case 'fail': {
        const text = `${decision.outcome === 'suspend' ? 'suspended' : 'failed'}: ${code}${decision.reason}`
        this.noteError(text)
        metrics?.recordMessageFailed(
          this.name,
          decision.ackCode === '' ? 'transport' : decision.ackCode,
        )
        this.logger.error(
          { sessionId: env.sessionId, reason: decision.reason },
          'delivery ' + decision.outcome,
        )
        if (this.#alertOnError) this.ctx.alert(this.name, text, env.sessionId)
        path.hopLater(env.sessionId, env.storeId, env.source, this.name, 'failed', text)
        await path.settle(env, 'failed', { host: this.name, error: text })
        return { ack: false, requeue: false, error: text }
      }
      case 'disable': {
        const text = `disabled by ReplyCodeActions: ${code}${decision.reason}`
        this.logger.error(
          { sessionId: env.sessionId, reason: decision.reason },
          'operation disabled by reply',
        )
        this.ctx.alert(this.name, text, env.sessionId)
        path.hopLater(env.sessionId, env.storeId, env.source, this.name, 'queued', text)
        // Keep the message queued; disabling waits for this worker, so it runs after we return.
        this.haltIntake()
        setImmediate(() => {
          this.disable().then(
            () => this.fail(text),
            (e: unknown) => this.logger.error({ err: errorText(e) }, 'disable failed'),
          )
        })
        return { ack: false, requeue: true, delayMs: 0, error: text }
      }
    }
  }
}
