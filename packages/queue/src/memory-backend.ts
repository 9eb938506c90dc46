/**
 * The in-process backend: the embedded default when no Redis is configured. Same state machine and
 * semantics as the Redis backend (the shared contract suite runs against both), held in memory, so
 * everything is lost when the process exits. Expiry of visibility timeouts and promotion of delayed
 * messages happen lazily on each receive, as in the Redis scripts.
 *
 * Memory budget: bodies held in memory (all queues of the backend, waiting, in flight and dead)
 * are kept under `memoryLimitBytes`; a body that would go over it is appended to a spill segment
 * (spill-store.ts) and its record keeps only (segment, offset, length). The bodies spilled are the
 * newest arrivals, not the oldest waiting ones: the head of a FIFO queue is what consumers take
 * next, so it stays in memory, a body is written once and never moved, and the choice is one
 * comparison per send. A spilled body is read back (one synchronous pread, from the page cache
 * while the backlog fits in it) each time it is delivered or listed as a dead letter, and released
 * on ack or drop. Spill files are not durable and need no fsync: this backend never kept anything
 * across a process exit (the engine's write-ahead log does).
 *
 * Browse and remove: `browse` pages through the in-flight, ready and delayed heaps (Heap.pageAfter)
 * and the send-ordered list of keyed messages blocked behind their key's head, without popping;
 * `remove` takes a waiting or dead record out at once (its heap entries go stale, as after an ack)
 * and releases its body, spilled or not.
 */
/* eslint-disable @typescript-eslint/require-await -- implements the async QueueBackend synchronously */
import type {
  BackendOptions,
  BackendReceiveResult,
  BackendSendItem,
  BackendStats,
  QueueBackend,
} from './backend.js'
import { AgeIndex } from './age-index.js'
import { isAfter } from './browse-cursor.js'
import type { BrowseCursor } from './browse-cursor.js'
import { QueueError } from './errors.js'
import { Heap } from './heap.js'
import { SPILL_SEGMENT_BYTES, SpillStore } from './spill-store.js'
import type { SpillSegment } from './spill-store.js'
import type {
  DeadLetter,
  DeliveryRecord,
  NackOutcome,
  QueueMessage,
  QueuedMessageInfo,
  RemovedMessage,
  RemoveResult,
} from './types.js'

type State = 'ready' | 'delayed' | 'inflight' | 'dormant' | 'dead'

interface Rec {
  id: string
  /** The body, or '' while it is spilled (`seg` set) or after the message is gone. */
  payload: string
  /** Spill segment holding the body, or null when the body is in `payload`. */
  seg: SpillSegment | null
  /** Byte offset and length of the body in `seg`. */
  off: number
  len: number
  /**
   * Bytes of the headers (JSON) right after the body in `seg`, while `headers` is NO_HEADERS;
   * 0 when the headers are in `headers`.
   */
  hlen: number
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
  /** Failed deliveries, oldest first; null until the first (most messages never fail). */
  history: DeliveryRecord[] | null
  state: State
  /** Bumped on every state change; heap entries with an older generation are stale. */
  gen: number
  deadAt: number
  /** Whether `MemoryQueueState.byAge` holds this record (set by the AgeIndex). */
  indexed: boolean
}

interface Entry {
  rec: Rec
  gen: number
  /**
   * Time for delayed/in-flight heaps; the ready score (readyScore) in the ready heap; the send
   * sequence in the blocked list. Fixed when the entry is made: it is the entry's browse score.
   */
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
  /** Live records oldest first, for `stats` (oldest not acked); gone ones are dropped lazily. */
  readonly byAge = new AgeIndex<Rec>((rec) => rec.state === 'dead')
  /**
   * Keyed messages waiting behind the head of their key ('dormant'), in send-sequence order (a
   * record becomes dormant only when sent or redriven, with the newest sequence), for `browse`.
   * Entries of records that left that state are dropped lazily (`blockedHead`, compaction).
   */
  blocked: Entry[] = []
  blockedHead = 0
  /** Records in state 'dormant' (live entries of `blocked`). */
  dormant = 0
}

/** Score of a ready message, as the Redis ready set's: higher priority first, then send order. */
function readyScore(rec: Rec): number {
  return -rec.priority * 1_000_000_000_000 + rec.seq
}

const EXPIRED_ERROR = 'visibility timeout expired before ack'

/**
 * Stale entries a heap may hold beyond twice its live ones before it is compacted. An ack or a
 * nack leaves the delivery's in-flight entry behind (lazy deletion); with the engine's in-process
 * visibility timeout (a year) such an entry never reaches the top, and it kept the whole message
 * (payload, headers, history) alive for the life of the process.
 */
const STALE_SLACK = 256

/** Headers of a spilled message whose headers went to the spill file with its body (shared). */
const NO_HEADERS: Record<string, string> = Object.freeze({})

/** Default memory budget for message bodies, all queues of a backend together: 64 MiB. */
export const DEFAULT_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024

/**
 * After a failed spill write, bodies stay in memory without trying the disk for this long, so a
 * full disk costs one failed write (and one `spillError`) per second, not one per send.
 */
const SPILL_RETRY_MS = 1000

/** Memory budget and spill settings of a MemoryBackend. */
export interface MemoryBackendOptions {
  /** Most body bytes (string length) held in memory; the rest is spilled. Default 64 MiB. */
  memoryLimitBytes?: number
  /** Base directory of the spill run directory; '' (default) means os.tmpdir(). */
  spillDirectory?: string
  /** Size at which a spill segment is closed and a new one started; default 64 MiB. */
  segmentBytes?: number
  /** Receives spill errors that did not fail the call (write failures, cleanup failures). */
  onSpillError?: (error: QueueError) => void
}

/** In-process QueueBackend. */
export class MemoryBackend implements QueueBackend {
  readonly #opts: BackendOptions
  readonly #limit: number
  readonly #spill: SpillStore
  readonly #onSpillError: (error: QueueError) => void
  /** Body bytes (string length) held in memory, all queues. */
  #memBytes = 0
  /** Bodies spilled and not yet released. */
  #spilled = 0
  /** No spill write before this time (ms since epoch): the last one failed. */
  #spillRetryAt = 0
  readonly #queues = new Map<string, MemoryQueueState>()
  /**
   * Deliveries made by this backend; each receipt is `r<n>`, unique per delivery for the life of
   * the process (which is the life of the messages). A `randomBytes(6)` nonce per receive was
   * 4.5% of the engine's CPU in bench/path-profile.mjs (PoolSize 8).
   */
  #deliveries = 0
  /** Cancel requests by `queue \0 id`: reason and expiry (ms since epoch). */
  readonly #cancels = new Map<string, { reason: string; expiresAt: number }>()
  /** Markers (setMarker) by queue and name, with their expiry. */
  readonly #markers = new Map<string, { value: string; expiresAt: number }>()

  constructor(opts: BackendOptions, memory: MemoryBackendOptions = {}) {
    this.#opts = opts
    this.#limit = memory.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES
    this.#onSpillError = memory.onSpillError ?? (() => {})
    this.#spill = new SpillStore(
      memory.spillDirectory ?? '',
      memory.segmentBytes ?? SPILL_SEGMENT_BYTES,
      (e) => this.#onSpillError(e),
    )
  }

  /** Removes spill directories left under the same base by a run that is gone (a crash). */
  async start(): Promise<void> {
    this.#spill.removeStale()
  }

  /** Deletes this run's spill files: every spilled body is gone, as is everything in memory. */
  async stop(): Promise<void> {
    this.#spill.close()
  }

  /** Body bytes in memory, bodies spilled, spill segments open and the run directory; for tests. */
  spillStats(): {
    memoryBytes: number
    spilledBodies: number
    segments: number
    directory: string | null
  } {
    return {
      memoryBytes: this.#memBytes,
      spilledBodies: this.#spilled,
      segments: this.#spill.segmentCount,
      directory: this.#spill.directory,
    }
  }

  /**
   * Writes the bodies of `recs` (over the memory budget) to a spill segment; on failure they stay
   * in memory, counted against the budget, and the error goes to onSpillError (never thrown: the
   * send itself succeeded).
   */
  #spillOut(queue: string, recs: Rec[], now: number): void {
    if (now >= this.#spillRetryAt) {
      try {
        // Each body is followed by its headers as JSON ('' when there are none): a backlog's
        // headers are as long-lived as its bodies, and an engine's session id header is a rope
        // of several strings (~250 bytes per message on the heap).
        const parts: string[] = []
        for (const r of recs) {
          parts.push(r.payload, Object.keys(r.headers).length > 0 ? JSON.stringify(r.headers) : '')
        }
        const locs = this.#spill.write(parts, 2, queue)
        for (let i = 0; i < recs.length; i++) {
          const rec = recs[i]!
          const loc = locs[2 * i]!
          rec.seg = loc.segment
          rec.off = loc.offset
          rec.len = loc.length
          rec.hlen = locs[2 * i + 1]!.length
          rec.headers = NO_HEADERS
          rec.payload = ''
          // A backlog keeps its ids for long: crypto.randomUUID() returns a rope of ~14
          // concatenated pieces (450 bytes in a heap snapshot); reading a character flattens it
          // in place to one 36-byte string. Only here: in-budget messages are few and short-lived.
          rec.id.charCodeAt(0)
        }
        this.#spilled += recs.length
        return
      } catch (e) {
        this.#spillRetryAt = now + SPILL_RETRY_MS
        this.#onSpillError(e as QueueError)
      }
    }
    for (const rec of recs) this.#memBytes += rec.payload.length
  }

  /** The body of `rec`, read back from its spill segment if it is there (throws QUEUE_SPILL_READ_FAILED). */
  #body(rec: Rec): string {
    return rec.seg === null ? rec.payload : this.#spill.read(rec.seg, rec.off, rec.len)
  }

  /** A copy of the headers of `rec`, read back from its spill segment if they are there (throws QUEUE_SPILL_READ_FAILED). */
  #headers(rec: Rec): Record<string, string> {
    if (rec.hlen === 0 || rec.seg === null) return { ...rec.headers }
    return JSON.parse(this.#spill.read(rec.seg, rec.off + rec.len, rec.hlen)) as Record<
      string,
      string
    >
  }

  /** Forgets the body of a message that is gone (acked or dropped). */
  #release(rec: Rec): void {
    if (rec.seg !== null) {
      this.#spill.release(rec.seg)
      rec.seg = null
      this.#spilled--
    } else {
      this.#memBytes -= rec.payload.length
    }
    rec.payload = ''
  }

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
  heapEntries(queue: string): {
    ready: number
    delayed: number
    flight: number
    oldest: number
    blocked: number
  } {
    const q = this.#q(queue)
    return {
      ready: q.ready.size,
      delayed: q.delayed.size,
      flight: q.flight.size,
      oldest: q.byAge.size,
      blocked: q.blocked.length - q.blockedHead,
    }
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
      q.ready.push({ rec, gen: rec.gen, at: readyScore(rec) })
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
    if (next !== undefined && next.state === 'dormant') {
      q.dormant--
      this.#place(q, next, now)
      this.#compactBlocked(q)
    }
  }

  /** Records a keyed message that waits behind the head of its key (state 'dormant'). */
  #block(q: MemoryQueueState, rec: Rec): void {
    q.blocked.push({ rec, gen: rec.gen, at: rec.seq })
    q.dormant++
  }

  /** `keep`: dead-letter even when dead letters are disabled (a spilled body that cannot be read). */
  #deadLetter(q: MemoryQueueState, rec: Rec, now: number, keep = false): NackOutcome {
    q.live.delete(rec.id)
    this.#advanceKey(q, rec, now)
    this.#setState(rec, 'dead')
    q.byAge.compact(q.live.size, STALE_SLACK)
    if (this.#opts.deadLetterEnabled || keep) {
      rec.deadAt = now
      q.dead.set(rec.id, rec)
      return 'dead-lettered'
    }
    this.#release(rec)
    return 'dropped'
  }

  async send(queue: string, items: BackendSendItem[]): Promise<void> {
    const q = this.#q(queue)
    const now = Date.now()
    let over: Rec[] | null = null
    for (const it of items) {
      if (q.live.has(it.id) || q.dead.has(it.id)) continue
      const rec: Rec = {
        id: it.id,
        payload: it.payload,
        seg: null,
        off: 0,
        len: 0,
        hlen: 0,
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
        history: null,
        state: 'dormant',
        gen: 0,
        deadAt: 0,
        indexed: false,
      }
      const size = it.payload.length
      if (this.#memBytes + size <= this.#limit) this.#memBytes += size
      else (over ??= []).push(rec)
      q.live.set(rec.id, rec)
      q.byAge.add(rec)
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
        else this.#block(q, rec)
      }
    }
    if (over !== null) this.#spillOut(queue, over, now)
  }

  /** Makes delayed messages that are due ready. */
  #promote(q: MemoryQueueState, now: number): void {
    for (let e = q.delayed.peek(); e !== undefined && e.at <= now; e = q.delayed.peek()) {
      q.delayed.pop()
      if (e.gen !== e.rec.gen || e.rec.state !== 'delayed') continue
      this.#setState(e.rec, 'ready')
      q.ready.push({ rec: e.rec, gen: e.rec.gen, at: readyScore(e.rec) })
    }
  }

  async receive(queue: string, max: number): Promise<BackendReceiveResult> {
    const q = this.#q(queue)
    const now = Date.now()
    const deadLettered: BackendReceiveResult['deadLettered'] = []
    this.#promote(q, now)
    // Take back deliveries whose visibility timeout ran out.
    for (let e = q.flight.peek(); e !== undefined && e.at <= now; e = q.flight.peek()) {
      q.flight.pop()
      const rec = e.rec
      if (e.gen !== rec.gen || rec.state !== 'inflight') continue
      q.inFlight--
      ;(rec.history ??= []).push({
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
        q.ready.push({ rec, gen: rec.gen, at: readyScore(rec) })
      }
    }
    const messages: QueueMessage[] = []
    while (messages.length < max) {
      const e = q.ready.pop()
      if (e === undefined) break
      const rec = e.rec
      if (e.gen !== rec.gen || rec.state !== 'ready') continue
      let payload = rec.payload
      let headers: Record<string, string>
      if (rec.seg === null) {
        headers = { ...rec.headers }
      } else {
        try {
          payload = this.#body(rec)
          headers = this.#headers(rec)
        } catch (err) {
          // The body is not in memory and cannot be read: not a delivery, and not a reason to
          // jam the queue behind it or to lose the record. It goes to the dead letters with the
          // reason (even when they are disabled); redrive tries the read again.
          const error = (err as Error).message
          rec.lastError = error
          this.#deadLetter(q, rec, now, true)
          deadLettered.push({ id: rec.id, error, dropped: false })
          this.#onSpillError(err as QueueError)
          continue
        }
      }
      rec.attempts++
      rec.receipt = `r${++this.#deliveries}`
      rec.deliveredAt = now
      this.#setState(rec, 'inflight')
      q.inFlight++
      q.flight.push({ rec, gen: rec.gen, at: now + this.#opts.visibilityTimeoutMs })
      messages.push({
        id: rec.id,
        queue,
        payload,
        headers,
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
      this.#release(rec)
      this.#advanceKey(q, rec, now)
      return true
    })
    this.#compactFlight(q)
    q.byAge.compact(q.live.size, STALE_SLACK)
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
    ;(rec.history ??= []).push({
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

  /**
   * Live and in-flight counts and the oldest enqueuedAt of a live message, from the queue's
   * AgeIndex: O(1) amortised (it scanned every live record before: 21-60 ms per call with
   * 1,000,000 queued, and the engine calls it per host on every metrics scrape).
   */
  async stats(queue: string): Promise<BackendStats> {
    const q = this.#q(queue)
    return {
      live: q.live.size,
      inFlight: q.inFlight,
      oldestEnqueuedAt: q.byAge.oldest(),
      now: Date.now(),
    }
  }

  async deadLetterCount(queue: string): Promise<number> {
    return this.#q(queue).dead.size
  }

  async deadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = []
    for (const rec of this.#q(queue).dead.values()) {
      if (out.length >= limit) break
      out.push({
        ...this.#fields(queue, rec),
        deadLetteredAt: rec.deadAt,
        history: rec.history === null ? [] : rec.history.map((h) => ({ ...h })),
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
      q.byAge.add(rec)
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
        else this.#block(q, rec)
      }
    }
    return ids.length
  }

  /**
   * A page of `browse`: each section is walked from the cursor in its own ordered structure (the
   * in-flight, ready and delayed heaps through Heap.pageAfter, the blocked list by binary
   * search), so a first page costs O(limit log n) however deep the queue. A later page also walks
   * the part of its section's heap before the cursor (one comparison per entry, nothing copied
   * but indices); see the README for the figures. Bodies are read back from spill files only with
   * `payloads`; headers spilled with their body are read back (small reads, usually one 256 KiB
   * read-ahead per ~75 messages).
   */
  async browse(
    queue: string,
    after: BrowseCursor | null,
    limit: number,
    payloads: boolean,
  ): Promise<{ messages: QueuedMessageInfo[]; next: BrowseCursor | null }> {
    const q = this.#q(queue)
    const now = Date.now()
    this.#promote(q, now)
    const want = limit + 1
    const rows: { rec: Rec; section: number; score: number }[] = []
    const id = (e: Entry): string => e.rec.id
    const score = (e: Entry): number => e.at
    for (let section = after?.section ?? 0; section < 4 && rows.length < want; section++) {
      const from = after !== null && after.section === section ? after : null
      const n = want - rows.length
      let page: Entry[]
      if (section === 0) {
        page = q.flight.pageAfter(from, n, score, id, (e) => this.#is(e, 'inflight'))
      } else if (section === 1) {
        page = q.ready.pageAfter(from, n, score, id, (e) => this.#is(e, 'ready'))
      } else if (section === 2) {
        page = []
        const list = q.blocked
        let lo = q.blockedHead
        let hi = list.length
        while (from !== null && lo < hi) {
          const mid = (lo + hi) >> 1
          if (isAfter(list[mid]!.at, list[mid]!.rec.id, from)) hi = mid
          else lo = mid + 1
        }
        for (let i = lo; i < list.length && page.length < n; i++) {
          if (this.#is(list[i]!, 'dormant')) page.push(list[i]!)
        }
      } else {
        page = q.delayed.pageAfter(from, n, score, id, (e) => this.#is(e, 'delayed'))
      }
      for (const e of page) rows.push({ rec: e.rec, section, score: e.at })
    }
    let next: BrowseCursor | null = null
    if (rows.length > limit) {
      rows.length = limit
      const last = rows[limit - 1]!
      next = { section: last.section, score: last.score, id: last.rec.id }
    }
    const messages = rows.map(({ rec, section, score: at }): QueuedMessageInfo => {
      let headers: Record<string, string>
      let payload: string | undefined
      try {
        headers = this.#headers(rec)
        if (payloads) payload = this.#body(rec)
      } catch (e) {
        throw new QueueError(
          'QUEUE_SPILL_READ_FAILED',
          `browse of queue ${queue}: message ${rec.id} cannot be listed: ${(e as Error).message} Receive dead-letters it with this reason; browse again after that.`,
          { cause: e },
        )
      }
      const delayed = section === 3 || (section === 2 && rec.due > now)
      const info: QueuedMessageInfo = {
        id: rec.id,
        queue,
        state: section === 0 ? 'in-flight' : delayed ? 'delayed' : 'ready',
        headers,
        priority: rec.priority,
        orderingKey: rec.key === '' ? null : rec.key,
        attempts: rec.attempts,
        enqueuedAt: rec.enqueuedAt,
        dueAt: section === 0 ? at : delayed ? rec.due : null,
        lastError: rec.lastError,
        payloadSize: rec.seg === null ? Buffer.byteLength(rec.payload, 'utf8') : rec.len,
      }
      if (payload !== undefined) info.payload = payload
      return info
    })
    return { messages, next }
  }

  /** Whether heap or list entry `e` is current and its record is in `state`. */
  #is(e: Entry, state: State): boolean {
    return e.gen === e.rec.gen && e.rec.state === state
  }

  /**
   * Removes a waiting (ready, delayed, or blocked behind its key) or dead message. Its body and
   * headers are read first: if a spilled body cannot be read, QUEUE_SPILL_READ_FAILED is thrown
   * and nothing changes. Synchronous, so no receive of this backend can interleave.
   */
  async setCancel(queue: string, id: string, reason: string, ttlMs: number): Promise<void> {
    const now = Date.now()
    // Expired requests are dropped here, so the map holds only the ones in force.
    if (this.#cancels.size >= 1024) {
      for (const [k, v] of this.#cancels) if (v.expiresAt <= now) this.#cancels.delete(k)
    }
    this.#cancels.set(`${queue}\0${id}`, { reason, expiresAt: now + ttlMs })
  }

  async getCancel(queue: string, id: string): Promise<string | null> {
    if (this.#cancels.size === 0) return null
    const key = `${queue}\0${id}`
    const c = this.#cancels.get(key)
    if (c === undefined) return null
    if (c.expiresAt <= Date.now()) {
      this.#cancels.delete(key)
      return null
    }
    return c.reason
  }

  async setMarker(queue: string, name: string, value: string, ttlMs: number): Promise<void> {
    const now = Date.now()
    // Expired markers are dropped here, so the map holds about those in force.
    if (this.#markers.size >= 100_000) {
      for (const [k, v] of this.#markers) if (v.expiresAt <= now) this.#markers.delete(k)
    }
    this.#markers.set(`${queue}\0${name}`, { value, expiresAt: now + ttlMs })
  }

  async getMarker(queue: string, name: string): Promise<string | null> {
    const key = `${queue}\0${name}`
    const m = this.#markers.get(key)
    if (m === undefined) return null
    if (m.expiresAt <= Date.now()) {
      this.#markers.delete(key)
      return null
    }
    return m.value
  }

  async clearCancel(queue: string, id: string): Promise<boolean> {
    const key = `${queue}\0${id}`
    const c = this.#cancels.get(key)
    this.#cancels.delete(key)
    return c !== undefined && c.expiresAt > Date.now()
  }

  async remove(queue: string, id: string): Promise<RemoveResult> {
    const q = this.#q(queue)
    const now = Date.now()
    const rec = q.live.get(id)
    if (rec !== undefined) {
      if (rec.state === 'inflight') return { outcome: 'in-flight' }
      const message = this.#removed(queue, rec)
      q.live.delete(id)
      if (rec.state === 'dormant') q.dormant--
      // A head (ready or delayed) lets the next message of its key go; a blocked one just leaves.
      this.#advanceKey(q, rec, now)
      this.#setState(rec, 'dead')
      this.#release(rec)
      q.byAge.compact(q.live.size, STALE_SLACK)
      this.#compactWaiting(q)
      return { outcome: 'removed', from: 'waiting', message }
    }
    const dead = q.dead.get(id)
    if (dead !== undefined) {
      const message = this.#removed(queue, dead)
      q.dead.delete(id)
      this.#release(dead)
      return { outcome: 'removed', from: 'dead', message }
    }
    return { outcome: 'not-found' }
  }

  /** A message's fields with its body and headers (a spilled body is read back). */
  #fields(queue: string, rec: Rec): RemovedMessage {
    return {
      id: rec.id,
      queue,
      payload: this.#body(rec),
      headers: this.#headers(rec),
      priority: rec.priority,
      orderingKey: rec.key === '' ? null : rec.key,
      attempts: rec.attempts,
      enqueuedAt: rec.enqueuedAt,
      lastError: rec.lastError,
    }
  }

  /** What `remove` hands back for `rec` (reads a spilled body; throws QUEUE_SPILL_READ_FAILED). */
  #removed(queue: string, rec: Rec): RemovedMessage {
    try {
      return this.#fields(queue, rec)
    } catch (e) {
      throw new QueueError(
        'QUEUE_SPILL_READ_FAILED',
        `remove of message ${rec.id} from queue ${queue} refused, the message stays: ${(e as Error).message}`,
        { cause: e },
      )
    }
  }

  /**
   * Drops entries of removed messages from the ready and delayed heaps and the blocked list once
   * they outnumber the live ones (amortised O(1) per removal), so removed records are not kept.
   */
  #compactWaiting(q: MemoryQueueState): void {
    const bound = 2 * q.live.size + STALE_SLACK
    if (q.ready.size > bound) q.ready.retain((e) => this.#is(e, 'ready'))
    if (q.delayed.size > bound) q.delayed.retain((e) => this.#is(e, 'delayed'))
    this.#compactBlocked(q)
  }

  /** Drops blocked-list entries of records no longer dormant, from the front or all at once. */
  #compactBlocked(q: MemoryQueueState): void {
    const list = q.blocked
    while (q.blockedHead < list.length && !this.#is(list[q.blockedHead]!, 'dormant')) {
      q.blockedHead++
    }
    if (
      list.length - q.blockedHead > 2 * q.dormant + STALE_SLACK ||
      (q.blockedHead >= 4096 && 2 * q.blockedHead >= list.length)
    ) {
      q.blocked = list.slice(q.blockedHead).filter((e) => this.#is(e, 'dormant'))
      q.blockedHead = 0
    }
  }
}
