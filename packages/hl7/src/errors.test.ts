import { describe, expect, it } from 'vitest'
import { Hl7Error, Hl7ParseError, isHl7Error, isHl7ParseError } from './index.js'

describe('Hl7Error', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new Hl7Error('HL7_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('HL7_INTERNAL')
    expect(e.name).toBe('Hl7Error')
    expect(e.cause).toBe(cause)
    expect(isHl7Error(e)).toBe(true)
    expect(isHl7Error(new Error('plain'))).toBe(false)
  })
})

describe('Hl7ParseError', () => {
  it('extends Hl7Error, carries code, offset and segment, and passes the guards', () => {
    const e = new Hl7ParseError('HL7_BAD_SEGMENT_NAME', 'bad', { offset: 12, segment: 2 })
    expect(e).toBeInstanceOf(Hl7Error)
    expect(e.name).toBe('Hl7ParseError')
    expect([e.code, e.offset, e.segment]).toEqual(['HL7_BAD_SEGMENT_NAME', 12, 2])
    expect(isHl7Error(e)).toBe(true)
    expect(isHl7ParseError(e)).toBe(true)
    expect(isHl7ParseError(new Hl7Error('HL7_INTERNAL', 'x'))).toBe(false)
  })

  it('is recognised across duplicated module copies by name and code', () => {
    const copy = Object.assign(new Error('x'), { name: 'Hl7ParseError', code: 'HL7_MISSING_MSH' })
    expect(isHl7ParseError(copy)).toBe(true)
    expect(isHl7Error(copy)).toBe(true)
    expect(isHl7Error(Object.assign(new Error('x'), { name: 'Other', code: 'X' }))).toBe(false)
  })
})
