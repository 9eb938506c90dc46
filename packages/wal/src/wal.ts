/**
 * The write-ahead log: append, complete, fail; group commit; rotation; checkpoints; recovery.
 *
 * Files in `directory`:
 * - `seg-<n>.wal`: segments, numbered from 1, holding records in the layout of `record.ts`
 *   (magic, length, CRC-32C, body). Only the newest segment is written; a segment is closed when
 *   the next group would take it past `maxFileSize` (a single group larger than that still goes
 *   into an empty segment whole). The active segment is zero-filled up to 1 MiB ahead of its
 *   data (PREALLOC_BYTES); a closed segment is cut back to its data, and recovery reads zeros
 *   up to the end of any segment as its end (a crash can leave them).
 * - `checkpoint-<n>.ckpt`: where every entry pending at segment `n`'s creation lives (layout in
 *   `checkpoint.ts`). Recovery reads those records by position, then replays segments `>= n`.
 * - `LOCK`: the pid of the process that has the log open (best effort, not atomic).
 *
 * Write path (group commit): `append` encodes its record (and CRC) at once, in the caller's turn,
 * straight into the buffer of the group being formed (up to 1,024 records or 8 MiB, or
 * `maxFileSize` if smaller). One writer loop writes the oldest group with one pwrite at the end of
 * the active segment, then resolves all its callers with one loop. Callers that arrive while a
 * write is in flight fill the next group, which is ready the moment the write returns: nothing
 * is gathered or copied between writes. Measured here: one fdatasync per 1 KiB record gives
 * ~3,000 records/s, one per group of 100 ~250,000/s, and one `fs.promises.write` per record caps
 * at ~25,000/s, hence one call per group. Per append the process spends ~3.2 µs of CPU (1 KiB,
 * 256 callers, closed loop with a no-op disk, the callers' own work and the collector included;
 * ~4.3 µs before the native CRC-32C and the PendingIndex, measured side by side under load): of
 * that the CRC is ~0.35 µs (see `crc32c.ts`).
 *
 * Evaluated and left out (measured here, 2 shared CPUs under load 8–12, paired runs):
 * - Pipelining a closed loop's groups (write the first half of a burst of callers while the rest
 *   still encode): it overlaps JavaScript with the disk only when a CPU is free for the thread
 *   pool; here it cost one more sync per burst and ran at 0.78–0.94× of one group per burst.
 * - Blocking `writeSync` on the main thread for small groups (what the raw ceiling does): no
 *   faster here (0.6–0.7× at 1 and 16 callers, 1.06× at 256), and it would stall the engine's
 *   event loop (MLLP ACKs, health checks) for as long as the disk takes to sync.
 *
 * fsync policy:
 * - `fsync` mode opens the segment with O_DSYNC, so the pwrite itself returns only once the data
 *   is on stable storage (POSIX synchronized I/O data integrity, the same guarantee as
 *   fdatasync). That is one thread-pool round trip per group instead of two (write, then
 *   fdatasync); measured against each other here the two syscall patterns cost the same within
 *   the disk's noise (sync loops, growing and zero-filled files), so the round trip decides.
 *   Group writes land in the zero-filled region, so each sync flushes data only, not a new file
 *   size through the journal (see PREALLOC_BYTES). `append` resolves after that.
 * - `async` and `none` resolve after the pwrite (data in the page cache). `async` runs an
 *   fdatasync every `syncInterval` when something was written.
 * - In every mode, a checkpoint first fdatasyncs the segment, writes the checkpoint to a `.tmp`
 *   file, fdatasyncs it, renames it and fsyncs the directory; new segment files are fsync'd into
 *   the directory before the checkpoint names them.
 *
 * complete/fail/expire records join the next group; `complete` and `fail` resolve when their
 * record is written (and, in `fsync` mode, synced). Their effect on `pending()` is immediate, so
 * after a crash a completion whose record did not reach the disk brings its entry back as
 * pending: delivery is at-least-once, never at-most-once.
 *
 * Disk errors: a failed group write is truncated back to the last good offset (ftruncate), the
 * group's appends are rejected with `WAL_DISK_FULL` or `WAL_IO`, and its complete/fail records
 * are kept and written with the next group. Later appends work again once space returns.
 *
 * Memory: pending entries are kept without their payloads (`pending-index.ts`: fields and the
 * location of the append record); a payload is read back from its segment when an entry of
 * `pending()` or of an event is asked for it (`payload-reader.ts`), and recovery decodes no
 * payload. A backlog of a million pending HL7 messages costs the index, not the messages.
 *
 * Does not: replicate, compress, compact long-pending entries out of old segments (one pending
 * entry keeps its whole segment), or guard against two processes opening the same directory at
 * the same instant (the LOCK file is checked, not atomically taken).
 */

import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js'
import { PendingIndex } from './pending-index.js'
import type { Checkpoint, CheckpointEntry } from './checkpoint.js'
import { WalError, toWalIoError } from './errors.js'
import { PayloadReader, StoredEntry, segmentName } from './payload-reader.js'
import {
  appendMessageIdAt,
  appendRecordBytes,
  checkFrame,
  decodeRecordHead,
  encodeAppendInto,
  encodeDone,
  encodeFail,
  findNextFrame,
  MAX_BODY_BYTES,
  RECORD_HEADER_BYTES,
} from './record.js'
import type { WalRecordHead } from './record.js'
import type {
  WalAppendInput,
  WalConfig,
  WalEntry,
  WalIo,
  WalRecoveryReport,
  WalStats,
  WalSyncMode,
} from './types.js'

/** Events of a `Wal`. Attach `corrupt` listeners before `start()` to see recovery findings. */
export interface WalEvents {
  /**
   * A pending entry passed `entryTtl`; it is no longer pending. Its `payload` is read from disk
   * when accessed: read it in the callback (later, its segment may have been deleted).
   */
  expired: [entry: WalEntry]
  /**
   * `fail()` was called for the `maxRetries`-th time; the entry is no longer pending. Its
   * `payload` is read from disk when accessed: read it in the callback.
   */
  failed: [entry: WalEntry, error: unknown]
  /** A record failed its checks during recovery (`WAL_CORRUPT_RECORD`, with file and offset). */
  corrupt: [error: WalError]
  /** A background operation failed (periodic sync, checkpoint, truncation after a failed write). */
  fault: [error: WalError]
}

/** Most records in one group write (bounds the latency a single group adds). */
const MAX_GROUP_RECORDS = 1024
/** Most bytes in one group write (a single larger record still goes alone). */
const MAX_GROUP_BYTES = 8 * 1024 * 1024
/** First size of a group buffer; it doubles as needed, up to the group's byte limit. */
const GROUP_BUFFER_BYTES = 64 * 1024
/** Group buffers kept for reuse: one being written, one being filled. */
const SPARE_BUFFERS = 2
/**
 * How far ahead of the write position the active segment is filled with zeros (at most up to
 * `maxFileSize`). Measured here (ext4): an O_DSYNC write or fdatasync that extends the file must
 * also commit the new size through the journal, a second flush; overwriting blocks that already
 * exist flushes only the data. Writing into a zero-filled region doubled synced writes of 16
 * 1 KiB records (70–87k → 150–167k records/s). `ftruncate` is no substitute: it makes a sparse
 * file, and the first write to a hole allocates blocks (measured no faster). PostgreSQL zero-fills
 * its WAL segments for the same reason. Recovery reads trailing zero bytes as the end of a segment.
 * 1 MiB: one extra (zero) write per ~970 single-record groups, short enough not to stall the
 * writer noticeably; 4 MiB made a 2,000-append run pay for 4 MiB of zeros up front.
 */
const PREALLOC_BYTES = 1024 * 1024
/**
 * Groups of at least this many bytes skip preallocation and extend the file themselves: the
 * journal commit they save is one per group, but the zeros cost as many bytes again as the data.
 * Measured here (paired runs, 1 KiB records): zero-filling paid off for groups of 1 and 16
 * records (1.7× and 1.3×) and cost ~10% for groups of 256 (275 KB).
 */
const PREALLOC_MAX_GROUP_BYTES = 64 * 1024
/** Zeros for preallocation, allocated on first use. */
let zeroBlock: Buffer | undefined
/** Checkpoint entries closer than this are read with one read call during recovery. */
const READ_GAP_BYTES = 64 * 1024
/** Largest single read during checkpoint recovery. */
const MAX_READ_BYTES = 64 * 1024 * 1024
/** After a failed rotation, keep writing into the current segment for this long. */
const ROTATE_BACKOFF_MS = 1000

/** Directories opened by a `Wal` in this process (the LOCK file only guards other processes). */
const openDirectories = new Set<string>()

/**
 * Records waiting for the writer, already encoded back to back in one buffer: the next pwrite.
 * The writer settles the whole group with one loop over `waiters`.
 */
interface Group {
  /** The records are `buf[0, bytes)`; `buf` is larger (it grows, and is reused; see `takeBuffer`). */
  buf: Buffer
  bytes: number
  records: number
  /** The append records: their entries (in id order), and each record's start and length in `buf`. */
  readonly entries: WalEntry[]
  readonly starts: number[]
  readonly lengths: number[]
  /** `[start, end)` pairs of the complete/fail/expire records, carried over if the write fails. */
  readonly others: number[]
  /**
   * Settle the callers' promises, in record order: no argument once the group is written (and
   * synced in fsync mode), the error if the write failed. Each resolves its caller's promise
   * directly, so every caller's continuation runs (and can append again) before the writer
   * loop looks for the next group: in a closed loop all callers share each write. (Chaining
   * `then`s on one group promise instead put the writer's check in between and split groups.)
   */
  readonly waiters: ((error?: WalError) => void)[]
}

type State = 'new' | 'starting' | 'open' | 'stopping' | 'closed'

/** The default segment I/O: Node's callback API (cheaper per call than `fs.promises`). */
const nodeIo: WalIo = {
  write: (fd, data, position) =>
    new Promise((resolve, reject) => {
      fs.write(fd, data, 0, data.length, position, (e, n) => (e ? reject(e) : resolve(n)))
    }),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => {
      fs.fdatasync(fd, (e) => (e ? reject(e) : resolve()))
    }),
  ftruncate: (fd, length) =>
    new Promise((resolve, reject) => {
      fs.ftruncate(fd, length, (e) => (e ? reject(e) : resolve()))
    }),
}

const SEGMENT_RE = /^seg-(\d{10})\.wal$/
const CHECKPOINT_RE = /^checkpoint-(\d{10})\.ckpt$/

function checkpointName(n: number): string {
  return `checkpoint-${String(n).padStart(10, '0')}.ckpt`
}

/** Reads config value `name`, checking it is a number `>= min` (and an integer if asked). */
function numberOption(
  value: number | undefined,
  fallback: number,
  name: string,
  min: number,
  integer = false,
): number {
  const v = value ?? fallback
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new WalError(
      'WAL_INVALID_ARGUMENT',
      `WalConfig.${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(v)}`,
    )
  }
  return v
}

/** Whether process `pid` is alive (EPERM means alive but not ours). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** fsync of a directory, so that file creations, renames and deletions in it are durable. */
function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Reads `buf.length` bytes at `position`, zero-filling whatever lies past the end of the file. */
function readFully(fd: number, buf: Buffer, position: number): void {
  let got = 0
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, position + got)
    if (n === 0) break
    got += n
  }
  if (got < buf.length) buf.fill(0, got)
}

/** Whether `buf[from, end)` is all zero bytes (compared 64 KiB at a time, as memcmp). */
function isZero(buf: Buffer, from: number): boolean {
  zeroBlock ??= Buffer.alloc(PREALLOC_BYTES)
  for (let at = from; at < buf.length; at += zeroBlock.length) {
    const end = Math.min(buf.length, at + zeroBlock.length)
    if (buf.compare(zeroBlock, 0, end - at, at, end) !== 0) return false
  }
  return true
}

/** Text of an error given to `fail()`, for the fail record. */
function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error))
}

/**
 * A durable write-ahead log of HL7 messages: nothing acknowledged is lost.
 * @example
 * const wal = new Wal({ directory: './data/wal' })
 * await wal.start()
 * const entry = await wal.append({ hostName: 'PAS-In', messageId: 'MSG0001', payload: hl7 })
 * // ... send the ACK, process the message ...
 * await wal.complete(entry.id)
 * await wal.stop()
 */
export class Wal extends EventEmitter<WalEvents> {
  /** Absolute path of the log directory. */
  readonly directory: string
  /** The sync mode in effect. */
  readonly syncMode: WalSyncMode

  // Configuration, validated and converted to milliseconds in the constructor.
  private readonly maxFileSize: number
  private readonly syncIntervalMs: number
  private readonly checkpointIntervalMs: number
  private readonly maxRetries: number
  private readonly ttlMs: number
  private readonly io: WalIo

  // Invariants, which every method below keeps:
  // - `slots` holds exactly the entries whose append group was written and that were not
  //   completed, failed permanently or expired since; its iteration order is id order.
  // - `segmentLive.get(s)` counts the slots whose append record lives in segment `s`; a segment
  //   older than `checkpointSegment` with no live slot is referenced by nothing on disk.
  // - Only the writer loop (`drain`) writes to `activeFd`, and it runs one operation at a time,
  //   so group writes, syncs and rotations never overlap.
  // - `activeSize` is the offset of the last good byte of the active segment: a failed group
  //   write is truncated back to it, and the next group is written at it.
  private state: State = 'new'
  /** Pending entries (no payloads), in append (= id) order, with where each record lives. */
  private readonly slots = new PendingIndex()
  /** Reads the payloads of pending entries back from their segments; see `payload-reader.ts`. */
  private readonly reader: PayloadReader
  /**
   * During recovery only: one string per distinct hostName, so that a million recovered entries
   * of a few hosts share a few strings instead of holding a million copies (~30 bytes each).
   */
  private readonly recoveredHosts = new Map<string, string>()
  /** Per segment number: how many pending entries have their append record there. */
  private readonly segmentLive = new Map<number, number>()
  /** Segment numbers present on disk. */
  private readonly segments = new Set<number>()
  /** Number, descriptor and size of the segment being written (-1: none open). */
  private activeSegment = 0
  private activeFd = -1
  private activeSize = 0
  /** The active segment is zero-filled (durably, in fsync mode) up to this offset. */
  private allocatedEnd = 0
  /** The segment the newest checkpoint replays from (0: no checkpoint yet). */
  private checkpointSegment = 0
  /** Id of the next append; never reused for an append that resolved. */
  private nextId = 1

  /**
   * Groups waiting for the writer, oldest first; records join the last one until it is full.
   * Usually at most one: the writer takes a group off this list when it starts writing it.
   */
  private groups: Group[] = []
  /** Most bytes in a group: MAX_GROUP_BYTES, or `maxFileSize` if smaller (one group per segment). */
  private readonly groupLimit: number
  /** Group buffers of written groups, for the next groups to fill. */
  private readonly spareBuffers: Buffer[] = []
  /** complete/fail/expire records of a failed group, written in front of the next group. */
  private carry: Buffer = Buffer.alloc(0)
  private carryRecords = 0
  /** Whether the writer loop runs, and its promise (for `stop()` to wait on). */
  private running = false
  private drainPromise: Promise<void> = Promise.resolve()
  /** Written but not yet fdatasync'd (never set in fsync mode: O_DSYNC writes are synced). */
  private dirty = false
  /** Requests from the timers, served by the writer loop between group writes. */
  private syncDue = false
  private checkpointDue = false
  /** Until then, a full segment is not rotated (the last rotation failed; see `tryRotate`). */
  private rotateBackoffUntil = 0
  private readonly timers: NodeJS.Timeout[] = []

  private counters = {
    appended: 0,
    completed: 0,
    retried: 0,
    failed: 0,
    expired: 0,
    groupCommits: 0,
    recordsWritten: 0,
    bytesWritten: 0,
    syncs: 0,
    checkpoints: 0,
    diskErrors: 0,
  }
  private recovery: WalRecoveryReport | undefined

  /** Creates a log over `config.directory`; nothing touches the disk until `start()`. */
  constructor(config: WalConfig = {}) {
    super()
    this.directory = path.resolve(config.directory ?? './wal')
    this.reader = new PayloadReader(this.directory)
    const mode = config.syncMode ?? 'fsync'
    if (mode !== 'fsync' && mode !== 'async' && mode !== 'none') {
      throw new WalError(
        'WAL_INVALID_ARGUMENT',
        `WalConfig.syncMode must be 'fsync', 'async' or 'none', got ${String(mode)}`,
      )
    }
    this.syncMode = mode
    // Seconds in the config (as in the seed configuration), milliseconds inside.
    this.maxFileSize = numberOption(config.maxFileSize, 100 * 1024 * 1024, 'maxFileSize', 1, true)
    this.syncIntervalMs = numberOption(config.syncInterval, 1, 'syncInterval', 0.001) * 1000
    this.checkpointIntervalMs =
      numberOption(config.checkpointInterval, 60, 'checkpointInterval', 0) * 1000
    this.maxRetries = numberOption(config.maxRetries, 3, 'maxRetries', 1, true)
    this.ttlMs = numberOption(config.entryTtl, 3600, 'entryTtl', 0) * 1000
    this.io = { ...nodeIo, ...config.io }
    this.groupLimit = Math.min(MAX_GROUP_BYTES, this.maxFileSize)
  }

  /**
   * Opens the directory and recovers: loads the newest valid checkpoint, reads the pending
   * records it names, replays later segments, truncates a torn tail, reports corrupt records as
   * `corrupt` events, then writes a fresh checkpoint and deletes segments nothing pending needs.
   * Recovery uses synchronous I/O: nothing else can use this log until it is done.
   */
  async start(): Promise<WalRecoveryReport> {
    if (this.state !== 'new') {
      throw new WalError(
        'WAL_INVALID_ARGUMENT',
        `start() can be called once; the log is ${this.state}`,
      )
    }
    this.state = 'starting'
    // Lock first: recovery truncates and deletes files, which must not happen under a live writer.
    try {
      fs.mkdirSync(this.directory, { recursive: true })
      this.lock()
    } catch (e) {
      this.state = 'closed'
      throw toWalIoError(e, `opening ${this.directory}`)
    }
    try {
      const report = this.recover()
      // A fresh segment and checkpoint: the next start replays nothing that this one replayed.
      await this.rotate()
      this.recovery = report
    } catch (e) {
      this.closeActive()
      this.unlock()
      this.state = 'closed'
      throw toWalIoError(e, `recovering ${this.directory}`)
    }
    this.state = 'open'
    this.startTimers()
    // Entries that expired while the process was down expire now (listeners are attached).
    this.sweepExpired()
    return this.recovery
  }

  /**
   * Logs a message. In `fsync` mode the promise resolves only once the record is on stable
   * storage; concurrent calls share one write and sync. Rejects with `WAL_DISK_FULL`/`WAL_IO`
   * if the write fails (nothing of it stays in the log), `WAL_INVALID_ARGUMENT` for bad input.
   */
  append(input: WalAppendInput): Promise<WalEntry> {
    try {
      this.assertOpen('append')
      const { hostName, messageId, payload, metadata } = input
      if (typeof hostName !== 'string' || hostName.length === 0 || hostName.length > 16_000) {
        throw new WalError('WAL_INVALID_ARGUMENT', 'append: hostName must be a non-empty string')
      }
      if (typeof messageId !== 'string' || messageId.length > 16_000) {
        throw new WalError('WAL_INVALID_ARGUMENT', 'append: messageId must be a string')
      }
      if (typeof payload !== 'string') {
        throw new WalError(
          'WAL_INVALID_ARGUMENT',
          `append: payload must be a string, got ${typeof payload}`,
        )
      }
      let metaJson = ''
      if (metadata !== undefined) {
        if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
          throw new WalError('WAL_INVALID_ARGUMENT', 'append: metadata must be a plain object')
        }
        try {
          metaJson = JSON.stringify(metadata)
        } catch (e) {
          throw new WalError('WAL_INVALID_ARGUMENT', 'append: metadata must be JSON-serialisable', {
            cause: e,
          })
        }
      }
      const length = appendRecordBytes(hostName, messageId, metaJson, payload)
      // A record the reader would refuse must never be acknowledged.
      if (length - RECORD_HEADER_BYTES > MAX_BODY_BYTES) {
        throw new WalError(
          'WAL_INVALID_ARGUMENT',
          `append: record of ${length} bytes exceeds the ${MAX_BODY_BYTES}-byte limit (message ${messageId})`,
        )
      }
      // The id is taken now, so ids follow call order, which is also group and file order.
      const entry: WalEntry = {
        id: this.nextId++,
        hostName,
        messageId,
        payload,
        metadata,
        appendedAt: Date.now(),
        attempts: 0,
      }
      // Encoding and the CRC run here, in the caller's turn, straight into the buffer of the
      // group being formed; while a group write is in flight, later callers fill the next group,
      // so when the write returns the next one is ready to go as it is (no gathering, no copy).
      // `bytes` moves only after a complete record: a throw here leaves no half record behind.
      const group = this.groupFor(length)
      const at = group.bytes
      encodeAppendInto(
        group.buf,
        at,
        entry.id,
        entry.appendedAt,
        hostName,
        messageId,
        metaJson,
        payload,
      )
      group.bytes = at + length
      group.records++
      group.entries.push(entry)
      group.starts.push(at)
      group.lengths.push(length)
      return new Promise<WalEntry>((resolve, reject) => {
        group.waiters.push((e) => (e === undefined ? resolve(entry) : reject(e)))
        this.kick()
      })
    } catch (e) {
      return Promise.reject(e instanceof WalError ? e : toWalIoError(e, 'encoding an append'))
    }
  }

  /**
   * Marks entry `id` done: it leaves `pending()` at once, and the promise resolves when the
   * complete record is written. Rejects with `WAL_UNKNOWN_ENTRY` if `id` is not pending.
   */
  async complete(id: number): Promise<void> {
    this.assertOpen('complete')
    this.take(id, 'complete')
    this.counters.completed++
    await this.write(encodeDone('complete', id))
  }

  /**
   * Records a failed attempt for entry `id` and resolves to whether to retry it: true while the
   * attempt count is below `maxRetries`; at `maxRetries` the entry fails permanently, leaves
   * `pending()` and a `failed` event is emitted. Rejects with `WAL_UNKNOWN_ENTRY` if not pending.
   */
  async fail(id: number, error: unknown): Promise<boolean> {
    this.assertOpen('fail')
    const at = this.slots.find(id)
    if (at === -1) throw this.unknown(id, 'fail')
    const attempts = this.slots.attemptsAt(at) + 1
    this.slots.setAttemptsAt(at, attempts)
    const permanent = attempts >= this.maxRetries
    // Made before the drop, which forgets the fields; its payload is read from disk on access.
    const entry = permanent ? this.entryAt(at) : undefined
    if (permanent) {
      this.drop(at)
      this.counters.failed++
    } else {
      this.counters.retried++
    }
    const written = this.write(encodeFail(id, attempts, permanent, errorText(error)))
    if (entry !== undefined) this.emit('failed', entry, error)
    await written
    return !permanent
  }

  /**
   * The pending entries (appended, not completed, failed permanently or expired), oldest first.
   * The log keeps no payloads in memory: each entry's `payload` is read from its segment file
   * (one read of its record, CRC checked, not cached) every time it is accessed. It can be read
   * as long as the entry is pending; once the entry left the log and its segment was deleted, a
   * read throws `WAL_ENTRY_GONE`, and a record that fails its checks throws `WAL_CORRUPT_RECORD`.
   */
  pending(): WalEntry[] {
    const out: WalEntry[] = []
    const slots = this.slots
    for (let at = slots.first(); at !== -1; at = slots.next(at)) out.push(this.entryAt(at))
    return out
  }

  /** Counters and gauges for metrics. */
  stats(): WalStats {
    const first = this.slots.first()
    return {
      ...this.counters,
      pending: this.slots.size,
      oldestPendingAt: first === -1 ? undefined : this.slots.appendedAtAt(first),
      queued: this.groups.reduce((n, g) => n + g.records, this.carryRecords),
      segments: this.segments.size,
      activeSegmentBytes: this.activeSize,
      recovery: this.recovery,
    }
  }

  /**
   * Stops: new calls reject with `WAL_CLOSED`, queued records are written, a final checkpoint
   * makes the next `start()` fast, and files are closed. Safe to call more than once.
   */
  async stop(): Promise<void> {
    if (this.state === 'new') this.state = 'closed'
    if (this.state !== 'open') return
    this.state = 'stopping'
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
    // Let queued records reach the disk, then checkpoint so the next start reads only what is
    // pending. The checkpoint goes through the writer loop like any other disk operation.
    await this.idle()
    this.checkpointDue = true
    this.rotateBackoffUntil = 0
    this.kick()
    await this.idle()
    if (this.dirty && this.activeFd >= 0) {
      try {
        await this.io.fdatasync(this.activeFd)
      } catch (e) {
        this.emit('fault', toWalIoError(e, `syncing ${this.activePath()} on stop`))
      }
    }
    this.closeActive()
    this.reader.close()
    this.unlock()
    this.state = 'closed'
  }

  // ---------------------------------------------------------------------------------------------
  // Writer loop

  private activePath(): string {
    return path.join(this.directory, segmentName(this.activeSegment))
  }

  /** Queues a complete/fail/expire record; resolves when it is written. */
  private write(record: Buffer): Promise<void> {
    const group = this.queueRecord(record)
    return new Promise<void>((resolve, reject) => {
      group.waiters.push((e) => (e === undefined ? resolve() : reject(e)))
      this.kick()
    })
  }

  /** Copies a complete/fail/expire record into the group being formed; returns that group. */
  private queueRecord(record: Buffer): Group {
    const group = this.groupFor(record.length)
    const at = group.bytes
    record.copy(group.buf, at)
    group.bytes = at + record.length
    group.records++
    group.others.push(at, group.bytes)
    return group
  }

  /**
   * The group a record of `length` bytes joins: the last waiting group if it has room (records,
   * bytes), else a new one. A record larger than the limit gets a group of its own.
   */
  private groupFor(length: number): Group {
    const last = this.groups[this.groups.length - 1]
    if (
      last !== undefined &&
      last.records < MAX_GROUP_RECORDS &&
      last.bytes + length <= this.groupLimit
    ) {
      if (last.bytes + length > last.buf.length) {
        // Grow by doubling, keeping what is there: amortised, a record is copied about once.
        const grown = Buffer.allocUnsafeSlow(
          Math.min(this.groupLimit, Math.max(last.buf.length * 2, last.bytes + length)),
        )
        last.buf.copy(grown, 0, 0, last.bytes)
        last.buf = grown
      }
      return last
    }
    const group: Group = {
      buf: this.takeBuffer(length),
      bytes: 0,
      records: 0,
      entries: [],
      starts: [],
      lengths: [],
      others: [],
      waiters: [],
    }
    this.groups.push(group)
    return group
  }

  /**
   * A buffer for a new group, of at least `length` bytes: a spare one (from a written group) if
   * one is large enough. Reusing them is safe because a group's buffer is given back only after
   * its write returned; measured here, writing into reused buffers instead of fresh ones per
   * group kept the collector out of the write path.
   */
  private takeBuffer(length: number): Buffer {
    const spare = this.spareBuffers.pop()
    if (spare !== undefined && spare.length >= length) return spare
    return Buffer.allocUnsafeSlow(Math.max(length, Math.min(GROUP_BUFFER_BYTES, this.groupLimit)))
  }

  /** Gives a written group's buffer back for reuse (not the buffer of a single huge record). */
  private releaseBuffer(buf: Buffer): void {
    if (buf.length <= MAX_GROUP_BYTES && this.spareBuffers.length < SPARE_BUFFERS) {
      this.spareBuffers.push(buf)
    }
  }

  /** Starts the writer loop unless it runs; it runs until no work is left. */
  private kick(): void {
    if (this.running) return
    this.running = true
    this.drainPromise = this.drain()
  }

  /** Resolves once the writer loop has nothing left to do. */
  private async idle(): Promise<void> {
    while (this.running) await this.drainPromise
  }

  /** The writer loop: checkpoints, group writes and background syncs, one at a time. */
  private async drain(): Promise<void> {
    try {
      // Priority: a due checkpoint, then queued records, then a due background sync. `running`
      // is cleared in the same synchronous turn as the last check for work, so a record queued
      // after that check finds `running` false and starts a new loop: nothing is left behind.
      for (;;) {
        if (this.checkpointDue && Date.now() >= this.rotateBackoffUntil) {
          this.checkpointDue = false
          if (this.activeSize > 0) await this.tryRotate()
        } else if (this.groups.length > 0) {
          await this.writeGroup()
        } else if (this.syncDue) {
          this.syncDue = false
          if (this.dirty) await this.syncActive()
        } else {
          break
        }
      }
    } catch (e) {
      // Only a bug gets here: fail everything waiting rather than leave callers hanging.
      const err = new WalError('WAL_INTERNAL', `WAL writer failed: ${errorText(e)}`, { cause: e })
      for (const g of this.groups.splice(0)) for (const w of g.waiters) w(err)
      this.emit('fault', err)
    } finally {
      this.running = false
    }
  }

  /** Takes the oldest group, writes it with one pwrite, and settles its callers. */
  private async writeGroup(): Promise<void> {
    const group = this.groups[0]!
    const carry = this.carry
    const bytes = carry.length + group.bytes
    // A group that would take a non-empty segment past `maxFileSize` goes into the next segment:
    // close this one with a checkpoint first. While a failed rotation backs off, keep writing
    // here, so that a failing rotation never stops appends. (Records can still join the group
    // during the rotation; it stays within its limits.)
    if (
      this.activeSize > 0 &&
      this.activeSize + bytes > this.maxFileSize &&
      Date.now() >= this.rotateBackoffUntil
    ) {
      await this.tryRotate()
      return
    }
    // From here on no record joins this group.
    this.groups.shift()
    // Records carried over from a failed group go first: they were issued before these. Rare,
    // so the copy into a fresh buffer does not matter.
    this.carry = Buffer.alloc(0)
    const carried = this.carryRecords
    this.carryRecords = 0
    const data =
      carry.length === 0
        ? group.buf.subarray(0, group.bytes)
        : Buffer.concat([carry, group.buf.subarray(0, group.bytes)])
    const position = this.activeSize
    try {
      if (position + bytes > this.allocatedEnd && bytes < PREALLOC_MAX_GROUP_BYTES) {
        try {
          await this.preallocate(position, position + bytes)
        } catch {
          // No room for zeros ahead (ENOSPC with a nearly full disk) or a failed write: write the
          // group anyway, extending the file as without preallocation. If there is no room for
          // the group itself, that write fails and rejects it.
        }
      }
      await this.writeAll(data, position)
    } catch (e) {
      await this.failGroup(group, carry, carried, position, e)
      return
    }
    this.activeSize += bytes
    this.counters.groupCommits++
    this.counters.recordsWritten += group.records + carried
    this.counters.bytesWritten += bytes
    if (this.syncMode !== 'fsync') this.dirty = true
    // The group is written (and synced in fsync mode): make its entries pending, then resolve
    // every caller, in record order, with one loop. The index takes the entries' fields, not
    // their payloads (read back from the segment when asked for), so the callers' payload
    // strings are garbage once the callers drop them.
    const { entries, starts, lengths } = group
    const n = entries.length
    if (n > 0) {
      const segment = this.activeSegment
      const base = position + carry.length
      const buf = group.buf
      for (let i = 0; i < n; i++) {
        const e = entries[i]!
        const start = starts[i]!
        const mid = e.messageId
        this.slots.add(
          e.id,
          e.hostName,
          // 13: V8's shortest sliced string; a shorter one never holds on to a parent string.
          mid.length < 13 ? mid : appendMessageIdAt(buf, start),
          e.metadata,
          e.appendedAt,
          0,
          segment,
          base + start,
          lengths[i]!,
        )
      }
      this.segmentLive.set(segment, (this.segmentLive.get(segment) ?? 0) + n)
      this.counters.appended += n
    }
    this.releaseBuffer(group.buf)
    for (const w of group.waiters) w()
  }

  /**
   * Writes a group's bytes with one pwrite; a short write (possible when the disk fills) writes
   * the rest. One buffer rather than pwritev of the records: measured here, a pwritev of 256
   * separate 1 KiB buffers took ~0.2 ms longer than a pwrite of the same bytes in one buffer,
   * and the records are encoded into one buffer in the first place.
   */
  private async writeAll(data: Buffer, position: number): Promise<void> {
    // An explicit position, not O_APPEND: after a failed write the next group overwrites
    // whatever partial bytes the failure left, even if the truncation failed too.
    let written = 0
    while (written < data.length) {
      const rest = written === 0 ? data : data.subarray(written)
      const n = await this.io.write(this.activeFd, rest, position + written)
      if (n <= 0) throw new Error(`write made no progress at offset ${position + written}`)
      written += n
    }
  }

  /**
   * Zero-fills the active segment from `from` (or where the zeros end, if further) to at least
   * `end`, and up to PREALLOC_BYTES further (not past `maxFileSize`), so that group writes land
   * in existing blocks and sync only their data (see PREALLOC_BYTES). In fsync mode the zeros are
   * written with O_DSYNC, which makes the new size durable once, here, instead of once per group.
   */
  private async preallocate(from: number, end: number): Promise<void> {
    const start = Math.max(from, this.allocatedEnd)
    const target = Math.max(end, Math.min(this.maxFileSize, start + PREALLOC_BYTES))
    zeroBlock ??= Buffer.alloc(PREALLOC_BYTES)
    for (let at = start; at < target;) {
      const n = Math.min(zeroBlock.length, target - at)
      await this.writeAll(zeroBlock.subarray(0, n), at)
      at += n
      this.allocatedEnd = at
    }
  }

  /**
   * A group write failed: cut the segment back to `position`, reject the group's callers, and
   * keep its complete/fail/expire records (and those it carried) for the next group: their
   * effect is already in memory.
   */
  private async failGroup(
    group: Group,
    carry: Buffer,
    carried: number,
    position: number,
    cause: unknown,
  ): Promise<void> {
    const appends = group.entries.length
    const err = toWalIoError(
      cause,
      `writing ${group.records + carried} records (${appends} appends) to ${this.activePath()} at offset ${position}`,
    )
    this.counters.diskErrors += appends
    // Whatever lies past `position` is no longer known to be zeros: preallocate again next time.
    this.allocatedEnd = Math.min(this.allocatedEnd, position)
    try {
      await this.io.ftruncate(this.activeFd, position)
    } catch (e) {
      // The next group overwrites from `position` anyway; if we crash first, recovery truncates the
      // torn tail. Complete records of rejected appends could survive: at-least-once, documented.
      this.emit('fault', toWalIoError(e, `truncating ${this.activePath()} back to ${position}`))
    }
    const keep = [carry]
    const { others } = group
    for (let i = 0; i < others.length; i += 2)
      keep.push(group.buf.subarray(others[i], others[i + 1]))
    // Copied out (concat), because the group's buffer is reused.
    this.carry = Buffer.concat(keep)
    this.carryRecords = carried + others.length / 2
    this.releaseBuffer(group.buf)
    for (const w of group.waiters) w(err)
  }

  /** fdatasync of the active segment (async mode's periodic sync). */
  private async syncActive(): Promise<void> {
    try {
      this.dirty = false
      await this.io.fdatasync(this.activeFd)
      this.counters.syncs++
    } catch (e) {
      this.dirty = true
      this.emit('fault', toWalIoError(e, `syncing ${this.activePath()}`))
    }
  }

  /** `rotate()`, turning a failure into a `fault` event and a pause before the next attempt. */
  private async tryRotate(): Promise<void> {
    try {
      await this.rotate()
    } catch (e) {
      this.rotateBackoffUntil = Date.now() + ROTATE_BACKOFF_MS
      this.emit('fault', toWalIoError(e, `writing a checkpoint in ${this.directory}`))
    }
  }

  /**
   * Closes the active segment and checkpoints: syncs the active segment, creates the next one,
   * writes `checkpoint-<next>` listing every pending entry, then deletes older checkpoints and
   * every older segment that holds no pending entry. Runs only inside the writer loop or
   * `start()`, so no group write is in flight.
   */
  private async rotate(): Promise<void> {
    // 1. The checkpoint will point into the active segment: make it durable first (in fsync mode
    //    it already is; in async and none modes this is where their data gets synced).
    if (this.activeFd >= 0) {
      await this.io.fdatasync(this.activeFd)
      this.counters.syncs++
      this.dirty = false
    }
    let top = this.activeSegment
    for (const s of this.segments) top = Math.max(top, s)
    const next = top + 1
    const segPath = path.join(this.directory, segmentName(next))
    const ckptPath = path.join(this.directory, checkpointName(next))
    const tmpPath = `${ckptPath}.tmp`
    const flags =
      fs.constants.O_WRONLY |
      fs.constants.O_CREAT |
      fs.constants.O_EXCL |
      (this.syncMode === 'fsync' ? fs.constants.O_DSYNC : 0)
    // 2. Create the next segment (O_EXCL: never reuse a file), then write the checkpoint to a
    //    temporary file, sync it, rename it into place and sync the directory, which also makes
    //    the new segment's directory entry durable. A crash anywhere here leaves the previous
    //    checkpoint in force, and recovery removes the `.tmp`.
    let fd = -1
    try {
      fd = fs.openSync(segPath, flags, 0o644)
      const slots = this.slots
      const entries = (function* (): Generator<CheckpointEntry> {
        for (let at = slots.first(); at !== -1; at = slots.next(at)) {
          yield {
            id: slots.idAt(at),
            segment: slots.segmentAt(at),
            offset: slots.offsetAt(at),
            length: slots.lengthAt(at),
            attempts: slots.attemptsAt(at),
          }
        }
      })()
      const buf = encodeCheckpoint(this.nextId, next, slots.size, entries)
      // Asynchronous, so a large checkpoint (28 MB per million pending) does not block the loop.
      const fh = await fs.promises.open(tmpPath, 'w', 0o644)
      try {
        await fh.writeFile(buf)
        await fh.datasync()
      } finally {
        await fh.close()
      }
      fs.renameSync(tmpPath, ckptPath)
      fsyncDirectory(this.directory)
    } catch (e) {
      if (fd >= 0) fs.closeSync(fd)
      fs.rmSync(segPath, { force: true })
      fs.rmSync(tmpPath, { force: true })
      throw e
    }
    // The checkpoint is durable: switch segments, then drop what nothing references any more.
    // The closed segment gives back its unused zeros (not synced: if a crash keeps them,
    // recovery reads zeros as the end of the segment anyway).
    if (this.activeFd >= 0 && this.allocatedEnd > this.activeSize) {
      try {
        fs.ftruncateSync(this.activeFd, this.activeSize)
      } catch {
        // Only disk space is at stake; recovery handles the zeros.
      }
    }
    this.closeActive()
    this.activeFd = fd
    this.activeSegment = next
    this.activeSize = 0
    this.allocatedEnd = 0
    this.segments.add(next)
    const previousCheckpoint = this.checkpointSegment
    this.checkpointSegment = next
    this.counters.checkpoints++
    if (previousCheckpoint > 0) {
      fs.rmSync(path.join(this.directory, checkpointName(previousCheckpoint)), { force: true })
    }
    for (const s of this.segments) {
      // Safe: the durable checkpoint names no entry in `s`, and replay starts at `next`, so no
      // record in `s` (an append, or a completion of an older entry) is read again.
      if (s < next && (this.segmentLive.get(s) ?? 0) === 0) {
        // No read of an entry's payload goes through a descriptor of a deleted segment.
        this.reader.forget(s)
        fs.rmSync(path.join(this.directory, segmentName(s)), { force: true })
        this.segments.delete(s)
        this.segmentLive.delete(s)
      }
    }
  }

  /** Closes the active segment's descriptor, if one is open. */
  private closeActive(): void {
    if (this.activeFd >= 0) {
      try {
        fs.closeSync(this.activeFd)
      } catch {
        // Closing cannot lose data that was synced; nothing useful to do.
      }
      this.activeFd = -1
    }
  }

  // ---------------------------------------------------------------------------------------------
  // State helpers

  /** Throws `WAL_NOT_STARTED` or `WAL_CLOSED` unless the log is open. */
  private assertOpen(what: string): void {
    if (this.state === 'open') return
    if (this.state === 'new' || this.state === 'starting') {
      throw new WalError('WAL_NOT_STARTED', `${what}: call start() and await it first`)
    }
    throw new WalError('WAL_CLOSED', `${what}: the log in ${this.directory} was stopped`)
  }

  /** The `WAL_UNKNOWN_ENTRY` error for `what(id)`. */
  private unknown(id: number, what: string): WalError {
    return new WalError(
      'WAL_UNKNOWN_ENTRY',
      `${what}(${id}): no pending entry has this id (never appended, or already completed, failed or expired)`,
    )
  }

  /** Removes pending entry `id` (throws `WAL_UNKNOWN_ENTRY` if absent). */
  private take(id: number, what: string): void {
    const at = this.slots.find(id)
    if (at === -1) throw this.unknown(id, what)
    this.drop(at)
  }

  /** The pending entry at position `at` of `slots`, its payload read from disk on access. */
  private entryAt(at: number): WalEntry {
    const s = this.slots
    return new StoredEntry(
      this.reader,
      s.idAt(at),
      s.hostNameAt(at),
      s.messageIdAt(at),
      s.metadataAt(at),
      s.appendedAtAt(at),
      s.attemptsAt(at),
      s.segmentAt(at),
      s.offsetAt(at),
      s.lengthAt(at),
    )
  }

  /**
   * Removes the pending entry at position `at` of `slots` and decrements its segment's live
   * count (deleting the count at zero).
   */
  private drop(at: number): void {
    const segment = this.slots.segmentAt(at)
    this.slots.removeAt(at)
    const live = (this.segmentLive.get(segment) ?? 1) - 1
    if (live > 0) this.segmentLive.set(segment, live)
    else this.segmentLive.delete(segment)
  }

  /** Expires pending entries older than `entryTtl`, oldest first; stops at the first young one. */
  private sweepExpired(): void {
    if (this.ttlMs <= 0 || this.state !== 'open') return
    const limit = Date.now() - this.ttlMs
    for (let at = this.slots.first(); at !== -1; at = this.slots.next(at)) {
      if (this.slots.appendedAtAt(at) > limit) break
      const entry = this.entryAt(at)
      // Removing keeps the positions of the others valid (see PendingIndex.removeAt).
      this.drop(at)
      this.counters.expired++
      this.queueRecord(encodeDone('expire', entry.id))
      this.emit('expired', entry)
    }
    this.kick()
  }

  /**
   * Starts the background timers, all unref'd so they never keep the process alive. The sync
   * and checkpoint timers only raise a flag and kick the writer loop, which does the I/O.
   */
  private startTimers(): void {
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms)
      t.unref()
      this.timers.push(t)
    }
    if (this.syncMode === 'async') {
      every(this.syncIntervalMs, () => {
        this.syncDue = true
        this.kick()
      })
    }
    if (this.checkpointIntervalMs > 0) {
      every(this.checkpointIntervalMs, () => {
        this.checkpointDue = true
        this.kick()
      })
    }
    if (this.ttlMs > 0)
      every(Math.min(1000, Math.max(10, this.ttlMs / 4)), () => this.sweepExpired())
  }

  /**
   * Takes the directory: refuses if this process has it open, or if `LOCK` names another live
   * process. A LOCK left by a killed process names a dead pid and is taken over.
   */
  private lock(): void {
    if (openDirectories.has(this.directory)) {
      throw new WalError(
        'WAL_LOCKED',
        `${this.directory} is already open by another Wal in this process`,
      )
    }
    const lockPath = path.join(this.directory, 'LOCK')
    let holder = 0
    try {
      holder = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10)
    } catch {
      // No LOCK file: nobody holds the directory.
    }
    if (holder > 0 && holder !== process.pid && processAlive(holder)) {
      throw new WalError(
        'WAL_LOCKED',
        `${this.directory} is in use by process ${holder} (see ${lockPath})`,
      )
    }
    fs.writeFileSync(lockPath, String(process.pid))
    openDirectories.add(this.directory)
  }

  private unlock(): void {
    if (!openDirectories.delete(this.directory)) return
    fs.rmSync(path.join(this.directory, 'LOCK'), { force: true })
  }

  // ---------------------------------------------------------------------------------------------
  // Recovery

  /** Rebuilds the pending set from disk; see `start()`. */
  private recover(): WalRecoveryReport {
    // Synchronous I/O on purpose: nothing can use the log before recovery ends, and sync reads
    // avoid a thread-pool round trip per read.
    const t0 = performance.now()
    const segs: number[] = []
    const ckpts: number[] = []
    for (const name of fs.readdirSync(this.directory)) {
      const s = SEGMENT_RE.exec(name)
      const c = CHECKPOINT_RE.exec(name)
      if (s?.[1] !== undefined) segs.push(Number(s[1]))
      else if (c?.[1] !== undefined) ckpts.push(Number(c[1]))
      else if (name.endsWith('.tmp')) fs.rmSync(path.join(this.directory, name), { force: true })
    }
    segs.sort((a, b) => a - b)
    ckpts.sort((a, b) => b - a)
    for (const s of segs) this.segments.add(s)
    let corrupt = 0
    const report = (file: string, offset: number, detail: string): void => {
      corrupt++
      this.emit(
        'corrupt',
        new WalError(
          'WAL_CORRUPT_RECORD',
          `Corrupt record in ${file} at byte offset ${offset}: ${detail}`,
          {
            location: { file, offset },
          },
        ),
      )
    }

    // The newest checkpoint that checks wins. An older one can only exist if a crash hit between
    // writing a new checkpoint and deleting the old one; it is then just as valid.
    let checkpoint: Checkpoint | undefined
    for (const n of ckpts) {
      const file = path.join(this.directory, checkpointName(n))
      const c = decodeCheckpoint(fs.readFileSync(file))
      if (c !== undefined && c.replayFrom === n) {
        checkpoint = c
        this.checkpointSegment = n
        break
      }
      report(
        file,
        0,
        'checkpoint failed its CRC-32C or size check; using an older one or a full replay',
      )
    }
    // Without a checkpoint (a new directory, or every checkpoint corrupt) replay everything on
    // disk. That is correct but can resurrect entries whose completion lived in a deleted
    // segment: at-least-once, and only after corruption.
    let replayFrom = segs[0] ?? 1
    if (checkpoint !== undefined) {
      this.nextId = Math.max(this.nextId, checkpoint.nextId)
      replayFrom = checkpoint.replayFrom
      this.loadCheckpointEntries(checkpoint, report)
    }

    let replayed = 0
    let truncated = 0
    // Segments from the checkpoint on, oldest first: appends, completions, failures and expiries
    // apply in the order they were written. Only the last segment can end in a torn write.
    const last = segs[segs.length - 1]
    for (const s of segs) {
      if (s < replayFrom) continue
      replayed++
      truncated += this.replaySegment(s, s === last, report)
    }
    this.activeSegment = last ?? 0
    this.recoveredHosts.clear()
    return {
      pending: this.slots.size,
      segmentsReplayed: replayed,
      checkpointUsed: checkpoint !== undefined,
      truncatedBytes: truncated,
      corruptRecords: corrupt,
      durationMs: performance.now() - t0,
    }
  }

  /** Reads the append records a checkpoint names, coalescing neighbours into large reads. */
  private loadCheckpointEntries(
    c: Checkpoint,
    report: (file: string, offset: number, detail: string) => void,
  ): void {
    const { count, segments, offsets, lengths } = c
    // Visit entries by (segment, offset). A checkpoint lists them in id order, which is that
    // order already; sort an index permutation only if it is not.
    const order = new Uint32Array(count)
    let sorted = true
    for (let i = 0; i < count; i++) {
      order[i] = i
      if (
        i > 0 &&
        (segments[i]! < segments[i - 1]! ||
          (segments[i] === segments[i - 1] && offsets[i]! < offsets[i - 1]!))
      ) {
        sorted = false
      }
    }
    if (!sorted) order.sort((x, y) => segments[x]! - segments[y]! || offsets[x]! - offsets[y]!)
    let scratch = Buffer.alloc(0)
    let i = 0
    while (i < count) {
      const segment = segments[order[i]!]!
      let j = i
      while (j < count && segments[order[j]!] === segment) j++
      const file = path.join(this.directory, segmentName(segment))
      let fd: number
      try {
        fd = fs.openSync(file, 'r')
      } catch {
        report(
          file,
          offsets[order[i]!]!,
          `segment is missing; ${j - i} pending entries it held are lost`,
        )
        i = j
        continue
      }
      try {
        let k = i
        while (k < j) {
          // One read for a run of records no further apart than READ_GAP_BYTES.
          const start = offsets[order[k]!]!
          let end = start + lengths[order[k]!]!
          let m = k + 1
          while (m < j) {
            const e = order[m]!
            const off = offsets[e]!
            if (
              off < end ||
              off - end > READ_GAP_BYTES ||
              off + lengths[e]! - start > MAX_READ_BYTES
            )
              break
            end = off + lengths[e]!
            m++
          }
          // One read buffer for every range, reused: allocating 64 MiB per range made V8 run a
          // full collection per range (external memory pressure), measured ~20% of recovery.
          if (scratch.length < end - start) scratch = Buffer.allocUnsafe(end - start)
          const buf = scratch.subarray(0, end - start)
          readFully(fd, buf, start)
          for (; k < m; k++) {
            const e = order[k]!
            const at = offsets[e]! - start
            // Every record is still read and checked (CRC, structure), so a bad one is found and
            // reported now; only its payload is not decoded (see `decodeRecordHead`).
            const len = checkFrame(buf, at)
            const rec = len === lengths[e] ? decodeRecordHead(buf, at, len) : undefined
            if (rec?.type !== 'append' || rec.id !== c.ids[e]) {
              report(
                file,
                offsets[e]!,
                `the append record of pending entry ${c.ids[e]} named by the checkpoint does not check`,
              )
              continue
            }
            this.addSlot(rec, segment, offsets[e]!, len, c.attempts[e]!)
          }
        }
      } finally {
        fs.closeSync(fd)
      }
      i = j
    }
  }

  /**
   * Replays one segment record by record. A bad record followed by a good one is corruption
   * (reported, skipped); bad bytes up to the end of the last segment are a torn write from a
   * crash and are truncated. Returns the number of bytes truncated.
   */
  private replaySegment(
    segment: number,
    isLast: boolean,
    report: (file: string, offset: number, detail: string) => void,
  ): number {
    const file = path.join(this.directory, segmentName(segment))
    const buf = fs.readFileSync(file)
    let pos = 0
    while (pos < buf.length) {
      const len = checkFrame(buf, pos)
      const rec = len > 0 ? decodeRecordHead(buf, pos, len) : undefined
      if (rec !== undefined) {
        this.applyRecord(rec, segment, pos, len)
        pos += len
        continue
      }
      // Zeros to the end: the preallocated, never written part of the segment (PREALLOC_BYTES).
      if (isZero(buf, pos)) return 0
      const next = findNextFrame(buf, pos + 1)
      if (next === -1) {
        if (!isLast) {
          report(
            file,
            pos,
            `${buf.length - pos} bytes at the end of a closed segment are not a valid record`,
          )
          return 0
        }
        const fd = fs.openSync(file, 'r+')
        try {
          fs.ftruncateSync(fd, pos)
          fs.fdatasyncSync(fd)
        } finally {
          fs.closeSync(fd)
        }
        return buf.length - pos
      }
      report(file, pos, `${next - pos} bytes are not a valid record; resumed at offset ${next}`)
      pos = next
    }
    return 0
  }

  /** Applies one replayed record to the pending set. Records about unknown ids are ignored. */
  private applyRecord(rec: WalRecordHead, segment: number, offset: number, length: number): void {
    switch (rec.type) {
      case 'append':
        this.addSlot(rec, segment, offset, length, 0)
        break
      case 'complete':
      case 'expire': {
        const at = this.slots.find(rec.id)
        if (at !== -1) this.drop(at)
        break
      }
      case 'fail': {
        const at = this.slots.find(rec.id)
        if (at === -1) break
        if (rec.permanent) this.drop(at)
        else this.slots.setAttemptsAt(at, rec.attempts)
        break
      }
    }
  }

  /**
   * Adds a recovered append (its fields and location, no payload) to the pending set, and keeps
   * `nextId` above every id seen.
   */
  private addSlot(
    rec: Extract<WalRecordHead, { type: 'append' }>,
    segment: number,
    offset: number,
    length: number,
    attempts: number,
  ): void {
    if (rec.id >= this.nextId) this.nextId = rec.id + 1
    // false: a second append record with this id (cannot happen without corruption); first wins.
    let hostName = this.recoveredHosts.get(rec.hostName)
    if (hostName === undefined) {
      hostName = rec.hostName
      // Bounded, in case of many hosts; beyond that each entry keeps its own copy.
      if (this.recoveredHosts.size < 1024) this.recoveredHosts.set(hostName, hostName)
    }
    const added = this.slots.add(
      rec.id,
      hostName,
      rec.messageId,
      rec.metadata,
      rec.appendedAt,
      attempts,
      segment,
      offset,
      length,
    )
    if (!added) return
    this.segmentLive.set(segment, (this.segmentLive.get(segment) ?? 0) + 1)
  }
}
