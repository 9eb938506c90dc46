/**
 * Spill segments of the in-process backend: message bodies that do not fit in its memory budget are
 * appended to segment files and read back, one record at a time, when they are delivered.
 *
 * What it does: appends raw UTF-8 bodies to `seg-<n>.spill` files in a run directory of its own
 * (`<base>/li-queue-spill-<pid>-<random>`), hands back (segment, offset, length), counts the live
 * bodies of each segment and deletes a segment once none is left (acked, dropped), rotating to a
 * new file once a segment holds `segmentBytes`. Each segment's descriptor stays open until the
 * segment is deleted, so a temp-file cleaner that unlinks a file does not make its bodies
 * unreadable. On start-up it removes run directories under the same base left by a run that is
 * gone (a crash), and removes its own run directory on close.
 *
 * What it does not do: it is not durable. No fsync, no record header or checksum, no recovery: the
 * in-process backend never kept anything across a process exit (the engine's write-ahead log
 * does), so a spill file is only a place to park bytes for the life of this process. It does not
 * compact: a segment is deleted whole once its last body is released.
 */
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writevSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { QueueError } from './errors.js'

/** One spill file; bodies are located by byte offset and length within it. */
export interface SpillSegment {
  readonly file: string
  readonly fd: number
  /** Bytes written (including any left by a failed partial write). */
  size: number
  /** Bodies in this segment not yet released. */
  live: number
  /** The group (queue) whose bodies this segment holds. */
  readonly group: string
}

/** Where a spilled body is. */
export interface SpillLocation {
  segment: SpillSegment
  offset: number
  length: number
}

/**
 * Bytes read at once when a body is read back; the bodies after it come from this buffer. A
 * backlog is drained in send order, so the next bodies are usually the next bytes of the same
 * segment: draining 100,000 spilled 3.3 KB bodies went from 128,000 msg/s (one pread per body)
 * to the figure in the README (bench/spill-bench.mjs).
 */
const READ_AHEAD_BYTES = 256 * 1024

/** Default size at which a segment is closed for writing and a new one started: 64 MiB. */
export const SPILL_SEGMENT_BYTES = 64 * 1024 * 1024

const RUN_PREFIX = 'li-queue-spill-'
const RUN_PATTERN = /^li-queue-spill-(\d+)-[0-9a-f]+$/

/** Run directories open in this process: a sibling with our pid that is not here is stale. */
const liveRuns = new Set<string>()

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** Append-only spill files of one backend, with per-segment live counts. */
export class SpillStore {
  readonly #base: string
  readonly #segmentBytes: number
  readonly #report: (e: QueueError) => void
  #runDir: string | null = null
  /**
   * The segment being appended to, per group (queue). One per queue, so that a queue that drains
   * (a router's, taking every message of a backlog on its way to a stopped operation) frees its
   * segments instead of sharing them with the long-lived bodies of the stopped one: measured in
   * the engine with one shared segment, 100,000 queued messages left 859 MB of spill files.
   */
  readonly #current = new Map<string, SpillSegment>()
  #next = 0
  readonly #segments = new Set<SpillSegment>()
  /** The last read-ahead: `#cacheLen` bytes of `#cacheSeg` from `#cacheStart`. */
  readonly #cache = Buffer.allocUnsafe(READ_AHEAD_BYTES)
  #cacheSeg: SpillSegment | null = null
  #cacheStart = 0
  #cacheLen = 0

  /**
   * @param baseDirectory where run directories go; '' means os.tmpdir().
   * @param report receives errors that must not fail the call in progress (a segment that could
   *   not be deleted after its last ack, a stale run directory that could not be removed).
   */
  constructor(baseDirectory: string, segmentBytes: number, report: (e: QueueError) => void) {
    this.#base = baseDirectory === '' ? tmpdir() : path.resolve(baseDirectory)
    this.#segmentBytes = segmentBytes
    this.#report = report
  }

  /** This run's directory, or null before the first spill. */
  get directory(): string | null {
    return this.#runDir
  }

  /** Segments open (not yet deleted). */
  get segmentCount(): number {
    return this.#segments.size
  }

  /**
   * Removes run directories under the base left by runs that are gone: another pid that no longer
   * exists, or our own pid (a restarted container gets the same one) that this process did not
   * open. A base that does not exist yet has nothing to remove.
   */
  removeStale(): void {
    let names: string[]
    try {
      names = readdirSync(this.#base)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      this.#report(
        new QueueError(
          'QUEUE_SPILL_WRITE_FAILED',
          `cannot list spill directory ${this.#base} to remove stale spill files: ${describe(e)}; check its permissions.`,
          { cause: e },
        ),
      )
      return
    }
    for (const name of names) {
      const m = RUN_PATTERN.exec(name)
      if (m === null) continue
      const dir = path.join(this.#base, name)
      const pid = Number(m[1])
      const stale = pid === process.pid ? !liveRuns.has(dir) : !pidAlive(pid)
      if (!stale) continue
      this.#removeDir(dir, 'stale spill directory', 'remove it by hand')
    }
  }

  #segmentFor(bytes: number, group: string): SpillSegment {
    const cur = this.#current.get(group)
    if (cur !== undefined && (cur.size === 0 || cur.size + bytes <= this.#segmentBytes)) return cur
    if (cur !== undefined) {
      this.#current.delete(group)
      if (cur.live === 0) this.#delete(cur)
    }
    if (this.#runDir === null) {
      mkdirSync(this.#base, { recursive: true })
      const dir = path.join(
        this.#base,
        `${RUN_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`,
      )
      mkdirSync(dir)
      this.#runDir = dir
      liveRuns.add(dir)
    }
    const file = path.join(this.#runDir, `seg-${++this.#next}.spill`)
    const seg: SpillSegment = { file, fd: openSync(file, 'wx+'), size: 0, live: 0, group }
    this.#segments.add(seg)
    this.#current.set(group, seg)
    return seg
  }

  /**
   * Appends `parts` in one write and returns their locations, in order; every `partsPerRecord`
   * consecutive parts are one record (released once: a body and its headers), appended to the
   * current segment of `group` (a queue). Throws QUEUE_SPILL_WRITE_FAILED (disk full, no
   * permission…); then nothing of the call was spilled.
   */
  write(parts: readonly string[], partsPerRecord = 1, group = ''): SpillLocation[] {
    const records = Math.ceil(parts.length / partsPerRecord)
    const bufs = parts.map((b) => Buffer.from(b, 'utf8'))
    let total = 0
    for (const b of bufs) total += b.length
    let seg: SpillSegment | null = null
    try {
      seg = this.#segmentFor(total, group)
      const written = writevSync(seg.fd, bufs, seg.size)
      if (written !== total) {
        seg.size += written
        throw new Error(`short write: ${written} of ${total} bytes (disk full?)`)
      }
    } catch (e) {
      // A later write starts after whatever part of this one reached the file.
      throw new QueueError(
        'QUEUE_SPILL_WRITE_FAILED',
        `cannot write ${records} message bodies (${total} bytes) to spill ${seg?.file ?? `directory ${this.#base}`}: ${describe(e)}; they stay in memory. Free disk space or set spillDirectory to a writable directory.`,
        { cause: e },
      )
    }
    const out: SpillLocation[] = []
    let offset = seg.size
    for (const b of bufs) {
      out.push({ segment: seg, offset, length: b.length })
      offset += b.length
    }
    seg.size = offset
    seg.live += records
    return out
  }

  /**
   * Reads one body back, from the last read-ahead if it holds it, else with one pread of up to
   * READ_AHEAD_BYTES from its offset. Throws QUEUE_SPILL_READ_FAILED; the body stays where it is.
   */
  read(segment: SpillSegment, offset: number, length: number): string {
    if (
      segment === this.#cacheSeg &&
      offset >= this.#cacheStart &&
      offset + length <= this.#cacheStart + this.#cacheLen
    ) {
      const at = offset - this.#cacheStart
      return this.#cache.toString('utf8', at, at + length)
    }
    try {
      if (length > READ_AHEAD_BYTES)
        return this.#readFully(segment, offset, length).toString('utf8')
      this.#cacheSeg = null
      // Segments are append-only and never reused, so what was read stays valid until deleted.
      const want = Math.min(READ_AHEAD_BYTES, Math.max(length, segment.size - offset))
      const got = readSync(segment.fd, this.#cache, 0, want, offset)
      if (got < length) {
        // A short read of the body itself: finish it with a plain read (or fail on end of file).
        return this.#readFully(segment, offset, length).toString('utf8')
      }
      this.#cacheSeg = segment
      this.#cacheStart = offset
      this.#cacheLen = got
      return this.#cache.toString('utf8', 0, length)
    } catch (e) {
      throw new QueueError(
        'QUEUE_SPILL_READ_FAILED',
        `cannot read a spilled message body (${length} bytes at offset ${offset} of ${segment.file}): ${describe(e)}.`,
        { cause: e },
      )
    }
  }

  #readFully(segment: SpillSegment, offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length)
    let got = 0
    while (got < length) {
      const n = readSync(segment.fd, buf, got, length - got, offset + got)
      if (n === 0) throw new Error(`end of file after ${got} of ${length} bytes`)
      got += n
    }
    return buf
  }

  /** Releases one body of `segment`; the segment is deleted once its last body is released. */
  release(segment: SpillSegment): void {
    if (--segment.live > 0) return
    if (this.#current.get(segment.group) === segment) this.#current.delete(segment.group)
    this.#delete(segment)
  }

  #delete(segment: SpillSegment): void {
    if (!this.#segments.delete(segment)) return
    if (this.#cacheSeg === segment) this.#cacheSeg = null
    try {
      closeSync(segment.fd)
      unlinkSync(segment.file)
    } catch (e) {
      this.#report(
        new QueueError(
          'QUEUE_SPILL_WRITE_FAILED',
          `cannot delete drained spill segment ${segment.file}: ${describe(e)}; it is removed when the queue stops.`,
          { cause: e },
        ),
      )
    }
  }

  /** Removes `dir` and everything in it; a failure is reported (`what`, `then` name it), not thrown. */
  #removeDir(dir: string, what: string, then: string): void {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch (e) {
      this.#report(
        new QueueError(
          'QUEUE_SPILL_WRITE_FAILED',
          `cannot remove ${what} ${dir}: ${describe(e)}; ${then}.`,
          { cause: e },
        ),
      )
    }
  }

  /** Closes every segment and removes this run's directory (every spilled body is gone). */
  close(): void {
    for (const seg of this.#segments) {
      try {
        closeSync(seg.fd)
      } catch (e) {
        this.#report(
          new QueueError(
            'QUEUE_SPILL_WRITE_FAILED',
            `cannot close spill segment ${seg.file}: ${describe(e)}.`,
            {
              cause: e,
            },
          ),
        )
      }
    }
    this.#segments.clear()
    this.#current.clear()
    this.#cacheSeg = null
    const dir = this.#runDir
    if (dir === null) return
    this.#runDir = null
    liveRuns.delete(dir)
    this.#removeDir(dir, 'spill directory', 'it is removed at the next start')
  }
}
