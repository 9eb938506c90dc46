export { HealthError, isHealthError } from './errors.js'
export type { HealthErrorCode } from './errors.js'
export { HealthStatus } from './status.js'
export { HealthRegistry } from './registry.js'
export type {
  CheckOutcome,
  CheckOptions,
  CheckResult,
  HealthCheck,
  HealthReport,
  Phase,
} from './registry.js'
export { createHostHealthCheck, createQueueHealthCheck } from './checks.js'
export type { HostLike, QueueLike, QueueCheckOptions } from './checks.js'
export { healthHandler, livenessHandler, readinessHandler, healthRoutes } from './handlers.js'
export { GracefulShutdown } from './shutdown.js'
export type {
  GracefulShutdownOptions,
  ShutdownLogger,
  ShutdownResult,
  StoppableHost,
} from './shutdown.js'
