/**
 * Multi-valued rule paths (`()` in curly brackets, `HL7.(...)`, `HL7.[...]`), load-time checks
 * of symbolic names against the schema the router's messages carry, and InFile files, against
 * the real ADT^A01 fixture (PID-3 has two repetitions, there are two NK1 segments).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseMessage } from '@li/hl7'
import { afterEach, describe, expect, it } from 'vitest'
import { irisFixture, thrown } from '../../test/helpers.js'
import { isEngineError } from '../errors.js'
import { defineProduction } from '../production/define.js'
import type { Production } from '../production/types.js'
import { checkProduction } from './check.js'
import {
  functionRegistry,
  intersects,
  parseExpression,
  setInFileRecheckInterval,
} from './expression.js'
import { readIrisSource } from './loader.js'
import { compileRules } from './rules.js'
import { toXml } from './to-xml.js'

const ADT = irisFixture('messages/adt-a01.hl7')

/** A rule class with one rule per condition, each sending to `Out` and tracing `trace`. */
function ruleClass(rules: { when: string; trace?: string; constraint?: string }[]): string {
  const body = rules
    .map(
      (r, i) =>
        `<rule name="r${i + 1}">${r.constraint ?? ''}<when condition="${r.when}"><send target="Out"></send>${
          r.trace !== undefined ? `<trace value="${r.trace}"></trace>` : ''
        }</when></rule>`,
    )
    .join('\n')
  return `Class RGH.Paths Extends Ens.Rule.Definition
{

XData RuleDefinition [ XMLNamespace = "http://www.intersystems.com/rule" ]
{
<ruleDefinition>
<ruleSet name="">
${body}
</ruleSet>
</ruleDefinition>
}

}
`
}

function production(text: string, category?: string): Production {
  const p = defineProduction(
    {
      name: 'RGH.Paths.Production',
      items: [
        {
          name: 'PAS In',
          type: 'mllp-in',
          settings: {
            Port: 2575,
            ...(category !== undefined ? { MessageSchemaCategory: category } : {}),
          },
          targets: 'Router',
        },
        { name: 'Router', type: 'router', settings: { BusinessRuleName: 'RGH.Paths' } },
        { name: 'Out', type: 'file-out' },
      ],
    },
    { validate: false },
  )
  const bundle = readIrisSource(text, 'RGH.Paths.cls')
  for (const [k, v] of bundle.rules) p.rules.set(k, v)
  return p
}

/** Evaluates one condition against the ADT: [fired, traced value]. */
function run(when: string, trace = '&quot;&quot;', message = ADT): [boolean, string] {
  const p = production(ruleClass([{ when, trace }]))
  const traces: string[] = []
  const r = compileRules(p.rules.get('RGH.Paths')!, p).evaluate({
    message: parseMessage(message),
    source: 'PAS In',
    now: new Date(),
    lookupTables: p.lookupTables,
    trace: (t) => traces.push(t),
  })
  return [r.actions.length > 0, traces[0] ?? '']
}

describe('() in a rule path reads every value, as IRIS GetValues: <a><b><c>', () => {
  it('every repetition of PID-3.1, in order', () => {
    expect(run('1', 'HL7.{PID:3().1}')[1]).toBe('<9434765919><RGH123456>')
    expect(run('1', 'HL7.{PID:3().4}')[1]).toBe('<NHS><RGH>')
  })

  it('Contains finds a value in the second repetition; (1) alone does not', () => {
    expect(run('HL7.{PID:3().1} Contains &quot;RGH123456&quot;')[0]).toBe(true)
    expect(run('HL7.{PID:3(1).1} Contains &quot;RGH123456&quot;')[0]).toBe(false)
    expect(run('HL7.{PID:3().1} DoesNotContain &quot;RGH123456&quot;')[0]).toBe(false)
  })

  it('Intersects splits <a><b> into its values', () => {
    expect(run('HL7.{PID:3().4} Intersects &quot;RGH,zz&quot;')[0]).toBe(true)
    expect(run('HL7.{PID:3().4} Intersects &quot;zz,yy&quot;')[0]).toBe(false)
    expect(run('HL7.{PID:3().4} DoesNotIntersect &quot;zz,yy&quot;')[0]).toBe(true)
    // no partial matches: "RG" is not "RGH"
    expect(run('Intersects(HL7.{PID:3().4},&quot;RG&quot;)')[0]).toBe(false)
  })

  it('=, In and StartsWith see the whole <a><b> string, as in IRIS', () => {
    expect(run('HL7.{PID:3().4} = &quot;RGH&quot;')[0]).toBe(false)
    expect(run('HL7.{PID:3().4} = &quot;&lt;NHS&gt;&lt;RGH&gt;&quot;')[0]).toBe(true)
    expect(run('HL7.{PID:3().4} In &quot;NHS,RGH&quot;')[0]).toBe(false)
    expect(run('HL7.{PID:3().4} StartsWith &quot;&lt;NHS&gt;&quot;')[0]).toBe(true)
  })

  it('() on a segment reads that field of every instance; one value is still bracketed', () => {
    expect(run('1', 'HL7.{NK1():2.1}')[1]).toBe('<SMITH><SMITH>')
    expect(run('1', 'HL7.{NK1():3()}')[1]).toBe('<SPO^Spouse><DAU^Daughter>')
    expect(run('1', 'HL7.{PID:8()}')[1]).toBe('<M>')
    // a missing segment gives no value; without () paths read as before
    expect(run('1', 'HL7.{OBX():5}')[1]).toBe('')
    expect(run('1', 'HL7.{PID:3(2).1}')[1]).toBe('RGH123456')
  })

  it('the round bracket form HL7.(NK1():2) reads every value', () => {
    expect(run('1', 'HL7.(NK1():2)')[1]).toBe('<SMITH^MARY><SMITH^ANNE>')
    expect(run('HL7.(NK1():3.1) Contains &quot;DAU&quot;')[0]).toBe(true)
    expect(run('HL7.(PID:3().4) Intersects &quot;RGH&quot;')[0]).toBe(true)
  })

  it('the square bracket form HL7.[PID:3.1] searches every segment of that name', () => {
    expect(run('1', 'HL7.[PID:3.1]')[1]).toBe('<9434765919>')
    expect(run('1', 'HL7.[PID:3().4]')[1]).toBe('<NHS><RGH>')
    expect(run('1', 'HL7.[NK1:2.2]')[1]).toBe('<MARY><ANNE>')
    expect(run('HL7.[NK1:3.1] Contains &quot;&lt;DAU&gt;&quot;')[0]).toBe(true)
  })

  it('square brackets with groups or a segment index fail the load naming the rule', () => {
    const p = production(ruleClass([{ when: 'HL7.[PIDgrp.PID:3]=1' }]))
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /rule "r1".*square bracket path HL7\.\[PIDgrp\.PID:3\]: expected \[SEGMENT:field\]/,
    )
  })

  it('square brackets are refused in DTL expressions (IRIS does not support them there)', () => {
    expect(() =>
      parseExpression('source.[PID:3]', { functions: functionRegistry(), leftToRight: true }),
    ).toThrow(/square bracket path syntax source\.\[PID:3\] is only valid in business rules/)
  })

  it('an unterminated round bracket path names the construct', () => {
    const p = production(ruleClass([{ when: 'HL7.(NK1():2 = 1' }]))
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /rule "r1".*unterminated round bracket path/,
    )
  })

  it('the angle bracket (XPath) form is refused by name, not as a bare parser error', () => {
    const p = production(ruleClass([{ when: 'Contains(Document.Stream.&lt;/|name(/*)&gt;,1)' }]))
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /rule "r1".*angle bracket \(XPath\) path syntax Document\.Stream\.<\.\.\.> is not supported/,
    )
  })

  it('Intersects with plain lists and explicit delimiters', () => {
    expect(intersects('A01,A02', 'A02')).toBe(true)
    expect(intersects('A01|A02', 'A03|A02', '|')).toBe(true)
    expect(intersects('<A01><A02>', 'A03;A02', '><', ';')).toBe(true)
    expect(intersects('<A01>', '<A02>')).toBe(false)
  })
})

describe('symbolic names are checked at load when the schema is known', () => {
  const bad = ruleClass([{ when: 'HL7.{PID:NoSuchName}=&quot;X&quot;' }])

  it("with the sources' MessageSchemaCategory: the load fails naming rule, path and schema", () => {
    const p = production(bad, '2.5')
    const err = thrown(() => compileRules(p.rules.get('RGH.Paths')!, p))
    expect(isEngineError(err) && err.code).toBe('ENGINE_RULE_INVALID')
    expect((err as Error).message).toMatch(
      /RGH\.Paths\.cls line \d+: rule class RGH\.Paths, rule "r1": .*path \{PID:NoSuchName\} \(MessageSchemaCategory 2\.5 .*\): .*segment PID has no field named "NoSuchName" in schema 2\.5/,
    )
  })

  it('a docCategory constraint on an enclosing rule applies to nested rules', () => {
    const text = ruleClass([{ when: '1' }]).replace(
      '<rule name="r1">',
      '<rule name="outer"><constraint name="docCategory" value="2.4"></constraint><rule name="inner"><when condition="HL7.{PID:NoSuchName}=1"><send target="Out"></send></when></rule></rule><rule name="r1">',
    )
    const p = production(text)
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /rule "inner".*\(docCategory constraint 2\.4\).*no field named "NoSuchName" in schema 2\.4/,
    )
  })

  it('valid names compile with the category known', () => {
    const p = production(
      ruleClass([{ when: 'HL7.{PID:PatientIdentifierList().IDNumber} Contains &quot;RGH&quot;' }]),
      '2.5',
    )
    const c = compileRules(p.rules.get('RGH.Paths')!, p)
    expect(c.notes).toEqual([])
  })

  it('without a known schema: compiles, notes the path, fails each message at run time', async () => {
    const p = production(bad)
    const c = compileRules(p.rules.get('RGH.Paths')!, p)
    expect(c.notes).toEqual([
      expect.stringMatching(
        /rule "r1": HL7\.\{PID:NoSuchName\} uses symbolic names that could not be checked at load/,
      ),
    ])
    const err = thrown(() =>
      c.evaluate({
        message: parseMessage(ADT),
        source: 'PAS In',
        now: new Date(),
        lookupTables: new Map(),
      }),
    )
    expect(isEngineError(err) && err.code).toBe('ENGINE_RULE_FAILED')
    const dir = mkdtempSync(join(tmpdir(), 'li-paths-'))
    writeFileSync(
      join(dir, 'RGH.Paths.Production.cls'),
      `Class RGH.Paths.Production Extends Ens.Production\n{\n\nXData ProductionDefinition\n{\n${toXml(p)}\n}\n\n}\n`,
    )
    writeFileSync(join(dir, 'RGH.Paths.cls'), bad)
    const report = await checkProduction({ path: join(dir, 'RGH.Paths.Production.cls') })
    const entry = report.entries.find((e) => e.kind === 'rule' && e.name === 'RGH.Paths')
    expect(entry?.status).toBe('differences')
    expect(entry?.notes.join('\n')).toContain('HL7.{PID:NoSuchName} uses symbolic names')
  })
})

describe('InFile', () => {
  afterEach(() => setInFileRecheckInterval(1000))

  it('a missing file fails the load naming the rule and the file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'li-infile-')), 'missing.txt')
    const p = production(ruleClass([{ when: `InFile(HL7.{MSH:4},&quot;${file}&quot;)` }]))
    const err = thrown(() => compileRules(p.rules.get('RGH.Paths')!, p))
    expect(isEngineError(err) && err.code).toBe('ENGINE_RULE_INVALID')
    expect((err as Error).message).toContain(`rule "r1": InFile file "${file}" does not exist`)
  })

  it('reads the file again when it changes', () => {
    setInFileRecheckInterval(0)
    const file = join(mkdtempSync(join(tmpdir(), 'li-infile-')), 'facilities.txt')
    writeFileSync(file, 'OTHER\n')
    const p = production(ruleClass([{ when: `InFile(HL7.{MSH:4},&quot;${file}&quot;)` }]))
    const c = compileRules(p.rules.get('RGH.Paths')!, p)
    const fire = (): boolean =>
      c.evaluate({
        message: parseMessage(ADT),
        source: 'PAS In',
        now: new Date(),
        lookupTables: new Map(),
      }).actions.length > 0
    expect(fire()).toBe(false)
    writeFileSync(file, 'OTHER\nRGH\n')
    expect(fire()).toBe(true)
    writeFileSync(file, 'NONE\n')
    expect(fire()).toBe(false)
  })
})

describe('IRIS group paths in rules are checked against the message structure at load', () => {
  const ORU = irisFixture('messages/oru-r01.hl7')
  const ORU_25 =
    '<constraint name="docCategory" value="2.5"></constraint><constraint name="docName" value="ORU_R01"></constraint>'
  const good = 'HL7.{PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:ObservationValue}'

  it('a misspelled group fails the load naming the class, rule, path, group, structure and the valid names', () => {
    const p = production(
      ruleClass([{ when: 'HL7.{FOOgrp(1).OBX:ObservationValue}=135', constraint: ORU_25 }]),
    )
    const e = thrown(() => compileRules(p.rules.get('RGH.Paths')!, p))
    expect(isEngineError(e) && e.code).toBe('ENGINE_RULE_INVALID')
    expect((e as Error).message).toMatch(
      /RGH\.Paths.*rule "r1".*\{FOOgrp\(1\)\.OBX:ObservationValue\}: group "FOOgrp" is not a group of structure ORU_R01 \(groups there: PIDgrpgrp\).*docName constraint ORU_R01, category 2\.5/,
    )
  })

  it('a group at the wrong level names the groups valid there', () => {
    const p = production(
      ruleClass([{ when: 'HL7.{PIDgrpgrp(1).OBXgrp(1).OBX:5}=135', constraint: ORU_25 }]),
    )
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /group "OBXgrp" is not a group of group PIDgrpgrp of structure ORU_R01 \(groups there: .*ORCgrp/,
    )
  })

  it('group paths in a trace value are checked too', () => {
    const p = production(
      ruleClass([{ when: '1', trace: 'HL7.{PIDgrpgrp(1).ORCgrpp(1).OBR:2}', constraint: ORU_25 }]),
    )
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /rule "r1".*<trace> value: virtual path \{PIDgrpgrp\(1\)\.ORCgrpp\(1\)\.OBR:2\}: group "ORCgrpp" is not a group/,
    )
  })

  it('the docType constraint names the structure too', () => {
    const p = production(
      ruleClass([
        {
          when: 'HL7.{PIDgrpgrp(1).ORCgrp(1).OBXgrpX(1).OBX:5}=135',
          constraint: '<constraint name="docType" value="2.5:ORU_R01"></constraint>',
        },
      ]),
    )
    expect(() => compileRules(p.rules.get('RGH.Paths')!, p)).toThrow(
      /group "OBXgrpX" is not a group of group ORCgrp of structure ORU_R01 \(groups there: .*OBXgrp.*\).*docType constraint 2\.5:ORU_R01/,
    )
  })

  it('the real group path loads and reads the first observation of the ORU fixture', () => {
    const p = production(ruleClass([{ when: `${good}=135`, trace: good, constraint: ORU_25 }]))
    const compiled = compileRules(p.rules.get('RGH.Paths')!, p)
    expect(compiled.notes).toEqual([])
    const traces: string[] = []
    const r = compiled.evaluate({
      message: parseMessage(ORU),
      source: 'PAS In',
      now: new Date(),
      lookupTables: p.lookupTables,
      trace: (t) => traces.push(t),
    })
    expect(r.actions.length).toBe(1)
    expect(traces).toEqual(['135'])
  })

  it('without a structure at load, group paths are listed as a difference in checkProduction', async () => {
    const text = ruleClass([{ when: 'HL7.{FOOgrp(1).OBX:5}=135' }])
    const p = production(text, '2.5')
    const compiled = compileRules(p.rules.get('RGH.Paths')!, p)
    expect(compiled.notes).toEqual([
      expect.stringMatching(
        /rule "r1": HL7\.\{FOOgrp\(1\)\.OBX:5\} walks IRIS groups that could not be checked at load \(no docName or docType constraint/,
      ),
    ])
    const dir = mkdtempSync(join(tmpdir(), 'li-groups-'))
    writeFileSync(
      join(dir, 'RGH.Paths.Production.cls'),
      `Class RGH.Paths.Production Extends Ens.Production\n{\n\nXData ProductionDefinition\n{\n${toXml(p)}\n}\n\n}\n`,
    )
    writeFileSync(join(dir, 'RGH.Paths.cls'), text)
    const report = await checkProduction({ path: join(dir, 'RGH.Paths.Production.cls') })
    const entry = report.entries.find((x) => x.kind === 'rule' && x.name === 'RGH.Paths')
    expect(entry?.status).toBe('differences')
    expect(entry?.notes.join('\n')).toContain('walks IRIS groups')
  })
})
