import { describe, expect, it } from 'vitest'
import { MetricsError, isMetricsError } from './index.js'

describe('MetricsError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new MetricsError('METRICS_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('METRICS_INTERNAL')
    expect(e.name).toBe('MetricsError')
    expect(e.cause).toBe(cause)
    expect(isMetricsError(e)).toBe(true)
    expect(isMetricsError(new Error('plain'))).toBe(false)
  })
})
