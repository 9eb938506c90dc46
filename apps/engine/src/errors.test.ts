import { describe, expect, it } from 'vitest'
import { AppError, isAppError } from './index.js'

describe('AppError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new AppError('APP_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('APP_INTERNAL')
    expect(e.name).toBe('AppError')
    expect(e.cause).toBe(cause)
    expect(isAppError(e)).toBe(true)
    expect(isAppError(new Error('plain'))).toBe(false)
  })
})
