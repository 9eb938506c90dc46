/** Stable codes of every error that @li/engine throws. */
export type EngineErrorCode = 'ENGINE_INVALID_ARGUMENT' | 'ENGINE_INTERNAL'

/** The one error class of @li/engine: `code` is stable, `message` says what was wrong and what to do. */
export class EngineError extends Error {
  override readonly name: string = 'EngineError'
  readonly code: EngineErrorCode

  constructor(code: EngineErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a EngineError (also across duplicated module copies: checks `name` and `code`). */
export function isEngineError(e: unknown): e is EngineError {
  return (
    e instanceof EngineError ||
    (e instanceof Error && e.name === 'EngineError' && typeof (e as { code?: unknown }).code === 'string')
  )
}
