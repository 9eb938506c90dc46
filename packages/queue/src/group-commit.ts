/**
 * Group commit for concurrent calls, as a WAL commits many writers with one fsync: calls for the
 * same key (a queue) made in the same event-loop turn, or while the previous group of that key is
 * still on the wire, are merged into one backend call (one Lua script, one round trip). Each
 * caller gets its own slice of the results, or the group's error.
 *
 * Groups of one key leave in arrival order, so calls apply in the order they were
 * made (a caller's unawaited `send(a)` then `send(b)` still land a before b). A caller's items are
 * never split across groups, so a batch call stays atomic. It does not retry, reorder or drop:
 * a failed group fails every call in it, exactly as each call would have failed on its own.
 *
 * Why an open group waits while one is in flight: calls arriving during a round trip wait for it
 * and then leave together (at most one extra round trip each), instead of one script each. A
 * closed group (full, or with a newer group behind it) cannot grow any more, so it leaves at once
 * beside the ones in flight, up to `window` groups per key: full batches (sendBatch/ackMany of
 * 100) are pipelined on the connection instead of each waiting a whole round trip. Order is kept
 * because groups are handed to `run` in order and one connection executes its commands in order.
 */
/**
 * Resolves once the calls made in the current cascade of callbacks have been made: a
 * process.nextTick queued from a promise continuation runs only after the whole microtask queue
 * has drained, so every worker woken by the same reply has made its next call by then. Unlike
 * setImmediate it adds no event-loop turn before a lone call leaves (in the bench the two were
 * within the run-to-run noise, nextTick slightly ahead). Calls that arrive later join the next
 * group, which leaves as soon as the current one returns.
 */
export function afterCurrentCalls(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve))
}

interface Call<R> {
  start: number
  count: number
  resolve(results: R[]): void
  reject(error: unknown): void
}

interface Group<I, R> {
  items: I[]
  calls: Call<R>[]
}

interface Lane<I, R> {
  groups: Group<I, R>[]
  /** Groups of this key whose `run` has not settled yet. */
  inFlight: number
  /** Ends the pump's wait for a settled group or a closed one; null while not waiting. */
  kick: (() => void) | null
}

/** Merges concurrent calls per key into one `run(key, items)`; see the module header. */
export class GroupCommit<I, R> {
  readonly #run: (key: string, items: I[]) => Promise<R[]>
  readonly #maxItems: number
  readonly #window: number
  readonly #lanes = new Map<string, Lane<I, R>>()
  readonly #pumps = new Set<Promise<void>>()

  /**
   * `run` must return one result per item, in order, and must issue its backend call before it
   * first awaits (so groups reach the backend in the order they leave); a group holds at most
   * `maxItems` items unless one call alone has more. Up to `window` closed groups of a key may be
   * in flight at once (pipelined on the connection); an open group waits for the one in flight.
   */
  constructor(run: (key: string, items: I[]) => Promise<R[]>, maxItems: number, window = 1) {
    this.#run = run
    this.#maxItems = maxItems
    this.#window = Math.max(1, window)
  }

  /** Queues `items` for `key`; resolves with their results once their group has run. */
  submit(key: string, items: readonly I[]): Promise<R[]> {
    return new Promise<R[]>((resolve, reject) => {
      let lane = this.#lanes.get(key)
      if (lane === undefined) {
        lane = { groups: [], inFlight: 0, kick: null }
        this.#lanes.set(key, lane)
        const pump = this.#pump(key, lane)
        this.#pumps.add(pump)
        void pump.finally(() => this.#pumps.delete(pump))
      }
      const groups = lane.groups
      let g = groups.at(-1)
      if (
        g === undefined ||
        (g.items.length > 0 && g.items.length + items.length > this.#maxItems)
      ) {
        g = { items: [], calls: [] }
        groups.push(g)
      }
      g.calls.push({ start: g.items.length, count: items.length, resolve, reject })
      for (const it of items) g.items.push(it)
      // A group that can take no more may leave now, beside the one in flight.
      if (groups.length > 1 || g.items.length >= this.#maxItems) lane.kick?.()
    })
  }

  /** Resolves when every call submitted so far has settled. */
  async drain(): Promise<void> {
    while (this.#pumps.size > 0) await Promise.allSettled([...this.#pumps])
  }

  /** Whether the head group may leave now: nothing in flight, or it is closed and the window has room. */
  #mayLeave(lane: Lane<I, R>): boolean {
    const head = lane.groups[0]
    if (head === undefined) return false
    if (lane.inFlight === 0) return true
    const closed = lane.groups.length > 1 || head.items.length >= this.#maxItems
    return closed && lane.inFlight < this.#window
  }

  async #pump(key: string, lane: Lane<I, R>): Promise<void> {
    for (;;) {
      // Let the calls made by callers woken together (by the same reply) join this group.
      await afterCurrentCalls()
      while (this.#mayLeave(lane)) {
        const g = lane.groups.shift()!
        lane.inFlight++
        void this.#runGroup(key, g).finally(() => {
          lane.inFlight--
          lane.kick?.()
        })
      }
      if (lane.groups.length === 0 && lane.inFlight === 0) break
      await new Promise<void>((resolve) => {
        lane.kick = () => {
          lane.kick = null
          resolve()
        }
      })
    }
    // No await between the empty check above and this delete: a submit cannot slip in between.
    this.#lanes.delete(key)
  }

  async #runGroup(key: string, g: Group<I, R>): Promise<void> {
    let results: R[]
    try {
      results = await this.#run(key, g.items)
    } catch (e) {
      for (const c of g.calls) c.reject(e)
      return
    }
    for (const c of g.calls) c.resolve(results.slice(c.start, c.start + c.count))
  }
}
