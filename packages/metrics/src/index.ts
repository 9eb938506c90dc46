export { MetricsError, isMetricsError } from './errors.js'
export type { MetricsErrorCode } from './errors.js'
