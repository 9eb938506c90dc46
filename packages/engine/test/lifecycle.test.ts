// Host life cycle through the Engine (pause, resume, disable, enable, restart), user host
// classes, per-key ordering with PoolSize > 1, ReplyCodeActions D, resend, metrics and health.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostRegistry, OperationHost, sleep } from '../src/index.js'
import type { Delivery, Engine, Envelope, Production } from '../src/index.js'
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

/** A user operation class: records what it delivers, in order, after a small random delay. */
class Recorder extends OperationHost {
  static readonly delivered: { host: string; id: string; mrn: string }[] = []
  protected override async deliver(env: Envelope): Promise<Delivery> {
    await sleep(Math.random() * 15)
    const mrn = /\rPID\|1\|\|([^^|]*)/.exec(env.raw)?.[1] ?? ''
    Recorder.delivered.push({ host: this.name, id: controlIdOf(env.raw), mrn })
    return { detail: 'recorded' }
  }
}

function adt(id: string, mrn: string): string {
  return hl7('ADT^A08', id).replace(/\rPID\|1\|\|[^^]*/, `\rPID|1||${mrn}`)
}

describe('Engine host control', () => {
  let engine: Engine
  let dir: string
  let peer: MllpPeer
  let peerCode = 'AR'

  beforeAll(async () => {
    peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), peerCode) }))
    const peerPort = await peer.listen()
    const registry = new HostRegistry().register(
      'Trust.Ops.Recorder',
      (item, ctx) => new Recorder(item, ctx),
    )
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'Rec', 1),
        tcpService('InOrdered', 'Ordered', 2),
        tcpService('InPeer', 'PeerOut', 3),
        {
          name: 'Rec',
          className: 'Trust.Ops.Recorder',
          host: { QueueCountAlert: 2, QueueWaitAlert: 0.05 },
        },
        { name: 'Pooled', className: 'Trust.Ops.Recorder', poolSize: 0 },
        {
          name: 'Ordered',
          className: 'Trust.Ops.Recorder',
          poolSize: 3,
          host: { OrderingKey: 'PID:3.1' },
        },
        tcpOperation(
          'PeerOut',
          peerPort,
          { ResponseTimeout: 2 },
          { ReplyCodeActions: ':?R=D,:?A=C' },
        ),
      ],
      { freePorts: ['In', 'InOrdered', 'InPeer'], config: { registry, alertIntervalMs: 50 } },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await removeDir(dir)
  })

  it('builds user host classes from the registry', () => {
    expect(engine.getHost('Rec')).toBeInstanceOf(Recorder)
  })

  it('PoolSize 0 takes the production ActorPoolSize', async () => {
    expect(engine.production?.actorPoolSize).toBe(2)
    expect((await engine.getStatus()).items.find((i) => i.name === 'Pooled')?.poolSize).toBe(2)
  })

  it('pause keeps messages queued (raising QueueCountAlert and QueueWaitAlert); resume delivers them in order', async () => {
    const alerts: string[] = []
    engine.on('alert', (a) => alerts.push(`${a.host}: ${a.text}`))
    await engine.pauseHost('Rec')
    expect(engine.getHost('Rec')?.state).toBe('PAUSED')
    for (const id of ['P-1', 'P-2', 'P-3'])
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    // The ACK follows the WAL append; the enqueue follows the ACK.
    await waitFor(
      async () => (await engine.getStatus()).items.find((i) => i.name === 'Rec')?.queueDepth === 3,
      'three messages queued for Rec',
    )
    await waitFor(() => alerts.some((a) => a.startsWith('Rec: queue depth 3')), 'QueueCountAlert')
    await waitFor(
      () => alerts.some((a) => a.startsWith('Rec: oldest message waited')),
      'QueueWaitAlert',
    )
    await engine.resumeHost('Rec')
    for (const id of ['P-1', 'P-2', 'P-3'])
      expect((await finalState(engine, 'In', id)).state).toBe('completed')
    expect(Recorder.delivered.filter((d) => d.host === 'Rec').map((d) => d.id)).toEqual([
      'P-1',
      'P-2',
      'P-3',
    ])
  })

  it('disable stops an item and enable starts it again; restart keeps it running', async () => {
    await engine.disableHost('Rec')
    expect(engine.getHost('Rec')?.status()).toMatchObject({ state: 'STOPPED', enabled: false })
    await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'D-1'))
    await engine.enableHost('Rec')
    expect((await finalState(engine, 'In', 'D-1')).state).toBe('completed')
    await engine.restartHost('Rec')
    expect(engine.getHost('Rec')?.state).toBe('RUNNING')
  })

  it('PoolSize 3 with an OrderingKey runs in parallel but keeps each patient in order', async () => {
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const id = `O-${i}`
      ids.push(id)
      expect(msaCode(await sendMllp(portOf(engine, 'InOrdered'), adt(id, `MRN${i % 3}`)))).toBe(
        'AA',
      )
    }
    for (const id of ids) await finalState(engine, 'InOrdered', id)
    const got = Recorder.delivered.filter((d) => d.host === 'Ordered')
    for (const mrn of ['MRN0', 'MRN1', 'MRN2']) {
      const sent = ids.filter((_, i) => `MRN${i % 3}` === mrn)
      expect(got.filter((d) => d.mrn === mrn).map((d) => d.id)).toEqual(sent)
    }
  })

  it('ReplyCodeActions D disables the operation and keeps the message queued; enabling delivers it', async () => {
    peerCode = 'AR'
    await sendMllp(portOf(engine, 'InPeer'), hl7('ADT^A01', 'DIS-1'))
    await waitFor(() => engine.getHost('PeerOut')?.enabled === false, 'PeerOut disabled')
    expect(engine.getHost('PeerOut')?.state).toBe('ERROR')
    expect((await engine.getStatus()).items.find((i) => i.name === 'PeerOut')?.queueDepth).toBe(1)
    peerCode = 'AA'
    await engine.enableHost('PeerOut')
    expect((await finalState(engine, 'InPeer', 'DIS-1')).state).toBe('completed')
  })

  it('resend delivers a stored message again as a new session', async () => {
    const first = await finalState(engine, 'In', 'P-1')
    const before = Recorder.delivered.filter((d) => d.id === 'P-1').length
    const again = await engine.resend(first.id)
    expect(again.sessionId).not.toBe(first.sessionId)
    await waitFor(
      () => Recorder.delivered.filter((d) => d.id === 'P-1').length === before + 1,
      'resent delivery',
    )
  })

  it('resends an edited copy (line breaks as pasted), leaving the original; refuses one that is not HL7', async () => {
    const first = await finalState(engine, 'In', 'P-1')
    const original = (await engine.store.get(first.id))?.payload ?? ''
    // Fixed by hand: the MRN the receiver expected; pasted with \n line ends.
    const fixed = original
      .replace(/\rPID\|1\|\|[^^|]*/, '\rPID|1||FIXED-MRN')
      .split('\r')
      .join('\n')
    const again = await engine.resend(first.id, undefined, { raw: fixed })
    await waitFor(
      () => Recorder.delivered.some((d) => d.id === 'P-1' && d.mrn === 'FIXED-MRN'),
      'edited copy delivered',
    )
    const copy = await engine.store.get(again.storeId)
    expect(copy?.payload).not.toContain('\n')
    expect(copy?.payload).toContain('\rPID|1||FIXED-MRN')
    expect(copy?.metadata).toMatchObject({ resentFrom: first.id, edited: true })
    expect((await engine.store.get(first.id))?.payload).toBe(original)
    for (const bad of ['', 'not HL7 at all', 'PID|1||X']) {
      await expect(engine.resend(first.id, undefined, { raw: bad })).rejects.toMatchObject({
        code: 'ENGINE_INVALID_ARGUMENT',
      })
    }
  })

  it('sends a test message to a host as the IRIS Testing Service, only with TestingEnabled', async () => {
    const sent = await engine.sendTestMessage('Rec', adt('TEST-1', 'MRN-T').split('\r').join('\n'))
    await waitFor(() => Recorder.delivered.some((d) => d.id === 'TEST-1'), 'test message delivered')
    const rec = await engine.store.get(sent.storeId)
    expect(rec).toMatchObject({ hostName: 'EnsLib.Testing.Service', metadata: { test: true } })
    await expect(engine.sendTestMessage('In', adt('TEST-2', 'M'))).rejects.toMatchObject({
      code: 'ENGINE_INVALID_ARGUMENT',
    })
    await expect(engine.sendTestMessage('Nobody', adt('TEST-3', 'M'))).rejects.toMatchObject({
      code: 'ENGINE_UNKNOWN_HOST',
    })
    await expect(engine.sendTestMessage('Rec', 'garbage')).rejects.toMatchObject({
      code: 'ENGINE_INVALID_ARGUMENT',
    })
    const production = engine.production as Production
    production.testingEnabled = false
    try {
      await expect(engine.sendTestMessage('Rec', adt('TEST-4', 'M'))).rejects.toMatchObject({
        code: 'ENGINE_TESTING_DISABLED',
      })
    } finally {
      production.testingEnabled = true
    }
    expect(Recorder.delivered.some((d) => ['TEST-2', 'TEST-3', 'TEST-4'].includes(d.id))).toBe(
      false,
    )
  })

  it('registers metrics and health checks for every host', async () => {
    const text = await engine.metrics.registry.metrics()
    expect(text).toMatch(/host="Rec"/)
    expect(text).toMatch(/host="PeerOut"/)
    const report = await engine.health.checkAll()
    const names = JSON.stringify(report)
    for (const n of ['host:In', 'host:Rec', 'queue:Rec', 'host:PeerOut']) expect(names).toContain(n)
  })
})
