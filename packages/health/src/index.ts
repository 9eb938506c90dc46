export { HealthError, isHealthError } from './errors.js'
export type { HealthErrorCode } from './errors.js'
