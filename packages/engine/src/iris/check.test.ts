import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkProduction, formatCompatibilityReport } from './check.js'

const fixtures = fileURLToPath(new URL('../../test/fixtures/iris/', import.meta.url))

describe('checkProduction', () => {
  it('reports every item, rule, transform, table, class and document, with counts and exit code', async () => {
    const r = await checkProduction({ path: fixtures + 'check/RGH.Check.Export.xml' })
    const by = Object.fromEntries(r.entries.map((e) => [`${e.kind}:${e.name}`, e]))
    expect(r.production).toBe('RGH.Check.Production')
    expect(by['production:RGH.Check.Production']!.status).toBe('supported')
    expect(by['item:PAS In']).toMatchObject({
      status: 'differences',
      notes: [
        'setting JobPerConnection: connections are served concurrently (one message at a time per connection), as with JobPerConnection=1',
      ],
    })
    expect(by['item:Router']!.status).toBe('supported')
    expect(by['item:EPR Out']!.status).toBe('supported')
    expect(by['item:Order Process']!.status).toBe('unsupported')
    expect(by['item:Order Process']!.notes[0]).toContain(
      'business process RGH.Check.OrderBPL: <code> statement "do ##class(RGH.Util).Audit(request)" is not supported (only set and the $$$TRACE/$$$LOG macros run here)',
    )
    expect(by['rule:RGH.Check.Rules']!.status).toBe('supported')
    expect(by['rule:RGH.Check.OldRules']!.status).toBe('unsupported')
    expect(by['rule:RGH.Check.OldRules']!.notes[0]).toMatch(
      /line \d+: rule class RGH\.Check\.OldRules, rule "uses a function we lack".*function "Soundex" is not supported/,
    )
    expect(by['transform:RGH.Check.Good']!.status).toBe('supported')
    expect(by['transform:RGH.Check.WithCode']!.status).toBe('unsupported')
    expect(by['transform:RGH.Check.WithCode']!.notes[0]).toMatch(
      /line \d+: transform class RGH\.Check\.WithCode: <code> statement "do ##class\(RGH\.Util\)\.Audit\(source\)" is not supported/,
    )
    expect(by['transform:RGH.Check.ToJson']).toMatchObject({ status: 'differences' })
    expect(by['transform:RGH.Check.ToJson']!.notes[0]).toContain('plain JSON object')
    expect(by['lookup-table:RGH-Sex']!.status).toBe('supported')
    expect(by['class:RGH.Msg.Patient']!.status).toBe('differences')
    expect(by['class:RGH.Check.OrderBPL']).toBeUndefined() // reported on its item
    expect(r.counts).toEqual({ supported: 6, differences: 3, unsupported: 3 })
    expect(r.exitCode).toBe(1)
    const text = formatCompatibilityReport(r)
    expect(text).toContain('item         Order Process: NOT SUPPORTED')
    expect(text).toContain(
      '6 supported, 3 supported with differences, 3 not supported\nexit code 1\n',
    )
  })

  it('exits 0 when everything runs (differences included)', async () => {
    const r = await checkProduction({ path: fixtures + 'export.xml' })
    expect(r.counts.unsupported).toBe(0)
    expect(r.exitCode).toBe(0)
    const kinds = r.entries.map((e) => `${e.kind}:${e.name}:${e.status}`)
    expect(kinds).toContain('rule:RGH.Integration.ADTRouterRules:supported')
    expect(kinds).toContain('transform:RGH.Integration.ADTtoA08:supported')
    expect(kinds).toContain('document:RGH2.5.HL7:supported')
  })
})
