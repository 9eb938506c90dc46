import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseMessage } from '@li/hl7'
import { describe, expect, it } from 'vitest'
import { thrown } from '../../test/helpers.js'
import { isEngineError } from '../errors.js'
import { defineProduction } from '../production/define.js'
import type { Production } from '../production/types.js'
import { compileTransform } from './dtl.js'
import { readIrisSource } from './loader.js'

const fixtures = fileURLToPath(new URL('../../test/fixtures/iris/', import.meta.url))
const read = (name: string): string => readFileSync(fixtures + name, 'utf8')
const ADT = read('messages/adt-a01.hl7')
const ORU = read('messages/oru-r01.hl7')

function production(files: string[], extra: { text: string; file: string }[] = []): Production {
  const p = defineProduction({
    name: 'P',
    items: [],
    lookupTables: { 'RGH-Wards': { WARD1: 'Ward One' } },
  })
  const bundle = readIrisSource(read(files[0]!), files[0])
  for (const f of files.slice(1)) readIrisSource(read(f), f, bundle)
  for (const e of extra) readIrisSource(e.text, e.file, bundle)
  for (const [k, v] of bundle.transforms) p.transforms.set(k, v)
  return p
}

const ctx = (p: Production, traces: string[] = []) => ({
  source: 'PAS In',
  now: new Date(2026, 2, 20, 8, 5, 9),
  lookupTables: p.lookupTables,
  trace: (t: string) => traces.push(t),
})

describe('DTL: every action and function, ADT^A01 2.5 → ADT^A08 2.4', () => {
  const p = production(['dtl/RGH.DTL.Complete.cls', 'dtl/RGH.DTL.PV1Segment.cls'])
  const dtl = compileTransform(p.transforms.get('RGH.DTL.Complete')!, p)
  const traces: string[] = []
  const out = dtl.applyText(ADT, ctx(p, traces))
  const msg = parseMessage(out.text!)
  const get = (path: string): string | undefined => msg.get(path)

  it('builds the segments in structure order, without the source Z segment or an empty PV2', () => {
    expect(msg.segments().map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'NK1', 'PV1', 'ZLI'])
    expect(out.errors).toEqual([])
  })

  it('header: copied MSH, symbolic and numeric assigns, CurrentDateTime', () => {
    expect(get('MSH-3')).toBe('PAS')
    expect(get('MSH-9.1')).toBe('ADT')
    expect(get('MSH-9.2')).toBe('A08')
    expect(get('MSH-10')).toBe('MSG00001')
    expect(get('MSH-12')).toBe('2.4')
    expect(get('MSH-7')).toBe('20260320080509')
  })

  it('group, ConvertDateTime', () => {
    expect(get('EVN-1')).toBe('A08')
    expect(get('EVN-2')).toBe('20260315093000')
    expect(get('EVN-6')).toBe('2026-03-15 09:30')
  })

  it('foreach over repetitions with if/true/false, append, insert and remove', () => {
    expect(msg.getAll('PID-3.1')).toEqual(['9434765919', 'RGH123456'])
    expect(get('PID-3[1].5')).toBe('NH')
    expect(get('PID-3[2].5')).toBe('MR')
    expect(get('PID-1')).toBe('1')
  })

  it('ToLower, ToUpper, SubString, ReplaceStr, Translate, Strip, ConvertDateTime', () => {
    expect(get('PID-5.1')).toBe('smith')
    expect(get('PID-5.2')).toBe('JOHN')
    expect(get('PID-5.3')).toBe('P')
    expect(get('PID-5.5')).toBe('MR')
    expect(get('PID-7')).toBe('01/01/1970')
    expect(get('PID-8')).toBe('M')
    expect(get('PID-11.1')).toBe('1 HIGH ST')
    expect(get('PID-11.3')).toBe('LEEDS')
    expect(get('PID-11.5')).toBe('LS11AA')
    expect(get('PID-13')).toBe('01134960000')
  })

  it('foreach over segments, segment remove, field set', () => {
    expect(get('NK1-1')).toBe('1')
    expect(get('NK1-2.2')).toBe('ANNE')
    expect(get('NK1-3.1')).toBe('DAU')
  })

  it('segment subtransform: Lookup on a symbolic segment path, Pad, clear', () => {
    expect(get('PV1-2')).toBe('I')
    expect(get('PV1-3.1')).toBe('Ward One')
    expect(get('PV1-3.2')).toBe('BED2')
    expect(get('PV1-7') ?? '').toBe('')
    expect(get('PV1-10')).toBe('GEN')
    expect(get('PV1-19.1')).toBe('000V000123')
    expect(get('PV1-19.5')).toBe('VN')
  })

  it('If, In, Contains, StartsWith, Length, Piece, Exists, Lookup default, counts, variables, arithmetic, concatenation, Pad, switch, break, append, $PIECE, Strip', () => {
    const zli = [...Array(19).keys()].map((i) => get(`ZLI-${i + 1}`))
    expect(zli).toEqual([
      'Male',
      '1',
      '1',
      '1',
      '5',
      'HIGH',
      '1',
      'none',
      '2',
      '2',
      '2',
      '14',
      'AB',
      '007',
      'INPATIENT',
      '9434765919',
      'xy',
      'JOHN',
      'padded',
    ])
  })

  it('trace', () => {
    expect(traces).toEqual(['converted MSG00001'])
  })

  it('apply() on an @li/hl7 Message returns a Message', () => {
    const m = dtl.apply(parseMessage(ADT), ctx(p))
    expect((m as { get(p: string): string | undefined }).get('MSH-9.2')).toBe('A08')
  })
})

describe('DTL: IRIS group paths from the schema (ORU^R01)', () => {
  it('walks PIDgrpgrp/ORCgrp/OBXgrp, counts groups, inserts segments where the structure puts them', () => {
    const p = production(['dtl/RGH.DTL.ORUFlags.cls'])
    const out = compileTransform(p.transforms.get('RGH.DTL.ORUFlags')!, p).applyText(ORU, ctx(p))
    const lines = out.text!.split('\r')
    expect(lines).toEqual([
      'MSH|^~\\&|LAB|RGH|EPR|RGH|20260316101500||ORU^R01^ORU_R01|LAB0001|P|2.5',
      'PID|1||RGH123456^^^RGH^MR||SMITH^JOHN',
      'PV1|1|O',
      'ORC|RE|ORD1',
      'OBR|1|ORD1|FIL1|FBC^Full blood count^LOCAL',
      'NTE|||2',
      'OBX|1|NM|HB^Haemoglobin^LOCAL||135|g/L|130-170|N|||F',
      'OBX|2|NM|WBC^White cell count^LOCAL||11.2 (high)|10*9/L|4.0-11.0|H|||F',
      'ORC|SMITH',
      'OBR|2|ORD2|FIL2|UE^Urea and electrolytes^LOCAL',
      'OBX|1|NM|NA^Sodium^LOCAL||148 (high)|mmol/L|133-146|H|||F',
      'NTE|1||Sample slightly haemolysed',
    ])
  })
})

describe('DTL: non-HL7 target', () => {
  it('produces a plain JSON object with the same property paths', () => {
    const p = production(['dtl/RGH.DTL.ToPatientJson.cls'])
    const dtl = compileTransform(p.transforms.get('RGH.DTL.ToPatientJson')!, p)
    expect(dtl.header.hl7Target).toBe(false)
    expect(dtl.applyText(ADT, ctx(p)).object).toEqual({
      NHSNumber: '9434765919',
      Name: { Family: 'SMITH', Given: 'JOHN' },
      NextOfKin: ['MARY', 'ANNE'],
    })
  })
})

describe('DTL class parameters', () => {
  const dtlClass = (
    params: string,
    body: string,
    create = 'copy',
  ): string => `Class RGH.DTL.Param Extends Ens.DataTransformDTL
{

${params}

XData DTL [ XMLNamespace = "http://www.intersystems.com/dtl" ]
{
<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='2.5:ADT_A01' targetDocType='2.5:ADT_A01' create='${create}' language='objectscript' >
${body}
</transform>
}

}
`
  const run = (params: string, body: string, create = 'copy', traces: string[] = []) => {
    const p = production(
      ['dtl/RGH.DTL.PV1Segment.cls'],
      [{ text: dtlClass(params, body, create), file: 'RGH.DTL.Param.cls' }],
    )
    return compileTransform(p.transforms.get('RGH.DTL.Param')!, p).applyText(ADT, ctx(p, traces))
  }

  it('IGNOREMISSINGSOURCE = 0 with REPORTERRORS = 1: a missing source segment fails the transform', () => {
    const body = `<assign value='source.{PV2:1}' property='target.{ZZZ:1}' action='set' />`
    expect(() =>
      run('Parameter IGNOREMISSINGSOURCE = 0;\nParameter REPORTERRORS = 1;', body),
    ).toThrow(/RGH\.DTL\.Param[\s\S]*\{PV2:1\}: segment not present/)
    expect(
      run('Parameter IGNOREMISSINGSOURCE = 0;\nParameter REPORTERRORS = 0;', body).errors,
    ).toHaveLength(1)
    expect(
      run('Parameter IGNOREMISSINGSOURCE = 1;\nParameter REPORTERRORS = 1;', body).errors,
    ).toEqual([])
  })

  it('GENERATEEMPTYSEGMENTS decides whether an empty assign creates the segment', () => {
    const body = `<assign value='source.{PV2:1}' property='target.{PV2:1}' action='set' />`
    expect(run('Parameter GENERATEEMPTYSEGMENTS = 0;', body).text).not.toContain('PV2')
    expect(run('Parameter GENERATEEMPTYSEGMENTS = 1;', body).text!.split('\r')).toContain('PV2')
  })

  it('TREATEMPTYREPEATINGFIELDASNULL decides whether foreach visits an empty repeating field', () => {
    const body = `<foreach property='source.{PID:4()}' key='k'><assign value='"visited"' property='target.{ZZZ:1}' action='set' /></foreach>`
    expect(run('Parameter TREATEMPTYREPEATINGFIELDASNULL = 0;', body).text).toContain('ZZZ|visited')
    expect(run('Parameter TREATEMPTYREPEATINGFIELDASNULL = 1;', body).text).not.toContain('ZZZ')
  })

  it('create="existing" edits the source in place, "new" starts empty', () => {
    const body = `<assign value='"X"' property='target.{MSH:11}' action='set' />`
    expect(run('', body, 'existing').text!.split('\r')).toHaveLength(8)
    expect(run('', body, 'new').text).toBe('MSH|^~\\&|||||||||X')
  })

  it('a <code> block runs its set statements and trace macros; another statement fails the compile naming class, line and construct', () => {
    const traces: string[] = []
    const out = run(
      '',
      `<assign value='1' property='tX' action='set' />\n<code>\n<![CDATA[ set tX = tX + 1, target.{PID:5} = "DOE^"_tX  // two\n $$$TRACE("tX "_tX) ]]></code>`,
      'copy',
      traces,
    )
    expect(parseMessage(out.text!).get('PID-5')).toBe('DOE^2')
    expect(traces).toEqual(['tX 2'])
    let err: unknown
    try {
      run('', `<code>\n<![CDATA[ do ..Audit(source) ]]></code>`)
    } catch (e) {
      err = e
    }
    expect(isEngineError(err) && err.code).toBe('ENGINE_TRANSFORM_UNSUPPORTED')
    expect((err as Error).message).toMatch(
      /RGH\.DTL\.Param\.cls line 9: transform class RGH\.DTL\.Param: <code> statement "do \.\.Audit\(source\)" is not supported \(only set and the \$\$\$TRACE\/\$\$\$LOG macros run here\)/,
    )
  })

  it('an unknown function fails the compile; a registered one runs', () => {
    const body = `<assign value='..Soundex(source.{PID:5.1})' property='target.{ZZZ:1}' action='set' />`
    expect(() => run('', body)).toThrow(
      /line 9: transform class RGH\.DTL\.Param: value \.\.Soundex\(source\.\{PID:5\.1\}\): function "Soundex" is not supported/,
    )
    const p = production(
      ['dtl/RGH.DTL.PV1Segment.cls'],
      [{ text: dtlClass('', body), file: 'RGH.DTL.Param.cls' }],
    )
    const dtl = compileTransform(p.transforms.get('RGH.DTL.Param')!, p, {
      functions: { Soundex: () => 'S530' },
    })
    expect(dtl.applyText(ADT, ctx(p)).text).toContain('ZZZ|S530')
  })

  it('a symbolic name the declared doc type lacks fails the compile', () => {
    expect(() =>
      run('', `<assign value='source.{PID:PatientNam}' property='tX' action='set' />`),
    ).toThrow(
      /line 9: transform class RGH\.DTL\.Param: value source\.\{PID:PatientNam\}: .*no field named "PatientNam" in schema 2\.5/,
    )
    expect(() =>
      run('', `<assign value='1' property='target.{PV1:AssignedLocation}' action='set' />`),
    ).toThrow(/property target\.\{PV1:AssignedLocation\}/)
  })

  it('##class() calls and unknown actions are not supported', () => {
    expect(() =>
      run('', `<assign value='##class(My.Util).Fix(source.{PID:5})' property='tX' action='set' />`),
    ).toThrow(/ENGINE_TRANSFORM|not supported|unexpected/)
    expect(() => run('', `<sql><![CDATA[SELECT 1]]></sql>`)).toThrow(
      /<sql> is not supported in DTL/,
    )
  })
})

describe('DTL: IRIS group paths are checked against the declared doc types at load', () => {
  const oruClass = (body: string, docTypes = "sourceDocType='2.5:ORU_R01'"): string =>
    `Class RGH.DTL.Groups Extends Ens.DataTransformDTL
{

XData DTL [ XMLNamespace = "http://www.intersystems.com/dtl" ]
{
<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' ${docTypes} create='copy' language='objectscript' >
${body}
</transform>
}

}
`
  const compile = (body: string, docTypes?: string) => {
    const p = production(
      ['dtl/RGH.DTL.PV1Segment.cls'],
      [{ text: oruClass(body, docTypes), file: 'RGH.DTL.Groups.cls' }],
    )
    return { p, dtl: compileTransform(p.transforms.get('RGH.DTL.Groups')!, p) }
  }

  it('a misspelled source group fails the load naming the class, path, group, structure and valid names', () => {
    const e = thrown(() =>
      compile(
        `<assign value='source.{FOOgrp(1).OBX:ObservationValue}' property='target.{MSH:10}' action='set' />`,
      ),
    )
    expect(isEngineError(e) && e.code).toBe('ENGINE_TRANSFORM_INVALID')
    expect((e as Error).message).toMatch(
      /transform class RGH\.DTL\.Groups.*\{FOOgrp\(1\)\.OBX:ObservationValue\}: group "FOOgrp" is not a group of structure ORU_R01 \(groups there: PIDgrpgrp\) \(sourceDocType 2\.5:ORU_R01\)/,
    )
  })

  it('a misspelled target group fails the load against targetDocType', () => {
    expect(() =>
      compile(
        `<assign value='"x"' property='target.{PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBXX:5}' action='set' />`,
        "sourceDocType='2.5:ORU_R01' targetDocType='2.5:ORU_R01'",
      ),
    ).toThrow(
      /segment "OBXX" is not a segment of group OBXgrp of structure ORU_R01 \(segments there: OBX.*\(targetDocType 2\.5:ORU_R01\)/,
    )
  })

  it('the real group path loads and reads the first observation of the ORU fixture', () => {
    const { p, dtl } = compile(
      `<assign value='source.{PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:ObservationValue}' property='target.{MSH:10}' action='set' />`,
    )
    expect(dtl.notes).toEqual([])
    const out = parseMessage(dtl.applyText(ORU, ctx(p)).text!)
    expect(out.get('MSH-10')).toBe('135')
  })

  it('without a doc type, group paths are listed in the notes', () => {
    const { dtl } = compile(
      `<assign value='source.{FOOgrp(1).OBX:5}' property='target.{MSH:10}' action='set' />`,
      '',
    )
    expect(dtl.notes).toEqual([
      expect.stringMatching(
        /RGH\.DTL\.Groups\.cls line 7: transform class RGH\.DTL\.Groups: value source\.\{FOOgrp\(1\)\.OBX:5\} walks IRIS groups that could not be checked at load \(no sourceDocType\)/,
      ),
    ])
  })
})
