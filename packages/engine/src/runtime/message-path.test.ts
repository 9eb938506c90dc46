import { describe, expect, it } from 'vitest'
import { newSessionId } from './message-path.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('newSessionId', () => {
  it('makes RFC 9562 version 7 UUIDs that carry the current time in ms', () => {
    const before = Date.now()
    const id = newSessionId()
    const after = Date.now()
    expect(id).toMatch(UUID_V7)
    const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
    expect(ms).toBeGreaterThanOrEqual(before)
    expect(ms).toBeLessThanOrEqual(after)
  })

  it('is unique, and ids made in later milliseconds sort after earlier ones', async () => {
    const first = Array.from({ length: 1000 }, () => newSessionId())
    expect(new Set(first).size).toBe(first.length)
    const stamp = first[first.length - 1]!.slice(0, 13)
    while (newSessionId().slice(0, 13) === stamp) await new Promise((r) => setTimeout(r, 1))
    const later = newSessionId()
    for (const id of first) expect(id < later).toBe(true)
  })
})
