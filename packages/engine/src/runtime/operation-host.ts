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
import type { QueueMessageLike } from './ports.js'
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
  readonly timing: OperationTiming

  constructor(
    item: ProductionItem,
    ctx: HostContext,
    defaults: { replyCodeActions?: string; failureTimeout?: number } = {},
  ) {
    super(item, ctx)
    this.settings = new ItemSettings(item)
    this.#archiveIO = this.settings.boolean('ArchiveIO', false)
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

  protected override async handle(env: Envelope, m?: QueueMessageLike): Promise<Disposition> {
    // While the message is held for retries, its queue visibility is extended (a shared Redis
    // queue would otherwise redeliver it elsewhere after the visibility timeout).
    const hold = new VisibilityKeeper(this.ctx.queue, m, this.ctx.queueVisibilityMs, this.logger)
    try {
      return await this.#handle(env, hold)
    } finally {
      hold.stop()
    }
  }

  async #handle(env: Envelope, hold: VisibilityKeeper): Promise<Disposition> {
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
    for (;;) {
      if (this.stopping) {
        return { ack: false, requeue: true, delayMs: 0, error: 'operation stopped during delivery' }
      }
      attempt++
      let decision: ReplyDecision
      let detail: string | undefined
      try {
        const d = await this.deliver(env, this.signal)
        detail = d.detail
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
      if (
        decision.retry &&
        !this.stopping &&
        (failureTimeout < 0 || elapsed + retryInterval <= failureTimeout)
      ) {
        this.logger.info(
          {
            sessionId: env.sessionId,
            attempt,
            reason: decision.reason,
            retryInSeconds: retryInterval,
          },
          'delivery will be retried',
        )
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
        await sleep(retryInterval * 1000, this.signal)
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
        if (this.settings.boolean('AlertOnError', false))
          this.ctx.alert(this.name, text, env.sessionId)
        path.hopLater(env.sessionId, env.storeId, env.source, this.name, 'failed', text)
        await path.settle(env, 'failed')
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
