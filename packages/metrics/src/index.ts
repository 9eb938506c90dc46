export { MetricsError, isMetricsError } from './errors.js'
export type { MetricsErrorCode } from './errors.js'
export {
  LiMetrics,
  PROCESSING_SECONDS_BUCKETS,
  MESSAGE_SIZE_BUCKETS,
  getDefaultMetrics,
  recordMessageReceived,
  recordMessageSent,
  recordMessageFailed,
  recordProcessingTime,
  recordMessageSize,
  setConnectionsActive,
  setQueueDepth,
  setHostStatus,
  setWalPending,
} from './metrics.js'
export type {
  DataVolumeSnapshot,
  DataVolumeSource,
  LiMetricsOptions,
  MetricsLogger,
  QueueSnapshot,
  QueueSource,
} from './metrics.js'
export { metricsHandler } from './handler.js'
export { LabelLimiter, OTHER_LABEL } from './labels.js'
