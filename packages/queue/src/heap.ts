/** A binary min-heap for the memory backend (ready by priority+sequence, delayed and in flight by time). */
export class Heap<T> {
  readonly #items: T[] = []
  readonly #less: (a: T, b: T) => boolean

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less
  }

  /** A heap of `items` (taken over, not copied), ordered in O(n). */
  static from<T>(items: T[], less: (a: T, b: T) => boolean): Heap<T> {
    const h = new Heap<T>(less)
    for (const it of items) h.#items.push(it)
    for (let i = (items.length >> 1) - 1; i >= 0; i--) h.#down(i)
    return h
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

  /**
   * Keyset paging without popping: up to `n` entries that `keep` accepts, in (score, id) order,
   * strictly after `after` (null: from the smallest). `score(item)` must never decrease from a
   * parent to its children (the heap's own order, or a coarser one); ties are ordered by `id`.
   * Cost: one comparison per entry whose score is at most `after.score` (the part of the heap
   * before the cursor, walked depth first; only indices are held), plus O((n + ties) log n) for the
   * page itself. A first page is O(n log n) however large the heap.
   */
  pageAfter(
    after: { score: number; id: string } | null,
    n: number,
    score: (item: T) => number,
    id: (item: T) => string,
    keep: (item: T) => boolean,
  ): T[] {
    const a = this.#items
    const out: T[] = []
    if (a.length === 0 || n <= 0) return out
    // Frontier, smallest score first: whole subtrees after the cursor's score ('expand'), and
    // single entries with the cursor's score and a larger id (their subtrees are walked below).
    type Node = { i: number; s: number; expand: boolean }
    const roots: Node[] = []
    if (after === null) {
      roots.push({ i: 0, s: score(a[0]!), expand: true })
    } else {
      // Subtrees wholly after the cursor's score, as (index, score) pairs: a page deep in a heap
      // filled in order has ~half the heap here, so no object per subtree.
      const at: number[] = []
      const sc: number[] = []
      const keptScores: number[] = []
      const stack = [0]
      while (stack.length > 0) {
        const i = stack.pop()!
        if (i >= a.length) continue
        const s = score(a[i]!)
        if (s > after.score) {
          at.push(i)
          sc.push(s)
          if (keep(a[i]!)) keptScores.push(s)
          continue
        }
        if (s === after.score && id(a[i]!) > after.id) roots.push({ i, s, expand: false })
        stack.push(2 * i + 1, 2 * i + 2)
      }
      // With n kept roots of score <= t, no entry of the page scores above t, and each entry's
      // root scores at most its own: the other subtrees are left out (ties of t all stay in).
      const limit =
        keptScores.length > n ? nthSmallest(Float64Array.from(keptScores), n - 1) : Infinity
      for (let k = 0; k < at.length; k++) {
        if (sc[k]! <= limit) roots.push({ i: at[k]!, s: sc[k]!, expand: true })
      }
    }
    const front = Heap.from(roots, (x: Node, y: Node) => x.s < y.s)
    while (out.length < n) {
      const first = front.peek()
      if (first === undefined) break
      // All entries of the smallest score (children can share it), then ordered by id.
      const s = first.s
      const group: T[] = []
      for (let e = front.peek(); e !== undefined && e.s === s; e = front.peek()) {
        front.pop()
        const item = a[e.i]!
        if (keep(item)) group.push(item)
        if (!e.expand) continue
        for (let c = 2 * e.i + 1; c <= 2 * e.i + 2 && c < a.length; c++) {
          front.push({ i: c, s: score(a[c]!), expand: true })
        }
      }
      group.sort((x, y) => (id(x) < id(y) ? -1 : id(x) > id(y) ? 1 : 0))
      for (const item of group) {
        if (out.length >= n) break
        out.push(item)
      }
    }
    return out
  }
}

/** The k-th smallest (0-based) of `v`, which it reorders (quickselect, O(length) on average). */
function nthSmallest(v: Float64Array, k: number): number {
  let lo = 0
  let hi = v.length - 1
  while (lo < hi) {
    const pivot = v[(lo + hi) >> 1]!
    let i = lo
    let j = hi
    while (i <= j) {
      while (v[i]! < pivot) i++
      while (v[j]! > pivot) j--
      if (i <= j) {
        const t = v[i]!
        v[i] = v[j]!
        v[j] = t
        i++
        j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return v[k]!
  }
  return v[k]!
}
