/** Stable codes of every error that @li/wal throws. */
export type WalErrorCode = 'WAL_INVALID_ARGUMENT' | 'WAL_INTERNAL'

/** The one error class of @li/wal: `code` is stable, `message` says what was wrong and what to do. */
export class WalError extends Error {
  override readonly name: string = 'WalError'
  readonly code: WalErrorCode

  constructor(code: WalErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a WalError (also across duplicated module copies: checks `name` and `code`). */
export function isWalError(e: unknown): e is WalError {
  return (
    e instanceof WalError ||
    (e instanceof Error && e.name === 'WalError' && typeof (e as { code?: unknown }).code === 'string')
  )
}
