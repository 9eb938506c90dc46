/**
 * Retransmission filter of an inbound service (the LI setting `DuplicateWindow`, seconds; 0, the
 * default, turns it off).
 *
 * Why: a sender that did not get an ACK (the connection dropped, the engine was killed between
 * the WAL append and the ACK write, an ACK timeout on its side) sends the same message again, and
 * every receiver downstream then gets it twice: a second lab result filed in the EPR. With a
 * window, a message whose bytes are identical to one this service accepted (AA/CA) within the
 * last `DuplicateWindow` seconds is answered as that one was (AA/CA) and not processed again; the
 * original session's trace gets a `discarded` hop saying so.
 *
 * What counts as the same message: the exact text (SHA-256 of it), MSH-7 and MSH-10 included. A
 * sender that rebuilds the message for the resend (a new MSH-7 or MSH-10) is not caught; two
 * different messages are never taken for one another. Messages that were NAKed (bad messages)
 * are not remembered: their resends are judged again.
 *
 * Across a restart: at its first message after a start the service reads back what it stored in
 * the window (messages it accepted and the WAL resumed included), so a resend after a crash is
 * caught. With several engines on one Redis, each accepted message is also recorded there (a
 * queue marker with the window as its expiry), so a resend that reaches another engine is caught
 * too; when Redis cannot be asked the message is processed (never dropped on doubt).
 *
 * Memory: 80-100 bytes per remembered message; at most `MAX_REMEMBERED` are kept (the oldest go
 * first, a warning is logged once), i.e. about 50 MB.
 */
import { createHash } from 'node:crypto'

/** Most messages one service remembers. */
export const MAX_REMEMBERED = 500_000

/** Longest DuplicateWindow, seconds (one day). */
export const MAX_DUPLICATE_WINDOW = 86_400

/** The key of a message for the filter: SHA-256 of its text, base64. */
export function contentKey(raw: string): string {
  return createHash('sha256').update(raw).digest('base64')
}

/** What the filter remembers of an accepted message. */
export interface Remembered {
  sessionId: string
  /** When it was accepted, ms since the epoch. */
  at: number
}

/** The messages one service accepted within its window, by content key. */
export class DuplicateFilter {
  readonly windowMs: number
  readonly #max: number
  /** In insertion (acceptance) order, so the oldest are at the front. */
  readonly #seen = new Map<string, Remembered>()
  #full = false

  constructor(windowSeconds: number, max = MAX_REMEMBERED) {
    this.windowMs = windowSeconds * 1000
    this.#max = max
  }

  /** The accepted message with this key within the window, if any. */
  find(key: string, now = Date.now()): Remembered | undefined {
    const r = this.#seen.get(key)
    if (r === undefined) return undefined
    return now - r.at <= this.windowMs ? r : undefined
  }

  /**
   * Remember an accepted message (a key seen again moves to the back). Returns true the first
   * time the filter is full and had to drop messages still inside the window.
   */
  remember(key: string, sessionId: string, at = Date.now()): boolean {
    this.#seen.delete(key)
    this.#seen.set(key, { sessionId, at })
    this.#prune(at)
    if (this.#seen.size <= this.#max) return false
    for (const k of this.#seen.keys()) {
      this.#seen.delete(k)
      if (this.#seen.size <= this.#max) break
    }
    const first = !this.#full
    this.#full = true
    return first
  }

  /** Forget a key (its admission failed after it was remembered). */
  forget(key: string): void {
    this.#seen.delete(key)
  }

  /** How many messages it remembers. */
  get size(): number {
    return this.#seen.size
  }

  #prune(now: number): void {
    for (const [k, r] of this.#seen) {
      if (now - r.at <= this.windowMs) break
      this.#seen.delete(k)
    }
  }
}
