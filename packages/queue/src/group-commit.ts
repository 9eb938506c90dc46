/**
 * Group commit for concurrent calls, as a WAL commits many writers with one fsync: calls for the
 * same key (a queue) made in the same event-loop turn, or while the previous group of that key is
 * still on the wire, are merged into one backend call (one Lua script, one round trip). Each
 * caller gets its own slice of the results, or the group's error.
 *
 * Groups of one key run one at a time, in arrival order, so calls apply in the order they were
 * made (a caller's unawaited `send(a)` then `send(b)` still land a before b). A caller's items are
 * never split across groups, so a batch call stays atomic. It does not retry, reorder or drop:
 * a failed group fails every call in it, exactly as each call would have failed on its own.
 *
 * Why one group in flight per key: calls arriving during a round trip wait for it and then leave
 * together (at most one extra round trip each), instead of one script each; Redis runs scripts
 * one at a time anyway, so more groups in flight would mostly add per-script overhead.
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

/** Merges concurrent calls per key into one `run(key, items)`; see the module header. */
export class GroupCommit<I, R> {
  readonly #run: (key: string, items: I[]) => Promise<R[]>
  readonly #maxItems: number
  readonly #pending = new Map<string, Group<I, R>[]>()
  readonly #pumps = new Set<Promise<void>>()

  /** `run` must return one result per item, in order; a group holds at most `maxItems` items unless one call alone has more. */
  constructor(run: (key: string, items: I[]) => Promise<R[]>, maxItems: number) {
    this.#run = run
    this.#maxItems = maxItems
  }

  /** Queues `items` for `key`; resolves with their results once their group has run. */
  submit(key: string, items: readonly I[]): Promise<R[]> {
    return new Promise<R[]>((resolve, reject) => {
      let groups = this.#pending.get(key)
      if (groups === undefined) {
        groups = []
        this.#pending.set(key, groups)
        const pump = this.#pump(key, groups)
        this.#pumps.add(pump)
        void pump.finally(() => this.#pumps.delete(pump))
      }
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
    })
  }

  /** Resolves when every call submitted so far has settled. */
  async drain(): Promise<void> {
    while (this.#pumps.size > 0) await Promise.allSettled([...this.#pumps])
  }

  async #pump(key: string, groups: Group<I, R>[]): Promise<void> {
    for (;;) {
      // Let the calls made by callers woken together (by the same reply) join this group.
      await afterCurrentCalls()
      const g = groups.shift()
      if (g === undefined) break
      let results: R[]
      try {
        results = await this.#run(key, g.items)
      } catch (e) {
        for (const c of g.calls) c.reject(e)
        continue
      }
      for (const c of g.calls) c.resolve(results.slice(c.start, c.start + c.count))
    }
    // No await between the empty check above and this delete: a submit cannot slip in between.
    this.#pending.delete(key)
  }
}
