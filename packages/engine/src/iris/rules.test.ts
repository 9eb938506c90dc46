import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseMessage } from '@li/hl7'
import { describe, expect, it } from 'vitest'
import { thrown } from '../../test/helpers.js'
import { isEngineError } from '../errors.js'
import { defineProduction } from '../production/define.js'
import type { Production, RuleContext } from '../production/types.js'
import { compileTransform } from './dtl.js'
import { readIrisSource } from './loader.js'
import { compileRules } from './rules.js'

const fixtures = fileURLToPath(new URL('../../test/fixtures/iris/', import.meta.url))
const read = (name: string): string => readFileSync(fixtures + name, 'utf8')
const ADT = read('messages/adt-a01.hl7')
const ORU = read('messages/oru-r01.hl7')

const TARGETS = [
  'Equals',
  'NotEquals',
  'Symbolic',
  'Repetition',
  'SymbolicRepetition',
  'Contains',
  'DoesNotContain',
  'StartsWith',
  'DoesNotStartWith',
  'In',
  'NotIn',
  'Like',
  'Matches',
  'Intersects',
  'Length',
  'Lookup',
  'Exists',
  'Words',
  'Symbols',
  'Numeric',
  'Concatenation',
  'ContainsOperator',
  'DocName',
  'Never',
  'Otherwise',
  'Constraint',
  'NextOfKin',
  'Chain',
  'Stop',
  'OldRuleSet',
  'InFile',
  'Out',
]

function production(extraRuleFiles: { text: string; file: string }[] = []): Production {
  const p = defineProduction(
    {
      name: 'RGH.Test.Production',
      items: [
        { name: 'PAS In', type: 'mllp-in', settings: { Port: 2575 }, targets: 'Router' },
        { name: 'Router', type: 'router' },
        ...TARGETS.map((name) => ({ name, type: 'file-out' as const })),
      ],
      lookupTables: { 'RGH-Wards': { WARD1: 'Ward One' } },
    },
    { validate: false },
  )
  const bundle = readIrisSource(
    read('rules/RGH.Rules.Complete.cls'),
    'rules/RGH.Rules.Complete.cls',
  )
  readIrisSource(read('rules/RGH.DTL.First.cls'), 'rules/RGH.DTL.First.cls', bundle)
  readIrisSource(read('rules/RGH.DTL.Second.cls'), 'rules/RGH.DTL.Second.cls', bundle)
  for (const f of extraRuleFiles) readIrisSource(f.text, f.file, bundle)
  for (const [k, v] of bundle.rules) p.rules.set(k, v)
  for (const [k, v] of bundle.transforms) p.transforms.set(k, v)
  return p
}

function ctx(p: Production, message = ADT, over: Partial<RuleContext> = {}): RuleContext {
  return {
    message: parseMessage(message),
    source: 'PAS In',
    now: new Date('2026-03-15T10:00:00'),
    lookupTables: p.lookupTables,
    ...over,
  }
}

function sends(r: ReturnType<ReturnType<typeof compileRules>['evaluate']>): string[] {
  return r.actions.flatMap((a) => (a.type === 'send' ? [a.target] : []))
}

describe('IRIS routing rules: every construct against a real ADT^A01', () => {
  const p = production()
  const rules = compileRules(p.rules.get('RGH.Rules.Complete')!, p)

  it('fires exactly the rules whose conditions hold, in order, until return', () => {
    const traces: string[] = []
    const r = rules.evaluate(ctx(p, ADT, { trace: (t) => traces.push(t) }))
    expect(sends(r)).toEqual([
      'Equals',
      'NotEquals',
      'Symbolic',
      'Repetition',
      'SymbolicRepetition',
      'Contains',
      'DoesNotContain',
      'StartsWith',
      'DoesNotStartWith',
      'In',
      'NotIn',
      'Like',
      'Matches',
      'Intersects',
      'Length',
      'Lookup',
      'Exists',
      'Words',
      'Symbols',
      'Numeric',
      'Concatenation',
      'ContainsOperator',
      'DocName',
      'Otherwise',
      'Constraint',
      'NextOfKin',
      'Chain',
      'Stop',
    ])
    expect(r.matchedRules).not.toContain('never')
    expect(r.matchedRules).toContain('daughter')
    expect(traces).toEqual(['routed MSG00001'])
  })

  it('a send carries its transform chain "A,B" in order', () => {
    const r = rules.evaluate(ctx(p))
    const chain = r.actions.find((a) => a.type === 'send' && a.target === 'Chain')
    expect(chain).toEqual({
      type: 'send',
      target: 'Chain',
      transforms: ['RGH.DTL.First', 'RGH.DTL.Second'],
      rule: 'chain',
    })
    const first = compileTransform(p.transforms.get('RGH.DTL.First')!, p)
    const second = compileTransform(p.transforms.get('RGH.DTL.Second')!, p)
    const c = { source: 'PAS In', now: new Date(), lookupTables: p.lookupTables }
    const out = second.applyText(first.applyText(ADT, c).text!, c).text!
    expect(out.split('\r')[0]!.split('|')[9]).toBe('MSG00001-1-2')
  })

  it('picks the rule set by effective date', () => {
    const r = rules.evaluate(ctx(p, ADT, { now: new Date('2025-06-01T00:00:00') }))
    expect(sends(r)).toEqual(['OldRuleSet'])
    const none = rules.evaluate(ctx(p, ADT, { now: new Date('1999-06-01T00:00:00') }))
    expect(none.actions).toEqual([])
  })

  it('applies constraints on source and docName', () => {
    const r = rules.evaluate(ctx(p, ORU, { source: 'Lab In' }))
    const s = sends(r)
    expect(s).not.toContain('Equals') // ORU, not ADT
    expect(s).not.toContain('Constraint')
    expect(s).toContain('Never') // "wrong source" rule now matches Lab In
  })
})

describe('rule compilation errors name the class, line, rule and construct', () => {
  const ruleClass = (when: string, extra = ''): string => `Class RGH.Bad Extends Ens.Rule.Definition
{

XData RuleDefinition [ XMLNamespace = "http://www.intersystems.com/rule" ]
{
<ruleDefinition>
<ruleSet name="">
<rule name="bad one">
<when condition="${when}"><send target="Out"></send>${extra}</when>
</rule>
</ruleSet>
</ruleDefinition>
}

}
`
  const compileBad = (when: string, extra = ''): unknown => {
    const p = production([{ text: ruleClass(when, extra), file: 'RGH.Bad.cls' }])
    try {
      compileRules(p.rules.get('RGH.Bad')!, p)
    } catch (e) {
      return e
    }
    return undefined
  }

  it('an unknown function', () => {
    const e = compileBad('Soundex(HL7.{PID:5.1})=&quot;S530&quot;')
    expect(isEngineError(e) && e.code).toBe('ENGINE_RULE_UNSUPPORTED')
    expect((e as Error).message).toMatch(
      /RGH\.Bad\.cls line 9: rule class RGH\.Bad, rule "bad one".*function "Soundex" is not supported/,
    )
  })

  it('an unknown context property', () => {
    const e = compileBad('HL7.Foo=1')
    expect((e as Error).message).toContain('"HL7.Foo" is not supported')
  })

  it('an unsupported action', () => {
    const e = compileBad('1', '<sql>SELECT 1</sql>')
    expect((e as Error).message).toMatch(/line 9: .*<sql> is not supported/)
  })

  it('an assign to the message (rules cannot change it)', () => {
    const e = compileBad('1', '<assign property="HL7.{PID:8}" value="&quot;F&quot;"></assign>')
    expect(isEngineError(e) && e.code).toBe('ENGINE_RULE_UNSUPPORTED')
    expect((e as Error).message).toMatch(/line 9: .*rules cannot change the message/)
  })

  it('a general business rule (not a routing rule)', () => {
    const text = ruleClass('1').replace(
      '<ruleDefinition>',
      '<ruleDefinition context="RGH.BP.Context">',
    )
    const p = production([{ text, file: 'RGH.Bad.cls' }])
    expect(() => compileRules(p.rules.get('RGH.Bad')!, p)).toThrow(
      /RGH\.Bad\.cls rule class RGH\.Bad: context "RGH\.BP\.Context": it is a general business rule.*cannot use it as BusinessRuleName/,
    )
  })

  it('a symbolic name the schema lacks, when docCategory names the schema', () => {
    const text = ruleClass('HL7.{PID:PatientNam.FamilyName}=&quot;X&quot;').replace(
      '<rule name="bad one">',
      '<rule name="bad one"><constraint name="docCategory" value="2.5"></constraint>',
    )
    const p = production([{ text, file: 'RGH.Bad.cls' }])
    const err = thrown(() => compileRules(p.rules.get('RGH.Bad')!, p))
    expect(isEngineError(err) && err.code).toBe('ENGINE_RULE_INVALID')
    expect((err as Error).message).toMatch(
      /line 9: rule class RGH\.Bad, rule "bad one": condition .*segment PID has no field named "PatientNam" in schema 2\.5/,
    )
  })

  it('an unknown send target or transform', () => {
    const p = production([
      { text: ruleClass('1').replace('target="Out"', 'target="Nowhere"'), file: 'RGH.Bad.cls' },
    ])
    expect(() => compileRules(p.rules.get('RGH.Bad')!, p)).toThrow(
      /send target "Nowhere" is not an item/,
    )
  })

  it('a user-registered function makes it supported', () => {
    const p = production([
      { text: ruleClass('Soundex(HL7.{PID:5.1})=&quot;S530&quot;'), file: 'RGH.Bad.cls' },
    ])
    const compiled = compileRules(p.rules.get('RGH.Bad')!, p, {
      functions: { Soundex: ([s]) => (String(s).startsWith('SMITH') ? 'S530' : '') },
    })
    expect(sends(compiled.evaluate(ctx(p)))).toEqual(['Out'])
  })

  it('a runtime failure (symbolic name without a schema) throws, never a silent false', () => {
    const p = production([
      {
        text: ruleClass('HL7.{PID:PatientName.FamilyName}=&quot;SMITH&quot;'),
        file: 'RGH.Bad.cls',
      },
    ])
    const compiled = compileRules(p.rules.get('RGH.Bad')!, p)
    expect(sends(compiled.evaluate(ctx(p)))).toEqual(['Out'])
    expect(() => compiled.evaluate(ctx(p, ADT, { docCategory: 'NOSUCH' }))).toThrow(
      /rule "bad one".*needs a schema/,
    )
  })

  it('InFile reads a list of values from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'li-infile-'))
    const file = join(dir, 'facilities.txt')
    writeFileSync(file, 'SJH\nRGH\n')
    const p = production([
      { text: ruleClass(`InFile(HL7.{MSH:4},&quot;${file}&quot;)`), file: 'RGH.Bad.cls' },
    ])
    expect(sends(compileRules(p.rules.get('RGH.Bad')!, p).evaluate(ctx(p)))).toEqual(['Out'])
  })
})

describe('native rules', () => {
  it('compile to the same evaluator (string and structured conditions)', () => {
    const p = defineProduction({
      name: 'Native',
      items: [
        { name: 'In', type: 'mllp-in', settings: { Port: 2576 }, targets: 'Router' },
        {
          name: 'Router',
          type: 'router',
          rules: [
            { name: 'adt', when: 'HL7.{MSH:9.1} = "ADT"', send: ['EPR'] },
            {
              name: 'nhs',
              when: {
                all: [
                  { path: 'PID-3[1].5', eq: 'NH' },
                  { path: 'MSH-9.2', in: ['A01', 'A04'] },
                ],
              },
              send: 'Audit',
            },
            { name: 'regex', when: { path: 'PID-5.1', matches: '^SM' }, send: 'Audit' },
            { name: 'not', when: { not: { path: 'PID-8', eq: 'M' } }, send: 'Never' },
            { name: 'lab only', source: 'Lab', send: 'Never' },
            { name: 'tests', when: { path: 'MSH-11', eq: 'T' }, delete: true, return: true },
            { name: 'last', send: 'EPR', return: true },
            { name: 'unreached', send: 'Never' },
          ],
        },
        { name: 'EPR', type: 'mllp-out' },
        { name: 'Audit', type: 'file-out' },
        { name: 'Never', type: 'file-out' },
      ],
    })
    const rules = compileRules(p.rules.get('Router.Rules')!, p)
    const r = rules.evaluate({
      message: parseMessage(ADT),
      source: 'In',
      now: new Date(),
      lookupTables: new Map(),
    })
    expect(sends(r)).toEqual(['EPR', 'Audit', 'Audit', 'EPR'])
    expect(r.matchedRules).toEqual(['adt', 'nhs', 'regex', 'last'])
    const test = parseMessage(ADT.replace('|P|2.5|', '|T|2.5|'))
    expect(
      rules.evaluate({ message: test, source: 'In', now: new Date(), lookupTables: new Map() })
        .actions,
    ).toContainEqual({ type: 'delete', rule: 'tests' })
  })
})

describe('custom schema categories from the export', () => {
  it('resolve symbolic names of Z-segments in rules and DTLs', async () => {
    const { loadProduction } = await import('./loader.js')
    const p = await loadProduction({ path: fixtures + 'export.xml' })
    const text = `Class RGH.Custom Extends Ens.Rule.Definition
{
XData RuleDefinition
{
<ruleDefinition>
<ruleSet>
<rule name="z">
<constraint name="docCategory" value="RGH2.5"></constraint>
<when condition="HL7.{ZPI:LocalCategory}=&quot;LOCAL&quot;"><send target="ADT File Out"></send></when>
</rule>
</ruleSet>
</ruleDefinition>
}
}
`
    readIrisSource(text, 'RGH.Custom.cls').rules.forEach((v, k) => p.rules.set(k, v))
    const rules = compileRules(p.rules.get('RGH.Custom')!, p)
    const r = rules.evaluate({ ...ctx(p), docCategory: 'RGH2.5' })
    expect(sends(r)).toEqual(['ADT File Out'])
    expect(() => rules.evaluate(ctx(p))).not.toThrow() // 2.5: constraint does not match
  })
})

describe('standalone rule XML files', () => {
  it('keep file lines in errors', () => {
    const text = `<?xml version="1.0"?>
<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="">
<rule name="r"><when condition="Nope(1)"><send target="Out"></send></when></rule>
</ruleSet>
</ruleDefinition>
`
    const p = production([{ text, file: 'rules/RGH.Standalone.xml' }])
    expect(() => compileRules(p.rules.get('RGH.Standalone')!, p)).toThrow(
      /rules\/RGH\.Standalone\.xml line 4: rule class RGH\.Standalone, rule "r"/,
    )
  })
})
