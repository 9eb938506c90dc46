/** Stable codes of every error that @li/engine throws. */
export type EngineErrorCode =
  | 'ENGINE_INVALID_ARGUMENT'
  | 'ENGINE_INTERNAL'
  | 'ENGINE_PRODUCTION_PARSE'
  | 'ENGINE_PRODUCTION_INVALID'
  | 'ENGINE_REPLY_CODE_ACTIONS_INVALID'
  | 'ENGINE_RULE_INVALID'
  | 'ENGINE_RULE_UNSUPPORTED'
  | 'ENGINE_RULE_FAILED'
  | 'ENGINE_TRANSFORM_INVALID'
  | 'ENGINE_TRANSFORM_UNSUPPORTED'
  | 'ENGINE_TRANSFORM_FAILED'
  | 'ENGINE_LOOKUP_TABLE'
  | 'ENGINE_HOST_START_FAILED'
  | 'ENGINE_UNKNOWN_HOST_CLASS'
  | 'ENGINE_UNKNOWN_HOST'
  | 'ENGINE_INVALID_STATE'
  | 'ENGINE_INVALID_SETTING'
  | 'ENGINE_BAD_ENVELOPE'
  | 'ENGINE_DELIVERY_FAILED'
  | 'ENGINE_HAND_OFF_FAILED'
  | 'ENGINE_HAND_OFF_BACKLOG_FULL'
  | 'ENGINE_PURGE_RUNNING'
  | 'ENGINE_MESSAGE_NOT_FOUND'
  | 'ENGINE_QUEUE_MESSAGE_NOT_FOUND'
  | 'ENGINE_TESTING_DISABLED'
  | 'ENGINE_RELOAD_REFUSED'
  | 'ENGINE_TLS_CONFIG'
  | 'ENGINE_CREDENTIALS'
  | 'ENGINE_VALIDATION_FAILED'
  | 'ENGINE_PROCESS_INVALID'
  | 'ENGINE_PROCESS_UNSUPPORTED'
  | 'ENGINE_PROCESS_FAILED'

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
    (e instanceof Error &&
      e.name === 'EngineError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
