// AlertRetryGracePeriod with AlertOnError on an operation: a message that keeps failing raises
// one alert once its errors outlast the grace period, not one per attempt and not before.
// Real MLLP sockets; the receiver stays silent until it is told to answer.
import { afterEach, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  waitFor,
} from './helpers.js'

describe('AlertRetryGracePeriod on an operation with AlertOnError', () => {
  let engine: Engine | undefined
  let dir: string | undefined
  let peer: MllpPeer | undefined

  afterEach(async () => {
    await engine?.stop()
    await peer?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  it('alerts once per retried message, when its errors outlast the grace period', async () => {
    let answering = false
    peer = new MllpPeer((m) => (answering ? { ack: ackFor(controlIdOf(m), 'AA') } : { ack: null }))
    const port = await peer.listen()
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'Out', 1),
        {
          ...tcpOperation('Out', port, { ResponseTimeout: 0.2 }),
          host: {
            RetryInterval: 0.2,
            FailureTimeout: -1,
            AlertOnError: 1,
            AlertRetryGracePeriod: 1,
          },
        },
      ],
      { freePorts: ['In'] },
    ))
    const e = engine
    const alerts: { at: number; text: string }[] = []
    e.on('alert', (a) => {
      if (a.host === 'Out') alerts.push({ at: Date.now(), text: a.text })
    })
    const sent = Date.now()
    expect(msaCode(await sendMllp(portOf(e, 'In'), hl7('ADT^A01', 'GRACE-1')))).toBe('AA')
    await waitFor(() => alerts.length > 0, 'an alert for the retried message')
    // Not before the grace period, although several attempts had failed by then.
    expect(alerts[0]!.at - sent).toBeGreaterThanOrEqual(1000)
    expect(alerts[0]!.text).toMatch(/^retrying since .* \(attempt \d+\): /)
    const attempts = peer.count('GRACE-1')
    await waitFor(() => (peer?.count('GRACE-1') ?? 0) >= attempts + 3, 'three more attempts')
    expect(alerts).toHaveLength(1)
    answering = true
    expect((await finalState(e, 'In', 'GRACE-1')).state).toBe('completed')
    expect(alerts).toHaveLength(1)
  }, 60_000)
})
