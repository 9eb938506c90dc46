// Ens.Alert as a routing engine (EnsLib.MsgRouter.RoutingEngine with an alert rule over
// Ens.AlertRequest properties), from an IRIS export: real alerts (an outbound MLLP peer that
// refuses connections, another that answers AR) reach only the targets the rule chooses, over
// real sockets, files and HTTP.
import { once } from 'node:events'
import { readFile, readdir } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkProduction, compileRules, isEngineError, loadProduction } from '../src/index.js'
import type { Production, Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  captureLogger,
  controlIdOf,
  finalState,
  hl7,
  msaCode,
  portOf,
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
import type { ItemSpec } from './helpers.js'
import { SmtpSink } from './smtp-sink.js'

const EXPORT = fileURLToPath(
  new URL('./fixtures/iris/alerts/RGH.Alerting.Export.xml', import.meta.url),
)
/** `Ens.DataType.UTC`: `YYYY-MM-DD HH:MM:SS.sss`. */
const IRIS_UTC = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/

/** An MLLP service `In` sending to an operation `Down` that alerts when `port` refuses it. */
function downPath(port: number): ItemSpec[] {
  return [
    tcpService('In', 'Down', 1),
    tcpOperation('Down', port, { ConnectTimeout: 1 }, { FailureTimeout: 0, AlertOnError: 1 }),
  ]
}

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

describe('checkProduction with an Ens.Alert routing engine', () => {
  it('reports the Ens.Alert router, its alert rule and the object transform as supported', async () => {
    const r = await checkProduction({ path: EXPORT })
    const by = Object.fromEntries(r.entries.map((e) => [`${e.kind}:${e.name}`, e]))
    expect(by['item:Ens.Alert']).toMatchObject({ status: 'supported', notes: [] })
    expect(by['rule:RGH.Alerting.AlertRules']).toMatchObject({ status: 'supported', notes: [] })
    expect(by['item:PagerAlert']!.status).toBe('supported')
    // Object source and target: a documented difference (plain JSON objects), still runnable.
    expect(by['transform:RGH.Alerting.AlertToPager']!.status).toBe('differences')
    expect(r.exitCode).toBe(0)
  })
})

describe('alert rules read Ens.AlertRequest properties', () => {
  let p: Production
  beforeAll(async () => {
    p = await loadProduction({ path: EXPORT })
  })
  const alert = (over: Record<string, string> = {}): Record<string, string> => ({
    SourceConfigName: 'Lab Out',
    AlertText: 'failed: AR: MSA-1 "AR" matched :?R=F',
    AlertTime: '2026-11-27 16:00:00.000',
    SessionId: 'S1',
    AlertDestination: '',
    ...over,
  })
  const route = (doc: Record<string, string>, source = doc.SourceConfigName ?? ''): string[] => {
    const rules = compileRules(p.rules.get('RGH.Alerting.AlertRules')!, p)
    const r = rules.evaluate({
      document: doc,
      msgClass: 'Ens.AlertRequest',
      source,
      now: new Date(),
      lookupTables: new Map(),
    })
    return r.actions.map((a) =>
      a.type === 'send' ? `${a.target}:${a.transforms.join(',')}` : a.type,
    )
  }

  it('chooses targets by SourceConfigName, AlertText, SessionId and the source constraint', () => {
    expect(route(alert())).toEqual(['PagerAlert:RGH.Alerting.AlertToPager', 'EmailAlert:'])
    // No session: the pager rule's condition is false; e-mail still matches.
    expect(route(alert({ SessionId: '' }))).toEqual(['EmailAlert:'])
    expect(route(alert({ SourceConfigName: 'EPR Out', AlertText: 'failed: connect' }))).toEqual([
      'AlertFileOut:',
    ])
    // `return` in the first rule: nothing else runs.
    expect(route(alert({ SourceConfigName: 'TEST feed' }))).toEqual([])
    expect(route(alert({ SourceConfigName: 'Router' }))).toEqual([])
  })

  it('a msgClass Ens.AlertRequest rule never matches an HL7 message', () => {
    const rules = compileRules(p.rules.get('RGH.Alerting.AlertRules')!, p)
    const raw = hl7('ADT^A01', 'HL7-1')
    const r = rules.evaluate({ raw, source: 'Lab Out', now: new Date(), lookupTables: new Map() })
    expect(r.actions).toEqual([])
  })

  it('an HL7-style rule class without msgClass constraints reads them when Ens.Alert uses it', async () => {
    const hl7Style = (await readFile(EXPORT, 'utf8'))
      .replaceAll('<constraint name="msgClass" value="Ens.AlertRequest"></constraint>\n', '')
      .replace(
        '<Default>EnsLib.MsgRouter.RuleAssist</Default>',
        '<Default>EnsLib.HL7.MsgRouter.RuleAssist</Default>',
      )
      .replace(
        'context="EnsLib.MsgRouter.RoutingEngine"',
        'context="EnsLib.HL7.MsgRouter.RoutingEngine"',
      )
    expect(hl7Style).not.toContain('name="msgClass"')
    p = await loadProduction(hl7Style)
    expect(route(alert())).toEqual(['PagerAlert:RGH.Alerting.AlertToPager', 'EmailAlert:'])
    // The same rule class behind a router not named Ens.Alert reads HL7 messages only.
    await expect(
      loadProduction(hl7Style.replace('<Item Name="Ens.Alert"', '<Item Name="Alerts"')),
    ).rejects.toThrow(/"Document\.SourceConfigName" is not supported/)
    p = await loadProduction({ path: EXPORT })
  })

  it('an Ens.AlertRequest property that does not exist fails the load, naming rule and property', async () => {
    const xml = (await readFile(EXPORT, 'utf8')).replace(
      'Document.SourceConfigName In',
      'Document.SourceConfig In',
    )
    let err: unknown
    try {
      await loadProduction(xml)
    } catch (e) {
      err = e
    }
    expect(isEngineError(err) && err.code).toBe('ENGINE_RULE_INVALID')
    expect((err as Error).message).toMatch(
      /rule class RGH\.Alerting\.AlertRules, rule "everything else by e-mail".*Ens\.AlertRequest has no property "SourceConfig" \(it has SourceConfigName, AlertText, AlertTime, SessionId, AlertDestination\)/,
    )
  })

  it('an HL7 path in a rule whose msgClass is Ens.AlertRequest fails the load', async () => {
    const xml = (await readFile(EXPORT, 'utf8')).replace(
      'Document.SourceConfigName In',
      'Document.{MSH:9.1} In',
    )
    await expect(loadProduction(xml)).rejects.toThrow(
      /"Document\.\{\.\.\.\}" reads an HL7 message, but the rule's msgClass is Ens\.AlertRequest/,
    )
  })
})

describe('Ens.Alert routing engine end to end', () => {
  let engine: Engine
  let dir: string
  let lab: MllpPeer
  let pager: http.Server
  let smtp: SmtpSink
  const paged: { type: string | undefined; body: string }[] = []

  beforeAll(async () => {
    dir = await tempDir('alert-router')
    lab = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AR') }))
    const labPort = await lab.listen()
    pager = http.createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (body += c))
      req.on('end', () => {
        paged.push({ type: req.headers['content-type'], body })
        res.writeHead(200, { 'content-type': 'text/plain' }).end('queued')
      })
    })
    pager.listen(0, '127.0.0.1')
    await once(pager, 'listening')
    const production = await loadProduction({ path: EXPORT })
    setSetting(production, 'PAS In', 'Port', '0')
    setSetting(production, 'EPR Out', 'Port', String(await closedPort()))
    setSetting(production, 'Lab Out', 'Port', String(labPort))
    setSetting(
      production,
      'PagerAlert',
      'HTTPPort',
      String((pager.address() as net.AddressInfo).port),
    )
    setSetting(production, 'EmailAlert', 'AlertFile', path.join(dir, 'email.jsonl'), 'Host')
    // The export's SMTPServer is the trust's relay: here a real SMTP server on loopback.
    smtp = new SmtpSink()
    setSetting(production, 'EmailAlert', 'SMTPServer', '127.0.0.1')
    setSetting(production, 'EmailAlert', 'SMTPPort', String(await smtp.listen()))
    setSetting(production, 'AlertFileOut', 'FilePath', path.join(dir, 'alerts'))
    engine = await runEngine(path.join(dir, 'data'), production)
  })

  afterAll(async () => {
    await engine?.stop()
    await lab?.close()
    if (pager !== undefined) await new Promise<void>((resolve) => pager.close(() => resolve()))
    await smtp?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  it('each alert reaches only the targets its rule chooses, with its Ens.AlertRequest fields', async () => {
    const ack = await sendMllp(portOf(engine, 'PAS In'), hl7('ADT^A01', 'ALR-1'))
    expect(msaCode(ack)).toBe('AA')
    const { sessionId } = await finalState(engine, 'PAS In', 'ALR-1')
    const files = path.join(dir, 'alerts')
    const email = path.join(dir, 'email.jsonl')
    await waitFor(async () => (await readdir(files).catch(() => [])).length > 0, 'the alert file')
    await waitFor(() => paged.length > 0, 'the page')
    await waitFor(
      async () => (await readFile(email, 'utf8').catch(() => '')).length > 0,
      'the e-mail alert',
    )
    // Every branch done (alerts included): nothing more can arrive.
    await waitFor(async () => {
      const s = await engine.getStatus()
      return s.inFlight === 0 && s.walPending === 0
    }, 'all sessions finished')

    // EPR Out (connection refused) -> AlertFileOut only (its rule returns).
    const names = await readdir(files)
    expect(names).toHaveLength(1)
    expect(names[0]).toMatch(/^alert_.*\.json$/)
    const fileAlert = JSON.parse(await readFile(path.join(files, names[0]!), 'utf8')) as Record<
      string,
      string
    >
    expect(fileAlert).toMatchObject({
      SourceConfigName: 'EPR Out',
      SessionId: sessionId,
      AlertDestination: '',
    })
    expect(fileAlert.AlertText).toMatch(/^failed: /)
    expect(fileAlert.AlertTime).toMatch(IRIS_UTC)

    // Lab Out (AR) -> PagerAlert through the DTL (JSON body) and EmailAlert, not the file.
    expect(paged).toHaveLength(1)
    expect(paged[0]!.type).toMatch(/^application\/json/)
    const page = JSON.parse(paged[0]!.body) as Record<string, string>
    expect(page.Team).toBe('LAB')
    expect(page.Text).toMatch(/^Lab Out: failed: .*AR/)
    expect(page.Raised).toMatch(IRIS_UTC)
    expect(page.Session).toBe(sessionId)
    const lines = (await readFile(email, 'utf8')).trim().split('\n')
    expect(lines).toHaveLength(1)
    const mailed = JSON.parse(lines[0]!) as Record<string, string>
    expect(mailed).toMatchObject({ SourceConfigName: 'Lab Out', SessionId: sessionId })
    expect(mailed.AlertText).toContain('AR')
    // ... and e-mailed to the export's Recipient through its SMTPServer.
    expect(smtp.mails.map((m) => m.to)).toEqual([['integration-team@rgh.nhs.uk']])
    expect(smtp.mails[0]!.data).toMatch(/Subject: LI Engine alert from [^\r\n]*:Lab Out/)

    // Alerts travel as Ens.AlertRequest messages, routed and traced like any other.
    const { records } = await engine.store.query({ messageType: 'Ens.AlertRequest', limit: 10 })
    expect(records.map((r) => r.hostName).sort()).toEqual(['EPR Out', 'Lab Out'])
    const lab = records.find((r) => r.hostName === 'Lab Out')!
    const hops = await engine.store.trace(lab.sessionId!)
    const routed = hops.find((h) => h.target === 'Ens.Alert' && h.state === 'completed')
    expect(routed?.detail).toBe('rules lab rejections page the lab team, everything else by e-mail')
    expect(hops.filter((h) => h.state === 'completed').map((h) => h.target)).toEqual(
      expect.arrayContaining(['PagerAlert', 'EmailAlert']),
    )
  })
})

describe('an alert target that fails', () => {
  let engine: Engine
  let dir: string

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
  })

  it('raises its own alert, which is logged and emitted but not routed to Ens.Alert again', async () => {
    const { logger, lines } = captureLogger()
    const refused = await closedPort()
    ;({ engine, dir } = await startEngine(
      [
        ...downPath(refused),
        {
          name: 'Ens.Alert',
          className: 'EnsLib.MsgRouter.RoutingEngine',
          host: { BusinessRuleName: 'RGH.Alerting.All' },
        },
        {
          name: 'Pager',
          className: 'EnsLib.HL7.Operation.HTTPOperation',
          host: { FailureTimeout: 0, AlertOnError: 1 },
          adapter: { HTTPServer: '127.0.0.1', HTTPPort: refused, URL: '/page' },
        },
      ],
      {
        freePorts: ['In'],
        config: { logger },
        rules: [
          [
            'RGH.Alerting.All',
            `<ruleDefinition alias="" context="EnsLib.MsgRouter.RoutingEngine">
<ruleSet name="">
<rule name="all alerts to the pager"><constraint name="msgClass" value="Ens.AlertRequest"></constraint>
<when condition="1"><send target="Pager"></send></when></rule>
</ruleSet>
</ruleDefinition>`,
          ],
        ],
      },
    ))
    const alerts: string[] = []
    engine.on('alert', (a) => alerts.push(a.host))
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'LOOP-1')))).toBe('AA')
    await waitFor(() => alerts.includes('Pager'), 'the pager alert')
    await waitFor(async () => {
      const s = await engine.getStatus()
      return s.inFlight === 0 && s.walPending === 0
    }, 'all sessions finished')
    expect(alerts).toEqual(['Down', 'Pager'])
    const { records } = await engine.store.query({ messageType: 'Ens.AlertRequest', limit: 10 })
    expect(records.map((r) => r.hostName)).toEqual(['Down'])
    expect(
      lines.some(
        (l) => l.msg === 'alert about delivering an alert: logged, not routed to Ens.Alert again',
      ),
    ).toBe(true)
  })
})

describe('an alert left in the WAL', () => {
  let engine: Engine | undefined
  let dir: string | undefined
  let outDir: string | undefined

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    if (outDir !== undefined) await removeDir(outDir)
  })

  it('is routed as an Ens.AlertRequest by the Ens.Alert router after a restart', async () => {
    const refused = await closedPort()
    const out = await tempDir('alert-resume')
    const alertFile = path.join(out, 'alerts.jsonl')
    // First run: Ens.Alert is disabled, so the alert stays in the WAL when the engine stops.
    const first = await startEngine(
      [
        ...downPath(refused),
        {
          name: 'Ens.Alert',
          className: 'EnsLib.MsgRouter.RoutingEngine',
          enabled: false,
          host: { BusinessRuleName: 'RGH.Alerting.Mail' },
        },
        { name: 'Mail', className: 'EnsLib.EMail.AlertOperation', host: { AlertFile: alertFile } },
      ],
      {
        freePorts: ['In'],
        config: { drainTimeout: 0.2 },
        rules: [
          [
            'RGH.Alerting.Mail',
            `<ruleDefinition alias="" context="EnsLib.MsgRouter.RoutingEngine">
<ruleSet name="">
<rule name="down"><constraint name="msgClass" value="Ens.AlertRequest"></constraint>
<when condition="Document.SourceConfigName=&quot;Down&quot;"><send target="Mail"></send></when></rule>
</ruleSet>
</ruleDefinition>`,
          ],
        ],
      },
    )
    engine = first.engine
    dir = first.dir
    outDir = out
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'WAL-1')))).toBe('AA')
    await waitFor(async () => {
      const r = await engine!.store.query({ messageType: 'Ens.AlertRequest', limit: 10 })
      return r.records.length > 0
    }, 'the alert stored')
    const production = engine.production!
    await engine.stop()
    // Second run on the same data directory, Ens.Alert enabled: the WAL entry is resumed.
    production.items.find((i) => i.name === 'Ens.Alert')!.enabled = true
    engine = await runEngine(path.join(dir, 'data'), production)
    const line = await waitFor(
      async () => (await readFile(alertFile, 'utf8').catch(() => '')).trim() || undefined,
      'the alert in the Mail AlertFile',
    )
    const alert = JSON.parse(line) as Record<string, string>
    expect(alert).toMatchObject({ SourceConfigName: 'Down', AlertDestination: '' })
    expect(alert.AlertText).toMatch(/^failed: /)
    const { records } = await engine.store.query({ messageType: 'Ens.AlertRequest', limit: 10 })
    expect(records.some((r) => r.metadata?.recovered === true)).toBe(true)
  })
})
