// The public entry points resolve by package name, as other packages import them.
import { describe, expect, it } from 'vitest'
import { MessageStore, isStoreError } from '@li/store'
import { MemoryBackend, createMemoryStore } from '@li/store/testing'

describe('@li/store/testing', () => {
  it('gives a MessageStore over the in-memory backend', async () => {
    const store = createMemoryStore()
    expect(store).toBeInstanceOf(MessageStore)
    await store.start()
    const m = await store.store({
      hostName: 'PAS.In',
      messageId: 'M1',
      payload: 'MSH|^~\\&|',
      messageType: 'ADT^A01',
      correlationId: 'M1',
    })
    await store.markProcessing(m.id)
    expect((await store.get(m.id))?.history.map((h) => h.state)).toEqual(['received', 'processing'])
    await store.stop()
    const e = await store.get(m.id).catch((err: unknown) => err)
    expect(isStoreError(e) && e.code).toBe('STORE_CLOSED')
  })

  it('exports the in-memory backend for a store built by hand', async () => {
    const store = new MessageStore({ backend: new MemoryBackend() })
    await store.start()
    const m = await store.store({
      hostName: 'PAS.In',
      messageId: 'M2',
      payload: 'MSH|^~\\&|',
      messageType: 'ADT^A08',
      correlationId: 'M2',
    })
    expect((await store.query({ hostName: 'PAS.In', limit: 10 })).records.map((r) => r.id)).toEqual(
      [m.id],
    )
    await store.stop()
  })
})
