/**
 * The in-process backend: the embedded default when no Redis is configured. Same state machine and
 * semantics as the Redis backend (the shared contract suite runs against both), held in memory, so
 * everything is lost when the process exits. Expiry of visibility timeouts and promotion of delayed
 * messages happen lazily on each receive, as in the Redis scripts.
 */
/* eslint-disable @typescript-eslint/require-await -- implements the async QueueBackend synchronously */
import type {
  BackendOptions,
  BackendReceiveResult,
  BackendSendItem,
  BackendStats,
  QueueBackend,
} from './backend.js'
import { Heap } from './heap.js'
import type { DeadLetter, DeliveryRecord, NackOutcome, QueueMessage } from './types.js'

type State = 'ready' | 'delayed' | 'inflight' | 'dormant' | 'dead'

interface Rec {
  id: string
  payload: string
  headers: Record<string, string>
  priority: number
  key: string
  enqueuedAt: number
  seq: number
  due: number
  attempts: number
  receipt: string
  deliveredAt: number
  lastError: string | null
  history: DeliveryRecord[]
  state: State
  /** Bumped on every state change; heap entries with an older generation are stale. */
  gen: number
  deadAt: number
}

interface Entry {
  rec: Rec
  gen: number
  /** Time for delayed/in-flight heaps; unused in the ready heap. */
  at: number
}

class MemoryQueueState {
  seq = 0
  readonly live = new Map<string, Rec>()
  readonly dead = new Map<string, Rec>()
  readonly keys = new Map<string, string[]>()
  inFlight = 0
  readonly ready = new Heap<Entry>((a, b) =>
    a.rec.priority !== b.rec.priority ? a.rec.priority > b.rec.priority : a.rec.seq < b.rec.seq,
  )
  readonly delayed = new Heap<Entry>((a, b) => a.at < b.at)
  readonly flight = new Heap<Entry>((a, b) => a.at < b.at)
}

const EXPIRED_ERROR = 'visibility timeout expired before ack'

/**
 * Stale entries a heap may hold beyond twice its live ones before it is compacted. An ack or a
 * nack leaves the delivery's in-flight entry behind (lazy deletion); with the engine's in-process
 * visibility timeout (a year) such an entry never reaches the top, and it kept the whole message
 * (payload, headers, history) alive for the life of the process.
 */
const STALE_SLACK = 256

/** In-process QueueBackend. */
export class MemoryBackend implements QueueBackend {
  readonly #opts: BackendOptions
  readonly #queues = new Map<string, MemoryQueueState>()
  /**
   * Deliveries made by this backend; each receipt is `r<n>`, unique per delivery for the life of
   * the process (which is the life of the messages). A `randomBytes(6)` nonce per receive was
   * 4.5% of the engine's CPU in bench/path-profile.mjs (PoolSize 8).
   */
  #deliveries = 0

  constructor(opts: BackendOptions) {
    this.#opts = opts
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  #q(queue: string): MemoryQueueState {
    let q = this.#queues.get(queue)
    if (q === undefined) {
      q = new MemoryQueueState()
      this.#queues.set(queue, q)
    }
    return q
  }

  /**
   * Drops in-flight heap entries left behind by acks and nacks once they outnumber the live
   * deliveries (amortised O(1) per ack): a stale entry must not keep its message alive.
   */
  #compactFlight(q: MemoryQueueState): void {
    if (q.flight.size <= 2 * q.inFlight + STALE_SLACK) return
    q.flight.retain((e) => e.gen === e.rec.gen && e.rec.state === 'inflight')
  }

  /** Heap entries held for `queue` (live and stale); for tests of the backend's memory bound. */
  heapEntries(queue: string): { ready: number; delayed: number; flight: number } {
    const q = this.#q(queue)
    return { ready: q.ready.size, delayed: q.delayed.size, flight: q.flight.size }
  }

  #setState(rec: Rec, state: State): void {
    rec.state = state
    rec.gen++
  }

  /** Makes a message deliverable: ready now, or delayed until `rec.due`. */
  #place(q: MemoryQueueState, rec: Rec, now: number): void {
    if (rec.due > now) {
      this.#setState(rec, 'delayed')
      q.delayed.push({ rec, gen: rec.gen, at: rec.due })
    } else {
      this.#setState(rec, 'ready')
      q.ready.push({ rec, gen: rec.gen, at: 0 })
    }
  }

  /** Removes the head of a key list (the message `id`) and places the next one. */
  #advanceKey(q: MemoryQueueState, rec: Rec, now: number): void {
    if (rec.key === '') return
    const list = q.keys.get(rec.key)
    if (list === undefined) return
    const i = list.indexOf(rec.id)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) {
      q.keys.delete(rec.key)
      return
    }
    const next = q.live.get(list[0]!)
    if (next !== undefined && next.state === 'dormant') this.#place(q, next, now)
  }

  #deadLetter(q: MemoryQueueState, rec: Rec, now: number): NackOutcome {
    q.live.delete(rec.id)
    this.#advanceKey(q, rec, now)
    if (this.#opts.deadLetterEnabled) {
      this.#setState(rec, 'dead')
      rec.deadAt = now
      q.dead.set(rec.id, rec)
      return 'dead-lettered'
    }
    this.#setState(rec, 'dead')
    return 'dropped'
  }

  async send(queue: string, items: BackendSendItem[]): Promise<void> {
    const q = this.#q(queue)
    const now = Date.now()
    for (const it of items) {
      if (q.live.has(it.id) || q.dead.has(it.id)) continue
      const rec: Rec = {
        id: it.id,
        payload: it.payload,
        headers: { ...it.headers },
        priority: it.priority,
        key: it.orderingKey,
        enqueuedAt: now,
        seq: ++q.seq,
        due: now + it.delayMs,
        attempts: 0,
        receipt: '',
        deliveredAt: 0,
        lastError: null,
        history: [],
        state: 'dormant',
        gen: 0,
        deadAt: 0,
      }
      q.live.set(rec.id, rec)
      if (rec.key === '') {
        this.#place(q, rec, now)
      } else {
        let list = q.keys.get(rec.key)
        if (list === undefined) {
          list = []
          q.keys.set(rec.key, list)
        }
        list.push(rec.id)
        if (list.length === 1) this.#place(q, rec, now)
      }
    }
  }

  async receive(queue: string, max: number): Promise<BackendReceiveResult> {
    const q = this.#q(queue)
    const now = Date.now()
    const deadLettered: BackendReceiveResult['deadLettered'] = []
    // Promote delayed messages that are due.
    for (let e = q.delayed.peek(); e !== undefined && e.at <= now; e = q.delayed.peek()) {
      q.delayed.pop()
      if (e.gen !== e.rec.gen || e.rec.state !== 'delayed') continue
      this.#setState(e.rec, 'ready')
      q.ready.push({ rec: e.rec, gen: e.rec.gen, at: 0 })
    }
    // Take back deliveries whose visibility timeout ran out.
    for (let e = q.flight.peek(); e !== undefined && e.at <= now; e = q.flight.peek()) {
      q.flight.pop()
      const rec = e.rec
      if (e.gen !== rec.gen || rec.state !== 'inflight') continue
      q.inFlight--
      rec.history.push({
        attempt: rec.attempts,
        deliveredAt: rec.deliveredAt,
        endedAt: now,
        outcome: 'expired',
        error: EXPIRED_ERROR,
      })
      rec.lastError = EXPIRED_ERROR
      rec.receipt = ''
      if (rec.attempts > this.#opts.maxRetries) {
        this.#deadLetter(q, rec, now)
        deadLettered.push({ id: rec.id, error: EXPIRED_ERROR })
      } else {
        this.#setState(rec, 'ready')
        q.ready.push({ rec, gen: rec.gen, at: 0 })
      }
    }
    const messages: QueueMessage[] = []
    while (messages.length < max) {
      const e = q.ready.pop()
      if (e === undefined) break
      const rec = e.rec
      if (e.gen !== rec.gen || rec.state !== 'ready') continue
      rec.attempts++
      rec.receipt = `r${++this.#deliveries}`
      rec.deliveredAt = now
      this.#setState(rec, 'inflight')
      q.inFlight++
      q.flight.push({ rec, gen: rec.gen, at: now + this.#opts.visibilityTimeoutMs })
      messages.push({
        id: rec.id,
        queue,
        payload: rec.payload,
        headers: { ...rec.headers },
        priority: rec.priority,
        orderingKey: rec.key === '' ? null : rec.key,
        attempts: rec.attempts,
        deliveryCount: rec.attempts,
        enqueuedAt: rec.enqueuedAt,
        receipt: rec.receipt,
      })
    }
    let nextDue: number | null = null
    for (const heap of [q.delayed, q.flight]) {
      const e = heap.peek()
      if (e !== undefined && (nextDue === null || e.at < nextDue)) nextDue = e.at
    }
    return {
      messages,
      deadLettered,
      nextDueInMs: nextDue === null ? null : Math.max(0, nextDue - now),
    }
  }

  #current(q: MemoryQueueState, id: string, receipt: string): Rec | undefined {
    const rec = q.live.get(id)
    if (
      rec === undefined ||
      rec.state !== 'inflight' ||
      receipt === '' ||
      rec.receipt !== receipt
    ) {
      return undefined
    }
    return rec
  }

  async ack(queue: string, items: { id: string; receipt: string }[]): Promise<boolean[]> {
    const q = this.#q(queue)
    const now = Date.now()
    const results = items.map(({ id, receipt }) => {
      const rec = this.#current(q, id, receipt)
      if (rec === undefined) return false
      q.inFlight--
      q.live.delete(id)
      this.#setState(rec, 'dead')
      this.#advanceKey(q, rec, now)
      return true
    })
    this.#compactFlight(q)
    return results
  }

  async nack(
    queue: string,
    id: string,
    receipt: string,
    requeue: boolean,
    delayMs: number,
    error: string | null,
  ): Promise<NackOutcome | 'stale'> {
    const q = this.#q(queue)
    const now = Date.now()
    const rec = this.#current(q, id, receipt)
    if (rec === undefined) return 'stale'
    q.inFlight--
    rec.history.push({
      attempt: rec.attempts,
      deliveredAt: rec.deliveredAt,
      endedAt: now,
      outcome: 'nacked',
      error,
    })
    rec.lastError = error
    rec.receipt = ''
    this.#compactFlight(q)
    if (requeue && rec.attempts <= this.#opts.maxRetries) {
      rec.due = now + delayMs
      this.#place(q, rec, now)
      return 'requeued'
    }
    return this.#deadLetter(q, rec, now)
  }

  async extend(queue: string, id: string, receipt: string, ms: number): Promise<boolean> {
    const q = this.#q(queue)
    const rec = this.#current(q, id, receipt)
    if (rec === undefined) return false
    // A new generation: the flight entry with the old deadline is stale from now on.
    rec.gen++
    q.flight.push({ rec, gen: rec.gen, at: Date.now() + ms })
    this.#compactFlight(q)
    return true
  }

  async stats(queue: string): Promise<BackendStats> {
    const q = this.#q(queue)
    let oldest: number | null = null
    for (const rec of q.live.values()) {
      if (oldest === null || rec.enqueuedAt < oldest) oldest = rec.enqueuedAt
    }
    return { live: q.live.size, inFlight: q.inFlight, oldestEnqueuedAt: oldest, now: Date.now() }
  }

  async deadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = []
    for (const rec of this.#q(queue).dead.values()) {
      if (out.length >= limit) break
      out.push({
        id: rec.id,
        queue,
        payload: rec.payload,
        headers: { ...rec.headers },
        priority: rec.priority,
        orderingKey: rec.key === '' ? null : rec.key,
        enqueuedAt: rec.enqueuedAt,
        deadLetteredAt: rec.deadAt,
        attempts: rec.attempts,
        lastError: rec.lastError,
        history: rec.history.map((h) => ({ ...h })),
      })
    }
    return out
  }

  async redrive(queue: string, id: string | null): Promise<number> {
    const q = this.#q(queue)
    const now = Date.now()
    const ids = id === null ? [...q.dead.keys()] : q.dead.has(id) ? [id] : []
    for (const one of ids) {
      const rec = q.dead.get(one)!
      q.dead.delete(one)
      rec.attempts = 0
      rec.due = now
      rec.seq = ++q.seq
      this.#setState(rec, 'dormant')
      q.live.set(one, rec)
      if (rec.key === '') {
        this.#place(q, rec, now)
      } else {
        let list = q.keys.get(rec.key)
        if (list === undefined) {
          list = []
          q.keys.set(rec.key, list)
        }
        list.push(one)
        if (list.length === 1) this.#place(q, rec, now)
      }
    }
    return ids.length
  }
}
