// A BPL business process in a running Engine: an IRIS production file with the BPL, DTL and
// general rule classes beside it (as a trust exports them), real MLLP, real files, the real store.
// The process's calls reach their operations; its hop names them; a process that fails sends
// nothing and fails the session; an edited BPL applies on reload.
import { randomUUID } from 'node:crypto'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseMessage } from '@li/hl7'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Engine, checkProduction } from '../src/index.js'
import {
  IRIS_FIXTURES,
  MllpPeer,
  ackFor,
  controlIdOf,
  fileOperation,
  freePort,
  filesIn,
  finalState,
  hl7,
  irisFixture,
  msaCode,
  productionXml,
  removeDir,
  sendMllp,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

const ORU = irisFixture('messages/oru-r01.hl7')
const OUTS = ['EPR Out', 'Pager Out', 'Archive Out', 'Errors Out']
const dirOf = (out: string): string => out.toLowerCase().replace(' ', '-')

describe('Engine: an IRIS BPL business process', () => {
  let dir: string
  let engine: Engine
  let port: number
  const bplFile = (): string => path.join(dir, 'RGH.BPL.Results.cls')

  beforeAll(async () => {
    dir = await tempDir('bpl')
    port = await freePort()
    const prod = productionXml('RGH.Production', [
      tcpService('Lab In', 'Results', port),
      { name: 'Results', className: 'RGH.BPL.Results', host: { AlertOnError: 1 } },
      ...OUTS.map((o) => fileOperation(o, path.join(dir, dirOf(o)))),
    ])
    await writeFile(path.join(dir, 'RGH.Production.xml'), prod)
    for (const f of [
      'RGH.BPL.Results.cls',
      'RGH.DTL.ResultToEPR.cls',
      'RGH.Rules.ResultPriority.cls',
    ])
      await copyFile(path.join(IRIS_FIXTURES, 'bpl', f), path.join(dir, f))
    engine = new Engine({ dataDir: path.join(dir, 'data'), pollMs: 50 })
    await engine.load({ path: path.join(dir, 'RGH.Production.xml') })
    await engine.start()
  })

  afterAll(async () => {
    await engine?.stop()
    await removeDir(dir)
  })

  it('check reports the item as running with differences, not as ObjectScript it cannot run', async () => {
    const report = await checkProduction({ path: path.join(dir, 'RGH.Production.xml') })
    const item = report.entries.find((e) => e.kind === 'item' && e.name === 'Results')
    expect(item?.status).toBe('differences')
    expect(report.exitCode).toBe(0)
  })

  it('routes an urgent result: EPR copy, page and two archive copies delivered; the hop lists the calls', async () => {
    expect(msaCode(await sendMllp(port, ORU))).toBe('AA')
    const { state, sessionId } = await finalState(engine, 'Lab In', 'LAB0001')
    expect(state).toBe('completed')
    const [epr] = await filesIn(path.join(dir, 'epr-out'), 1)
    expect(parseMessage(epr!).get('OBR-27')).toBe('urgent')
    expect(parseMessage(epr!).get('MSH-5')).toBe('EPR')
    const [page] = await filesIn(path.join(dir, 'pager-out'), 1)
    expect(parseMessage(page!).get('MSH-5')).toBe('PAGER')
    const archive = await filesIn(path.join(dir, 'archive-out'), 2)
    expect(archive.map(controlIdOf).sort()).toEqual(['LAB0001-1', 'LAB0001-2'])
    const hops = await waitFor(async () => {
      const h = await engine.store.trace(sessionId)
      return h.filter((x) => x.state === 'completed').length >= 5 ? h : undefined
    }, 'the session trace')
    const processHop = hops.find((h) => h.target === 'Results' && h.state === 'completed')
    expect(processHop?.detail).toBe(
      'calls To EPR -> EPR Out, Page -> Pager Out, Archive -> Archive Out, Archive -> Archive Out; trace: result LAB0001',
    )
  })

  it('a process that fails sends nothing, fails the session, alerts, and names the line', async () => {
    const alerts: string[] = []
    engine.on('alert', (a: { text: string }) => alerts.push(a.text))
    // A fault nothing catches: the first call of the process must not go out either.
    const failing = (await readFile(bplFile(), 'utf8')).replace(
      `<trace name='Received'`,
      `<if condition='request.{MSH:10}="LAB-FAIL"'><true><throw fault='"Rejected"' /></true></if>\n<trace name='Received'`,
    )
    await writeFile(bplFile(), failing)
    const reload = await engine.reloadRules()
    expect(reload.processes).toEqual(['RGH.BPL.Results'])
    expect(reload.restarted).toEqual(['Results'])
    const before = (await filesIn(path.join(dir, 'archive-out'), 2)).length
    expect(msaCode(await sendMllp(port, ORU.replace('|LAB0001|', '|LAB-FAIL|')))).toBe('AA')
    const { state, sessionId } = await finalState(engine, 'Lab In', 'LAB-FAIL')
    expect(state).toBe('failed')
    const hops = await engine.store.trace(sessionId)
    const failed = hops.find((h) => h.target === 'Results' && h.state === 'failed')
    expect(failed?.detail).toMatch(
      /RGH\.BPL\.Results .*failed: .*fault "Rejected" thrown at line \d+ was not caught/,
    )
    expect(hops.filter((h) => OUTS.includes(h.target))).toEqual([])
    await waitFor(() => alerts.some((a) => a.includes('business process failed')), 'the alert')
    // The next message goes through the edited process as before.
    expect(msaCode(await sendMllp(port, ORU.replace('|LAB0001|', '|LAB0002|')))).toBe('AA')
    expect((await finalState(engine, 'Lab In', 'LAB0002')).state).toBe('completed')
    const archive = await filesIn(path.join(dir, 'archive-out'), before + 2)
    expect(archive.map(controlIdOf)).not.toContain('LAB-FAIL-1')
    expect(archive.map(controlIdOf)).toContain('LAB0002-2')
  })

  it('a reload with a BPL that does not compile is refused and the running process goes on', async () => {
    const good = await readFile(bplFile(), 'utf8')
    await writeFile(
      bplFile(),
      good.replace(`<while name=`, `<receive request='Ens.Request' />\n<while name=`),
    )
    await expect(engine.reloadRules()).rejects.toThrow(
      /RGH\.BPL\.Results: <receive> is not supported.*the running one is unchanged/,
    )
    await writeFile(bplFile(), good)
    expect(msaCode(await sendMllp(port, ORU.replace('|LAB0001|', '|LAB0003|')))).toBe('AA')
    expect((await finalState(engine, 'Lab In', 'LAB0003')).state).toBe('completed')
  })
})

describe('Engine: a BPL that does not compile fails the load, naming it', () => {
  it('refuses to load the production', async () => {
    const dir = await tempDir('bpl-bad')
    try {
      const prod = productionXml('RGH.Production', [
        tcpService('Lab In', 'Results', 12575),
        { name: 'Results', className: 'RGH.BPL.Results' },
        ...OUTS.map((o) => fileOperation(o, path.join(dir, dirOf(o)))),
      ])
      await writeFile(path.join(dir, 'RGH.Production.xml'), prod)
      for (const f of ['RGH.DTL.ResultToEPR.cls', 'RGH.Rules.ResultPriority.cls'])
        await copyFile(path.join(IRIS_FIXTURES, 'bpl', f), path.join(dir, f))
      await writeFile(
        path.join(dir, 'RGH.BPL.Results.cls'),
        irisFixture('bpl/RGH.BPL.Results.cls').replace(
          `<while name=`,
          `<receive request='Ens.Request' />\n<while name=`,
        ),
      )
      const engine = new Engine({ dataDir: path.join(dir, 'data') })
      await expect(engine.load({ path: path.join(dir, 'RGH.Production.xml') })).rejects.toThrow(
        /RGH\.BPL\.Results\.cls line \d+: business process RGH\.BPL\.Results: <receive> is not supported/,
      )
    } finally {
      await removeDir(dir)
    }
  })
})

describe('Engine: Ens.Alert as a BPL process (request Ens.AlertRequest)', () => {
  it('gets the alerts as objects and sends them on as JSON', async () => {
    const dir = await tempDir('bpl-alert')
    const engine = new Engine({ dataDir: path.join(dir, 'data'), pollMs: 50 })
    try {
      const port = await freePort()
      const prod = productionXml('RGH.Production', [
        tcpService('Lab In', 'Results', port),
        { name: 'Results', className: 'RGH.BPL.Results' },
        { name: 'Ens.Alert', className: 'RGH.BPL.AlertHandler' },
        ...OUTS.map((o) =>
          fileOperation(o, path.join(dir, dirOf(o)), o === 'Errors Out' ? '.json' : '.hl7'),
        ),
      ])
      await writeFile(path.join(dir, 'RGH.Production.xml'), prod)
      for (const f of [
        'RGH.BPL.Results.cls',
        'RGH.BPL.AlertHandler.cls',
        'RGH.DTL.ResultToEPR.cls',
        'RGH.Rules.ResultPriority.cls',
      ])
        await copyFile(path.join(IRIS_FIXTURES, 'bpl', f), path.join(dir, f))
      await engine.load({ path: path.join(dir, 'RGH.Production.xml') })
      await engine.start()
      // An ADT is not what the results process expects: its <alert> fires, and Ens.Alert files it.
      // (The fixture asks for enhanced acknowledgement, MSH-15 AL: a commit accept.)
      expect(msaCode(await sendMllp(port, irisFixture('messages/adt-a01.hl7')))).toBe('CA')
      const [filed] = await filesIn(path.join(dir, 'errors-out'), 1)
      const alert = JSON.parse(filed!) as Record<string, unknown>
      expect(alert).toMatchObject({
        SourceConfigName: 'Results',
        AlertText: 'unexpected message type ADT_A01',
      })
      // Both archive copies of the ADT still went out (the alert does not stop the process).
      expect(await filesIn(path.join(dir, 'archive-out'), 2)).toHaveLength(2)
    } finally {
      await engine.stop()
      await removeDir(dir)
    }
  })
})

describe.each([
  ['embedded', () => ({})],
  ['redis', () => ({ redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}` })],
] as const)('Engine: a synchronous BPL call to an MLLP operation (%s)', (_mode, config) => {
  let dir: string
  let engine: Engine
  let peer: MllpPeer
  let port: number

  beforeAll(async () => {
    dir = await tempDir('bpl-sync')
    // The PAS knows the patient unless the control id says otherwise.
    peer = new MllpPeer((m) => {
      const id = controlIdOf(m)
      return {
        ack: ackFor(id, id.endsWith('-AR') ? 'AR' : 'AA').replace(/\r$/, '|known patient\r'),
      }
    })
    const pas = await peer.listen()
    port = await freePort()
    await writeAdmitProduction(dir, port, pas)
    engine = new Engine({ dataDir: path.join(dir, 'data'), pollMs: 50, ...config() })
    await engine.load({ path: path.join(dir, 'RGH.Production.xml') })
    await engine.start()
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await removeDir(dir)
  })

  it('waits for the PAS ACK, then sends the EPR copy carrying its note', async () => {
    expect(msaCode(await sendMllp(port, hl7('ADT^A01', 'SYNC-1')))).toBe('AA')
    const { state, sessionId } = await finalState(engine, 'PAS In', 'SYNC-1')
    expect(state).toBe('completed')
    const [epr] = await filesIn(path.join(dir, 'epr-out'), 1)
    expect(parseMessage(epr!).get('NTE-3')).toBe('known patient')
    expect(peer.count('SYNC-1')).toBe(1)
    const hops = await waitFor(async () => {
      const h = await engine.store.trace(sessionId)
      return h.some((x) => x.target === 'Admit' && x.state === 'completed') ? h : undefined
    }, 'the process hop')
    expect(hops.find((h) => h.target === 'Admit' && h.state === 'completed')?.detail).toBe(
      'calls Ask PAS -> PAS Query (waited), To EPR -> EPR Out',
    )
  })

  it('a PAS that refuses (AR) fails the call: the fault handler files the message', async () => {
    expect(msaCode(await sendMllp(port, hl7('ADT^A01', 'SYNC-AR')))).toBe('AA')
    const [filed] = await filesIn(path.join(dir, 'errors-out'), 1)
    expect(controlIdOf(filed!)).toBe('SYNC-AR')
    expect(await filesIn(path.join(dir, 'epr-out'), 1)).toHaveLength(1)
  })
})

describe('Engine: a BPL <sync> waits for two asynchronous calls', () => {
  it('both questions go at once; the EPR copy carries both answers', async () => {
    const dir = await tempDir('bpl-sync-all')
    const peer = new MllpPeer((m) => ({
      ack: ackFor(controlIdOf(m), 'AA').replace(
        /\r$/,
        m.split('|')[4] === 'GP' ? '|registered with GP\r' : '|known to PAS\r',
      ),
    }))
    let engine: Engine | undefined
    try {
      const pas = await peer.listen()
      const port = await freePort()
      const prod = productionXml('RGH.Production', [
        tcpService('PAS In', 'Lookup', port),
        { name: 'Lookup', className: 'RGH.BPL.Lookup' },
        tcpOperation('PAS Query', pas),
        tcpOperation('GP Query', pas),
        fileOperation('EPR Out', path.join(dir, 'epr-out')),
      ])
      await writeFile(path.join(dir, 'RGH.Production.xml'), prod)
      await copyFile(
        path.join(IRIS_FIXTURES, 'bpl', 'RGH.BPL.Lookup.cls'),
        path.join(dir, 'RGH.BPL.Lookup.cls'),
      )
      engine = new Engine({ dataDir: path.join(dir, 'data'), pollMs: 50 })
      await engine.load({ path: path.join(dir, 'RGH.Production.xml') })
      await engine.start()
      expect(msaCode(await sendMllp(port, hl7('ADT^A01', 'SYNC-BOTH')))).toBe('AA')
      const [epr] = await filesIn(path.join(dir, 'epr-out'), 1)
      expect(parseMessage(epr!).get('NTE-3')).toBe('known to PAS / registered with GP')
      expect(peer.count('SYNC-BOTH')).toBe(2)
      const { sessionId } = await finalState(engine, 'PAS In', 'SYNC-BOTH')
      const hops = await waitFor(async () => {
        const h = await engine!.store.trace(sessionId)
        return h.some((x) => x.target === 'Lookup' && x.state === 'completed') ? h : undefined
      }, 'the process hop')
      expect(hops.find((h) => h.target === 'Lookup' && h.state === 'completed')?.detail).toBe(
        'calls Ask PAS -> PAS Query (waited), Ask GP -> GP Query (waited), To EPR -> EPR Out',
      )
    } finally {
      await engine?.stop()
      await peer.close()
      await removeDir(dir)
    }
  })
})

describe('Engine: stopped while a synchronous BPL call waits', () => {
  it('the message runs again after the restart and nothing acknowledged is lost', async () => {
    const dir = await tempDir('bpl-sync-stop')
    let answer = false
    const peer = new MllpPeer((m) =>
      answer
        ? { ack: ackFor(controlIdOf(m), 'AA').replace(/\r$/, '|after restart\r') }
        : { ack: null },
    )
    let engine: Engine | undefined
    try {
      const pas = await peer.listen()
      const port = await freePort()
      await writeAdmitProduction(dir, port, pas)
      const start = async (): Promise<Engine> => {
        const e = new Engine({ dataDir: path.join(dir, 'data'), pollMs: 50 })
        await e.load({ path: path.join(dir, 'RGH.Production.xml') })
        await e.start()
        return e
      }
      engine = await start()
      expect(msaCode(await sendMllp(port, hl7('ADT^A01', 'SYNC-STOP')))).toBe('AA')
      // The PAS got the question and never answers: the process waits.
      await waitFor(() => peer.count('SYNC-STOP') >= 1, 'the PAS question')
      await engine.stop()
      engine = undefined
      answer = true
      engine = await start()
      const [epr] = await filesIn(path.join(dir, 'epr-out'), 1)
      expect(controlIdOf(epr!)).toBe('SYNC-STOP')
      expect(parseMessage(epr!).get('NTE-3')).toBe('after restart')
      // The stop was not a failure of the process: no failed hop, and the session completes.
      const { state, sessionId } = await finalState(engine, 'PAS In', 'SYNC-STOP')
      expect(state).toBe('completed')
      const hops = await engine.store.trace(sessionId)
      expect(hops.filter((h) => h.target === 'Admit' && h.state === 'failed')).toEqual([])
    } finally {
      await engine?.stop()
      await peer.close()
      await removeDir(dir)
    }
  })
})

describe('Engine: a synchronous BPL call answered by another engine (shared Redis)', () => {
  it('the process in engine A gets the reply of the operation in engine B', async () => {
    const dir = await tempDir('bpl-sync-2')
    const peer = new MllpPeer((m) => ({
      ack: ackFor(controlIdOf(m), 'AA').replace(/\r$/, '|from B\r'),
    }))
    const engines: Engine[] = []
    try {
      const pas = await peer.listen()
      const cfg = { redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}`, pollMs: 50 }
      const ports: number[] = []
      for (const name of ['a', 'b']) {
        const d = path.join(dir, name)
        const p = await freePort()
        ports.push(p)
        await writeAdmitProduction(d, p, pas, path.join(dir, 'out'))
        const e = new Engine({ dataDir: path.join(d, 'data'), ...cfg })
        await e.load({ path: path.join(d, 'RGH.Production.xml') })
        await e.start()
        engines.push(e)
      }
      const [a, b] = engines as [Engine, Engine]
      // A runs the process only, B the PAS operation only.
      await a.stopHost('PAS Query')
      await b.stopHost('Admit')
      expect(msaCode(await sendMllp(ports[0]!, hl7('ADT^A01', 'SYNC-X')))).toBe('AA')
      const [epr] = await filesIn(path.join(dir, 'out', 'epr-out'), 1)
      expect(parseMessage(epr!).get('NTE-3')).toBe('from B')
      expect(peer.count('SYNC-X')).toBe(1)
    } finally {
      for (const e of engines) await e.stop()
      await peer.close()
      await removeDir(dir)
    }
  })
})

/** The admissions production (service, BPL, PAS Query over MLLP, EPR and errors folders). */
async function writeAdmitProduction(
  dir: string,
  port: number,
  pasPort: number,
  out = dir,
): Promise<void> {
  await mkdir(dir, { recursive: true })
  const prod = productionXml('RGH.Production', [
    tcpService('PAS In', 'Admit', port),
    { name: 'Admit', className: 'RGH.BPL.Admit' },
    tcpOperation('PAS Query', pasPort, {}, { ReplyCodeActions: ':?R=F,:?E=S' }),
    fileOperation('EPR Out', path.join(out, 'epr-out')),
    fileOperation('Errors Out', path.join(out, 'errors-out')),
  ])
  await writeFile(path.join(dir, 'RGH.Production.xml'), prod)
  await copyFile(
    path.join(IRIS_FIXTURES, 'bpl', 'RGH.BPL.Admit.cls'),
    path.join(dir, 'RGH.BPL.Admit.cls'),
  )
}
