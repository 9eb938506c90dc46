// Graceful stop: services close first, in-flight messages drain, so a clean restart has nothing
// to resume (no duplicates); stop during a retry hands the message back and the WAL resumes it.
import { afterAll, describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  hl7,
  msaCode,
  portOf,
  productionXml,
  removeDir,
  runEngine,
  sendMllp,
  setSetting,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'
import { loadProduction } from '../src/iris/loader.js'

describe('Engine.stop', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await removeDir(d)
  })

  it('drains in-flight messages before stopping operations; a restart resumes nothing', async () => {
    const peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA'), delayMs: 100 }))
    const peerPort = await peer.listen()
    const { engine, dir } = await startEngine(
      [tcpService('In', 'Out', 1), tcpOperation('Out', peerPort)],
      { freePorts: ['In'] },
    )
    dirs.push(dir)
    for (const id of ['G-1', 'G-2', 'G-3'])
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    await engine.stop()
    expect(['G-1', 'G-2', 'G-3'].map((id) => peer.count(id))).toEqual([1, 1, 1])
    const again = await runEngine(engine.config.dataDir, engine.production!)
    expect((await again.getStatus()).walPending).toBe(0)
    await again.stop()
    await peer.close()
  })

  it('a message still retrying when the drain times out stays in the WAL and is delivered after restart', async () => {
    let answer = false
    const peer = new MllpPeer((m) =>
      answer ? { ack: ackFor(controlIdOf(m), 'AA') } : { ack: null },
    )
    const peerPort = await peer.listen()
    const { engine, dir } = await startEngine(
      [
        tcpService('In', 'Out', 1),
        tcpOperation(
          'Out',
          peerPort,
          { ResponseTimeout: 0.2 },
          { RetryInterval: 0.1, FailureTimeout: -1 },
        ),
      ],
      { freePorts: ['In'], config: { drainTimeout: 0.3 } },
    )
    dirs.push(dir)
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'W-1')))).toBe('AA')
    await engine.stop()
    answer = true
    const before = peer.count('W-1')
    const again = await runEngine(engine.config.dataDir, engine.production!)
    try {
      await waitFor(() => peer.count('W-1') > before, 'W-1 resumed from the WAL and delivered')
      await waitFor(async () => (await again.getStatus()).walPending === 0, 'WAL entry completed')
      // The first run's record is closed as superseded; the resumed copy carries the outcome.
      const { records } = await again.store.query({ correlationId: 'W-1', limit: 10 })
      expect(records.map((r) => r.state).sort()).toEqual(['completed', 'completed'])
      expect(records.filter((r) => r.metadata?.recovered === true)).toHaveLength(1)
    } finally {
      await again.stop()
      await peer.close()
    }
  })

  it('a WAL entry whose target is no longer in the production stays in the WAL (alert) until it is back', async () => {
    const peer = new MllpPeer(() => ({ ack: null }))
    const peerPort = await peer.listen()
    const out = tcpOperation(
      'Out',
      peerPort,
      { ResponseTimeout: 0.2 },
      { FailureTimeout: -1, RetryInterval: 0.1 },
    )
    const { engine, dir } = await startEngine([tcpService('In', 'Out', 1), out], {
      freePorts: ['In'],
      config: { drainTimeout: 0.2 },
    })
    dirs.push(dir)
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'GONE-1')))).toBe('AA')
    await engine.stop()
    const files = await tempDir('gone')
    dirs.push(files)
    const without = await loadProduction(
      productionXml('Test.Production', [
        tcpService('In', 'Other', 1),
        {
          name: 'Other',
          className: 'EnsLib.HL7.Operation.FileOperation',
          adapter: { FilePath: files },
        },
      ]),
    )
    setSetting(without, 'In', 'Port', '0')
    const second = new Engine({ dataDir: engine.config.dataDir, pollMs: 50 })
    const alerts: string[] = []
    second.on('alert', (a) => alerts.push(a.text))
    await second.load(without)
    await second.start()
    expect((await second.getStatus()).walPending).toBe(1)
    expect(alerts.some((a) => a.includes('GONE-1') && a.includes('stays in the WAL'))).toBe(true)
    await second.stop()
    peer.behave = (m) => ({ ack: ackFor(controlIdOf(m), 'AA') })
    const third = await runEngine(engine.config.dataDir, engine.production!)
    try {
      await waitFor(
        async () => (await third.getStatus()).walPending === 0,
        'entry delivered once Out is back',
      )
      expect(peer.count('GONE-1')).toBeGreaterThan(0)
    } finally {
      await third.stop()
      await peer.close()
    }
  })

  it('resumes more entries than the resume window at once, delivering them in WAL order', async () => {
    let answer = false
    const peer = new MllpPeer((m) =>
      answer ? { ack: ackFor(controlIdOf(m), 'AA') } : { ack: null },
    )
    const peerPort = await peer.listen()
    const { engine, dir } = await startEngine(
      [
        tcpService('In', 'Out', 1),
        tcpOperation(
          'Out',
          peerPort,
          { ResponseTimeout: 0.2 },
          { RetryInterval: 0.1, FailureTimeout: -1 },
        ),
      ],
      { freePorts: ['In'], config: { drainTimeout: 0.2 } },
    )
    dirs.push(dir)
    // 600 > RESUME_WINDOW (256): the resume runs several windows, concurrently within each.
    const ids = Array.from({ length: 600 }, (_, i) => `RW-${String(i).padStart(3, '0')}`)
    for (const id of ids)
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    await engine.stop()
    answer = true
    const from = peer.received.length
    const again = await runEngine(engine.config.dataDir, engine.production!)
    try {
      await waitFor(
        async () => (await again.getStatus()).walPending === 0,
        'every resumed entry delivered and completed',
        60_000,
      )
      const firsts: string[] = []
      for (const m of peer.received.slice(from)) {
        const id = controlIdOf(m)
        if (!firsts.includes(id)) firsts.push(id)
      }
      expect(firsts).toEqual(ids)
      // They came from the WAL: each has a record marked recovered in the second run (newest
      // first: the 600 of the second run come before the first run's 600).
      const { records } = await again.store.query({ hostName: 'In', limit: 1000 })
      expect(records.filter((r) => r.metadata?.recovered === true)).toHaveLength(600)
    } finally {
      await again.stop()
      await peer.close()
    }
  }, 120_000)
})
