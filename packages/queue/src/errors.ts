/**
 * Stable codes of every error that @li/queue throws.
 * - `QUEUE_UNAVAILABLE`: Redis is unreachable or not ready; the client reconnects by itself, retry later.
 * - `QUEUE_CLOSED`: the queue was not started, or was stopped.
 * - `QUEUE_NOT_FOUND`: the message or dead letter named by an id does not exist.
 * - `QUEUE_INVALID_ARGUMENT`: a config value or call argument is out of range (also a `browse`
 *   limit outside 1..1000, or a cursor that browse did not return).
 * - `QUEUE_STALE_RECEIPT`: ack/nack of a delivery that is no longer current (its visibility timeout
 *   expired and it was redelivered, or it was already acked).
 * - `QUEUE_SPILL_WRITE_FAILED`: the memory backend could not write bodies over its memory budget to
 *   its spill directory (disk full, no permission), or could not clean up a spill file; the
 *   bodies stay in memory. Reported through the `spillError` event, never thrown by a call.
 * - `QUEUE_SPILL_READ_FAILED`: a spilled body could not be read back; the message is
 *   dead-lettered with this reason (receive), or `deadLetters`, `browse` (spilled headers, or
 *   bodies with `payloads`) and `remove` (the message stays) throw it.
 * - `QUEUE_INTERNAL`: anything else (a bug, or an unexpected Redis reply).
 */
export type QueueErrorCode =
  | 'QUEUE_UNAVAILABLE'
  | 'QUEUE_CLOSED'
  | 'QUEUE_NOT_FOUND'
  | 'QUEUE_INVALID_ARGUMENT'
  | 'QUEUE_STALE_RECEIPT'
  | 'QUEUE_SPILL_WRITE_FAILED'
  | 'QUEUE_SPILL_READ_FAILED'
  | 'QUEUE_INTERNAL'

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
    (e instanceof Error &&
      e.name === 'QueueError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
