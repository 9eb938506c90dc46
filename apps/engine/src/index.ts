export { AppError, isAppError } from './errors.js'
export type { AppErrorCode } from './errors.js'
