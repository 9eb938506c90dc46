/**
 * The one error class of @li/wal and its closed set of codes.
 *
 * Errors that reject a call (`append`, `complete`, ...) are thrown or rejected with a `WalError`;
 * errors found in the background (a corrupt record during recovery, a failed periodic sync) are
 * emitted as events carrying a `WalError`, because the library emits events and never logs.
 */

/**
 * Stable codes of every error that @li/wal throws or emits.
 *
 * | code | meaning |
 * |---|---|
 * | `WAL_INVALID_ARGUMENT` | a config value or an `append` field is not what was expected |
 * | `WAL_CORRUPT_RECORD` | a record failed its CRC-32C or length check (file and offset given) |
 * | `WAL_DISK_FULL` | the disk is full (ENOSPC, EDQUOT); the affected appends were rejected |
 * | `WAL_IO` | any other I/O failure (EIO, EBADF, ...); the affected appends were rejected |
 * | `WAL_CLOSED` | the log was stopped |
 * | `WAL_NOT_STARTED` | a call was made before `start()` resolved |
 * | `WAL_UNKNOWN_ENTRY` | `complete`/`fail` named an id that is not pending |
 * | `WAL_LOCKED` | another live `Wal` (this or another process) holds the directory |
 * | `WAL_ENTRY_GONE` | the payload of an entry was read after the entry left the log and its segment was deleted |
 * | `WAL_INTERNAL` | a bug: an invariant of the log did not hold |
 */
export type WalErrorCode =
  | 'WAL_INVALID_ARGUMENT'
  | 'WAL_CORRUPT_RECORD'
  | 'WAL_DISK_FULL'
  | 'WAL_IO'
  | 'WAL_CLOSED'
  | 'WAL_NOT_STARTED'
  | 'WAL_UNKNOWN_ENTRY'
  | 'WAL_LOCKED'
  | 'WAL_ENTRY_GONE'
  | 'WAL_INTERNAL'

/** Where in the log an error was found: the file and the byte offset of the record within it. */
export interface WalErrorLocation {
  /** Absolute path of the segment or checkpoint file. */
  readonly file: string
  /** Byte offset of the (first) bad record within `file`. */
  readonly offset: number
}

/** Options of a `WalError`: the standard `cause`, plus where in the log the error was found. */
export interface WalErrorOptions extends ErrorOptions {
  /** Where in the log the error was found, for `WAL_CORRUPT_RECORD`. */
  readonly location?: WalErrorLocation
}

/** The one error class of @li/wal: `code` is stable, `message` says what was wrong and what to do. */
export class WalError extends Error {
  override readonly name: string = 'WalError'
  readonly code: WalErrorCode
  /** File and byte offset, when the error concerns a place in the log (`WAL_CORRUPT_RECORD`). */
  readonly location: WalErrorLocation | undefined

  constructor(code: WalErrorCode, message: string, options?: WalErrorOptions) {
    super(message, options)
    this.code = code
    this.location = options?.location
  }
}

/** Whether `e` is a WalError (also across duplicated module copies: checks `name` and `code`). */
export function isWalError(e: unknown): e is WalError {
  return (
    e instanceof WalError ||
    (e instanceof Error &&
      e.name === 'WalError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}

/**
 * Wraps a Node.js I/O error into a `WalError`: ENOSPC and EDQUOT become `WAL_DISK_FULL`, anything
 * else `WAL_IO`. `what` says which operation failed, e.g. `"appending to /data/wal/seg-1.wal"`.
 */
export function toWalIoError(cause: unknown, what: string): WalError {
  if (isWalError(cause)) return cause
  const code = (cause as { code?: unknown } | null)?.code
  const detail = cause instanceof Error ? cause.message : String(cause)
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new WalError(
      'WAL_DISK_FULL',
      `Disk full while ${what} (${detail}); free space and retry`,
      {
        cause,
      },
    )
  }
  return new WalError('WAL_IO', `I/O error while ${what} (${detail})`, { cause })
}
