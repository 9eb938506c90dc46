// The routing engine with an IRIS rule class and a DTL transform, and its BadMessageHandler.
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import { defineProduction } from '../src/index.js'
import {
  controlIdOf,
  fileOperation,
  filesIn,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  runEngine,
  sendMllp,
  setSetting,
  startEngine,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'
import type { ItemSpec } from './helpers.js'

const RULES = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Test.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="tag ADT">
<when condition="HL7.{MSH:9.1}=&quot;ADT&quot;">
<send transform="Test.DTL.Tag" target="Tagged"></send>
<send transform="" target="Plain"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`

const DTL = `<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='2.5:ADT_A01' targetDocType='2.5:ADT_A01' create='copy' language='objectscript'>
<assign value='"LI-ENGINE"' property='target.{MSH:3}' action='set' />
</transform>`

describe('RoutingEngine', () => {
  let engine: Engine
  let dir: string
  let out: string

  beforeAll(async () => {
    out = await tempDir('router-out')
    const file = (name: string): ItemSpec => fileOperation(name, path.join(out, name))
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'Router', 1),
        {
          name: 'Router',
          className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
          host: { BusinessRuleName: 'Test.Rules', BadMessageHandler: 'Bad' },
        },
        file('Tagged'),
        file('Plain'),
        file('Bad'),
      ],
      { freePorts: ['In'], rules: [['Test.Rules', RULES]], transforms: [['Test.DTL.Tag', DTL]] },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it('applies the DTL on one branch and sends the original on the other', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'RT-1', 'PV1|1|I\r')))).toBe(
      'AA',
    )
    expect((await finalState(engine, 'In', 'RT-1')).state).toBe('completed')
    const [tagged] = await filesIn(path.join(out, 'Tagged'), 1)
    const [plain] = await filesIn(path.join(out, 'Plain'), 1)
    expect(tagged!.split('|')[2]).toBe('LI-ENGINE')
    expect(plain!.split('|')[2]).toBe('PAS')
    expect(controlIdOf(tagged!)).toBe('RT-1')
  })

  it('a message the router cannot parse goes to its BadMessageHandler; the session completes', async () => {
    const bad = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|RT-BAD|P|2.5\rpid|1\r'
    expect(msaCode(await sendMllp(portOf(engine, 'In'), bad))).toBe('AA')
    expect((await finalState(engine, 'In', 'RT-BAD')).state).toBe('completed')
    const [file] = await filesIn(path.join(out, 'Bad'), 1)
    expect(controlIdOf(file!)).toBe('RT-BAD')
    const { sessionId } = await finalState(engine, 'In', 'RT-BAD')
    const hops = await engine.store.trace(sessionId)
    expect(
      hops.some(
        (h) =>
          h.target === 'Router' &&
          h.state === 'failed' &&
          (h.detail ?? '').includes('BadMessageHandler'),
      ),
    ).toBe(true)
  })
})

describe('a native production (defineProduction) with native rules', () => {
  it('routes with the same evaluator', async () => {
    const out = await tempDir('native-out')
    const production = defineProduction({
      name: 'Native',
      items: [
        { name: 'In', type: 'mllp-in', settings: { Port: 1 }, targets: 'Router' },
        {
          name: 'Router',
          type: 'router',
          rules: [
            { name: 'adt', when: { path: 'MSH-9.1', eq: 'ADT' }, send: 'FileOut' },
            { name: 'rest', delete: true },
          ],
        },
        {
          name: 'FileOut',
          type: 'file-out',
          settings: { FilePath: out, Filename: '%Q%!+(_a).hl7' },
        },
      ],
    })
    setSetting(production, 'In', 'Port', '0')
    const dataDir = await tempDir('native')
    const engine = await runEngine(dataDir, production)
    try {
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'NAT-1')))).toBe('AA')
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ORM^O01', 'NAT-2')))).toBe('AA')
      expect((await finalState(engine, 'In', 'NAT-1')).state).toBe('completed')
      expect((await finalState(engine, 'In', 'NAT-2')).state).toBe('completed')
      const [file] = await filesIn(out, 1)
      expect(controlIdOf(file!)).toBe('NAT-1')
      expect(await readdir(out)).toHaveLength(1)
    } finally {
      await engine.stop()
      await removeDir(dataDir)
      await removeDir(out)
    }
  })
})

describe('RoutingEngine Validation and AlertOnBadMessage', () => {
  let engine: Engine
  let dir: string
  let out: string
  const alerts: string[] = []

  beforeAll(async () => {
    out = await tempDir('router-valid')
    ;({ engine, dir } = await startEngine(
      [
        tcpService('VIn', 'VRouter', 1),
        {
          name: 'VRouter',
          className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
          host: {
            BusinessRuleName: 'Test.Rules',
            BadMessageHandler: 'Bad',
            Validation: 'dm-z',
            MessageSchemaCategory: '2.5',
            AlertOnBadMessage: 1,
          },
        },
        fileOperation('Tagged', path.join(out, 'Tagged')),
        fileOperation('Plain', path.join(out, 'Plain')),
        fileOperation('Bad', path.join(out, 'Bad')),
      ],
      { freePorts: ['VIn'], rules: [['Test.Rules', RULES]], transforms: [['Test.DTL.Tag', DTL]] },
    ))
    engine.on('alert', (a) => alerts.push(`${a.host}: ${a.text}`))
  })

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it('a message that fails the router Validation goes to the BadMessageHandler, with an alert', async () => {
    const bad = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|RV-1|P|2.5\rZZZ|1\r'
    expect(msaCode(await sendMllp(portOf(engine, 'VIn'), bad))).toBe('AA')
    const [text] = await filesIn(path.join(out, 'Bad'), 1)
    expect(controlIdOf(text ?? '')).toBe('RV-1')
    await waitFor(() => alerts.some((a) => a.startsWith('VRouter: bad message')), 'the alert')
    const ok = hl7('ADT^A01', 'RV-2', 'PV1|1|I\r')
    expect(msaCode(await sendMllp(portOf(engine, 'VIn'), ok))).toBe('AA')
    await filesIn(path.join(out, 'Plain'), 1)
  })
})
