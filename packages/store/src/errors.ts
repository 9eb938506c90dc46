/**
 * Stable codes of every error that @li/store throws.
 * - `STORE_INVALID_ARGUMENT`: a caller passed something malformed (empty host name, bad cursor, limit out of range).
 * - `STORE_NOT_FOUND`: a state change named a message id the store does not hold.
 * - `STORE_CLOSED`: the store was used before `start()` or after `stop()`.
 * - `STORE_MIGRATION_FAILED`: the schema could not be brought to the current version at `start()`.
 * - `STORE_IO`: the backend could not read or write (disk full, I/O error, database locked too long).
 * - `STORE_INTERNAL`: anything else from the backend; a bug report, not a user error.
 */
export type StoreErrorCode =
  | 'STORE_INVALID_ARGUMENT'
  | 'STORE_NOT_FOUND'
  | 'STORE_CLOSED'
  | 'STORE_MIGRATION_FAILED'
  | 'STORE_IO'
  | 'STORE_INTERNAL'

/** The one error class of @li/store: `code` is stable, `message` says what was wrong and what to do. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError'
  readonly code: StoreErrorCode

  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a StoreError (also across duplicated module copies: checks `name` and `code`). */
export function isStoreError(e: unknown): e is StoreError {
  return (
    e instanceof StoreError ||
    (e instanceof Error &&
      e.name === 'StoreError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
