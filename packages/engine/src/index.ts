export { EngineError, isEngineError } from './errors.js'
export type { EngineErrorCode } from './errors.js'
