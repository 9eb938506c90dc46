/**
 * Public types of @li/wal: the configuration, the entry, the statistics and the events.
 * No behaviour lives here; see `wal.ts` for what the log does with them.
 */

/**
 * When an `append` resolves and what survives a crash:
 * - `fsync`: after the record is on stable storage (segment opened with O_DSYNC, which is one
 *   fdatasync per group write). Survives kill -9 and power loss.
 * - `async`: after the record is handed to the OS (page cache); an fdatasync runs every
 *   `syncInterval`. Survives kill -9; power loss can lose the last `syncInterval` seconds.
 * - `none`: after the record is handed to the OS; data is only synced at checkpoints and `stop()`.
 *   Survives kill -9; power loss can lose everything since the last checkpoint.
 */
export type WalSyncMode = 'fsync' | 'async' | 'none'

/** Configuration of a `Wal`. Durations are in seconds, sizes in bytes; every field is optional. */
export interface WalConfig {
  /** Directory of the segment and checkpoint files; created if missing. Default `./wal`. */
  readonly directory?: string
  /** A segment is closed (and a checkpoint written) once it reaches this size. Default 100 MiB. */
  readonly maxFileSize?: number
  /** Durability of `append`; see `WalSyncMode`. Default `fsync`. */
  readonly syncMode?: WalSyncMode
  /** Seconds between background fdatasyncs in `async` mode. Default 1. */
  readonly syncInterval?: number
  /** Seconds between checkpoints (0 = only on rotation and `stop()`). Default 60. */
  readonly checkpointInterval?: number
  /** The `maxRetries`-th call of `fail()` for an entry fails it permanently. Default 3. */
  readonly maxRetries?: number
  /** Seconds after `appendedAt` when a pending entry expires (0 = never). Default 3600. */
  readonly entryTtl?: number
  /**
   * @internal Replaces the functions that write, sync and truncate segment data, so tests can
   * inject disk faults (ENOSPC, EIO) without mocking `node:fs`. Not part of the stable API.
   */
  readonly io?: Partial<WalIo>
}

/** @internal The segment I/O functions a `Wal` uses; see `WalConfig.io`. */
export interface WalIo {
  /** Writes `data` at `position` of `fd` (one pwrite); resolves to the bytes written. */
  write(fd: number, data: Buffer, position: number): Promise<number>
  /** fdatasync(2) of `fd`. */
  fdatasync(fd: number): Promise<void>
  /** ftruncate(2) of `fd` to `length` bytes. */
  ftruncate(fd: number, length: number): Promise<void>
}

/** What `append` takes: where the message came from, its id, the HL7 text and optional metadata. */
export interface WalAppendInput {
  /** Name of the host (service/operation) that owns the message. */
  readonly hostName: string
  /** The message's own id, e.g. MSH-10 (not checked for uniqueness). */
  readonly messageId: string
  /** The message text (HL7 v2 is text); stored as UTF-8. */
  readonly payload: string
  /** Optional JSON-serialisable metadata, stored as JSON. */
  readonly metadata?: Readonly<Record<string, unknown>>
}

/**
 * One logged message, as returned by `append` and `pending`.
 *
 * The entry `append` resolves to carries the payload string the caller passed. The entries of
 * `pending()` and of the `expired`/`failed` events do not hold their payload: `payload` is an
 * accessor that reads it from the segment file each time it is accessed (one read of its record,
 * CRC checked, not cached). It can be read while the entry is pending (and during the event
 * callback); once the entry left the log and its segment was deleted, reading it throws a
 * `WalError` with code `WAL_ENTRY_GONE`, and a record that fails its checks throws
 * `WAL_CORRUPT_RECORD`. Read it once and keep the string if it is needed more than once.
 */
export interface WalEntry {
  /** Unique, strictly increasing across restarts (a safe integer starting at 1; not dense). */
  readonly id: number
  readonly hostName: string
  readonly messageId: string
  /**
   * The payload exactly as appended (a string); for `pending()` and event entries, read from
   * disk on each access (see above).
   */
  readonly payload: string
  /** Metadata as appended, or `undefined`. */
  readonly metadata: Readonly<Record<string, unknown>> | undefined
  /** When `append` was called, in milliseconds since the epoch. */
  readonly appendedAt: number
  /** How many times `fail()` was called for this entry. */
  readonly attempts: number
}

/** What `start()` found while recovering; also available later as `stats().recovery`. */
export interface WalRecoveryReport {
  /** Pending entries after recovery. */
  readonly pending: number
  /** Segment files read sequentially (those at or after the checkpoint). */
  readonly segmentsReplayed: number
  /** Whether a valid checkpoint was found and used. */
  readonly checkpointUsed: boolean
  /** Bytes cut off the tail of the last segment (a torn write from a crash). */
  readonly truncatedBytes: number
  /** Corrupt records found (each also emitted as a `corrupt` event). */
  readonly corruptRecords: number
  /** Wall-clock time of the recovery, in milliseconds. */
  readonly durationMs: number
}

/** Counters and gauges for metrics; cheap to call. Counters count since `start()`. */
export interface WalStats {
  /** Entries appended and not yet completed, permanently failed or expired. */
  readonly pending: number
  /** `appendedAt` of the oldest pending entry, or `undefined` when nothing is pending. */
  readonly oldestPendingAt: number | undefined
  /** Records waiting for the writer (not yet handed to the OS). */
  readonly queued: number
  readonly appended: number
  readonly completed: number
  /** `fail()` calls that returned true (the entry will be retried). */
  readonly retried: number
  /** Entries failed permanently. */
  readonly failed: number
  readonly expired: number
  /** Group writes (one pwrite each); `recordsWritten / groupCommits` is the mean group size. */
  readonly groupCommits: number
  readonly recordsWritten: number
  /** Bytes of records written to segments. */
  readonly bytesWritten: number
  /** Explicit fdatasyncs (async mode, checkpoints); in fsync mode every group write also syncs. */
  readonly syncs: number
  readonly checkpoints: number
  /** Segment files on disk, and the size of the one being written. */
  readonly segments: number
  readonly activeSegmentBytes: number
  /** Appends rejected because of disk errors. */
  readonly diskErrors: number
  readonly recovery: WalRecoveryReport | undefined
}
