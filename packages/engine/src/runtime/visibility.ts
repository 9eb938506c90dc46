/**
 * Keeps a queue message invisible to other consumers while a host holds it longer than the
 * queue's visibility timeout (an operation retrying a delivery every RetryInterval, possibly
 * forever with FailureTimeout -1). Without it, a shared Redis queue would hand the message to
 * another consumer (here or in another engine) after the timeout (300 s by default), and both
 * would deliver it in parallel.
 *
 * It extends the visibility by the full timeout at `start()` and every third of it until
 * `stop()`. Nothing runs until `start()`: a message delivered at the first attempt costs nothing.
 * When an extension fails (Redis down, or the receipt went stale because the timeout passed
 * anyway) it is logged at warn; a stale receipt ends the extensions (the message is no longer
 * this holder's).
 */
import type { Logger } from 'pino'
import { errorText } from './host.js'
import type { QueueMessageLike, QueuePort } from './ports.js'

/** The longest timer Node accepts (about 24.8 days); a longer visibility needs no extension. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Extends the visibility of one held message while started. */
export class VisibilityKeeper {
  readonly #queue: QueuePort
  readonly #message: QueueMessageLike | undefined
  readonly #visibilityMs: number | undefined
  readonly #logger: Logger
  #timer: NodeJS.Timeout | undefined
  #done = false

  /**
   * @param message the held message (undefined: nothing to keep, `start` does nothing)
   * @param visibilityMs the queue's visibility timeout, ms (undefined: unknown, nothing to keep)
   */
  constructor(
    queue: QueuePort,
    message: QueueMessageLike | undefined,
    visibilityMs: number | undefined,
    logger: Logger,
  ) {
    this.#queue = queue
    this.#message = message
    this.#visibilityMs = visibilityMs
    this.#logger = logger
  }

  /** Start extending (idempotent); a no-op without a message, a timeout, or `extendVisibility`. */
  start(): void {
    const m = this.#message
    const ms = this.#visibilityMs
    const queue = this.#queue
    if (this.#done || this.#timer !== undefined || m === undefined || ms === undefined) return
    if (queue.extendVisibility === undefined || !(ms > 0) || ms / 3 > MAX_TIMER_MS) return
    const once = (): void => {
      const extended = queue.extendVisibility?.(m, ms) ?? Promise.resolve()
      extended.catch((e: unknown) => {
        const stale =
          typeof e === 'object' &&
          e !== null &&
          (e as { code?: unknown }).code === 'QUEUE_STALE_RECEIPT'
        this.#logger.warn(
          { err: errorText(e), queueMessage: m.id },
          stale
            ? 'the visibility timeout of a held message ran out: it may be delivered elsewhere too'
            : 'could not extend the visibility of a held message; retrying at the next interval',
        )
        if (stale) this.stop()
      })
    }
    this.#timer = setInterval(once, Math.max(100, Math.floor(ms / 3)))
    this.#timer.unref()
    // At once too: the first attempt already used part of the timeout.
    once()
  }

  /** Stop extending (the message is acked, nacked or given back next). */
  stop(): void {
    this.#done = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }
}
