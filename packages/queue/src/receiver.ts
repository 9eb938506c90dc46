/**
 * The long poll behind receive/receiveBatch, shared by all concurrent receives of one client on a
 * queue. Receives waiting on the same queue are served by one backend call per round (one Lua
 * script asking for the sum of their `max`, up to 100), not one call each; the messages go to
 * the waiting callers in the order they called. A caller gets only what it asked for: nothing is
 * fetched ahead of demand, so no message sits in this process without a caller while its
 * visibility timeout runs.
 *
 * When a round finds nothing, the poll sleeps 5 ms, doubling to 100 ms, bounded by the earliest
 * caller deadline and the next delayed or in-flight message's due time; a send, ack, nack or
 * redrive from this process ends the sleep at once, and so does the backend's `watch` notification
 * of another client's (Redis pub/sub; the polls remain as the fallback).
 * Before, each waiting worker polled on its own and every local send woke them all, so N idle
 * workers made N scripts per message. It does not prefetch, retry a failed call, or reorder.
 */
import type { BackendReceiveResult } from './backend.js'
import { afterCurrentCalls } from './group-commit.js'
import type { QueueMessage } from './types.js'

/** Most messages one receive call may ask for. */
export const MAX_RECEIVE = 1000
/**
 * Merged receives ask for at most this many messages per script (more only for one caller that
 * asked for more itself): like MAX_GROUP in message-queue.ts, a script of 100 runs below ~1 ms.
 */
const MERGE_LIMIT = 100
/** First poll interval after an empty round. */
const MIN_POLL_MS = 5
/** Poll interval cap, so an idle queue costs Redis ~10 calls/s per client, not per worker. */
const MAX_POLL_MS = 100

interface Waiter {
  max: number
  deadline: number
  /** Whether a backend call has been made for this waiter yet (each gets at least one). */
  tried: boolean
  resolve(messages: QueueMessage[]): void
  reject(error: unknown): void
}

interface Lane {
  waiters: Waiter[]
  /** Ends the current sleep; null while not sleeping. */
  wake: (() => void) | null
  /** A wake arrived while a backend call was out: skip the next sleep. */
  woken: boolean
}

/** Coalesces concurrent long polls per queue; see the module header. */
export class Receiver {
  readonly #fetch: (queue: string, max: number) => Promise<BackendReceiveResult>
  readonly #onResult: (queue: string, result: BackendReceiveResult) => void
  readonly #watch: (queue: string) => void
  readonly #watched = new Set<string>()
  readonly #lanes = new Map<string, Lane>()
  readonly #pumps = new Set<Promise<void>>()
  #stopped = false

  /**
   * `onResult` sees every backend result (for dead-letter events) before callers get theirs;
   * `watch(queue)` is called once, when a poll on that queue first has to wait, and should make
   * the backend call `wake(queue)` when other clients make messages ready.
   */
  constructor(
    fetch: (queue: string, max: number) => Promise<BackendReceiveResult>,
    onResult: (queue: string, result: BackendReceiveResult) => void,
    watch: (queue: string) => void,
  ) {
    this.#fetch = fetch
    this.#onResult = onResult
    this.#watch = watch
  }

  /** Up to `max` messages, waiting up to `waitMs` for at least one ([] when none came). */
  receive(queue: string, max: number, waitMs: number): Promise<QueueMessage[]> {
    return new Promise<QueueMessage[]>((resolve, reject) => {
      let lane = this.#lanes.get(queue)
      const waiter = { max, deadline: Date.now() + waitMs, tried: false, resolve, reject }
      if (lane === undefined) {
        lane = { waiters: [waiter], wake: null, woken: false }
        this.#lanes.set(queue, lane)
        const pump = this.#pump(queue, lane)
        this.#pumps.add(pump)
        void pump.finally(() => this.#pumps.delete(pump))
      } else {
        lane.waiters.push(waiter)
        // A newcomer gets a backend call at once, as a lone receive would.
        this.wake(queue)
      }
    })
  }

  /** Ends the poll sleep on `queue`: something changed there in this process. */
  wake(queue: string): void {
    const lane = this.#lanes.get(queue)
    if (lane === undefined) return
    if (lane.wake === null) lane.woken = true
    else lane.wake()
  }

  /** Waiting receives return what their current backend call brings, or []; resolves when all have. */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const q of this.#lanes.keys()) this.wake(q)
    while (this.#pumps.size > 0) await Promise.allSettled([...this.#pumps])
  }

  async #pump(queue: string, lane: Lane): Promise<void> {
    let poll = MIN_POLL_MS
    while (lane.waiters.length > 0) {
      if (this.#stopped) {
        for (const w of lane.waiters.splice(0)) w.resolve([])
        break
      }
      // Let receives made by callers woken together (by the same reply) join this round.
      await afterCurrentCalls()
      const first = lane.waiters.shift()
      if (first === undefined) continue
      const batch: Waiter[] = [first]
      let want = first.max
      const limit = Math.max(MERGE_LIMIT, first.max)
      while (lane.waiters.length > 0 && want + lane.waiters[0]!.max <= limit) {
        const w = lane.waiters.shift()!
        batch.push(w)
        want += w.max
      }
      lane.woken = false
      let r: BackendReceiveResult
      try {
        r = await this.#fetch(queue, want)
      } catch (e) {
        for (const w of batch) w.reject(e)
        continue
      }
      try {
        this.#onResult(queue, r)
      } catch (e) {
        // A throwing event listener fails this round's receives, as it failed a lone receive.
        for (const w of batch) w.reject(e)
        continue
      }
      const now = Date.now()
      const keep: Waiter[] = []
      let i = 0
      for (const w of batch) {
        w.tried = true
        const mine = r.messages.slice(i, i + w.max)
        i += mine.length
        if (mine.length > 0 || now >= w.deadline || this.#stopped) w.resolve(mine)
        else keep.push(w)
      }
      // Those still waiting called earlier than any newcomer: they stay first in line.
      lane.waiters.unshift(...keep)
      if (r.messages.length > 0) poll = MIN_POLL_MS
      if (lane.waiters.length === 0) break
      if (lane.woken || this.#stopped || lane.waiters.some((w) => !w.tried)) continue
      if (!this.#watched.has(queue)) {
        this.#watched.add(queue)
        this.#watch(queue)
      }
      let deadline = Infinity
      for (const w of lane.waiters) deadline = Math.min(deadline, w.deadline)
      const ms = Math.max(1, Math.min(poll, deadline - now, r.nextDueInMs ?? Infinity))
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms)
        function done(): void {
          clearTimeout(timer)
          lane.wake = null
          resolve()
        }
        lane.wake = done
      })
      poll = Math.min(poll * 2, MAX_POLL_MS)
    }
    // No await between the empty check above and this delete: a receive cannot slip in between.
    this.#lanes.delete(queue)
  }
}
