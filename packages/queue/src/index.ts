export { QueueError, isQueueError } from './errors.js'
export type { QueueErrorCode } from './errors.js'
export {
  MessageQueue,
  QUEUE_DEFAULTS,
  resolveQueueConfig,
  MAX_MARKER_VALUE,
} from './message-queue.js'
export type {
  AckManyResult,
  BrowseOptions,
  BrowseResult,
  DeadLetter,
  DeadLettersOptions,
  DeliveryRecord,
  MessageQueueConfig,
  MessageQueueEvents,
  NackOptions,
  NackOutcome,
  QueueBackendKind,
  QueueMessage,
  QueuedMessageInfo,
  ReceiveBatchOptions,
  ReceiveOptions,
  RemovedMessage,
  RemoveResult,
  ResolvedQueueConfig,
  SendBatchItem,
  SendOptions,
} from './types.js'
