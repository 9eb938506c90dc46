// Property-based tests (fast-check): well-formed messages with random delimiters round-trip through
// parseMessage/toString and read back every value written; arbitrary strings and bytes never make
// the parser fail with anything but an Hl7ParseError, and validate() never throws on what parsed.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createNak,
  escape,
  isHl7ParseError,
  parseBatch,
  parseMessage,
  validate,
  type Encoding,
} from '../src/index.js'

// Characters that may serve as delimiters: printable, not letters, digits or space.
const DELIMITER_POOL = '|^~\\&#*!@$%+:;/?=<>{}[]()_-,.\'"`'.split('')

const encodingArb: fc.Arbitrary<Encoding> = fc
  .shuffledSubarray(DELIMITER_POOL, { minLength: 6, maxLength: 6 })
  .chain((d) =>
    fc.boolean().map((withTruncation) => ({
      field: d[0]!,
      component: d[1]!,
      repetition: d[2]!,
      escape: d[3]!,
      subcomponent: d[4]!,
      truncation: withTruncation ? d[5]! : undefined,
    })),
  )

// Leaf values mix plain text, every delimiter of every encoding, CR/LF, non-ASCII and quotes.
const leafArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', 'Smith', '""', '123', 'Zoë', 'Łódź 日本') },
  {
    weight: 2,
    arbitrary: fc.string({
      unit: fc.constantFrom(...'abcXYZ09 é£\r\n\t'.split(''), ...DELIMITER_POOL),
      maxLength: 12,
    }),
  },
)

const SEGMENT_IDS = ['PID', 'PV1', 'OBX', 'NTE', 'ZZ1', 'ZPD', 'AL1', 'OBR']
type Field = string[][][] // repetitions → components → subcomponents
const fieldArb: fc.Arbitrary<Field> = fc.array(
  fc.array(fc.array(leafArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  { minLength: 1, maxLength: 3 },
)
const segmentArb = fc.record({
  name: fc.constantFrom(...SEGMENT_IDS),
  fields: fc.array(fieldArb, { maxLength: 6 }),
})
const messageArb = fc.record({
  encoding: encodingArb,
  segments: fc.array(segmentArb, { maxLength: 8 }),
  trailing: fc.boolean(),
})

interface Generated {
  encoding: Encoding
  segments: { name: string; fields: Field[] }[]
  trailing: boolean
}

function encodeField(field: Field, enc: Encoding): string {
  return field
    .map((rep) =>
      rep.map((comp) => comp.map((v) => escape(v, enc)).join(enc.subcomponent)).join(enc.component),
    )
    .join(enc.repetition)
}

function render(g: Generated): string {
  const enc = g.encoding
  const chars =
    enc.component + enc.repetition + enc.escape + enc.subcomponent + (enc.truncation ?? '')
  const lines = [
    `MSH${enc.field}${chars}${enc.field}APP${enc.field}FAC${enc.field}${enc.field}${enc.field}2026${enc.field}${enc.field}ADT${enc.component}A01${enc.field}CTRL${enc.field}P${enc.field}2.5.1`,
  ]
  for (const s of g.segments)
    lines.push([s.name, ...s.fields.map((f) => encodeField(f, enc))].join(enc.field))
  return lines.join('\r') + (g.trailing ? '\r' : '')
}

describe('property: well-formed messages', () => {
  it('parseMessage(text).toString() === text, and every value reads back', () => {
    fc.assert(
      fc.property(messageArb, (g) => {
        const text = render(g)
        const msg = parseMessage(text)
        expect(msg.toString()).toBe(text)
        expect(parseMessage(msg.toString()).toString()).toBe(text)
        expect(msg.encoding).toEqual(g.encoding)
        expect(msg.messageType).toBe('ADT')
        const seen = new Map<string, number>()
        for (const s of g.segments) {
          const n = (seen.get(s.name) ?? 0) + 1
          seen.set(s.name, n)
          s.fields.forEach((field, fi) => {
            field.forEach((rep, ri) => {
              rep.forEach((comp, ci) => {
                comp.forEach((v, si) => {
                  const path = `${s.name}[${n}]-${fi + 1}[${ri + 1}].${ci + 1}.${si + 1}`
                  expect(msg.get(path)).toBe(v === '' ? undefined : v)
                })
              })
            })
          })
        }
      }),
      { numRuns: 300 },
    )
  })

  it('set then serialise then parse reads back the value written', () => {
    const opArb = fc.record({
      name: fc.constantFrom(...SEGMENT_IDS),
      index: fc.integer({ min: 1, max: 3 }),
      field: fc.integer({ min: 1, max: 8 }),
      rep: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      comp: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      sub: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      value: leafArb,
    })
    fc.assert(
      fc.property(messageArb, fc.array(opArb, { minLength: 1, maxLength: 5 }), (g, ops) => {
        const msg = parseMessage(render(g))
        for (const op of ops) {
          let path = `${op.name}[${op.index}]-${op.field}`
          if (op.rep !== undefined) path += `[${op.rep}]`
          if (op.comp !== undefined)
            path += `.${op.comp}${op.sub !== undefined ? `.${op.sub}` : ''}`
          msg.set(path, op.value)
          const again = parseMessage(msg.toString())
          expect(again.toString()).toBe(msg.toString())
          // Reading the exact element written gives the value back, decoded.
          const leafPath =
            op.comp === undefined ? `${path}.1.1` : op.sub === undefined ? `${path}.1` : path
          expect(again.get(leafPath)).toBe(op.value === '' ? undefined : op.value)
        }
      }),
      { numRuns: 200 },
    )
  })
})

// Runs `fn` and accepts success or an Hl7ParseError; anything else fails the property.
function onlyParseErrors(fn: () => void): void {
  try {
    fn()
  } catch (e) {
    if (!isHl7ParseError(e)) throw e
  }
}

function exercise(input: string | Uint8Array): void {
  onlyParseErrors(() => {
    const msg = parseMessage(input)
    msg.toString()
    for (const path of ['MSH-9.1', 'PID-3[2].1', 'OBX[2]-5.1.1', 'ZZZ-1']) msg.get(path)
    msg.getAll('PID-3.1')
    for (const s of msg.segments()) expect(s.fieldCount).toBeGreaterThanOrEqual(0)
    // validate() reports findings as data: it must not throw on any message the parser accepted.
    expect(Array.isArray(validate(msg))).toBe(true)
    expect(Array.isArray(validate(msg, { version: '2.3' }))).toBe(true)
  })
  onlyParseErrors(() => {
    parseBatch(input).toString()
  })
  // createNak must answer anything, without throwing.
  expect(createNak(input, 'AR').get('MSA-1')).toBe('AR')
}

describe('property: arbitrary input', () => {
  const hostile = fc.string({
    unit: fc.constantFrom(...'MSHPIDOBX|^~\\&#\r\n \t"0aZ'.split(''), ...DELIMITER_POOL),
    maxLength: 200,
  })

  it('random strings never fail except with Hl7ParseError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 200 }),
          hostile,
        ),
        exercise,
      ),
      {
        numRuns: 500,
      },
    )
  })

  it('strings that start like a message never fail except with Hl7ParseError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('MSH|^~\\&|', 'MSH|^~\\&#|', 'FHS|^~\\&|', 'MSH', 'MSH|'),
        hostile,
        (head, tail) => exercise(head + tail),
      ),
      { numRuns: 500 },
    )
  })

  it('random bytes never fail except with Hl7ParseError', () => {
    const prefix = Buffer.from('MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5|||||GBR|')
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withPrefix) =>
        exercise(withPrefix ? Buffer.concat([prefix, bytes]) : bytes),
      ),
      { numRuns: 500 },
    )
  })
})
