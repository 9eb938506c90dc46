export { QueueError, isQueueError } from './errors.js'
export type { QueueErrorCode } from './errors.js'
export { MessageQueue, QUEUE_DEFAULTS, resolveQueueConfig } from './message-queue.js'
export type {
  AckManyResult,
  DeadLetter,
  DeadLettersOptions,
  DeliveryRecord,
  MessageQueueConfig,
  MessageQueueEvents,
  NackOptions,
  NackOutcome,
  QueueBackendKind,
  QueueMessage,
  ReceiveBatchOptions,
  ReceiveOptions,
  ResolvedQueueConfig,
  SendBatchItem,
  SendOptions,
} from './types.js'
