import { describe, expect, it } from 'vitest'
import { StoreError, isStoreError } from './index.js'

describe('StoreError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new StoreError('STORE_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('STORE_INTERNAL')
    expect(e.name).toBe('StoreError')
    expect(e.cause).toBe(cause)
    expect(isStoreError(e)).toBe(true)
    expect(isStoreError(new Error('plain'))).toBe(false)
  })
})
