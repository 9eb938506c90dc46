import { createMemoryStore } from '@li/store/testing'
import type { MessageStore } from '@li/store'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreBatcher } from './store-batcher.js'

describe('StoreBatcher', () => {
  let store: MessageStore
  beforeEach(async () => {
    store = createMemoryStore()
    await store.start()
  })
  afterEach(async () => {
    await store.stop()
  })

  it('holds writes, then hands them over in call order in one batch', async () => {
    const sizes: number[] = []
    store.on('batch', (b) => sizes.push(b.size))
    const batcher = new StoreBatcher(store, { windowMs: 1 })
    const input = {
      hostName: 'In',
      messageId: 'M1',
      payload: 'MSH|^~\\&|',
      messageType: 'ADT^A01',
      correlationId: 'M1',
      sessionId: 's1',
    }
    const stored = batcher.store(input)
    const hop = batcher.recordHop({
      sessionId: 's1',
      source: 'In',
      target: 'In',
      state: 'received',
    })
    expect(batcher.held).toBe(2)
    const { id } = await stored
    await hop
    await batcher.markCompleted(id)
    expect(sizes[0]).toBe(2)
    // A read issues what is held first, so it sees its own writes.
    const done = batcher.markFailed(id, 'late')
    const read = (await batcher.get(id)) as { state?: string } | undefined
    expect(read?.state).toBe('failed')
    await done
    expect((await store.trace('s1')).map((h) => h.state)).toEqual(['received'])
  })

  it('issues at once when maxOps writes are held', async () => {
    const batcher = new StoreBatcher(store, { windowMs: 60_000, maxOps: 2 })
    const a = batcher.recordHop({ sessionId: 's2', source: 'A', target: 'B', state: 'queued' })
    expect(batcher.held).toBe(1)
    const b = batcher.recordHop({ sessionId: 's2', source: 'B', target: 'C', state: 'queued' })
    expect(batcher.held).toBe(0)
    await Promise.all([a, b])
    expect((await store.trace('s2')).map((h) => h.target)).toEqual(['B', 'C'])
  })
})
