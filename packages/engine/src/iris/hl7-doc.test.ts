import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Hl7Doc, getSegmentValue, type FieldAddress } from './hl7-doc.js'

// Reading a segment no one has written cuts the value out of its text; reading one that was
// split into fields walks the arrays. Both must give the same answer for every address.
const piece = fc.stringMatching(/^[A-Z0-9 .\\]{0,3}$/)
const sub = fc.array(piece, { minLength: 1, maxLength: 3 }).map((s) => s.join('&'))
const comp = fc.array(sub, { minLength: 1, maxLength: 3 }).map((s) => s.join('^'))
const field = fc.array(comp, { minLength: 1, maxLength: 3 }).map((s) => s.join('~'))
const segment = fc
  .tuple(fc.constantFrom('PID', 'PV1', 'OBX', 'ZLI', 'MSH'), fc.array(field, { maxLength: 8 }))
  .map(([name, fields]) =>
    name === 'MSH' ? `MSH|^~\\&|${fields.join('|')}` : [name, ...fields].join('|'),
  )
const address: fc.Arbitrary<FieldAddress> = fc.record(
  {
    field: fc.integer({ min: 1, max: 10 }),
    rep: fc.integer({ min: 1, max: 4 }),
    comp: fc.integer({ min: 1, max: 4 }),
    sub: fc.integer({ min: 1, max: 4 }),
  },
  { requiredKeys: ['field'] },
)

describe('getSegmentValue on an untouched segment', () => {
  it('reads what the split segment reads, at every level', () => {
    fc.assert(
      fc.property(segment, fc.array(address, { minLength: 1, maxLength: 6 }), (line, as) => {
        const text = `MSH|^~\\&|A|B\r${line}`
        for (const a0 of as) {
          // A sub without a comp, or a comp without the rest, are all valid addresses.
          const a: FieldAddress = a0.comp === undefined ? { ...a0, sub: undefined } : a0
          const lazy = Hl7Doc.parse(text)
          const split = Hl7Doc.parse(text)
          const seg = split.segments[1]!
          void seg.fields // split it
          expect(getSegmentValue(lazy, lazy.segments[1]!, a)).toBe(getSegmentValue(split, seg, a))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('a field split and joined again is the same text, at every level', () => {
    const doc = new Hl7Doc()
    fc.assert(
      fc.property(field, (f) => {
        const parsed = doc.parseField(f)
        expect(doc.encodeField(parsed)).toBe(f)
        expect(parsed).toEqual(f.split('~').map((r) => r.split('^').map((c) => c.split('&'))))
      }),
      { numRuns: 500 },
    )
  })

  it('MSH-1 and MSH-2 are the separators, MSH-3 the first field after them', () => {
    const doc = Hl7Doc.parse('MSH|^~\\&|PAS^X|RGH')
    const msh = doc.segments[0]!
    expect(getSegmentValue(doc, msh, { field: 1 })).toBe('|')
    expect(getSegmentValue(doc, msh, { field: 2 })).toBe('^~\\&')
    expect(getSegmentValue(doc, msh, { field: 3, comp: 2 })).toBe('X')
    expect(getSegmentValue(doc, msh, { field: 4 })).toBe('RGH')
    expect(getSegmentValue(doc, msh, { field: 9 })).toBe('')
  })
})
