/**
 * An in-memory `StoreBackend` for unit tests of code that uses a `MessageStore` (exported from
 * `@li/store/testing`). It follows the same contract as the SQLite backend (the shared contract
 * tests run against both): batches are all-or-nothing, records are copied in and out, queries are
 * newest first with opaque cursors, purges are chunked.
 *
 * What it does not do: persist anything, or scale (queries scan every message). Not for production.
 */
import type {
  PurgeChunkRequest,
  PurgeChunkResult,
  StoreBackend,
  WriteOp,
  WriteOutcome,
} from './backend.js'
import { timeOrdered } from './backend.js'
import { StoreError } from './errors.js'
import { CONTAINS_SCAN_LIMIT } from './types.js'
import type {
  Hop,
  MessageDetail,
  MessageQuery,
  MessageRecord,
  QueryResult,
  SearchQuery,
  StateChange,
} from './types.js'

interface Entry {
  seq: number
  record: MessageRecord
  history: StateChange[]
  /** `name NUL value` of each search value. */
  search?: Set<string>
}

const CURSOR_PREFIX = 'm1.'

function copyRecord(record: MessageRecord): MessageRecord {
  const copy: MessageRecord = {
    ...record,
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
  }
  if (record.metadata !== undefined) copy.metadata = structuredClone(record.metadata)
  return copy
}

function searchMatches(entry: Entry, q: SearchQuery): boolean {
  if (entry.search === undefined) return false
  const key = `${q.name}\u0000${q.value}`
  if (q.prefix !== true) return entry.search.has(key)
  for (const k of entry.search) if (k.startsWith(key)) return true
  return false
}

function copyChange(change: StateChange): StateChange {
  return { ...change, time: new Date(change.time) }
}

/** A `StoreBackend` that keeps everything in process memory; for tests. */
export class MemoryBackend implements StoreBackend {
  #open = false
  #seq = 0
  #messages = new Map<string, Entry>()
  #hops: Hop[] = []
  /** Set to make the next `write` calls fail as a whole (to test error paths); cleared by assigning undefined. */
  failWrites: StoreError | undefined

  open(): Promise<void> {
    this.#open = true
    return Promise.resolve()
  }

  write(ops: readonly WriteOp[]): Promise<WriteOutcome[]> {
    if (!this.#open) return Promise.reject(this.#closed())
    if (this.failWrites !== undefined) return Promise.reject(this.failWrites)
    return Promise.resolve(ops.map((op) => this.#apply(op)))
  }

  get(id: string): Promise<MessageDetail | undefined> {
    if (!this.#open) return Promise.reject(this.#closed())
    const entry = this.#messages.get(id)
    if (entry === undefined) return Promise.resolve(undefined)
    return Promise.resolve({ ...copyRecord(entry.record), history: entry.history.map(copyChange) })
  }

  history(id: string): Promise<StateChange[]> {
    if (!this.#open) return Promise.reject(this.#closed())
    return Promise.resolve(this.#messages.get(id)?.history.map(copyChange) ?? [])
  }

  query(query: MessageQuery): Promise<QueryResult> {
    if (!this.#open) return Promise.reject(this.#closed())
    // As the SQLite backend: a time window without a more selective filter is ordered by
    // creation time, then id (its cursor carries both).
    const byTime = timeOrdered(query)
    let before = Number.POSITIVE_INFINITY
    let beforeTime = Number.POSITIVE_INFINITY
    if (query.cursor !== undefined) {
      const m = byTime
        ? /^t1\.(\d+)\.(\d+)$/.exec(query.cursor)
        : query.cursor.startsWith(CURSOR_PREFIX)
          ? /^(\d+)$/.exec(query.cursor.slice(CURSOR_PREFIX.length))
          : null
      if (m === null) {
        return Promise.reject(
          new StoreError(
            'STORE_INVALID_ARGUMENT',
            `query cursor ${JSON.stringify(query.cursor.slice(0, 40))} is not one this store returned for these filters`,
          ),
        )
      }
      if (byTime) {
        beforeTime = Number(m[1])
        before = Number(m[2])
      } else before = Number(m[1])
    }
    const older = (e: Entry): boolean => {
      if (!byTime) return e.seq < before
      const t = e.record.createdAt.getTime()
      return t < beforeTime || (t === beforeTime && e.seq < before)
    }
    const candidates: Entry[] = []
    for (const entry of this.#messages.values()) {
      const r = entry.record
      if (!older(entry)) continue
      if (query.hostName !== undefined && r.hostName !== query.hostName) continue
      if (query.messageType !== undefined && r.messageType !== query.messageType) continue
      if (query.state !== undefined && r.state !== query.state) continue
      if (query.correlationId !== undefined && r.correlationId !== query.correlationId) continue
      if (query.sessionId !== undefined && r.sessionId !== query.sessionId) continue
      if (query.search !== undefined && !searchMatches(entry, query.search)) continue
      if (query.since !== undefined && r.createdAt.getTime() < query.since.getTime()) continue
      if (query.until !== undefined && r.createdAt.getTime() >= query.until.getTime()) continue
      candidates.push(entry)
    }
    candidates.sort((a, b) =>
      byTime
        ? b.record.createdAt.getTime() - a.record.createdAt.getTime() || b.seq - a.seq
        : b.seq - a.seq,
    )
    const cursorOf = (e: Entry): string =>
      byTime ? `t1.${e.record.createdAt.getTime()}.${e.seq}` : `${CURSOR_PREFIX}${e.seq}`
    const text = query.contains
    if (text !== undefined) {
      // As the SQLite backend: examine at most CONTAINS_SCAN_LIMIT of the other filters' matches.
      const scanned = candidates.slice(0, CONTAINS_SCAN_LIMIT)
      const hits: Entry[] = []
      let lastExamined: Entry | undefined
      for (const e of scanned) {
        if (hits.length === query.limit) break
        lastExamined = e
        if (e.record.payload.includes(text)) hits.push(e)
      }
      const result: QueryResult = { records: hits.map((e) => copyRecord(e.record)) }
      const examinedAll = lastExamined === scanned[scanned.length - 1]
      const more = !examinedAll || candidates.length > scanned.length
      if (more && lastExamined !== undefined) result.nextCursor = cursorOf(lastExamined)
      return Promise.resolve(result)
    }
    const page = candidates.slice(0, query.limit)
    const result: QueryResult = { records: page.map((e) => copyRecord(e.record)) }
    const last = page[page.length - 1]
    if (candidates.length > query.limit && last !== undefined) result.nextCursor = cursorOf(last)
    return Promise.resolve(result)
  }

  trace(sessionId: string): Promise<Hop[]> {
    if (!this.#open) return Promise.reject(this.#closed())
    const hops = this.#hops
      .filter((h) => h.sessionId === sessionId)
      .sort((a, b) => a.time.getTime() - b.time.getTime() || Number(a.id) - Number(b.id))
      .map((h) => ({ ...h, time: new Date(h.time) }))
    return Promise.resolve(hops)
  }

  purgeChunk(request: PurgeChunkRequest): Promise<PurgeChunkResult> {
    if (!this.#open) return Promise.reject(this.#closed())
    const olderThan = request.olderThan.getTime()
    const after = request.after === undefined ? 0 : Number(request.after)
    // Examine up to `limit` messages in store order past the cursor, as the SQLite backend does.
    const scanned: Entry[] = []
    for (const entry of this.#messages.values()) {
      if (entry.seq <= after) continue
      scanned.push(entry)
      if (scanned.length === request.limit) break
    }
    const openSessions = new Set<string>()
    if (request.keepIncomplete) {
      for (const { record } of this.#messages.values()) {
        if (record.sessionId !== undefined && record.state !== 'completed')
          openSessions.add(record.sessionId)
      }
    }
    let deleted = 0
    for (const { record } of scanned) {
      if (record.createdAt.getTime() >= olderThan) continue
      if (request.keepIncomplete) {
        if (record.state !== 'completed') continue
        if (record.sessionId !== undefined && openSessions.has(record.sessionId)) continue
      }
      this.#messages.delete(record.id)
      deleted++
    }
    const last = scanned[scanned.length - 1]
    if (scanned.length === request.limit && last !== undefined) {
      return Promise.resolve({ deleted, next: String(last.seq) })
    }
    // Last chunk: drop old hops of sessions with no message left.
    const liveSessions = new Set<string>()
    for (const { record } of this.#messages.values()) {
      if (record.sessionId !== undefined) liveSessions.add(record.sessionId)
    }
    this.#hops = this.#hops.filter(
      (h) => h.time.getTime() >= olderThan || liveSessions.has(h.sessionId),
    )
    return Promise.resolve({ deleted })
  }

  close(): Promise<void> {
    this.#open = false
    return Promise.resolve()
  }

  #apply(op: WriteOp): WriteOutcome {
    switch (op.kind) {
      case 'insert': {
        const seq = ++this.#seq
        const id = String(seq)
        const record: MessageRecord = {
          id,
          hostName: op.hostName,
          messageId: op.messageId,
          payload: op.payload,
          messageType: op.messageType,
          correlationId: op.correlationId,
          state: 'received',
          createdAt: new Date(op.time),
          updatedAt: new Date(op.time),
        }
        if (op.sessionId !== undefined) record.sessionId = op.sessionId
        if (op.direction !== undefined) record.direction = op.direction
        if (op.metadata !== undefined) record.metadata = structuredClone(op.metadata)
        const entry: Entry = {
          seq,
          record,
          history: [{ state: 'received', time: new Date(op.time) }],
        }
        if (op.search !== undefined && op.search.length > 0)
          entry.search = new Set(op.search.map((s) => `${s.name}\u0000${s.value}`))
        this.#messages.set(id, entry)
        return { ok: true, id }
      }
      case 'transition': {
        const entry = this.#messages.get(op.id)
        if (entry === undefined) {
          return {
            ok: false,
            error: new StoreError(
              'STORE_NOT_FOUND',
              `cannot mark message ${JSON.stringify(op.id.slice(0, 40))} ${op.state}: no such message in the memory backend`,
            ),
          }
        }
        entry.record.state = op.state
        entry.record.updatedAt = new Date(op.time)
        const change: StateChange = { state: op.state, time: new Date(op.time) }
        if (op.error === undefined) {
          delete entry.record.error
        } else {
          entry.record.error = op.error
          change.error = op.error
        }
        entry.history.push(change)
        return { ok: true }
      }
      case 'hop': {
        const id = String(++this.#seq)
        const hop: Hop = {
          id,
          sessionId: op.sessionId,
          source: op.source,
          target: op.target,
          state: op.state,
          time: new Date(op.time),
        }
        if (op.messageId !== undefined) hop.messageId = op.messageId
        if (op.detail !== undefined) hop.detail = op.detail
        this.#hops.push(hop)
        return { ok: true, id }
      }
      case 'supersede': {
        const before = op.createdBefore?.getTime() ?? Number.POSITIVE_INFINITY
        let closed = 0
        for (const { record, history } of this.#messages.values()) {
          if (record.sessionId !== op.sessionId || record.hostName !== op.hostName) continue
          if (record.id === op.by || record.createdAt.getTime() >= before) continue
          if (op.direction !== undefined && record.direction !== op.direction) continue
          if (op.correlationId !== undefined && record.correlationId !== op.correlationId) continue
          if (record.state !== 'received' && record.state !== 'processing') continue
          record.state = 'completed'
          record.updatedAt = new Date(op.time)
          delete record.error
          history.push({ state: 'completed', time: new Date(op.time) })
          this.#hops.push({
            id: String(++this.#seq),
            sessionId: op.sessionId,
            messageId: record.id,
            source: op.hostName,
            target: op.hostName,
            state: 'completed',
            time: new Date(op.time),
            detail: op.detail,
          })
          closed++
        }
        return { ok: true, closed }
      }
    }
  }

  #closed(): StoreError {
    return new StoreError('STORE_CLOSED', 'the memory backend is not open')
  }
}
