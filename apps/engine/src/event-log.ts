/**
 * The event log of `li-engine run` (IRIS: the Event Log of a production): the engine's recent
 * warnings and errors (a receiver that refuses connections, a message NAKed, an alert, a host
 * that failed to start), kept in memory and served by `GET /api/events`, so that an integration
 * team can see why an interface is unhappy without access to the pod logs.
 *
 * It is a pino destination: `li-engine run` writes its log to stdout and, from warn up, here too.
 * It keeps the newest `capacity` entries (default 10,000); each field's text is cut to 1,000
 * characters. The engine logs no message body or patient field above debug, so neither does this.
 *
 * What it does not do: survive a restart (the pod log and its shipping are the history), or hold
 * what the log level does not let through (`--log-level error` keeps warnings out).
 */

/** One entry of the event log. */
export interface EventEntry {
  /** ms since the epoch. */
  time: number
  level: 'warn' | 'error' | 'fatal'
  msg: string
  /** The item the entry is about, when the line names one. */
  host?: string
  /** The other fields of the log line (err, sessionId, alert, ...), without pino's own. */
  fields: Record<string, unknown>
}

/** A filter of `EventLog.entries`. */
export interface EventFilter {
  /** The lowest level to return; default `warn`. */
  level?: EventEntry['level']
  host?: string
  /** Entries at or after this time (ms since the epoch). */
  since?: number
  /** Entries before this time (ms since the epoch): the next page of a previous answer. */
  before?: number
  /** At most this many, newest first; default 100. */
  limit?: number
}

const LEVELS: Record<number, EventEntry['level']> = { 40: 'warn', 50: 'error', 60: 'fatal' }
const RANK: Record<EventEntry['level'], number> = { warn: 40, error: 50, fatal: 60 }
/** pino's own fields, not repeated in `fields`. */
const OWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'app', 'host', 'v'])
const MAX_TEXT = 1000

/** Cut long texts (and nested ones) so that one entry stays small. */
function trimmed(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return v.length > MAX_TEXT ? `${v.slice(0, MAX_TEXT)}…` : v
  if (v === null || typeof v !== 'object' || depth > 3) return v
  if (Array.isArray(v)) return v.slice(0, 20).map((x) => trimmed(x, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>).slice(0, 30))
    out[k] = trimmed(x, depth + 1)
  return out
}

/** The newest warnings and errors of the engine's log, in memory. */
export class EventLog {
  readonly capacity: number
  readonly #ring: (EventEntry | undefined)[]
  #next = 0
  #size = 0

  constructor(capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`EventLog capacity must be a positive integer, got ${capacity}`)
    }
    this.capacity = capacity
    this.#ring = new Array<EventEntry | undefined>(capacity)
  }

  /** pino destination: one JSON log line (lines below warn, or not JSON, are ignored). */
  write(line: string): void {
    let o: Record<string, unknown>
    try {
      o = JSON.parse(line) as Record<string, unknown>
    } catch {
      return
    }
    const level = LEVELS[typeof o.level === 'number' ? o.level : 0]
    if (level === undefined) return
    const fields: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(o)) if (!OWN.has(k)) fields[k] = trimmed(v)
    const entry: EventEntry = {
      time: typeof o.time === 'number' ? o.time : Date.now(),
      level,
      msg: typeof o.msg === 'string' ? (trimmed(o.msg) as string) : '',
      fields,
    }
    if (typeof o.host === 'string') entry.host = o.host
    this.#ring[this.#next] = entry
    this.#next = (this.#next + 1) % this.capacity
    this.#size = Math.min(this.#size + 1, this.capacity)
  }

  /** How many entries it holds. */
  get size(): number {
    return this.#size
  }

  /** The entries that match, newest first. */
  entries(filter: EventFilter = {}): EventEntry[] {
    const min = RANK[filter.level ?? 'warn']
    const limit = filter.limit ?? 100
    const out: EventEntry[] = []
    for (let i = 1; i <= this.#size && out.length < limit; i++) {
      const e = this.#ring[(this.#next - i + this.capacity) % this.capacity]
      if (e === undefined) continue
      if (filter.since !== undefined && e.time < filter.since) break
      if (filter.before !== undefined && e.time >= filter.before) continue
      if (RANK[e.level] < min) continue
      if (filter.host !== undefined && e.host !== filter.host) continue
      out.push(e)
    }
    return out
  }
}
