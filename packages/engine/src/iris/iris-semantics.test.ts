// IRIS semantics the first port approximated, now as in IRIS, each checked field by field against
// the real ADT^A01/ORU^R01 fixtures: ObjectScript left-to-right DTL expressions vs the rule
// language's precedence, create="existing" in place (also through the router), rule <assign>,
// general business rules, return inside a rule foreach, custom categories based on custom
// categories, segment positions ({1:9}) and DTLs whose source is not an HL7 message.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseMessage } from '@li/hl7'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  fileOperation,
  finalState,
  irisFixture,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpService,
  tempDir,
  thrown,
  waitFor,
} from '../../test/helpers.js'
import { isEngineError } from '../errors.js'
import type { Production, TransformDefinition } from '../production/types.js'
import type { Engine } from '../runtime/engine.js'
import { checkBundle } from './check.js'
import { compileTransform } from './dtl.js'
import { evaluate, functionRegistry, parseExpression, type EvalEnv } from './expression.js'
import { readIrisSource } from './loader.js'
import { compileGeneralRule, compileRules } from './rules.js'

const ADT = irisFixture('messages/adt-a01.hl7')
const ORU = irisFixture('messages/oru-r01.hl7')

const functions = functionRegistry()
const env: EvalEnv = {
  vpath: () => '',
  ref: (base) => ({ a: 1, b: 2 })[base] ?? '',
  lookupTables: new Map(),
  now: new Date(),
  functions,
}
const objectScript = (src: string): string | number =>
  evaluate(parseExpression(src, { functions, leftToRight: true }), env)
const ruleLanguage = (src: string): string | number =>
  evaluate(parseExpression(src, { functions }), env)

/** A UDL class with one XData block (rule or DTL), as VS Code / source control holds it. */
function udl(name: string, superClass: string, xdata: string, body: string, params = ''): string {
  return `Class ${name} Extends ${superClass}
{
${params}
XData ${xdata}
{
${body}
}

}
`
}

/** A DTL class `name` as a `[file, text]` source for `bundleOf`. */
function dtlSource(name: string, body: string): [string, string] {
  return [`${name}.cls`, udl(name, 'Ens.DataTransformDTL', 'DTL', body)]
}

/** A rule class `name` as a `[file, text]` source for `bundleOf`. */
function ruleSource(name: string, body: string, params = ''): [string, string] {
  return [`${name}.cls`, udl(name, 'Ens.Rule.Definition', 'RuleDefinition', body, params)]
}

/** Reads classes into an empty production (no items unless given). */
function bundleOf(...sources: [string, string][]): ReturnType<typeof readIrisSource> {
  const bundle = readIrisSource(sources[0]![1], sources[0]![0])
  for (const [file, text] of sources.slice(1)) readIrisSource(text, file, bundle)
  return bundle
}

function productionOf(bundle: ReturnType<typeof readIrisSource>, items: string[] = []): Production {
  return {
    name: 'T.Production',
    attributes: {},
    settings: [],
    items: items.map((name) => ({
      name,
      className: 'EnsLib.HL7.Operation.FileOperation',
      enabled: true,
      poolSize: 1,
      category: '',
      comment: '',
      attributes: {},
      settings: [],
    })),
    rules: bundle.rules,
    transforms: bundle.transforms,
    lookupTables: bundle.lookupTables,
    ...(bundle.schemas.size > 0 ? { customSchemas: bundle.schemas } : {}),
  }
}

const ctx = { source: 'PAS In', now: new Date('2026-03-15T10:00:00'), lookupTables: new Map() }

const DTL_PRECEDENCE = `<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='2.5:ADT_A01' targetDocType='2.5:ADT_A01' create='copy' language='objectscript' >
<assign value='1+2*3' property='target.{ZLR:1}' action='set' />
<assign value='source.{PID:1}+2*3' property='target.{ZLR:2}' action='set' />
<assign value='"NHS"_source.{PID:1}+2' property='target.{ZLR:3}' action='set' />
<if condition='source.{PID:8}="M"&amp;&amp;source.{PV1:2}="I"'>
<true><assign value='"grouped"' property='target.{ZLR:4}' action='set' /></true>
<false><assign value='"left to right"' property='target.{ZLR:4}' action='set' /></false>
</if>
<if condition='(source.{PID:8}="M")&amp;&amp;(source.{PV1:2}="I")'>
<true><assign value='"inpatient male"' property='target.{ZLR:5}' action='set' /></true>
</if>
<assign value='source.{1:9.2}_"/"_source.{3:PatientName.FamilyName}_"/"_source.{7:1}' property='target.{ZLR:6}' action='set' />
</transform>`

describe('operator order: ObjectScript (DTL) vs the rule language (rule conditions)', () => {
  it('DTL expressions apply binary operators strictly left to right', () => {
    expect(objectScript('1+2*3')).toBe(9)
    expect(objectScript('2*3+1')).toBe(7)
    expect(objectScript('10-2-3')).toBe(5)
    expect(objectScript('1+2*3=9')).toBe(1) // ((1+2)*3)=9
    expect(objectScript('"a"_1+2')).toBe(2) // ("a1")+2: "a1" is 0 as a number
    expect(objectScript('a=1&&b=2')).toBe(0) // ((a=1)&&b)=2 → 1=2
    expect(objectScript('(a=1)&&(b=2)')).toBe(1)
    expect(objectScript("'a=0")).toBe(1) // unary binds to the operand: ('a)=0
    expect(objectScript('1+(2*3)')).toBe(7)
  })

  it('rule conditions use precedence', () => {
    expect(ruleLanguage('1+2*3')).toBe(7)
    expect(ruleLanguage('1+2*3=9')).toBe(0) // 1+(2*3)=9 → 7=9
    expect(ruleLanguage('a=1&&b=2')).toBe(1)
    expect(ruleLanguage('a=2||b=2&&a=1')).toBe(1) // || lowest
    expect(ruleLanguage('"AB"_"C" Contains "BC"')).toBe(1) // _ before word operators
  })

  it('a DTL and a rule over the same ADT^A01 read the same condition differently, as IRIS does', () => {
    const bundle = bundleOf(
      dtlSource('T.DTL.Precedence', DTL_PRECEDENCE),
      ruleSource(
        'T.Rules.Precedence',
        `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="">
<rule name="inpatient male"><when condition="HL7.{PID:8}=&quot;M&quot;&amp;&amp;HL7.{PV1:2}=&quot;I&quot;"><send target="A"></send></when></rule>
<rule name="arithmetic"><when condition="1+2*3=7"><send target="B"></send></when></rule>
</ruleSet>
</ruleDefinition>`,
      ),
    )
    const p = productionOf(bundle, ['A', 'B'])
    const out = parseMessage(
      compileTransform(p.transforms.get('T.DTL.Precedence')!, p).applyText(ADT, ctx).text!,
    )
    expect(out.get('ZLR-1')).toBe('9')
    expect(out.get('ZLR-2')).toBe('9') // PID-1 is 1: (1+2)*3
    expect(out.get('ZLR-3')).toBe('2') // ("NHS"_1)+2
    expect(out.get('ZLR-4')).toBe('left to right')
    expect(out.get('ZLR-5')).toBe('inpatient male')
    // segment positions: 1 = MSH, 3 = PID, 7 = PV1 in this message
    expect(out.get('ZLR-6')).toBe('A01/SMITH/1')
    const rules = compileRules(p.rules.get('T.Rules.Precedence')!, p)
    const r = rules.evaluate({ ...ctx, message: parseMessage(ADT), raw: ADT })
    expect(r.actions.map((a) => (a.type === 'send' ? a.target : a.type))).toEqual(['A', 'B'])
  })
})

const DTL_EXISTING = `<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='2.5:ADT_A01' create='existing' language='objectscript' >
<assign value='"A08"' property='target.{MSH:9.2}' action='set' />
<assign value='"ADT_A08"' property='target.{MSH:9.3}' action='set' />
<assign value='source.{MSH:9.2}' property='target.{EVN:1}' action='set' />
<assign value='"F"' property='target.{PID:8}' action='set' />
<assign value='source.{PID:8}' property='target.{PID:9.1}' action='set' />
<assign value='' property='target.{ZPI}' action='remove' />
<assign value='..Length(source.{ZPI:1})' property='target.{PV1:2}' action='set' />
</transform>`

describe('create="existing": the source is the target', () => {
  const bundle = bundleOf(dtlSource('T.DTL.Existing', DTL_EXISTING))
  const p = productionOf(bundle)
  const dtl = compileTransform(p.transforms.get('T.DTL.Existing')!, p)

  it('changes apply in place: later actions read what earlier ones wrote through target', () => {
    const out = parseMessage(dtl.applyText(ADT, ctx).text!)
    expect(out.get('MSH-9.1')).toBe('ADT')
    expect(out.get('MSH-9.2')).toBe('A08')
    expect(out.get('MSH-9.3')).toBe('ADT_A08')
    expect(out.get('EVN-1')).toBe('A08') // source.{MSH:9.2} read after the write
    expect(out.get('PID-8')).toBe('F')
    expect(out.get('PID-9.1')).toBe('F')
    expect(out.segments('ZPI')).toHaveLength(0)
    expect(out.get('PV1-2')).toBe('0') // ZPI removed before it was read
    // untouched fields are the source's
    expect(out.get('PID-3[2].1')).toBe('RGH123456')
    expect(out.get('PV1-3.1')).toBe('WARD1')
    expect(out.segments('NK1')).toHaveLength(2)
  })

  it('an object source with create="existing" is changed itself', () => {
    const b = bundleOf(
      dtlSource(
        'T.DTL.ObjExisting',
        `<transform sourceClass='T.Msg.Patient' targetClass='T.Msg.Patient' create='existing' language='objectscript' >
<assign value='..ToUpper(source.Name.Family)' property='target.Name.Family' action='set' />
<assign value='source.Name.Family_", "_source.Name.Given' property='target.Display' action='set' />
</transform>`,
      ),
    )
    const pp = productionOf(b)
    const obj: Record<string, unknown> = { Name: { Family: 'Smith', Given: 'John' } }
    const out = compileTransform(pp.transforms.get('T.DTL.ObjExisting')!, pp).applyObject(obj, ctx)
    expect(out.object).toBe(obj)
    expect(obj).toEqual({ Name: { Family: 'SMITH', Given: 'John' }, Display: 'SMITH, John' })
  })
})

const RULES_ASSIGN = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="">
<rule name="count results">
<assign property="tAbnormal" value="0"></assign>
<foreach propertypath="HL7.{OBX()}">
<rule name="abnormal"><when condition="Segment.{8}=&quot;H&quot;"><assign property="tAbnormal" value="tAbnormal+1"></assign></when></rule>
</foreach>
</rule>
<rule name="ward"><when condition="1"><assign property="context.Ward" value="HL7.{PV1:3.1}"></assign></when></rule>
<rule name="abnormal results"><when condition="tAbnormal&gt;1"><send target="Abnormal"></send></when></rule>
<rule name="outpatient"><when condition="context.Ward=&quot;&quot;&amp;&amp;HL7.{PV1:2}=&quot;O&quot;"><send target="Outpatient"></send></when></rule>
<rule name="first high result stops"><foreach propertypath="HL7.{OBX()}">
<rule name="high"><when condition="Segment.{8}=&quot;H&quot;"><send target="FirstHigh"></send><return></return></when></rule>
</foreach></rule>
<rule name="after return"><when condition="1"><send target="Never"></send></when></rule>
</ruleSet>
</ruleDefinition>`

const GENERAL_RULE = `<ruleDefinition alias="" context="T.BP.LabContext">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="critical sodium"><when condition="(context.Test=&quot;NA&quot;)&amp;&amp;(context.Value&gt;150)"><return>&quot;Critical&quot;</return></when></rule>
<rule name="flagged"><when condition="context.Flag=&quot;H&quot;"><assign property="tReason" value="&quot;high &quot;_context.Test"></assign><return>&quot;Review: &quot;_tReason</return></when></rule>
<rule name="abnormal in message"><when condition="Document.{OBX(2):8}=&quot;H&quot;"><return>&quot;Message abnormal&quot;</return></when></rule>
<return>&quot;Normal&quot;</return>
</ruleSet>
</ruleDefinition>`

describe('rules: assign, return inside foreach, general business rules', () => {
  const bundle = bundleOf(
    ruleSource('T.Rules.Assign', RULES_ASSIGN),
    ruleSource(
      'T.Rules.Lab',
      GENERAL_RULE,
      'Parameter RuleAssistClass = "Ens.Rule.GeneralBusinessRuleAssist";\n',
    ),
  )
  const p = productionOf(bundle, ['Abnormal', 'Outpatient', 'FirstHigh', 'Never'])

  it('assigned variables and context properties feed later conditions; return in foreach ends the rule set', () => {
    const rules = compileRules(p.rules.get('T.Rules.Assign')!, p)
    const r = rules.evaluate({ ...ctx, source: 'Lab In', message: parseMessage(ORU), raw: ORU })
    // ORU^R01: OBX-8 is N, H, H → 2 abnormal; PV1-3 empty, PV1-2 O; first H stops everything
    expect(r.actions.map((a) => (a.type === 'send' ? a.target : a.type))).toEqual([
      'Abnormal',
      'Outpatient',
      'FirstHigh',
    ])
    expect(r.matchedRules).toContain('high')
    expect(r.matchedRules).not.toContain('after return')
    const adt = rules.evaluate({ ...ctx, message: parseMessage(ADT), raw: ADT })
    // no OBX: nothing counted; PV1-3.1 WARD1 → not outpatient; no return → the last rule runs
    expect(adt.actions.map((a) => (a.type === 'send' ? a.target : a.type))).toEqual(['Never'])
  })

  it('a general business rule returns a value (with its reason) from a context object or a message', () => {
    const lab = compileGeneralRule(p.rules.get('T.Rules.Lab')!, p)
    expect(lab.evaluate({ context: { Test: 'NA', Value: 151 } })).toMatchObject({
      value: 'Critical',
      reason: 'critical sodium',
    })
    expect(lab.evaluate({ context: { Test: 'NA', Value: 150, Flag: 'H' } })).toMatchObject({
      value: 'Review: high NA',
      reason: 'flagged',
      assigned: { tReason: 'high NA' },
    })
    expect(lab.evaluate({ context: { Test: 'HB', Value: 135 }, message: ORU }).value).toBe(
      'Message abnormal',
    )
    expect(lab.evaluate({ context: { Test: 'HB', Value: 135 }, message: ADT })).toMatchObject({
      value: 'Normal',
      reason: '#4',
    })
  })

  it('a router naming a general rule fails clearly, and compileGeneralRule refuses a routing rule', () => {
    const err = thrown(() => compileRules(p.rules.get('T.Rules.Lab')!, p))
    expect(isEngineError(err) && err.code).toBe('ENGINE_RULE_UNSUPPORTED')
    expect((err as Error).message).toMatch(
      /T\.Rules\.Lab\.cls rule class T\.Rules\.Lab: context "T\.BP\.LabContext": it is a general business rule.*cannot use it as BusinessRuleName; evaluate it with compileGeneralRule/,
    )
    expect(() => compileGeneralRule(p.rules.get('T.Rules.Assign')!, p)).toThrow(
      /is a routing rule .*compile it with compileRules/,
    )
  })
})

/** A custom category document of an export. */
const category = (name: string, base: string, body: string): string =>
  `<Document name="${name}.HL7"><Category name="${name}" base="${base}">${body}</Category></Document>`

describe('custom schema categories based on other custom categories', () => {
  const exportOf = (...docs: string[]): string =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<Export generator="IRIS" version="26">\n${docs.join('\n')}\n</Export>\n`
  const RGH = category(
    'RGH2.5',
    '2.5',
    `<MessageStructure name="ADT_A01" definition="base:MSH~base:EVN~base:PID~[~base:PD1~]~[~{~base:NK1~}~]~base:PV1~[~ZPI~]"/>
<SegmentStructure name="ZPI"><SegmentSubStructure piece="1" description="Local Category" datatype="base:ST"/><SegmentSubStructure piece="2" description="Flag" datatype="base:ST"/></SegmentStructure>`,
  )
  const ICU = category(
    'RGH-ICU',
    'RGH2.5',
    `<SegmentStructure name="ZIC"><SegmentSubStructure piece="1" description="Bed Type" datatype="base:ST"/></SegmentStructure>`,
  )

  it('reads a chain in any order (the base may come later) and merges it down to the version', () => {
    const bundle = readIrisSource(exportOf(ICU), 'icu.xml')
    expect(bundle.schemas.has('RGH-ICU')).toBe(false) // its base is not read yet
    expect(bundle.otherDocuments[0]?.error).toMatch(
      /icu\.xml line 3: custom schema category "RGH-ICU" \(RGH-ICU\.HL7\) cannot be read: base "RGH2\.5" of category "RGH-ICU" is neither a shipped HL7 version nor a custom category in the export/,
    )
    readIrisSource(exportOf(RGH), 'rgh.xml', bundle)
    expect(bundle.otherDocuments).toEqual([])
    const icu = bundle.schemas.get('RGH-ICU')!
    expect(bundle.schemaChains.get('RGH-ICU')).toEqual(['RGH-ICU', 'RGH2.5', '2.5'])
    expect(icu.segments.ZIC?.fields.map((f) => f.name)).toEqual(['BedType'])
    expect(icu.segments.ZPI?.fields.map((f) => f.name)).toEqual(['LocalCategory', 'Flag'])
    expect(icu.segments.PID?.fields[4]?.name).toBe('PatientName')
    // symbolic Z-segment paths of the middle category resolve through the chain
    const dtl = `<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='RGH-ICU:ADT_A01' targetDocType='RGH-ICU:ADT_A01' create='copy' language='objectscript' >
<assign value='source.{ZPI:LocalCategory}_"-"_source.{ZPI:Flag}' property='target.{ZIC:BedType}' action='set' />
</transform>`
    readIrisSource(udl('T.DTL.Icu', 'Ens.DataTransformDTL', 'DTL', dtl), 'T.DTL.Icu.cls', bundle)
    const p = productionOf(bundle)
    const out = parseMessage(
      compileTransform(p.transforms.get('T.DTL.Icu')!, p).applyText(ADT, ctx).text!,
    )
    expect(out.get('ZIC-1')).toBe('LOCAL-X')
    const report = checkBundle(bundle)
    const doc = report.entries.find((e) => e.name === 'RGH-ICU.HL7')
    expect(doc).toMatchObject({ status: 'supported' })
    expect(doc?.notes[0]).toContain('base RGH2.5 -> 2.5')
  })

  it('a cycle is an error naming the chain', () => {
    const a = category('A1', 'B1', '')
    const b = category('B1', 'A1', '')
    const bundle = readIrisSource(exportOf(a, b), 'cycle.xml')
    expect(bundle.schemas.size).toBe(0)
    expect(bundle.otherDocuments.map((d) => d.error)).toEqual([
      expect.stringMatching(
        /"A1" \(A1\.HL7\) cannot be read: custom schema categories form a cycle: A1 -> B1 -> A1/,
      ),
      expect.stringMatching(
        /"B1" \(B1\.HL7\) cannot be read: custom schema categories form a cycle: B1 -> A1 -> B1/,
      ),
    ])
  })
})

describe('DTL sources that are not HL7 messages (plain objects with the same property paths)', () => {
  // Modelled on a public IRIS export (an object request → ADT^A08 with PID/PV1 segment
  // subtransforms from the object), with our own class names and values.
  const toA08 = `<transform sourceClass='T.Msg.AdmitRequest' targetClass='EnsLib.HL7.Message' targetDocType='2.5:ADT_A01' create='new' language='objectscript' >
<assign value='"ADT"' property='target.{MSH:9.1}' action='set' />
<assign value='"A08"' property='target.{MSH:9.2}' action='set' />
<assign value='source.RequestId' property='target.{MSH:10}' action='set' />
<assign value='"2.5"' property='target.{MSH:12}' action='set' />
<assign value='"A08"' property='target.{EVN:EventTypeCode}' action='set' />
<subtransform class='T.DTL.ReqToPID' targetObj='target.{PID}' sourceObj='source' />
<if condition='source.Visit.Ward&apos;=""'>
<true><assign value='source.Visit.Ward' property='target.{PV1:AssignedPatientLocation.PointofCare}' action='set' /></true>
</if>
</transform>`
  const toPid = `<transform sourceClass='T.Msg.AdmitRequest' targetClass='EnsLib.HL7.Segment' targetDocType='2.5:PID' create='new' language='objectscript' >
<assign value='1' property='target.{SetIDPID}' action='set' />
<assign value='source.Patient.MRN' property='target.{PatientIdentifierList(1).IDNumber}' action='set' />
<assign value='"MR"' property='target.{PatientIdentifierList(1).IdentifierTypeCode}' action='set' />
<assign value='source.Patient.LastName' property='target.{PatientName(1).FamilyName.Surname}' action='set' />
<assign value='source.Patient.FirstName' property='target.{PatientName(1).GivenName}' action='set' />
<assign value='source.Patient.Sex' property='target.{AdministrativeSex}' action='set' />
</transform>`
  const toJson = `<transform sourceClass='EnsLib.HL7.Message' targetClass='T.Msg.Patient' sourceDocType='2.5:ADT_A01' create='new' language='objectscript' >
<assign value='source.{PID:PatientName(1).FamilyName}' property='target.Family' action='set' />
<assign value='source.{PID:3(2).1}' property='target.MRN' action='set' />
<assign value='source.{PV1:3.1}' property='target.Ward' action='set' />
</transform>`
  const jsonToJson = `<transform sourceClass='T.Msg.Patient' targetClass='T.Msg.Summary' create='new' language='objectscript' >
<assign value='source.MRN_":"_..ToUpper(..Lookup("T-Wards",source.Ward,source.Ward))' property='target.Key' action='set' />
<assign value='source.Family' property='target.Patient.Name' action='set' />
</transform>`
  const bundle = bundleOf(
    dtlSource('T.DTL.ReqToA08', toA08),
    dtlSource('T.DTL.ReqToPID', toPid),
    dtlSource('T.DTL.ToJson', toJson),
    dtlSource('T.DTL.JsonToJson', jsonToJson),
  )
  const p = productionOf(bundle)
  const tables = new Map([['T-Wards', new Map([['WARD1', 'Ward One']])]])

  it('an object (or JSON text) becomes an ADT^A08, segment subtransforms included', () => {
    const dtl = compileTransform(p.transforms.get('T.DTL.ReqToA08')!, p)
    const req = {
      RequestId: 'REQ42',
      Patient: { MRN: 'RGH123456', LastName: 'SMITH', FirstName: 'JOHN', Sex: 'M' },
      Visit: { Ward: 'WARD1' },
    }
    const text = dtl.applyObject(req, ctx).text!
    expect(dtl.applyText(JSON.stringify(req), ctx).text).toBe(text)
    const out = parseMessage(text)
    expect(out.get('MSH-9.1')).toBe('ADT')
    expect(out.get('MSH-9.2')).toBe('A08')
    expect(out.get('MSH-10')).toBe('REQ42')
    expect(out.get('EVN-1')).toBe('A08')
    expect(out.get('PID-1')).toBe('1')
    expect(out.get('PID-3.1')).toBe('RGH123456')
    expect(out.get('PID-3.5')).toBe('MR')
    expect(out.get('PID-5.1')).toBe('SMITH')
    expect(out.get('PID-5.2')).toBe('JOHN')
    expect(out.get('PID-8')).toBe('M')
    expect(out.get('PV1-3.1')).toBe('WARD1')
    expect(
      text
        .split('\r')
        .filter((s) => s !== '')
        .map((s) => s.slice(0, 3)),
    ).toEqual(['MSH', 'EVN', 'PID', 'PV1'])
  })

  it('HL7 → object → object, and clear errors for the wrong kind of source', () => {
    const a = compileTransform(p.transforms.get('T.DTL.ToJson')!, p)
    const b = compileTransform(p.transforms.get('T.DTL.JsonToJson')!, p)
    const mid = a.applyText(ADT, ctx).object!
    expect(mid).toEqual({ Family: 'SMITH', MRN: 'RGH123456', Ward: 'WARD1' })
    expect(b.applyObject(mid, { ...ctx, lookupTables: tables }).object).toEqual({
      Key: 'RGH123456:WARD ONE',
      Patient: { Name: 'SMITH' },
    })
    expect(() => b.applyText(ADT, ctx)).toThrow(
      /T\.DTL\.JsonToJson: source class T\.Msg\.Patient is not an HL7 message, so the source must be a JSON object .* not an HL7 message/,
    )
    expect(() => a.applyObject(mid, ctx)).toThrow(/reads HL7 messages/)
  })

  it('compile errors: source.{...} on an object, create="copy" across kinds', () => {
    const bad = (body: string, create = 'new'): unknown => {
      const def: TransformDefinition = {
        className: 'T.DTL.Bad',
        xml: `<transform sourceClass='T.Msg.Patient' targetClass='EnsLib.HL7.Message' create='${create}' language='objectscript' >\n${body}\n</transform>`,
      }
      try {
        compileTransform(def, p)
      } catch (e) {
        return e
      }
      return undefined
    }
    expect(
      (bad("<assign value='source.{PID:5}' property='target.{PID:5}' action='set' />") as Error)
        .message,
    ).toMatch(
      /line 2: transform class T\.DTL\.Bad: value source\.\{PID:5\}: source class T\.Msg\.Patient is not an HL7 message: read it with source\.Property/,
    )
    expect((bad('', 'copy') as Error).message).toMatch(
      /create="copy" needs source and target of the same kind/,
    )
  })
})

describe('through the router over MLLP: create="existing" and an object chain', () => {
  let engine: Engine
  let dir: string
  let base: string
  let outDirs: Record<string, string>

  beforeAll(async () => {
    base = await tempDir('iris-sem')
    outDirs = {
      A: path.join(base, 'a'),
      B: path.join(base, 'b'),
      C: path.join(base, 'c'),
    }
    const started = await startEngine(
      [
        tcpService('PAS In', 'Router', 35999, { MessageSchemaCategory: '2.5' }),
        {
          name: 'Router',
          className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
          host: { BusinessRuleName: 'T.Rules.Route' },
        },
        fileOperation('Out A', outDirs.A!),
        fileOperation('Out B', outDirs.B!),
        fileOperation('Out C', outDirs.C!, '.json'),
      ],
      {
        freePorts: ['PAS In'],
        rules: [
          [
            'T.Rules.Route',
            `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="">
<rule name="in place"><when condition="1"><send transform="T.DTL.Existing" target="Out A"></send><send target="Out B"></send></when></rule>
<rule name="json"><when condition="1"><send transform="T.DTL.ToJson,T.DTL.JsonToJson" target="Out C"></send></when></rule>
</ruleSet>
</ruleDefinition>`,
          ],
        ],
        transforms: [
          ['T.DTL.Existing', DTL_EXISTING],
          [
            'T.DTL.ToJson',
            `<transform sourceClass='EnsLib.HL7.Message' targetClass='T.Msg.Patient' sourceDocType='2.5:ADT_A01' create='new' language='objectscript' >
<assign value='source.{PID:PatientName(1).FamilyName}' property='target.Family' action='set' />
<assign value='source.{MSH:9.2}' property='target.Event' action='set' />
</transform>`,
          ],
          [
            'T.DTL.JsonToJson',
            `<transform sourceClass='T.Msg.Patient' targetClass='T.Msg.Summary' create='new' language='objectscript' >
<assign value='source.Family_"/"_source.Event' property='target.Summary' action='set' />
</transform>`,
          ],
        ],
      },
    )
    engine = started.engine
    dir = started.dir
  })

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    if (base !== undefined) await removeDir(base)
  })

  const firstFile = (d: string): Promise<string> =>
    waitFor(async () => {
      const f = await readdir(d).catch(() => [])
      return f.length > 0 ? readFile(path.join(d, f[0]!), 'utf8') : undefined
    }, `a file in ${d}`)

  it('the transformed message goes on, and later sends of the same routing see the change', async () => {
    // MSH-15 = AL: an enhanced-mode accept acknowledgement
    expect(msaCode(await sendMllp(portOf(engine, 'PAS In'), ADT))).toBe('CA')
    expect((await finalState(engine, 'PAS In', 'MSG00001')).state).toBe('completed')
    for (const d of [outDirs.A!, outDirs.B!]) {
      const out = parseMessage(await firstFile(d))
      expect(out.get('MSH-9.2')).toBe('A08')
      expect(out.get('EVN-1')).toBe('A08')
      expect(out.get('PID-8')).toBe('F')
      expect(out.segments('ZPI')).toHaveLength(0)
      expect(out.get('MSH-10')).toBe('MSG00001')
    }
    // the JSON chain ran after the in-place change: it sees A08
    expect(JSON.parse(await firstFile(outDirs.C!))).toEqual({ Summary: 'SMITH/A08' })
  })
})

describe('checkProduction reflects the new support', () => {
  const cls = (
    name: string,
    superClass: string,
    xdata: string,
    data: string,
    params = '',
  ): string =>
    `<Class name="${name}">\n<Super>${superClass}</Super>\n${params}<XData name="${xdata}">\n<Data><![CDATA[\n${data}\n]]></Data>\n</XData>\n</Class>`
  const generalParam =
    '<Parameter name="RuleAssistClass">\n<Default>Ens.Rule.GeneralBusinessRuleAssist</Default>\n</Parameter>\n'
  const exportText = `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
${cls('T.Rules.Lab', 'Ens.Rule.Definition', 'RuleDefinition', GENERAL_RULE, generalParam)}
${cls('T.Rules.LabUsed', 'Ens.Rule.Definition', 'RuleDefinition', GENERAL_RULE, generalParam)}
${cls('T.DTL.Existing', 'Ens.DataTransformDTL', 'DTL', DTL_EXISTING)}
${cls('T.DTL.Precedence', 'Ens.DataTransformDTL', 'DTL', DTL_PRECEDENCE)}
${cls(
  'T.DTL.FromObject',
  'Ens.DataTransformDTL',
  'DTL',
  `<transform sourceClass='T.Msg.Patient' targetClass='T.Msg.Summary' create='new' language='objectscript' >
<assign value='source.Family' property='target.Name' action='set' />
</transform>`,
)}
${cls(
  'T.Production',
  'Ens.Production',
  'ProductionDefinition',
  `<Production Name="T.Production">
<Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="true">
<Setting Target="Host" Name="BusinessRuleName">T.Rules.LabUsed</Setting>
</Item>
</Production>`,
)}
</Export>
`

  it('general rules, create="existing", object sources and ObjectScript order', () => {
    const r = checkBundle(readIrisSource(exportText, 'check.xml'))
    const by = Object.fromEntries(r.entries.map((e) => [`${e.kind}:${e.name}`, e]))
    expect(by['rule:T.Rules.Lab']).toMatchObject({ status: 'differences' })
    expect(by['rule:T.Rules.Lab']!.notes[0]).toMatch(
      /general business rule \(context "T\.BP\.LabContext"\): returns a value; a BPL <rule> or compileGeneralRule evaluates it/,
    )
    expect(by['rule:T.Rules.LabUsed']).toMatchObject({ status: 'unsupported' })
    expect(by['rule:T.Rules.LabUsed']!.notes[0]).toContain('cannot use it as BusinessRuleName')
    expect(by['transform:T.DTL.Existing']!.notes).toEqual([
      'create="existing" changes the routed message in place (later sends of the same routing see the changes), but the message as received is kept unchanged in the store',
      'REPORTERRORS = 0: action errors are returned with the result and logged, not thrown',
    ])
    expect(by['transform:T.DTL.FromObject']!.notes[1]).toMatch(
      /source class T\.Msg\.Patient is not an HL7 message: the transform reads a plain object/,
    )
    // ObjectScript order is now what runs: no precedence note any more
    expect(by['transform:T.DTL.Precedence']!.notes.join(' ')).not.toMatch(/precedence/)
    expect(r.exitCode).toBe(1)
  })
})
