// Whole production over real sockets and files: MLLP in → router with an IRIS rule class → MLLP
// out and file out, against a plain `net` MLLP peer answering AA, AE, AR, late and never.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Engine, TcpServiceHost } from '../src/index.js'
import { loadProduction } from '../src/iris/loader.js'
import type { EngineAlert } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  captureLogger,
  controlIdOf,
  fileOperation,
  finalState,
  hl7,
  irisExport,
  msaCode,
  productionXml,
  removeDir,
  sendMllp,
  setSetting,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

const RULES = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Test.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="ADT to EPR and file" disabled="false">
<constraint name="source" value="MLLPIn"></constraint>
<constraint name="msgClass" value="EnsLib.HL7.Message"></constraint>
<when condition="HL7.{MSH:9.1}=&quot;ADT&quot;">
<send transform="" target="MLLPOut,FileOut"></send>
<return></return>
</when>
</rule>
<rule name="ORU to file" disabled="false">
<when condition="HL7.{MSH:9.1}=&quot;ORU&quot;">
<send transform="" target="FileOut"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`

// The peer answers by MSH-10 prefix: AA-, AE-, AR-, LATE- (first ACK after the response
// timeout, then AA), NONE- (never), and STALE-/NEXT- (see the strict matching test).
function behave(
  message: string,
  attempt: number,
): { ack: string; delayMs?: number } | { ack: null } {
  const id = controlIdOf(message)
  const kind = id.split('-')[0] ?? ''
  switch (kind) {
    case 'AE':
      return { ack: ackFor(id, 'AE') }
    case 'AR':
      return { ack: ackFor(id, 'AR') }
    case 'LATE':
      return attempt === 1 ? { ack: ackFor(id, 'AA'), delayMs: 1500 } : { ack: ackFor(id, 'AA') }
    case 'NONE':
      return { ack: null }
    default:
      return { ack: ackFor(id, 'AA') }
  }
}

describe('Engine: MLLP in → router → MLLP out and file out', () => {
  let dir: string
  let outDir: string
  let peer: MllpPeer
  let engine: Engine
  let port: number
  const alerts: EngineAlert[] = []
  const { logger, lines } = captureLogger()

  beforeAll(async () => {
    dir = await tempDir('mllp')
    outDir = path.join(dir, 'out')
    peer = new MllpPeer(behave)
    const peerPort = await peer.listen()
    const xml = irisExport(
      'Test.Production',
      productionXml('Test.Production', [
        tcpService('MLLPIn', 'Router', 1, { AckMode: 'Immed' }),
        {
          name: 'Router',
          className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
          host: { BusinessRuleName: 'Test.Rules' },
        },
        {
          name: 'MLLPOut',
          className: 'EnsLib.HL7.Operation.TCPOperation',
          host: { RetryInterval: 0.1, FailureTimeout: 1, AlertOnError: 1 },
          adapter: {
            IPAddress: '127.0.0.1',
            Port: peerPort,
            ResponseTimeout: 0.5,
            ConnectTimeout: 2,
          },
        },
        fileOperation('FileOut', outDir),
      ]),
      'Test.Rules',
      RULES,
    )
    const production = await loadProduction(xml)
    setSetting(production, 'MLLPIn', 'Port', '0')
    engine = new Engine({ dataDir: path.join(dir, 'data'), logger, pollMs: 50, syncMode: 'fsync' })
    engine.on('alert', (a) => alerts.push(a))
    await engine.load(production)
    await engine.start()
    const host = engine.getHost('MLLPIn')
    if (!(host instanceof TcpServiceHost)) throw new Error('MLLPIn is not a TcpServiceHost')
    port = host.address()!.port
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await removeDir(dir)
  })

  it('starts every host and reports them in getStatus', async () => {
    const status = await engine.getStatus()
    expect(status.state).toBe('RUNNING')
    expect(status.items.map((i) => [i.name, i.kind, i.state])).toEqual(
      expect.arrayContaining([
        ['MLLPIn', 'service', 'RUNNING'],
        ['Router', 'process', 'RUNNING'],
        ['MLLPOut', 'operation', 'RUNNING'],
        ['FileOut', 'operation', 'RUNNING'],
      ]),
    )
    const out = status.items.find((i) => i.name === 'MLLPOut')
    expect(out).toMatchObject({
      className: 'EnsLib.HL7.Operation.TCPOperation',
      enabled: true,
      poolSize: 1,
      queueDepth: 0,
    })
  })

  it('AA: acknowledges the sender, delivers over MLLP and to a file, completes the WAL entry and traces every hop', async () => {
    const ack = await sendMllp(port, hl7('ADT^A01', 'AA-1'))
    expect(msaCode(ack)).toBe('AA')
    const { state, sessionId } = await finalState(engine, 'MLLPIn', 'AA-1')
    expect(state).toBe('completed')
    expect(peer.count('AA-1')).toBe(1)
    const files = await readdir(outDir)
    const contents = await Promise.all(files.map((f) => readFile(path.join(outDir, f), 'utf8')))
    expect(contents.filter((c) => controlIdOf(c) === 'AA-1')).toHaveLength(1)
    const hops = await engine.store.trace(sessionId)
    const seen = hops.map((h) => `${h.source}>${h.target}:${h.state}`)
    expect(seen).toEqual(
      expect.arrayContaining([
        'MLLPIn>MLLPIn:received',
        'MLLPIn>Router:queued',
        'Router>MLLPOut:queued',
        'Router>FileOut:queued',
        'Router>MLLPOut:completed',
        'Router>FileOut:completed',
      ]),
    )
    await waitFor(async () => (await engine.getStatus()).walPending === 0, 'WAL entries completed')
  })

  it('ORU goes to the file only; a message no rule matches is completed as discarded', async () => {
    expect(msaCode(await sendMllp(port, hl7('ORU^R01', 'AA-ORU')))).toBe('AA')
    expect(msaCode(await sendMllp(port, hl7('SIU^S12', 'AA-SIU')))).toBe('AA')
    expect((await finalState(engine, 'MLLPIn', 'AA-ORU')).state).toBe('completed')
    const siu = await finalState(engine, 'MLLPIn', 'AA-SIU')
    expect(siu.state).toBe('completed')
    expect(peer.count('AA-ORU')).toBe(0)
    const hops = await engine.store.trace(siu.sessionId)
    expect(hops.some((h) => h.target === 'Router' && h.state === 'discarded')).toBe(true)
  })

  it('AE: the default ReplyCodeActions (:?E=S) suspend the message: failed, dead-lettered, not retried', async () => {
    expect(msaCode(await sendMllp(port, hl7('ADT^A08', 'AE-1')))).toBe('AA')
    expect((await finalState(engine, 'MLLPIn', 'AE-1')).state).toBe('failed')
    expect(peer.count('AE-1')).toBe(1)
    const dead = await engine.queue.deadLetters('MLLPOut', { limit: 100 })
    expect(dead.some((d) => d.payload.includes('AE-1'))).toBe(true)
  })

  it('AR: :?R=RF retries every RetryInterval until FailureTimeout, then fails and alerts', async () => {
    expect(msaCode(await sendMllp(port, hl7('ADT^A03', 'AR-1')))).toBe('AA')
    expect((await finalState(engine, 'MLLPIn', 'AR-1')).state).toBe('failed')
    expect(peer.count('AR-1')).toBeGreaterThan(1)
    expect(alerts.some((a) => a.host === 'MLLPOut' && a.text.includes('AR'))).toBe(true)
  })

  it('no ACK: each attempt times out after ResponseTimeout; after FailureTimeout the message fails', async () => {
    expect(msaCode(await sendMllp(port, hl7('ADT^A02', 'NONE-1')))).toBe('AA')
    expect((await finalState(engine, 'MLLPIn', 'NONE-1')).state).toBe('failed')
    expect(peer.count('NONE-1')).toBeGreaterThanOrEqual(1)
  })

  it('late ACK: the first ACK arrives after ResponseTimeout; the resend is acknowledged and the message completes', async () => {
    expect(msaCode(await sendMllp(port, hl7('ADT^A31', 'LATE-1')))).toBe('AA')
    expect((await finalState(engine, 'MLLPIn', 'LATE-1')).state).toBe('completed')
    expect(peer.count('LATE-1')).toBeGreaterThanOrEqual(2)
  })

  it('strict matching: a late AA for one message is discarded, never applied to the next (which gets AE)', async () => {
    // STALE-1 gets no ACK in time and fails; its AA arrives while NEXT-1 waits, whose own answer is AE.
    let staleAck: string | undefined
    peer.behave = (message, attempt) => {
      const id = controlIdOf(message)
      if (id === 'STALE-1') {
        staleAck = ackFor(id, 'AA')
        return { ack: null }
      }
      if (id === 'NEXT-1' && staleAck !== undefined)
        return { ack: staleAck + '\u001c\r\u000b' + ackFor(id, 'AE') }
      return behave(message, attempt)
    }
    try {
      await sendMllp(port, hl7('ADT^A01', 'STALE-1'))
      expect((await finalState(engine, 'MLLPIn', 'STALE-1')).state).toBe('failed')
      await sendMllp(port, hl7('ADT^A01', 'NEXT-1'))
      expect((await finalState(engine, 'MLLPIn', 'NEXT-1')).state).toBe('failed')
      const discarded = lines.filter((l) => l.msg === 'discarded ACK (late or mismatched)')
      expect(discarded.some((l) => l.controlId === 'STALE-1')).toBe(true)
    } finally {
      peer.behave = behave
    }
  })

  it('never logs message bodies above debug', () => {
    const leaked = lines.filter(
      (l) => (l.level as number) > 20 && JSON.stringify(l).includes('DOE^JOHN'),
    )
    expect(leaked).toEqual([])
  })
})
