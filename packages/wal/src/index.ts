export { WalError, isWalError } from './errors.js'
export type { WalErrorCode } from './errors.js'
