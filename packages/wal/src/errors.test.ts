import { describe, expect, it } from 'vitest'
import { WalError, isWalError } from './index.js'

describe('WalError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new WalError('WAL_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('WAL_INTERNAL')
    expect(e.name).toBe('WalError')
    expect(e.cause).toBe(cause)
    expect(isWalError(e)).toBe(true)
    expect(isWalError(new Error('plain'))).toBe(false)
  })
})
