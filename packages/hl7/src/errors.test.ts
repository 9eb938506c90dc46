import { describe, expect, it } from 'vitest'
import { Hl7Error, isHl7Error } from './index.js'

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
