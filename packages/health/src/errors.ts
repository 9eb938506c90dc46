/** Stable codes of every error that @li/health throws. */
export type HealthErrorCode =
  | 'HEALTH_INVALID_ARGUMENT'
  | 'HEALTH_DUPLICATE_CHECK'
  | 'HEALTH_CHECK_TIMEOUT'
  | 'HEALTH_SHUTDOWN_TIMEOUT'
  | 'HEALTH_INTERNAL'

/** The one error class of @li/health: `code` is stable, `message` says what was wrong and what to do. */
export class HealthError extends Error {
  override readonly name: string = 'HealthError'
  readonly code: HealthErrorCode

  constructor(code: HealthErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a HealthError (also across duplicated module copies: checks `name` and `code`). */
export function isHealthError(e: unknown): e is HealthError {
  return (
    e instanceof HealthError ||
    (e instanceof Error &&
      e.name === 'HealthError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
