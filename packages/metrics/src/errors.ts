/** Stable codes of every error that @li/metrics throws. */
export type MetricsErrorCode = 'METRICS_INVALID_ARGUMENT' | 'METRICS_INTERNAL'

/** The one error class of @li/metrics: `code` is stable, `message` says what was wrong and what to do. */
export class MetricsError extends Error {
  override readonly name: string = 'MetricsError'
  readonly code: MetricsErrorCode

  constructor(code: MetricsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a MetricsError (also across duplicated module copies: checks `name` and `code`). */
export function isMetricsError(e: unknown): e is MetricsError {
  return (
    e instanceof MetricsError ||
    (e instanceof Error &&
      e.name === 'MetricsError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
