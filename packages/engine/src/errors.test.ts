import { describe, expect, it } from 'vitest'
import { EngineError, isEngineError } from './index.js'

describe('EngineError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new EngineError('ENGINE_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('ENGINE_INTERNAL')
    expect(e.name).toBe('EngineError')
    expect(e.cause).toBe(cause)
    expect(isEngineError(e)).toBe(true)
    expect(isEngineError(new Error('plain'))).toBe(false)
  })
})
