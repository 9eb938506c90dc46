/** Stable codes of every error that @li/store throws. */
export type StoreErrorCode = 'STORE_INVALID_ARGUMENT' | 'STORE_INTERNAL'

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
    (e instanceof Error && e.name === 'StoreError' && typeof (e as { code?: unknown }).code === 'string')
  )
}
