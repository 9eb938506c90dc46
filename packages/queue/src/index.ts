export { QueueError, isQueueError } from './errors.js'
export type { QueueErrorCode } from './errors.js'
