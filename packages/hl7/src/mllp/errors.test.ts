import { describe, expect, it } from 'vitest'
import { Hl7Error, isHl7Error } from '../errors.js'
import { MllpError, isMllpError } from './errors.js'

describe('MllpError', () => {
  it('is an Hl7Error with an MLLP code, a name and a cause', () => {
    const cause = new Error('ECONNREFUSED')
    const error = new MllpError('MLLP_CONNECT_FAILED', 'could not connect', { cause })
    expect(error).toBeInstanceOf(Hl7Error)
    expect(error).toBeInstanceOf(Error)
    expect(isHl7Error(error)).toBe(true)
    expect(isMllpError(error)).toBe(true)
    expect(error.name).toBe('MllpError')
    expect(error.code).toBe('MLLP_CONNECT_FAILED')
    expect(error.cause).toBe(cause)
  })

  it('is recognised across module copies by name and code', () => {
    const foreign = Object.assign(new Error('x'), { name: 'MllpError', code: 'MLLP_ACK_TIMEOUT' })
    expect(isMllpError(foreign)).toBe(true)
    expect(isMllpError(new Error('x'))).toBe(false)
    expect(isMllpError(Object.assign(new Error('x'), { name: 'MllpError' }))).toBe(false)
  })
})
