// What the router hands rules and transforms: the doc category (the sending service's
// MessageSchemaCategory, else the router's own), `<trace>` output, and plain-object DTL results
// sent on as JSON to HTTP and file operations (refused, naming the target, for MLLP).
import { readdir } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  fileOperation,
  filesIn,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'
import type { ItemSpec } from './helpers.js'

const RULES = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Test.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="json">
<when condition="HL7.{MSH:10} StartsWith &quot;J&quot;">
<send transform="Test.DTL.ToJson" target="JsonHttp,JsonFile"></send>
<return></return>
</when>
</rule>
<rule name="json over mllp">
<when condition="HL7.{MSH:10} StartsWith &quot;M&quot;">
<send transform="Test.DTL.ToJson" target="Mllp"></send>
<return></return>
</when>
</rule>
<rule name="category 2.3">
<constraint name="docCategory" value="2.3"></constraint>
<when condition="1">
<trace value="&quot;cat23 &quot;_HL7.{MSH:10}"></trace>
<send transform="Test.DTL.Trace" target="Cat23"></send>
</when>
</rule>
<rule name="category 2.4">
<constraint name="docCategory" value="2.4"></constraint>
<when condition="1"><send target="Cat24"></send></when>
</rule>
</ruleSet>
</ruleDefinition>`

const TRACE_DTL = `<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' create='copy' language='objectscript'>
<trace value='"dtl "_source.{MSH:10}' />
</transform>`

const JSON_DTL = `<transform sourceClass='EnsLib.HL7.Message' targetClass='Test.Msg.Patient' create='new' language='objectscript'>
<assign value='source.{MSH:10}' property='target.ControlId' action='set' />
<assign value='source.{PID:5.1}' property='target.Name.Family' action='set' />
</transform>`

describe('router context: docCategory, trace, non-HL7 transform targets', () => {
  let engine: Engine
  let dir: string
  let out: string
  let receiver: http.Server
  const posted: { type: string; body: string }[] = []

  beforeAll(async () => {
    out = await tempDir('router-ctx-out')
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        posted.push({
          type: req.headers['content-type'] ?? '',
          body: Buffer.concat(chunks).toString('utf8'),
        })
        res.writeHead(200).end()
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    const httpPort = (receiver.address() as AddressInfo).port
    const file = (name: string): ItemSpec => fileOperation(name, path.join(out, name), '.txt')
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In23', 'Router', 1, { MessageSchemaCategory: '2.3' }),
        tcpService('InPlain', 'Router', 2),
        {
          name: 'Router',
          className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
          host: {
            BusinessRuleName: 'Test.Rules',
            BadMessageHandler: 'Bad',
            MessageSchemaCategory: '2.4',
          },
        },
        file('Cat23'),
        file('Cat24'),
        file('JsonFile'),
        file('Bad'),
        {
          name: 'JsonHttp',
          className: 'EnsLib.HL7.Operation.HTTPOperation',
          adapter: { HTTPServer: '127.0.0.1', HTTPPort: httpPort, URL: '/patients' },
        },
        {
          name: 'Mllp',
          className: 'EnsLib.HL7.Operation.TCPOperation',
          adapter: { IPAddress: '127.0.0.1', Port: 9, ConnectTimeout: 1 },
          host: { FailureTimeout: 1, RetryInterval: 1 },
        },
      ],
      {
        freePorts: ['In23', 'InPlain'],
        rules: [['Test.Rules', RULES]],
        transforms: [
          ['Test.DTL.Trace', TRACE_DTL],
          ['Test.DTL.ToJson', JSON_DTL],
        ],
      },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await new Promise<void>((r) => receiver?.close(() => r()))
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it("uses the sending service's MessageSchemaCategory, and traces from rules and DTL", async () => {
    // MSH-12 says 2.5; the service assigns 2.3.
    expect(msaCode(await sendMllp(portOf(engine, 'In23'), hl7('ADT^A01', 'C23-1')))).toBe('AA')
    const { sessionId, state } = await finalState(engine, 'In23', 'C23-1')
    expect(state).toBe('completed')
    const [file] = await filesIn(path.join(out, 'Cat23'), 1)
    expect(file).toContain('|C23-1|')
    const hops = await engine.store.trace(sessionId)
    const routed = hops.find((h) => h.target === 'Router' && h.state === 'completed')
    expect(routed?.detail).toContain('trace: cat23 C23-1 | dtl C23-1')
    expect(await readdir(path.join(out, 'Cat24')).catch(() => [])).toHaveLength(0)
  })

  it("falls back to the router's own MessageSchemaCategory", async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'InPlain'), hl7('ADT^A01', 'C24-1')))).toBe('AA')
    expect((await finalState(engine, 'InPlain', 'C24-1')).state).toBe('completed')
    const [file] = await filesIn(path.join(out, 'Cat24'), 1)
    expect(file).toContain('|C24-1|')
  })

  it('sends a plain-object DTL result on as JSON to HTTP and file operations', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'InPlain'), hl7('ADT^A01', 'J-1')))).toBe('AA')
    expect((await finalState(engine, 'InPlain', 'J-1')).state).toBe('completed')
    const [file] = await filesIn(path.join(out, 'JsonFile'), 1)
    expect(JSON.parse(file!)).toEqual({ ControlId: 'J-1', Name: { Family: 'DOE' } })
    await waitFor(() => posted.length > 0, 'the HTTP POST')
    expect(posted[0]!.type).toBe('application/json')
    expect(JSON.parse(posted[0]!.body)).toEqual({ ControlId: 'J-1', Name: { Family: 'DOE' } })
  })

  it('refuses to send a JSON result to an MLLP operation, naming the target', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'InPlain'), hl7('ADT^A01', 'M-1')))).toBe('AA')
    const { sessionId } = await finalState(engine, 'InPlain', 'M-1')
    const [file] = await filesIn(path.join(out, 'Bad'), 1)
    expect(file).toContain('|M-1|')
    const hops = await engine.store.trace(sessionId)
    const failed = hops.find((h) => h.target === 'Router' && h.state === 'failed')
    expect(failed?.detail).toMatch(
      /Test\.DTL\.ToJson .*"Mllp" \(EnsLib\.HL7\.Operation\.TCPOperation\)/,
    )
    expect(failed?.detail).toContain('BadMessageHandler')
  })
})
