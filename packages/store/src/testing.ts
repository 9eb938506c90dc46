/**
 * Test helpers of @li/store (`@li/store/testing`): an in-memory backend, so that tests of code
 * that uses a `MessageStore` need no database file. Not for production: nothing is persisted.
 */
import { MemoryBackend } from './memory-backend.js'
import { MessageStore, type MessageStoreOptions } from './message-store.js'

export { MemoryBackend } from './memory-backend.js'

/** Options of `createMemoryStore`: those of `MessageStore` without a backend or file. */
export type MemoryStoreOptions = Omit<
  MessageStoreOptions,
  'backend' | 'path' | 'dataDir' | 'synchronous'
>

/**
 * A `MessageStore` over a fresh `MemoryBackend` (not started: call `start()`).
 * @example
 * const store = createMemoryStore()
 * await store.start()
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MessageStore {
  return new MessageStore({ ...options, backend: new MemoryBackend() })
}
