import { parseMessage } from '@li/hl7'
import { describe, expect, it } from 'vitest'
import { irisFixture, thrown } from '../../test/helpers.js'
import { isEngineError } from '../errors.js'
import { defineProduction } from '../production/define.js'
import type { Production } from '../production/types.js'
import {
  BPL_MAX_ITERATIONS,
  compileProcess,
  durationMs,
  type BplCallReply,
  type BplRunInput,
  type BplSyncCall,
} from './bpl.js'
import { checkBundle } from './check.js'
import { evaluate, functionRegistry, parseExpression, type EvalEnv } from './expression.js'
import { createIrisBundle, readIrisSource } from './loader.js'

const ORU = irisFixture('messages/oru-r01.hl7')
const ADT = irisFixture('messages/adt-a01.hl7')
const OUTS = ['EPR Out', 'Pager Out', 'Archive Out', 'Errors Out']

/** The four file operations the processes of these tests call. */
function outItems(): { name: string; type: 'file-out'; settings: { FilePath: string } }[] {
  return OUTS.map((name) => ({ name, type: 'file-out' as const, settings: { FilePath: '/tmp' } }))
}

/** A production with the four operations and a `Results` item running `bplClass`. */
function production(extra: { text: string; file: string }[] = [], bplClass = 'RGH.BPL.Results') {
  const bundle = createIrisBundle()
  for (const f of [
    'RGH.BPL.Results.cls',
    'RGH.DTL.ResultToEPR.cls',
    'RGH.Rules.ResultPriority.cls',
  ])
    readIrisSource(irisFixture(`bpl/${f}`), f, bundle)
  for (const e of extra) readIrisSource(e.text, e.file, bundle)
  const p = defineProduction({
    name: 'P',
    items: [...outItems(), { name: 'Results', className: bplClass }],
  })
  for (const [k, v] of bundle.rules) p.rules.set(k, v)
  for (const [k, v] of bundle.transforms) p.transforms.set(k, v)
  p.processes = new Map(bundle.processes)
  return { p, bundle }
}

async function run(p: Production, request: string, className = 'RGH.BPL.Results') {
  const bp = compileProcess(p.processes!.get(className)!, p)
  const traces: string[] = []
  const alerts: string[] = []
  const input: BplRunInput = {
    request,
    trace: (t) => traces.push(t),
    alert: (t) => alerts.push(t),
    now: new Date(2026, 10, 28, 3, 0, 0),
  }
  const r = await bp.run(input)
  return { ...r, traces, alerts, bp }
}

/** What `promise` rejects with (undefined when it resolves). */
async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (e) {
    return e
  }
  return undefined
}

/** A BPL class around `body` (activities of the main sequence), with a context. */
function bplClass(name: string, body: string, context = ''): { text: string; file: string } {
  return {
    file: `${name}.cls`,
    text: `Class ${name} Extends Ens.BusinessProcessBPL
{

XData BPL [ XMLNamespace = "http://www.intersystems.com/bpl" ]
{
<process language='objectscript' request='EnsLib.HL7.Message' response='Ens.Response'>
<context>
<property name='N' type='%Integer' initialexpression='0' />
<property name='Msg' type='EnsLib.HL7.Message' />
${context}
</context>
<sequence>
${body}
</sequence>
</process>
}

}
`,
  }
}

const call = (target: string, extra = '', name = target): string =>
  `<call name='${name}' target='${target}' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" action="set" />${extra}</request></call>`

describe('BPL: the loader reads XData BPL classes', () => {
  it('keeps the process with its superclass and origin, not as an ObjectScript class', async () => {
    const { bundle } = production()
    const def = bundle.processes.get('RGH.BPL.Results')
    expect(def?.superClass).toBe('Ens.BusinessProcessBPL')
    expect(def?.origin?.file).toBe('RGH.BPL.Results.cls')
    expect(bundle.otherClasses.map((c) => c.className)).not.toContain('RGH.BPL.Results')
  })

  it('reads `X.GetValueAt("path")` as the path `X.{path}`', async () => {
    const e = parseExpression('request.GetValueAt("PID:3.1")', {
      functions: functionRegistry(),
    })
    expect(e).toMatchObject({ k: 'vpath', base: 'request', path: { raw: 'PID:3.1' } })
  })
})

describe('BPL: a results process (rule, transform, calls, switch, while, scope)', () => {
  const { p } = production()

  it('an urgent ORU: the EPR copy through the DTL, a page, two archive copies, in call order', async () => {
    const r = await run(p, ORU)
    expect(r.calls.map((c) => [c.name, c.target])).toEqual([
      ['To EPR', 'EPR Out'],
      ['Page', 'Pager Out'],
      ['Archive', 'Archive Out'],
      ['Archive', 'Archive Out'],
    ])
    const [epr, page, a1, a2] = r.calls.map((c) => parseMessage(c.raw))
    expect(epr?.get('MSH-5')).toBe('EPR')
    expect(epr?.get('MSH-6')).toBe('RGHEPR')
    expect(epr?.get('OBR-27')).toBe('urgent')
    expect(epr?.get('PID-3.1')).toBe('RGH123456')
    expect(page?.get('MSH-5')).toBe('PAGER')
    expect([a1?.get('MSH-10'), a2?.get('MSH-10')]).toEqual(['LAB0001-1', 'LAB0001-2'])
    // The request itself is never changed: the archive copies start from it, not from the page.
    expect(a1?.get('MSH-5')).toBe('EPR')
    expect(r.traces).toEqual(['result LAB0001'])
    expect(r.alerts).toEqual([])
    expect(r.bp.targets).toEqual(['EPR Out', 'Pager Out', 'Archive Out', 'Errors Out'])
    expect(r.bp.transforms).toEqual(['RGH.DTL.ResultToEPR'])
    expect(r.bp.rules).toEqual(['RGH.Rules.ResultPriority'])
  })

  it('a routine ORU without an MRN: no page, the default branch traces, the fault handler alerts and calls', async () => {
    const routine = ORU.replace('||11.2|10*9/L|4.0-11.0|H|', '||11.2|10*9/L|4.0-11.0|N|').replace(
      'RGH123456^^^RGH^MR',
      '',
    )
    const r = await run(p, routine)
    expect(r.calls.map((c) => c.target)).toEqual([
      'EPR Out',
      'Archive Out',
      'Archive Out',
      'Errors Out',
    ])
    expect(parseMessage(r.calls[0]!.raw).get('OBR-27')).toBe('routine')
    expect(r.traces).toEqual(['result LAB0001', 'routine result'])
    expect(r.alerts).toEqual(['result LAB0001 has no MRN'])
  })

  it('not an ORU: the false branch alerts with the message name; the archive copies still go', async () => {
    const r = await run(p, ADT)
    expect(r.calls.map((c) => c.target)).toEqual(['Archive Out', 'Archive Out'])
    expect(r.alerts).toEqual(['unexpected message type ADT_A01'])
  })
})

describe('BPL: activities', () => {
  it('context values, append, remove, indirect targets, milestones and break/continue', async () => {
    const cls = bplClass(
      'T.BPL.A',
      `<assign property='context.Where' value='"Archive"' />
<assign property='context.Where' value='" Out"' action='append' />
<while condition='1'>
<assign property='context.N' value='context.N+1' />
<if condition='context.N=2'><true><continue /></true></if>
<if condition='context.N&gt;3'><true><break /></true></if>
<milestone value='"pass "_context.N' />
</while>
<assign property='context.Msg' value='request' />
<assign property='context.Msg.{PID:5}' value='"DOE^JANE"' />
<assign property='context.Msg.{NK1}' value='' action='remove' />
<call name='Indirect' target='@context.Where' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="context.Msg" /></request></call>`,
      `<property name='Where' type='%String' />`,
    )
    const { p } = production([cls])
    const r = await run(p, ADT, 'T.BPL.A')
    expect(r.milestones).toEqual(['pass 1', 'pass 3'])
    expect(r.calls.map((c) => [c.name, c.target])).toEqual([['Indirect', 'Archive Out']])
    const sent = parseMessage(r.calls[0]!.raw)
    expect(sent.get('PID-5')).toBe('DOE^JANE')
    // `{NK1}` names the first NK1: the daughter stays.
    expect(sent.segments().filter((s) => s.name === 'NK1')).toHaveLength(1)
    expect(sent.get('NK1-2')).toBe('SMITH^ANNE')
  })

  it('a call with a non-HL7 request sends its properties as JSON', async () => {
    const cls = bplClass(
      'T.BPL.Json',
      `<call name='Notify' target='Archive Out' async='1'><request type='Ens.StringRequest'><assign property='callrequest.StringValue' value='"MRN "_request.{PID:3.1}' /></request></call>`,
    )
    const { p } = production([cls])
    const r = await run(p, ADT, 'T.BPL.Json')
    expect(r.calls).toEqual([
      {
        name: 'Notify',
        target: 'Archive Out',
        raw: '{"StringValue":"MRN 9434765919"}',
        format: 'json',
      },
    ])
  })

  it('a catchall takes any error of its scope; an uncaught fault fails the run and sends nothing', async () => {
    const caught = bplClass(
      'T.BPL.Catch',
      `<scope><transform class='RGH.DTL.ResultToEPR' source='context.Msg' target='context.Msg' />
<faulthandlers><catchall><trace value='"recovered"' /></catchall></faulthandlers></scope>
${call('Archive Out')}`,
    )
    const uncaught = bplClass(
      'T.BPL.Throw',
      `${call('Archive Out')}<scope><throw fault='"Other"' /><faulthandlers><catch fault='"NoMRN"'><trace value='"no"' /></catch></faulthandlers></scope>`,
    )
    const { p } = production([caught, uncaught])
    const ok = await run(p, ADT, 'T.BPL.Catch')
    expect(ok.traces).toEqual(['recovered'])
    expect(ok.calls.map((c) => c.target)).toEqual(['Archive Out'])
    const err = await rejected(run(p, ADT, 'T.BPL.Throw'))
    expect(isEngineError(err) && err.code).toBe('ENGINE_PROCESS_FAILED')
    expect((err as Error).message).toMatch(
      /T\.BPL\.Throw .*failed: .*fault "Other" thrown at line \d+ was not caught/,
    )
  })

  it('a loop whose condition never ends it fails the run, naming the bound', async () => {
    const cls = bplClass(
      'T.BPL.Loop',
      `<while condition='1'><assign property='context.N' value='1' /></while>`,
    )
    const { p } = production([cls])
    await expect(run(p, ADT, 'T.BPL.Loop')).rejects.toThrow(
      new RegExp(`line \\d+: <while> ran ${BPL_MAX_ITERATIONS} times`),
    )
  })

  it('a call whose callrequest was never given a message fails, naming the call', async () => {
    const cls = bplClass(
      'T.BPL.Empty',
      `<call name='Nothing' target='Archive Out' async='1'><request type='EnsLib.HL7.Message' /></call>`,
    )
    const { p } = production([cls])
    await expect(run(p, ADT, 'T.BPL.Empty')).rejects.toThrow(
      /call "Nothing": callrequest was never assigned a message/,
    )
  })
})

describe('BPL: process properties (item settings), the FunctionSet, $CHAR and $ZDATETIME', () => {
  // The shape of a trust's dose-check process: class properties listed in SETTINGS, set per item.
  const udl = `/// Dose check.
Class T.BPL.Dose Extends Ens.BusinessProcessBPL
{

Parameter SETTINGS = "AlertTarget:Basic:selector,LookupTableName";

Property AlertTarget As %String(MAXLEN = 200) [ InitialExpression = "Archive Out" ];

Property LookupTableName As %String(MAXLEN = 100) [ InitialExpression = "DoseLimits" ];

XData BPL [ XMLNamespace = "http://www.intersystems.com/bpl" ]
{
<process language='objectscript' request='EnsLib.HL7.Message' response='Ens.Response'>
<context>
<property name='Max' type='%String' />
<property name='Line' type='%String' />
</context>
<sequence>
<assign property="context.Max" value="##class(Ens.Util.FunctionSet).Lookup(process.LookupTableName,request.GetValueAt(&quot;PV1:2&quot;),&quot;&quot;)" />
<if condition="(context.Max &apos;= &quot;&quot;) &amp;&amp; (+request.GetValueAt(&quot;PID:3(1).1&quot;) &gt; +context.Max)">
<true>
<assign property="context.Line" value="$zdatetime($horolog,3)_&quot;|&quot;_context.Max_$c(13,10)" />
<call name="Alert" target="@process.AlertTarget" async="1">
<request type="Ens.StringContainer"><assign property="callrequest.StringValue" value="context.Line" /></request>
</call>
</true>
</if>
</sequence>
</process>
}

}
`
  const bundle = createIrisBundle()
  readIrisSource(udl, 'T.BPL.Dose.cls', bundle)
  const p = defineProduction({
    name: 'P',
    items: outItems(),
    lookupTables: { DoseLimits: { I: '100' }, OtherLimits: { I: '1' } },
  })
  p.processes = new Map(bundle.processes)
  const bp = compileProcess(p.processes.get('T.BPL.Dose')!, p)
  const now = new Date(2026, 10, 28, 3, 4, 5)
  const input = (settings?: Record<string, string>): BplRunInput => ({
    request: ADT,
    now,
    lookupTables: p.lookupTables,
    ...(settings ? { settings } : {}),
  })

  it('reads the class properties and the SETTINGS names', async () => {
    const def = p.processes!.get('T.BPL.Dose')!
    expect(def.settings).toEqual(['AlertTarget', 'LookupTableName'])
    expect(def.properties?.AlertTarget).toEqual({ type: '%String', initial: '"Archive Out"' })
  })

  it('a property reads its InitialExpression, or the item setting of that name', async () => {
    // ADT: PV1-2 is I; PID-3(1).1 9434765919 > 100.
    expect((await bp.run(input())).calls).toEqual([
      {
        name: 'Alert',
        target: 'Archive Out',
        raw: JSON.stringify({ StringValue: '2026-11-28 03:04:05|100\r\n' }),
        format: 'json',
      },
    ])
    const set = await bp.run(input({ AlertTarget: 'Errors Out', LookupTableName: 'OtherLimits' }))
    expect(set.calls.map((c) => [c.target, JSON.parse(c.raw).StringValue])).toEqual([
      ['Errors Out', '2026-11-28 03:04:05|1\r\n'],
    ])
    expect((await bp.run(input({ LookupTableName: 'NoSuchTable' }))).calls).toEqual([])
  })

  it('a property the class does not declare, and another class method, are refused', async () => {
    const bad = udl.replace('process.AlertTarget', 'process.Nope')
    const b2 = createIrisBundle()
    readIrisSource(bad, 'T.BPL.Dose.cls', b2)
    expect(() => compileProcess(b2.processes.get('T.BPL.Dose')!, p)).toThrow(
      /"process\.Nope": Nope is not a property of the process class/,
    )
    const b3 = createIrisBundle()
    readIrisSource(udl.replace('Ens.Util.FunctionSet', 'RGH.Util'), 'T.BPL.Dose.cls', b3)
    expect(() => compileProcess(b3.processes.get('T.BPL.Dose')!, p)).toThrow(
      /##class\(RGH\.Util\)\.Lookup calls an ObjectScript class method, which is not supported/,
    )
  })

  it('check takes the item settings the class declares as the process own, not as unsupported', async () => {
    const b = createIrisBundle()
    readIrisSource(udl, 'T.BPL.Dose.cls', b)
    b.productions.push(
      defineProduction({
        name: 'P',
        items: [
          ...outItems(),
          {
            name: 'Dose',
            className: 'T.BPL.Dose',
            host: { AlertTarget: 'Errors Out', Unknown: 'x' },
          },
        ],
      }),
    )
    const item = checkBundle(b).entries.find((e) => e.kind === 'item' && e.name === 'Dose')
    expect(item?.status).toBe('unsupported')
    expect(item?.notes.filter((n) => n.includes('AlertTarget'))).toEqual([])
    expect(item?.notes.some((n) => n.includes('Unknown'))).toBe(true)
  })

  it('an XML export carries the properties too', async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
<Class name="T.BPL.X">
<Super>Ens.BusinessProcessBPL</Super>
<Parameter name="SETTINGS"><Default>Target</Default></Parameter>
<Property name="Target"><Type>%String</Type><InitialExpression>"Pager Out"</InitialExpression></Property>
<XData name="BPL"><Data><![CDATA[
<process language='objectscript' request='EnsLib.HL7.Message' response='Ens.Response'>
<sequence><call name='C' target='@process.Target' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /></request></call></sequence>
</process>
]]></Data></XData>
</Class>
</Export>`
    const b = createIrisBundle()
    readIrisSource(xml, 'x.xml', b)
    const def = b.processes.get('T.BPL.X')!
    expect(def.settings).toEqual(['Target'])
    expect((await compileProcess(def, p).run({ request: ADT })).calls.map((c) => c.target)).toEqual(
      ['Pager Out'],
    )
  })

  it('$HOROLOG, $ZDATETIME, $ZDATE and $CHAR as ObjectScript has them', async () => {
    const env: EvalEnv = {
      vpath: () => '',
      ref: () => '',
      lookupTables: new Map(),
      now: new Date(2026, 10, 28, 3, 4, 5),
      functions: functionRegistry(),
    }
    const ev = (src: string) =>
      evaluate(parseExpression(src, { functions: env.functions, leftToRight: true }), env)
    expect(ev('$H')).toBe('67902,11045')
    expect(ev('$zdatetime($horolog,3)')).toBe('2026-11-28 03:04:05')
    expect(ev('$ZDT("47117,0")')).toBe('01/01/1970 00:00:00')
    expect(ev('$zdate($h,8)')).toBe('20261128')
    expect(ev('$zd($h,4)')).toBe('28/11/2026')
    expect(ev('$c(72,76,55)')).toBe('HL7')
    expect(ev('##class(Ens.Util.FunctionSet).ToUpper("abc")')).toBe('ABC')
    expect(() => ev('$zdatetime($h,9)')).toThrow(/format 9 is not supported/)
  })
})

describe('BPL: a request class that is not HL7 (Ens.AlertRequest)', () => {
  const cls = (body: string) => ({
    file: 'T.BPL.Obj.cls',
    text: `Class T.BPL.Obj Extends Ens.BusinessProcessBPL
{

XData BPL
{
<process language='objectscript' request='Ens.AlertRequest' response='Ens.Response'>
<sequence>
${body}
</sequence>
</process>
}

}
`,
  })

  it('reads its properties, and sends it on whole as JSON', async () => {
    const { p } = production([
      cls(
        `<if condition='request.SourceConfigName="EPR Out"'><true>${call('Errors Out').replace("type='EnsLib.HL7.Message'", "type='Ens.AlertRequest'")}</true></if>`,
      ),
    ])
    const bp = compileProcess(p.processes!.get('T.BPL.Obj')!, p)
    const alert = { SourceConfigName: 'EPR Out', AlertText: 'down' }
    expect((await bp.run({ request: JSON.stringify(alert) })).calls).toEqual([
      { name: 'Errors Out', target: 'Errors Out', raw: JSON.stringify(alert), format: 'json' },
    ])
    expect((await bp.run({ request: JSON.stringify({ SourceConfigName: 'X' }) })).calls).toEqual([])
    const err = await rejected(bp.run({ request: ADT }))
    expect(isEngineError(err) && err.code).toBe('ENGINE_PROCESS_FAILED')
    expect((err as Error).message).toMatch(
      /must be a Ens\.AlertRequest object \(JSON\), not an HL7 message/,
    )
  })

  it('refuses HL7 paths on it', async () => {
    const { p } = production([cls(`<trace value='request.{PID:3}' />`)])
    expect(() => compileProcess(p.processes!.get('T.BPL.Obj')!, p)).toThrow(
      /the request is a Ens\.AlertRequest object, not an HL7 message: read it with request\.Property/,
    )
  })
})

describe('BPL: synchronous calls (async="0")', () => {
  // Ask the PAS (an MLLP operation) first; only an AA lets the EPR copy go, with the PAS's
  // answer in it. The archive copy made before the question goes first.
  const cls = bplClass(
    'T.BPL.Sync',
    `${call('Archive Out', '', 'Archive')}
<scope>
<call name='Ask PAS' target='EPR Out' async='0' timeout='5'>
<request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /></request>
<response type='EnsLib.HL7.Message'>
<assign property="context.Ack" value="callresponse.{MSA:1}" />
<assign property="context.Msg" value="callresponse" />
</response>
</call>
<if condition='context.Ack="AA"'><true>
<call name='EPR' target='Pager Out' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /><assign property="callrequest.{NTE:3}" value="context.Msg.{MSA:3}" /></request></call>
</true></if>
<faulthandlers><catchall><trace value='"PAS query failed"' />${call('Errors Out')}</catchall></faulthandlers>
</scope>`,
    `<property name='Ack' type='%String' />`,
  )
  const { p } = production([cls])
  const bp = compileProcess(p.processes!.get('T.BPL.Sync')!, p)
  const asked: BplSyncCall[] = []
  const runWith = (reply: BplCallReply) => {
    const traces: string[] = []
    return bp
      .run({
        request: ADT,
        trace: (t) => traces.push(t),
        callSync: (c) => {
          asked.push(c)
          return Promise.resolve(reply)
        },
      })
      .then((r) => ({ ...r, traces }))
  }

  it('hands over the calls before it, waits, and reads the response', async () => {
    asked.length = 0
    expect(bp.synchronous).toBe(true)
    const r = await runWith({
      outcome: 'completed',
      response: 'MSH|^~\\&|PAS|RGH|LI|RGH|20261128||ACK|A1|P|2.5\rMSA|AA|MSG00001|known patient\r',
    })
    expect(asked).toHaveLength(1)
    expect(asked[0]!.pending.map((c) => c.name)).toEqual(['Archive'])
    expect(asked[0]!.call).toMatchObject({ name: 'Ask PAS', target: 'EPR Out' })
    expect(asked[0]!.timeoutMs).toBe(5000)
    // Only the calls after the synchronous one are left for the end of the run.
    expect(r.calls.map((c) => c.target)).toEqual(['Pager Out'])
    expect(parseMessage(r.calls[0]!.raw).get('NTE-3')).toBe('known patient')
  })

  it('an AE answer: no EPR copy', async () => {
    const r = await runWith({
      outcome: 'completed',
      response: 'MSH|^~\\&|PAS|RGH|LI|RGH|20261128||ACK|A1|P|2.5\rMSA|AE|MSG00001\r',
    })
    expect(r.calls).toEqual([])
  })

  it('a call that failed is a fault: the scope catches it', async () => {
    const r = await runWith({ outcome: 'failed', error: 'suspended: AR: unknown patient' })
    expect(r.traces).toEqual(['PAS query failed'])
    expect(r.calls.map((c) => c.target)).toEqual(['Errors Out'])
  })

  it('uncaught, a failed call fails the run with the target and reason', async () => {
    const bare = bplClass(
      'T.BPL.Bare',
      `<call name='Ask' target='EPR Out' async='0'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /></request></call>`,
    )
    const q = production([bare]).p
    const err = await rejected(
      compileProcess(q.processes!.get('T.BPL.Bare')!, q).run({
        request: ADT,
        callSync: () => Promise.resolve({ outcome: 'aborted', error: 'aborted by operator: x' }),
      }),
    )
    expect(isEngineError(err) && err.code).toBe('ENGINE_PROCESS_FAILED')
    expect((err as Error).message).toMatch(
      /line \d+: call "Ask" to EPR Out was aborted: aborted by operator: x/,
    )
    await expect(
      compileProcess(q.processes!.get('T.BPL.Bare')!, q).run({ request: ADT }),
    ).rejects.toThrow(/call "Ask" is synchronous, and nothing here can wait for its reply/)
  })
})

describe('BPL: <sync> waits for asynchronous calls', () => {
  const ack = (code: string, text: string): string =>
    `MSH|^~\\&|X|RGH|LI|RGH|20261128||ACK|A1|P|2.5\rMSA|${code}|MSG00001|${text}\r`
  const callWith = (name: string, target: string, response: string): string =>
    `<call name='${name}' target='${target}' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /></request><response type='EnsLib.HL7.Message'>${response}</response></call>`
  const cls = (name: string, type: string, timeout = '') =>
    bplClass(
      name,
      `${call('Archive Out', '', 'First')}
${callWith('PAS', 'EPR Out', `<assign property="context.Ack" value="callresponse.{MSA:1}" />`)}
${callWith('GP', 'Errors Out', `<assign property="context.Note" value="callresponse.{MSA:3}" />`)}
<sync calls='PAS,GP' type='${type}' ${timeout} />
<if condition='synctimedout=1'><true><trace value='"timed out"' /></true></if>
<trace value='"ack "_context.Ack_" note "_context.Note' />
${call('Pager Out', '', 'After')}`,
      `<property name='Ack' type='%String' /><property name='Note' type='%String' />`,
    )
  const started: BplSyncCall[] = []
  const runWith = async (
    className: string,
    replies: Record<string, Promise<BplCallReply>>,
  ): Promise<{ calls: string[]; traces: string[] }> => {
    started.length = 0
    const { p } = production([
      cls('T.BPL.SyncAll', 'all'),
      cls('T.BPL.SyncAny', 'any'),
      cls('T.BPL.SyncLate', 'all', "timeout='0.05'"),
    ])
    const traces: string[] = []
    const r = await compileProcess(p.processes!.get(className)!, p).run({
      request: ADT,
      trace: (t) => traces.push(t),
      startCall: (s) => {
        started.push(s)
        return Promise.resolve({ reply: replies[s.call.name]! })
      },
    })
    return { calls: r.calls.map((c) => c.name), traces }
  }

  it('type all: each call goes at once, and every response is read before going on', async () => {
    const r = await runWith('T.BPL.SyncAll', {
      PAS: Promise.resolve({ outcome: 'completed', response: ack('AA', 'pas') }),
      GP: new Promise((resolve) =>
        setTimeout(() => resolve({ outcome: 'completed', response: ack('AA', 'gp note') }), 20),
      ),
    })
    expect(started.map((s) => [s.call.name, s.pending.map((c) => c.name)])).toEqual([
      ['PAS', ['First']],
      ['GP', []],
    ])
    expect(r.traces).toEqual(['ack AA note gp note'])
    expect(r.calls).toEqual(['After'])
  })

  it('type any: the first response is enough', async () => {
    const r = await runWith('T.BPL.SyncAny', {
      PAS: Promise.resolve({ outcome: 'completed', response: ack('AE', 'x') }),
      GP: new Promise(() => undefined),
    })
    expect(r.traces).toEqual(['ack AE note '])
  })

  it('a timeout sets synctimedout and goes on; a failed call is a fault', async () => {
    const late = await runWith('T.BPL.SyncLate', {
      PAS: Promise.resolve({ outcome: 'completed', response: ack('AA', 'x') }),
      GP: new Promise(() => undefined),
    })
    expect(late.traces).toEqual(['timed out', 'ack AA note '])
    expect(late.calls).toEqual(['After'])
    const r = await runWith('T.BPL.SyncAll', {
      PAS: Promise.resolve({ outcome: 'completed', response: ack('AA', 'x') }),
      GP: Promise.resolve({ outcome: 'failed', error: 'AR: unknown' }),
    }).catch((e: unknown) => e)
    expect((r as Error).message).toMatch(/call "GP" to Errors Out failed: AR: unknown/)
  })
})

describe('BPL: <code> blocks with set and the trace macros', () => {
  it('runs set (several assignments, expressions with = and commas) and $$$TRACE / $$$LOGALERT', async () => {
    const cls = bplClass(
      'T.BPL.Code',
      `<code><![CDATA[
 // work out the ward
 Set context.Where = "Archive"_" Out", context.N = $piece("a,b,c", ",", 2)="b"  ; a comparison
 set context.Msg = request
 set context.Msg.{PID:5} = "DOE^JANE"
 $$$TRACE("ward "_context.Where_" n "_context.N)
 $$$LOGALERT("check "_request.{MSH:10})
]]></code>
<call name='C' target='@context.Where' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="context.Msg" /></request></call>`,
      `<property name='Where' type='%String' />`,
    )
    const { p } = production([cls])
    const r = await run(p, ADT, 'T.BPL.Code')
    expect(r.traces).toEqual(['ward Archive Out n 1'])
    expect(r.alerts).toEqual(['check MSG00001'])
    expect(r.calls.map((c) => c.target)).toEqual(['Archive Out'])
    expect(parseMessage(r.calls[0]!.raw).get('PID-5')).toBe('DOE^JANE')
  })
})

describe('BPL: <delay> and <flow>', () => {
  it('a delay waits through the host (duration or until); flow branches run in document order', async () => {
    const cls = bplClass(
      'T.BPL.Wait',
      `<delay duration='"PT1H30M"' />
<delay until='"2026-11-28 03:10:00"' />
<delay duration='context.N+2' />
<flow>
<sequence>${call('Archive Out', '', 'A')}</sequence>
<sequence>${call('Errors Out', '', 'B')}</sequence>
</flow>`,
    )
    const { p } = production([cls])
    const bp = compileProcess(p.processes!.get('T.BPL.Wait')!, p)
    expect(bp.synchronous).toBe(true)
    expect(bp.notes).toContain(
      '<flow> runs its branches one after the other, in document order, not in parallel',
    )
    const waited: number[] = []
    const r = await bp.run({
      request: ADT,
      now: new Date(2026, 10, 28, 3, 0, 0),
      delay: (ms) => {
        waited.push(ms)
        return Promise.resolve()
      },
    })
    expect(waited).toEqual([5_400_000, 600_000, 2000])
    expect(r.calls.map((c) => c.name)).toEqual(['A', 'B'])
  })

  it('reads BPL durations, and refuses what it cannot time', async () => {
    expect(durationMs('PT30S')).toBe(30_000)
    expect(durationMs('P1DT2H')).toBe(93_600_000)
    expect(durationMs('PT0.5S')).toBe(500)
    expect(() => durationMs('P1M')).toThrow(/years and months are not supported/)
    const bad = bplClass('T.BPL.Bad', `<delay duration='"soon"' />`)
    const { p } = production([bad, bplClass('T.BPL.None', `<delay />`)])
    await expect(
      compileProcess(p.processes!.get('T.BPL.Bad')!, p).run({ request: ADT }),
    ).rejects.toThrow(/<delay> duration "soon" is not a duration/)
    expect(() => compileProcess(p.processes!.get('T.BPL.None')!, p)).toThrow(
      /<delay> needs either duration or until/,
    )
  })
})

describe('BPL: what is not supported fails the compile, naming class, line and construct', () => {
  const cases: [string, string, string, RegExp][] = [
    [
      'a synchronous call to a process',
      `<call name='Q' target='Results' async='0'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /></request></call>`,
      'ENGINE_PROCESS_UNSUPPORTED',
      /line 13: business process T\.BPL\.Bad: call "Q" is synchronous \(async="0"\) to "Results", which is not an operation/,
    ],
    [
      'response handling',
      `<call name='Q' target='Archive Out' async='1'><request type='EnsLib.HL7.Message'><assign property="callrequest" value="request" /></request><response type='EnsLib.HL7.Message'><assign property="context.Msg" value="callresponse" /></response></call>`,
      'ENGINE_PROCESS_UNSUPPORTED',
      /<response> handling \(callresponse\) of an asynchronous call that no <sync> waits for is not supported/,
    ],
    [
      'a <sync> naming no call',
      `<sync calls='Q' type='all' />`,
      'ENGINE_PROCESS_INVALID',
      /<sync calls> names "Q", which no asynchronous <call> of this process is called/,
    ],
    [
      '<receive>',
      `<receive request='Ens.Request' />`,
      'ENGINE_PROCESS_UNSUPPORTED',
      /<receive> is not supported/,
    ],
    [
      'ObjectScript code other than set and the trace macros',
      `<code><![CDATA[ set context.N = 5
 do ##class(RGH.Util).Audit(request) ]]></code>`,
      'ENGINE_PROCESS_UNSUPPORTED',
      /<code> statement "do ##class\(RGH\.Util\)\.Audit\(request\)" is not supported \(only set and the \$\$\$TRACE\/\$\$\$LOG macros run here\)/,
    ],
    [
      'a set with a postconditional',
      `<code><![CDATA[ set:context.N=0 context.N = 5 ]]></code>`,
      'ENGINE_PROCESS_UNSUPPORTED',
      /<code> statement "set:context\.N=0 context\.N = 5" is not supported \(a postconditional\)/,
    ],
    [
      'an undeclared context property',
      `<assign property='context.Nope' value='1' />`,
      'ENGINE_PROCESS_INVALID',
      /context property "Nope" is not declared in <context>/,
    ],
    [
      'a call to an item the production lacks',
      call('Nowhere'),
      'ENGINE_PROCESS_INVALID',
      /target "Nowhere" is not an item of the production/,
    ],
    [
      'a change to the request',
      `<assign property='request.{PID:5}' value='"X"' />`,
      'ENGINE_PROCESS_INVALID',
      /the request cannot be changed/,
    ],
    [
      'an unknown transform',
      `<transform class='No.Such.DTL' source='request' target='context.Msg' />`,
      'ENGINE_PROCESS_INVALID',
      /transform class "No\.Such\.DTL" was not found/,
    ],
    [
      'a method of the process class',
      `<assign property='context.N' value='process.Score(request)' />`,
      'ENGINE_PROCESS_UNSUPPORTED',
      /function "process\.Score" is not supported/,
    ],
  ]
  for (const [what, body, code, message] of cases) {
    it(what, () => {
      const { p } = production([bplClass('T.BPL.Bad', body)])
      const err = thrown(() => compileProcess(p.processes!.get('T.BPL.Bad')!, p))
      expect(isEngineError(err) && err.code).toBe(code)
      expect((err as Error).message).toMatch(message)
      expect((err as Error).message).toContain('T.BPL.Bad.cls')
    })
  }
})

describe('BPL: the compatibility report', () => {
  it('an item running a supported process: differences, naming how it runs; a bad one: NOT SUPPORTED', async () => {
    const { bundle } = production([
      bplClass('T.BPL.Bad', `<sync calls='Q' type='all' />`),
      bplClass('T.BPL.Unused', call('Archive Out')),
    ])
    bundle.productions.push(
      defineProduction({
        name: 'P',
        items: [
          ...outItems(),
          { name: 'Results', className: 'RGH.BPL.Results' },
          { name: 'Bad', className: 'T.BPL.Bad' },
        ],
      }),
    )
    const report = checkBundle(bundle)
    const by = Object.fromEntries(report.entries.map((e) => [`${e.kind}:${e.name}`, e]))
    expect(by['item:Results']?.status).toBe('differences')
    expect(by['item:Results']?.notes.join('\n')).toMatch(
      /business process RGH\.BPL\.Results \(BPL\): runs each message without waiting/,
    )
    expect(by['item:Bad']?.status).toBe('unsupported')
    expect(by['item:Bad']?.notes.join('\n')).toMatch(/<sync calls> names "Q"/)
    expect(by['class:T.BPL.Unused']?.notes).toContain(
      'business process (BPL) not used by any item of the production',
    )
    expect(by['class:RGH.BPL.Results']).toBeUndefined()
    expect(by['rule:RGH.Rules.ResultPriority']?.notes).toEqual([
      'general business rule (context "RGH.BPL.Results.Context"): returns a value to the <rule> of business process RGH.BPL.Results',
    ])
    expect(report.exitCode).toBe(1)
  })
})
