import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { EventLog } from './event-log.js'

describe('EventLog', () => {
  it('keeps warnings and errors of a pino log, newest first, filtered by level, host and time', () => {
    const events = new EventLog(100)
    const logger = pino(
      { level: 'info', base: { app: 'li-engine' } },
      pino.multistream([{ level: 'warn', stream: events }]),
    )
    logger.info({ host: 'PAS.In' }, 'listening')
    logger.warn({ host: 'EPR.Out', err: 'connect ECONNREFUSED 10.1.2.3:6661' }, 'delivery retried')
    logger.error({ host: 'PAS.In', err: 'WAL disk full' }, 'message not accepted')
    logger.warn({ alert: 'queue EPR.Out 1200 > QueueCountAlert 1000' }, 'alert')
    expect(events.size).toBe(3)
    const all = events.entries()
    expect(all.map((e) => e.msg)).toEqual(['alert', 'message not accepted', 'delivery retried'])
    expect(all[2]).toMatchObject({
      level: 'warn',
      host: 'EPR.Out',
      fields: { err: 'connect ECONNREFUSED 10.1.2.3:6661' },
    })
    expect(all[2]!.fields).not.toHaveProperty('app')
    expect(events.entries({ level: 'error' }).map((e) => e.msg)).toEqual(['message not accepted'])
    expect(events.entries({ host: 'EPR.Out' })).toHaveLength(1)
    expect(events.entries({ limit: 1 }).map((e) => e.msg)).toEqual(['alert'])
    const t = all[1]!.time
    expect(events.entries({ before: all[0]!.time + 1, since: t }).length).toBeGreaterThanOrEqual(2)
    expect(events.entries({ since: Date.now() + 60_000 })).toEqual([])
  })

  it('holds at most its capacity (the oldest go) and cuts long texts', () => {
    const events = new EventLog(3)
    for (let i = 1; i <= 5; i++) events.write(JSON.stringify({ level: 40, time: i, msg: `w${i}` }))
    events.write('not json')
    events.write(JSON.stringify({ level: 30, time: 6, msg: 'info is not kept' }))
    expect(events.entries().map((e) => e.msg)).toEqual(['w5', 'w4', 'w3'])
    events.write(
      JSON.stringify({ level: 50, time: 7, msg: 'x'.repeat(5000), err: 'y'.repeat(5000) }),
    )
    const [e] = events.entries({ limit: 1 })
    expect(e!.msg.length).toBeLessThanOrEqual(1001)
    expect((e!.fields.err as string).length).toBeLessThanOrEqual(1001)
    expect(() => new EventLog(0)).toThrow(RangeError)
  })
})
