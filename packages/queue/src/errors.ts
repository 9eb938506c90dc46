/** Stable codes of every error that @li/queue throws. */
export type QueueErrorCode = 'QUEUE_INVALID_ARGUMENT' | 'QUEUE_INTERNAL'

/** The one error class of @li/queue: `code` is stable, `message` says what was wrong and what to do. */
export class QueueError extends Error {
  override readonly name: string = 'QueueError'
  readonly code: QueueErrorCode

  constructor(code: QueueErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a QueueError (also across duplicated module copies: checks `name` and `code`). */
export function isQueueError(e: unknown): e is QueueError {
  return (
    e instanceof QueueError ||
    (e instanceof Error && e.name === 'QueueError' && typeof (e as { code?: unknown }).code === 'string')
  )
}
