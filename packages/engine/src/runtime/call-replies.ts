/**
 * Replies to synchronous calls (a BPL `<call async="0">`): the process waits on a token that
 * travels in the envelope of the message it sent (`Envelope.replyTo`); the operation that ends
 * that message sends its outcome and response (the ACK) back on that token.
 *
 * In one engine the reply reaches the waiter directly. With several engines sharing Redis the
 * operation may run in another engine: a reply nobody here waits for is written to Redis (a
 * queue marker that expires after a day), and a waiter checks Redis every `pollMs` besides.
 * A reply for a process that no longer waits (it restarted and runs the message again) is
 * dropped, or expires in Redis.
 */
import { MAX_MARKER_VALUE } from '@li/queue'
import type { Logger } from 'pino'
import { BplWaitEnded } from '../iris/bpl.js'
import type { BplCallReply } from '../iris/bpl.js'
import { errorText } from './host.js'

/** Where replies are kept for other engines (Redis queue markers), if anywhere. */
export interface SharedReplies {
  get(token: string): Promise<string | null>
  set(token: string, value: string): Promise<void>
}

/** How long a reply nobody here waits for is kept in Redis. */
export const SHARED_REPLY_TTL_MS = 24 * 3600 * 1000

/** Thrown to a waiter when its wait ends without a reply: the host stopped, or the timeout passed. */
export { BplWaitEnded as CallWaitEnded } from '../iris/bpl.js'

/** Waiters and replies of synchronous calls. */
export class CallReplies {
  readonly #waiters = new Map<string, (reply: BplCallReply) => void>()
  readonly #cancels = new Map<string, (reason: string) => void>()
  readonly #shared: SharedReplies | undefined
  readonly #logger: Logger
  readonly #pollMs: number

  constructor(logger: Logger, shared?: SharedReplies, pollMs = 250) {
    this.#logger = logger
    this.#shared = shared
    this.#pollMs = pollMs
  }

  /** Calls waiting here now. */
  get waiting(): number {
    return this.#waiters.size
  }

  /**
   * Waits for the reply on `token`: register before sending the message, so that a fast reply
   * is not missed. Rejects with `CallWaitEnded` when `signal` aborts (stopped) or `timeoutMs`
   * passes.
   */
  wait(token: string, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<BplCallReply> {
    return new Promise<BplCallReply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      let poll: NodeJS.Timeout | undefined
      const end = (): void => {
        this.#waiters.delete(token)
        this.#cancels.delete(token)
        if (timer !== undefined) clearTimeout(timer)
        if (poll !== undefined) clearTimeout(poll)
        o.signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        end()
        reject(
          new BplWaitEnded('the host stopped while a synchronous call waited for its reply', true),
        )
      }
      if (o.signal?.aborted === true) {
        onAbort()
        return
      }
      this.#waiters.set(token, (reply) => {
        end()
        resolve(reply)
      })
      this.#cancels.set(token, (reason) => {
        end()
        reject(new BplWaitEnded(reason, false))
      })
      o.signal?.addEventListener('abort', onAbort, { once: true })
      if (o.timeoutMs !== undefined)
        timer = setTimeout(() => {
          end()
          reject(
            new BplWaitEnded(
              `no reply within the call's timeout of ${(o.timeoutMs ?? 0) / 1000} s`,
              false,
            ),
          )
        }, o.timeoutMs)
      const shared = this.#shared
      if (shared !== undefined) {
        const check = (): void => {
          shared.get(token).then(
            (value) => {
              if (!this.#waiters.has(token)) return
              if (value !== null) {
                this.#waiters.get(token)?.(parseReply(value))
                return
              }
              poll = setTimeout(check, this.#pollMs)
            },
            (e: unknown) => {
              this.#logger.warn({ err: errorText(e) }, 'could not read call replies from Redis')
              if (this.#waiters.has(token)) poll = setTimeout(check, this.#pollMs)
            },
          )
        }
        poll = setTimeout(check, this.#pollMs)
      }
    })
  }

  /**
   * Stops waiting on `token` (its message could not be handed over): the wait rejects with
   * `reason`, and nothing stays registered.
   */
  cancel(token: string, reason: string): void {
    this.#cancels.get(token)?.(reason)
  }

  /** Sends the reply on `token`: to the waiter here, else (several engines) through Redis. */
  send(token: string, reply: BplCallReply): void {
    const waiter = this.#waiters.get(token)
    if (waiter !== undefined) {
      waiter(reply)
      return
    }
    if (this.#shared === undefined) {
      this.#logger.debug({ token }, 'call reply with nobody waiting: dropped')
      return
    }
    let value = JSON.stringify(reply)
    if (value.length > MAX_MARKER_VALUE) {
      // Kept whole or not at all: the waiter learns how the call ended, and why there is no body.
      this.#logger.warn(
        { token, characters: reply.response?.length ?? 0 },
        'call reply too long to share through Redis: sent without its response',
      )
      const { response: _dropped, ...rest } = reply
      value = JSON.stringify({
        ...rest,
        ...(reply.outcome === 'completed' ? {} : { error: (reply.error ?? '').slice(0, 1000) }),
      })
    }
    this.#shared.set(token, value).catch((e: unknown) => {
      this.#logger.warn(
        { err: errorText(e) },
        'could not record a call reply in Redis: the process waiting for it waits until its timeout or a restart',
      )
    })
  }
}

function parseReply(value: string): BplCallReply {
  try {
    const v = JSON.parse(value) as Partial<BplCallReply>
    if (v.outcome === 'completed' || v.outcome === 'failed' || v.outcome === 'aborted')
      return {
        outcome: v.outcome,
        ...(typeof v.response === 'string' ? { response: v.response } : {}),
        ...(typeof v.error === 'string' ? { error: v.error } : {}),
      }
  } catch {
    // not a reply: reported below
  }
  return { outcome: 'failed', error: 'the reply recorded in Redis could not be read' }
}
