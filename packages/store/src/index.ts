export { StoreError, isStoreError } from './errors.js'
export type { StoreErrorCode } from './errors.js'
