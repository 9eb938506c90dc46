/**
 * IRIS item schedules (the `Schedule` attribute of an `<Item>`): a comma-separated list of events
 * `START:<date>T<time>` / `STOP:<date>T<time>`, where `<date>` is `YYYY-MM-DD` (any part may be
 * `*`) or `WEEK-<d>` (`d` = day of the week, 0 = Sunday … 6 = Saturday, or `*` = every day), and
 * `<time>` is `hh:mm:ss` (or `hh:mm`). Example: `START:WEEK-*-T08:00:00,STOP:WEEK-*-T17:00:00`.
 * A value that starts with `@` names a schedule spec (IRIS keeps those in its Schedule Specs
 * table, outside the production): the Engine resolves it from its `schedules` config.
 *
 * Times are the engine host's local time, as IRIS uses the server's. `scheduleStateAt` answers
 * whether the item should be running at an instant (the latest event at or before it wins; before
 * any event in the last 400 days it is running), and `nextScheduleEvent` when the next event is.
 * It does not start or stop anything: the Engine's scheduler does, on an injectable clock.
 */
import { EngineError } from '../errors.js'

/** One event of a schedule. */
export interface ScheduleEvent {
  action: 'START' | 'STOP'
  /** Four-digit year or undefined for `*`. */
  year?: number
  /** 1–12 or undefined for `*`. */
  month?: number
  /** 1–31 or undefined for `*`. */
  day?: number
  /** 0 (Sunday) – 6 when the event is weekly (`WEEK-d`); undefined for `WEEK-*` or a date form. */
  weekday?: number
  /** Whether the event is in the `WEEK-` form. */
  weekly: boolean
  hour: number
  minute: number
  second: number
}

/** A parsed schedule string. */
export interface Schedule {
  text: string
  events: ScheduleEvent[]
}

/**
 * Parse an IRIS schedule string (not a `@name`: resolve names first).
 * @example parseSchedule('START:WEEK-*-T08:00:00,STOP:WEEK-*-T17:00:00')
 */
export function parseSchedule(text: string, where = 'Schedule'): Schedule {
  const events: ScheduleEvent[] = []
  for (const part of text.split(',')) {
    const p = part.trim()
    if (p === '') continue
    const m = /^(START|STOP)\s*:\s*(.+?)-?T(\d{1,2}|\*):(\d{1,2}|\*)(?::(\d{1,2}|\*))?$/i.exec(p)
    if (m === null) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `${where}: event "${p}" is not of the form START|STOP:YYYY-MM-DDThh:mm:ss or START|STOP:WEEK-d-Thh:mm:ss`,
      )
    }
    const [, action = '', date = '', hh = '', mm = '', ss] = m
    const num = (v: string | undefined, lo: number, hi: number, what: string): number => {
      if (v === undefined || v === '*') return lo
      const n = Number(v)
      if (!Number.isInteger(n) || n < lo || n > hi)
        throw new EngineError('ENGINE_INVALID_SETTING', `${where}: ${what} "${v}" in "${p}"`)
      return n
    }
    const ev: ScheduleEvent = {
      action: action.toUpperCase() as 'START' | 'STOP',
      weekly: false,
      hour: num(hh, 0, 23, 'hour'),
      minute: num(mm, 0, 59, 'minute'),
      second: num(ss, 0, 59, 'second'),
    }
    const week = /^WEEK-(\*|\d{1,2})$/i.exec(date)
    if (week !== null) {
      ev.weekly = true
      if (week[1] !== '*') ev.weekday = num(week[1], 0, 6, 'day of the week')
    } else {
      const d = /^(\*|\d{4})-(\*|\d{1,2})-(\*|\d{1,2})$/.exec(date)
      if (d === null) {
        throw new EngineError(
          'ENGINE_INVALID_SETTING',
          `${where}: date "${date}" in "${p}" is neither YYYY-MM-DD (parts may be *) nor WEEK-d`,
        )
      }
      if (d[1] !== '*') ev.year = num(d[1], 1900, 9999, 'year')
      if (d[2] !== '*') ev.month = num(d[2], 1, 12, 'month')
      if (d[3] !== '*') ev.day = num(d[3], 1, 31, 'day')
    }
    events.push(ev)
  }
  if (events.length === 0)
    throw new EngineError('ENGINE_INVALID_SETTING', `${where}: "${text}" has no START/STOP event`)
  return { text, events }
}

function dayMatches(ev: ScheduleEvent, d: Date): boolean {
  if (ev.weekly) return ev.weekday === undefined || ev.weekday === d.getDay()
  return (
    (ev.year === undefined || ev.year === d.getFullYear()) &&
    (ev.month === undefined || ev.month === d.getMonth() + 1) &&
    (ev.day === undefined || ev.day === d.getDate())
  )
}

/** The instants (local time) the schedule's events fire on one calendar day, sorted. */
function eventsOnDay(s: Schedule, day: Date): { at: number; action: 'START' | 'STOP' }[] {
  const out: { at: number; action: 'START' | 'STOP' }[] = []
  for (const ev of s.events) {
    if (!dayMatches(ev, day)) continue
    const at = new Date(
      day.getFullYear(),
      day.getMonth(),
      day.getDate(),
      ev.hour,
      ev.minute,
      ev.second,
    ).getTime()
    out.push({ at, action: ev.action })
  }
  // On a tie, STOP sorts after START: the later-listed intent (stop) wins for the same second.
  return out.sort(
    (a, b) => a.at - b.at || (a.action === b.action ? 0 : a.action === 'START' ? -1 : 1),
  )
}

const DAY = 86_400_000

function midnight(t: number): Date {
  const d = new Date(t)
  return new Date(d.getFullYear(), d.getMonth(), d.getDate())
}

/** Whether the item should be running at `now`: the action of the latest event at or before it. */
export function scheduleStateAt(s: Schedule, now: Date): 'START' | 'STOP' {
  const t = now.getTime()
  for (let back = 0; back <= 400; back++) {
    const day = midnight(t - back * DAY)
    const evs = eventsOnDay(s, day).filter((e) => e.at <= t)
    const last = evs[evs.length - 1]
    if (last !== undefined) return last.action
  }
  return 'START'
}

/** The next event strictly after `now` (within 400 days), or undefined. */
export function nextScheduleEvent(
  s: Schedule,
  now: Date,
): { at: Date; action: 'START' | 'STOP' } | undefined {
  const t = now.getTime()
  for (let ahead = 0; ahead <= 400; ahead++) {
    const day = midnight(t + ahead * DAY)
    const next = eventsOnDay(s, day).find((e) => e.at > t)
    if (next !== undefined) return { at: new Date(next.at), action: next.action }
  }
  return undefined
}

/** A clock the scheduler reads and sleeps on; tests pass a manual one. */
export interface ScheduleClock {
  now(): Date
  /** Call `fn` after `ms` (ms may be large); returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void
}

/** The real clock. Long waits are cut into 1-hour steps (setTimeout's limit is ~24.8 days). */
export const systemClock: ScheduleClock = {
  now: () => new Date(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, Math.min(ms, 3_600_000)))
    t.unref()
    return () => clearTimeout(t)
  },
}
