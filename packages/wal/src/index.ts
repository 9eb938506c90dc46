export { Wal } from './wal.js'
export type { WalEvents } from './wal.js'
export type {
  WalAppendInput,
  WalConfig,
  WalEntry,
  WalIo,
  WalRecoveryReport,
  WalStats,
  WalSyncMode,
} from './types.js'
export { WalError, isWalError } from './errors.js'
export type { WalErrorCode, WalErrorLocation, WalErrorOptions } from './errors.js'
export { crc32c, crc32cImplementation } from './crc32c.js'
