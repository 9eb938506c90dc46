/**
 * Write-behind for the message path's store calls. Each write (record, hop, state change) is held
 * for at most `windowMs`, or until `maxOps` are waiting, and then all held writes are issued in
 * call order within one tick, so that @li/store commits them in a few large transactions.
 *
 * Why: @li/store batches what is queued in one turn of the event loop, and under load a turn
 * held only a few writes (2 to 8 per commit measured with bench/path-profile.mjs, 16 senders),
 * and each commit rewrites the same index pages. Holding writes for 1 ms gives commits of 30 to
 * 60 writes. Longer windows (5 ms: 75 per commit) saved no more CPU there and raised the ACK p99,
 * because a bigger commit holds the event loop longer (better-sqlite3 is synchronous).
 *
 * What it does not do: change what is written or its order (writes reach the store in call
 * order, and reads first issue every held write, so they see them), or hold anything the ACK
 * waits for: the WAL is the durability promise, the store the audit trail. `flush()` issues the
 * held writes now (shutdown calls it through `MessagePath.idle()`).
 */
import type { StorePort } from './ports.js'

/** Options of `StoreBatcher`. */
export interface StoreBatcherOptions {
  /** Longest a write is held, ms; default 1. 0 issues writes on the next tick only. */
  windowMs?: number
  /** Issue at once when this many writes are held; default 256 (@li/store's batch size). */
  maxOps?: number
}

/** A `StorePort` that groups writes before handing them to the real store. */
export class StoreBatcher implements StorePort {
  readonly #store: StorePort
  readonly #windowMs: number
  readonly #maxOps: number
  #held: (() => void)[] = []
  #timer: NodeJS.Timeout | undefined

  constructor(store: StorePort, options: StoreBatcherOptions = {}) {
    this.#store = store
    this.#windowMs = options.windowMs ?? 1
    this.#maxOps = options.maxOps ?? 256
  }

  /** Writes held right now. */
  get held(): number {
    return this.#held.length
  }

  /** Issue every held write now, in call order. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const held = this.#held
    this.#held = []
    for (const issue of held) issue()
  }

  store(input: Parameters<StorePort['store']>[0]): Promise<{ id: string }> {
    return this.#hold(() => this.#store.store(input))
  }

  markProcessing(id: string): Promise<unknown> {
    return this.#hold(() => this.#store.markProcessing(id))
  }

  markCompleted(id: string): Promise<unknown> {
    return this.#hold(() => this.#store.markCompleted(id))
  }

  markFailed(id: string, error: string): Promise<unknown> {
    return this.#hold(() => this.#store.markFailed(id, error))
  }

  recordHop(hop: Parameters<StorePort['recordHop']>[0]): Promise<unknown> {
    return this.#hold(() => this.#store.recordHop(hop))
  }

  /** Held like the other writes (`MessageStore.supersede` finds its records in the commit). */
  supersede(input: Parameters<StorePort['supersede']>[0]): Promise<number> {
    return this.#hold(() => this.#store.supersede(input))
  }

  /**
   * Records a hop at once, ahead of the held writes: for the first hop of a record that was just
   * committed (nothing held can concern that record yet), so that a reader who sees the record
   * also sees it.
   */
  recordHopNow(hop: Parameters<StorePort['recordHop']>[0]): Promise<unknown> {
    return this.#store.recordHop(hop)
  }

  get(id: string): ReturnType<StorePort['get']> {
    this.flush()
    return this.#store.get(id)
  }

  query(query: Parameters<StorePort['query']>[0]): ReturnType<StorePort['query']> {
    this.flush()
    return this.#store.query(query)
  }

  /**
   * Holds a hop that nobody waits for: no promise for the caller, a failure goes to `onError`.
   * The message path records about five hops per message without waiting for them; a promise
   * and two closures less for each was measurable in bench/path-profile.mjs (GC, microtasks).
   */
  recordHopQuietly(
    hop: Parameters<StorePort['recordHop']>[0],
    onError: (e: unknown) => void,
  ): void {
    this.#held.push(() => {
      try {
        this.#store.recordHop(hop).catch(onError)
      } catch (e) {
        onError(e)
      }
    })
    this.#schedule()
  }

  #hold<T>(write: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#held.push(() => {
        try {
          write().then(resolve, reject)
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)))
        }
      })
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#held.length >= this.#maxOps) this.flush()
    else this.#timer ??= setTimeout(this.#flushNow, this.#windowMs)
  }

  readonly #flushNow = (): void => this.flush()
}
