import { describe, expect, it } from 'vitest'
import { nextScheduleEvent, parseSchedule, scheduleStateAt } from './schedule.js'

// Local times (the schedule uses the engine host's local time, as IRIS uses the server's).
const at = (y: number, mo: number, d: number, h: number, mi = 0): Date =>
  new Date(y, mo - 1, d, h, mi)

describe('IRIS schedules', () => {
  it('parses WEEK and date forms, with * parts', () => {
    const s = parseSchedule('START:WEEK-*-T08:00:00,STOP:WEEK-*-T17:00:00')
    expect(s.events).toHaveLength(2)
    expect(s.events[0]).toMatchObject({ action: 'START', weekly: true, hour: 8 })
    expect(parseSchedule('STOP:2026-12-25T00:00:00').events[0]).toMatchObject({
      year: 2026,
      month: 12,
      day: 25,
    })
    expect(parseSchedule('START:*-*-01T06:30').events[0]).toMatchObject({ day: 1, minute: 30 })
  })

  it('rejects what it cannot read, naming the event', () => {
    expect(() => parseSchedule('GO:WEEK-*-T08:00:00')).toThrow(/event "GO:WEEK/)
    expect(() => parseSchedule('START:WEEK-9-T08:00:00')).toThrow(/day of the week "9"/)
    expect(() => parseSchedule('START:WEEK-*-T25:00:00')).toThrow(/hour "25"/)
  })

  it('is running between START and STOP on the days it names', () => {
    // Weekdays 08:00–17:00 (Monday = 1 … Friday = 5), stopped on weekends.
    const s = parseSchedule(
      [1, 2, 3, 4, 5].map((d) => `START:WEEK-${d}-T08:00:00,STOP:WEEK-${d}-T17:00:00`).join(','),
    )
    expect(scheduleStateAt(s, at(2026, 11, 23, 9))).toBe('START') // Monday 09:00
    expect(scheduleStateAt(s, at(2026, 11, 23, 18))).toBe('STOP') // Monday 18:00
    expect(scheduleStateAt(s, at(2026, 11, 24, 7))).toBe('STOP') // Tuesday 07:00
    expect(scheduleStateAt(s, at(2026, 11, 28, 12))).toBe('STOP') // Saturday noon
    expect(nextScheduleEvent(s, at(2026, 11, 27, 18))).toEqual({
      at: at(2026, 11, 30, 8), // Friday evening → Monday 08:00
      action: 'START',
    })
  })
})
