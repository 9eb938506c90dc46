// Item Schedule on an injectable clock (the host starts and stops at the schedule's times), the
// Foreground attribute, and alerts routed to an Ens.Alert operation (EnsLib.EMail.AlertOperation
// stand-in writing to AlertFile) over real sockets and files.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine, ScheduleClock } from '../src/index.js'
import {
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

/** A clock the test moves by hand; timers fire when it passes their time. */
class ManualClock implements ScheduleClock {
  t: number
  readonly timers: { at: number; fn: () => void; live: boolean }[] = []
  constructor(start: Date) {
    this.t = start.getTime()
  }
  now(): Date {
    return new Date(this.t)
  }
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true }
    this.timers.push(timer)
    return () => {
      timer.live = false
    }
  }
  advanceTo(d: Date): void {
    this.t = d.getTime()
    for (const timer of this.timers.splice(0)) {
      if (!timer.live) continue
      if (timer.at <= this.t) timer.fn()
      else this.timers.push(timer)
    }
  }
}

describe('Schedule, Foreground and Ens.Alert', () => {
  let engine: Engine
  let dir: string
  let out: string
  // Monday 2026-11-23 18:00 local time: outside office hours.
  const clock = new ManualClock(new Date(2026, 10, 23, 18, 0))

  beforeAll(async () => {
    out = await tempDir('sched')
    ;({ engine, dir } = await startEngine(
      [
        {
          ...tcpService('Office', 'Down', 1),
          schedule: 'START:WEEK-*-T08:00:00,STOP:WEEK-*-T17:00:00',
        },
        { ...tcpService('Named', 'Down', 2), schedule: '@Office', foreground: true },
        // Nothing listens on port 1: deliveries fail at once and AlertOnError raises an alert.
        tcpOperation('Down', 1, { ConnectTimeout: 1 }, { FailureTimeout: 0, AlertOnError: 1 }),
        {
          name: 'Ens.Alert',
          className: 'EnsLib.EMail.AlertOperation',
          host: { AlertFile: path.join(out, 'alerts.jsonl') },
        },
      ],
      {
        freePorts: ['Office', 'Named'],
        config: {
          clock,
          schedules: { Office: 'START:WEEK-*-T08:00:00,STOP:WEEK-*-T17:00:00' },
        },
      },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it('an item outside its Schedule is not started; it starts and stops at the schedule times', async () => {
    expect(engine.getHost('Office')?.state).toBe('CREATED')
    expect(engine.getHost('Named')?.state).toBe('CREATED')
    clock.advanceTo(new Date(2026, 10, 24, 8, 0, 1)) // Tuesday 08:00:01
    await waitFor(() => engine.getHost('Office')?.state === 'RUNNING', 'Office running')
    await waitFor(() => engine.getHost('Named')?.state === 'RUNNING', 'Named running')
    clock.advanceTo(new Date(2026, 10, 24, 17, 0, 1)) // Tuesday 17:00:01
    await waitFor(() => engine.getHost('Office')?.state === 'STOPPED', 'Office stopped')
    clock.advanceTo(new Date(2026, 10, 25, 8, 0, 1)) // Wednesday 08:00:01
    await waitFor(() => engine.getHost('Office')?.state === 'RUNNING', 'Office running again')
  })

  it('an AlertOnError alert is routed to Ens.Alert, which records it in its AlertFile', async () => {
    await waitFor(() => engine.getHost('Office')?.state === 'RUNNING', 'Office running')
    expect(msaCode(await sendMllp(portOf(engine, 'Office'), hl7('ADT^A01', 'AL-1')))).toBe('AA')
    const line = await waitFor(async () => {
      const t = await readFile(path.join(out, 'alerts.jsonl'), 'utf8').catch(() => '')
      return t.split('\n').find((l) => l.includes('"Down"'))
    }, 'the alert in AlertFile')
    const alert = JSON.parse(line) as Record<string, string>
    expect(alert.SourceConfigName).toBe('Down')
    expect(alert.AlertText).toMatch(/failed/)
    // Alerts travel as messages: stored, with Ens.Alert as the target.
    const { records } = await engine.store.query({ hostName: 'Down', limit: 20 })
    expect(records.some((r) => r.payload.includes('"AlertText"'))).toBe(true)
  })
})
