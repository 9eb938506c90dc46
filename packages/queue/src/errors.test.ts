import { describe, expect, it } from 'vitest'
import { QueueError, isQueueError } from './index.js'

describe('QueueError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new QueueError('QUEUE_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('QUEUE_INTERNAL')
    expect(e.name).toBe('QueueError')
    expect(e.cause).toBe(cause)
    expect(isQueueError(e)).toBe(true)
    expect(isQueueError(new Error('plain'))).toBe(false)
  })
})
