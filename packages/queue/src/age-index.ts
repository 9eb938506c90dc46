/**
 * The oldest live message of a memory-backend queue, for `stats` (oldest age), without scanning
 * the queue. Messages are added in send order and their enqueue times are the sender's clock, so
 * they almost always arrive non-decreasing: those go to a FIFO list that stays sorted, and its
 * head is the oldest. The few that do not (a dead letter redriven with its original time, a send
 * after the wall clock stepped back) go to a small min-heap beside it.
 *
 * Entries of messages that are gone (acked, dead-lettered) are not removed when they go: `oldest`
 * drops them once they reach the front (O(1) amortised from the list, O(log n) from the heap),
 * and `compact` drops them all once they outnumber the live ones, so nothing gone is kept alive
 * by the index when nobody asks for the oldest. What it does not do: count, or know which
 * messages are live; the caller says (`gone`) and keeps the live count.
 */
import { Heap } from './heap.js'

/** What the index needs of a message record. */
export interface AgeIndexed {
  /** Enqueue time, ms since epoch; never changes while the record is indexed. */
  readonly enqueuedAt: number
  /** Whether the index holds this record (set and cleared by the index only). */
  indexed: boolean
}

/** Front entries popped from the list before its array is shifted down (amortised O(1)). */
const SHIFT_AFTER = 4096

/** Oldest-first index of live records; see the module header. */
export class AgeIndex<T extends AgeIndexed> {
  readonly #gone: (item: T) => boolean
  /** Records in non-decreasing enqueuedAt from `#head`. */
  #list: T[] = []
  #head = 0
  /** The largest enqueuedAt ever appended to the list (it stays sorted by appending at or above it). */
  #last = -Infinity
  readonly #late = new Heap<T>((a, b) => a.enqueuedAt < b.enqueuedAt)

  /** `gone(item)`: whether the record's message was acked or dead-lettered. */
  constructor(gone: (item: T) => boolean) {
    this.#gone = gone
  }

  /** Entries held, live and gone; for tests of the memory bound. */
  get size(): number {
    return this.#list.length - this.#head + this.#late.size
  }

  /** Adds a record that is live (new, or back from the dead letters) unless it is still held. */
  add(item: T): void {
    if (item.indexed) return
    item.indexed = true
    if (item.enqueuedAt >= this.#last) {
      this.#last = item.enqueuedAt
      this.#list.push(item)
    } else {
      this.#late.push(item)
    }
  }

  /** The smallest enqueuedAt of a live record, or null when none is held. */
  oldest(): number | null {
    const list = this.#list
    while (this.#head < list.length && this.#gone(list[this.#head]!)) {
      list[this.#head]!.indexed = false
      this.#head++
    }
    if (this.#head >= SHIFT_AFTER && 2 * this.#head >= list.length) {
      list.splice(0, this.#head)
      this.#head = 0
    }
    for (
      let top = this.#late.peek();
      top !== undefined && this.#gone(top);
      top = this.#late.peek()
    ) {
      this.#late.pop()
      top.indexed = false
    }
    const a = this.#head < list.length ? list[this.#head]!.enqueuedAt : null
    const b = this.#late.peek()?.enqueuedAt ?? null
    if (a === null) return b
    return b === null || a <= b ? a : b
  }

  /**
   * Drops every entry of a gone record once the index holds more than `2 * live + slack`
   * entries (O(entries), so amortised O(1) per record gone).
   */
  compact(live: number, slack: number): void {
    if (this.size <= 2 * live + slack) return
    const keep = (item: T): boolean => {
      if (!this.#gone(item)) return true
      item.indexed = false
      return false
    }
    const kept: T[] = []
    for (let i = this.#head; i < this.#list.length; i++) {
      const item = this.#list[i]!
      if (keep(item)) kept.push(item)
    }
    this.#list = kept
    this.#head = 0
    this.#late.retain(keep)
  }
}
