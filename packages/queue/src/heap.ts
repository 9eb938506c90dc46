/** A binary min-heap for the memory backend (ready by priority+sequence, delayed and in flight by time). */
export class Heap<T> {
  readonly #items: T[] = []
  readonly #less: (a: T, b: T) => boolean

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less
  }

  /** Number of entries. */
  get size(): number {
    return this.#items.length
  }

  /** The smallest entry, without removing it. */
  peek(): T | undefined {
    return this.#items[0]
  }

  /** Adds an entry. */
  push(item: T): void {
    const a = this.#items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }

  /**
   * Keeps only the entries for which `keep` returns true, then restores the heap order (O(n)).
   * Used to drop stale entries that would otherwise stay until they reach the top.
   */
  retain(keep: (item: T) => boolean): void {
    const a = this.#items
    let n = 0
    for (let i = 0; i < a.length; i++) {
      const item = a[i]!
      if (keep(item)) a[n++] = item
    }
    a.length = n
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  #down(start: number): void {
    const a = this.#items
    let i = start
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && this.#less(a[l]!, a[m]!)) m = l
      if (r < a.length && this.#less(a[r]!, a[m]!)) m = r
      if (m === i) break
      ;[a[i], a[m]] = [a[m]!, a[i]!]
      i = m
    }
  }

  /** Removes and returns the smallest entry. */
  pop(): T | undefined {
    const a = this.#items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      this.#down(0)
    }
    return top
  }
}
