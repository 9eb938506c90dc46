/** Stable codes of every error that the li-engine app raises. */
export type AppErrorCode =
  | 'APP_BAD_ARGUMENT'
  | 'APP_UNREADABLE_INPUT'
  | 'APP_STARTUP_FAILED'
  /** SIGTERM/SIGINT arrived while the production was starting; it stopped cleanly (exit 0). */
  | 'APP_STOPPED_WHILE_STARTING'
  | 'APP_INVALID_ARGUMENT'
  /** Another engine of the cluster (`--peers`) could not be reached or gave no usable answer. */
  | 'APP_PEER_FAILED'
  | 'APP_INTERNAL'

/** The one error class of the app: `code` is stable, `message` says what was wrong and what to do. */
export class AppError extends Error {
  override readonly name: string = 'AppError'
  readonly code: AppErrorCode

  constructor(code: AppErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is an AppError (also across duplicated module copies: checks `name` and `code`). */
export function isAppError(e: unknown): e is AppError {
  return (
    e instanceof AppError ||
    (e instanceof Error &&
      e.name === 'AppError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
