/**
 * Test helpers for code that uses @li/queue: a started in-process MessageQueue, so unit tests of
 * the engine need neither Redis nor mocks (the memory backend has the same semantics as Redis).
 */
import { MessageQueue } from './message-queue.js'
import type { MessageQueueConfig } from './types.js'

/** A started MessageQueue on the memory backend; pass config to shorten timeouts in tests. */
export async function createMemoryQueue(
  config: Omit<MessageQueueConfig, 'backend'> = {},
): Promise<MessageQueue> {
  const mq = new MessageQueue({ ...config, backend: 'memory' })
  await mq.start()
  return mq
}
