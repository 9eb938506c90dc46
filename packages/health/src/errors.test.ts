import { describe, expect, it } from 'vitest'
import { HealthError, isHealthError } from './index.js'

describe('HealthError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new HealthError('HEALTH_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('HEALTH_INTERNAL')
    expect(e.name).toBe('HealthError')
    expect(e.cause).toBe(cause)
    expect(isHealthError(e)).toBe(true)
    expect(isHealthError(new Error('plain'))).toBe(false)
  })
})
