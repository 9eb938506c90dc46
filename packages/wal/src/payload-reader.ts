/**
 * Reads the payload of a pending entry back from its segment file, on demand.
 *
 * The log keeps no payload in memory once its append record is written: the `PendingIndex`
 * knows where each append record lives (segment, byte offset, length), and the entries that
 * `pending()` and the `expired`/`failed` events hand out read their `payload` through this
 * reader when it is accessed: one positioned `readSync` of exactly that record, whose frame and
 * CRC-32C are checked, then only the payload is decoded. Nothing is cached, so memory stays
 * bounded by what the caller holds. Why synchronous: `WalEntry.payload` is a string property, and
 * one `pread` of a few KiB from the page cache costs a few microseconds here, less than a
 * thread-pool round trip.
 *
 * A few segment descriptors stay open (at most MAX_OPEN_SEGMENTS, the oldest opened is closed
 * first), so that reading every pending payload after a restart is one syscall per entry, not
 * three (open, read, close). The log calls `forget` before it deletes a segment, so a deleted
 * segment is never read through a stale descriptor: a later read finds the file gone and throws
 * `WAL_ENTRY_GONE`. After `close()` (the log stopped) reads still work, opening and closing the
 * segment each time.
 *
 * Does not: write, or know whether an entry is still pending (the record, found at its location
 * and checked, is the answer; an entry that left the log can still be read until its segment is
 * deleted).
 */

import fs from 'node:fs'
import path from 'node:path'
import { WalError, toWalIoError } from './errors.js'
import { checkFrame, decodeAppendPayload } from './record.js'
import type { WalEntry } from './types.js'

/** Segment descriptors kept open for reads. */
const MAX_OPEN_SEGMENTS = 8
/** Records up to this size are read into one reused buffer; larger ones into their own. */
const MAX_SCRATCH_BYTES = 1024 * 1024

/** File name of segment `n`. */
export function segmentName(n: number): string {
  return `seg-${String(n).padStart(10, '0')}.wal`
}

/** Reads payloads of append records by location; see the module header. */
export class PayloadReader {
  private readonly fds = new Map<number, number>()
  private scratch = Buffer.alloc(0)
  private closed = false

  /** Reads from the segment files in `directory` (absolute). */
  constructor(private readonly directory: string) {}

  /**
   * The payload of entry `id`, whose append record is the `length` bytes at `offset` of segment
   * `segment`. Throws `WAL_ENTRY_GONE` if the segment was deleted (or that place holds another
   * record), `WAL_CORRUPT_RECORD` if the record fails its checks, `WAL_IO` on a read error.
   */
  read(id: number, segment: number, offset: number, length: number): string {
    const file = path.join(this.directory, segmentName(segment))
    let fd = this.fds.get(segment)
    const cached = fd !== undefined || !this.closed
    if (fd === undefined) {
      try {
        fd = fs.openSync(file, 'r')
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.gone(id, file)
        throw toWalIoError(e, `opening ${file} to read the payload of entry ${id}`)
      }
      if (cached) this.keep(segment, fd)
    }
    try {
      let buf: Buffer
      if (length <= MAX_SCRATCH_BYTES) {
        if (this.scratch.length < length) {
          this.scratch = Buffer.allocUnsafeSlow(Math.max(length, 16 * 1024))
        }
        buf = this.scratch.subarray(0, length)
      } else {
        buf = Buffer.allocUnsafeSlow(length)
      }
      let got = 0
      try {
        while (got < length) {
          const n = fs.readSync(fd, buf, got, length - got, offset + got)
          if (n === 0) break
          got += n
        }
      } catch (e) {
        throw toWalIoError(e, `reading the payload of entry ${id} from ${file} at offset ${offset}`)
      }
      if (got < length) {
        throw this.corrupt(
          id,
          file,
          offset,
          `the segment ends ${length - got} bytes before the end of the record`,
        )
      }
      if (checkFrame(buf, 0) !== length) {
        throw this.corrupt(id, file, offset, 'the record failed its CRC-32C or length check')
      }
      const payload = decodeAppendPayload(buf, 0, length, id)
      // A valid record that is not this entry's: the segment file was replaced.
      if (payload === undefined) throw this.gone(id, file)
      return payload
    } finally {
      if (!cached) fs.closeSync(fd)
    }
  }

  /** Closes the descriptor of `segment`, if open; called before the segment is deleted. */
  forget(segment: number): void {
    const fd = this.fds.get(segment)
    if (fd === undefined) return
    this.fds.delete(segment)
    fs.closeSync(fd)
  }

  /** Closes every descriptor; later reads open and close their segment each time. */
  close(): void {
    this.closed = true
    for (const s of [...this.fds.keys()]) this.forget(s)
    this.scratch = Buffer.alloc(0)
  }

  /** Keeps `fd` open for `segment`, closing the oldest kept descriptor if there are too many. */
  private keep(segment: number, fd: number): void {
    if (this.fds.size >= MAX_OPEN_SEGMENTS) {
      const oldest = this.fds.keys().next().value
      if (oldest !== undefined) this.forget(oldest)
    }
    this.fds.set(segment, fd)
  }

  private gone(id: number, file: string): WalError {
    return new WalError(
      'WAL_ENTRY_GONE',
      `The payload of entry ${id} can no longer be read: ${file} was deleted (or replaced) after the entry left the log (completed, failed or expired). Read the payload while the entry is pending, or in the event callback`,
    )
  }

  private corrupt(id: number, file: string, offset: number, detail: string): WalError {
    return new WalError(
      'WAL_CORRUPT_RECORD',
      `Cannot read the payload of entry ${id} in ${file} at byte offset ${offset}: ${detail}`,
      { location: { file, offset } },
    )
  }
}

/**
 * A pending entry whose `payload` is read from its segment file (through the reader) each time it
 * is accessed. `payload` is an own, enumerable accessor, so spreading the entry or comparing it
 * field by field reads it like any other field; the location is in private fields, which neither
 * shows. Why a class and one shared property descriptor: measured here, 1,000,000 object literals
 * with a `get payload()` of their own took ~650 bytes each (a closure, its context and a hidden
 * class per object); these share one hidden class and take ~120 bytes.
 */
export class StoredEntry implements WalEntry {
  readonly id: number
  readonly hostName: string
  readonly messageId: string
  declare readonly payload: string
  readonly metadata: Readonly<Record<string, unknown>> | undefined
  readonly appendedAt: number
  readonly attempts: number
  readonly #reader: PayloadReader
  readonly #segment: number
  readonly #offset: number
  readonly #length: number

  /** The entry's fields, and where its append record lives. */
  constructor(
    reader: PayloadReader,
    id: number,
    hostName: string,
    messageId: string,
    metadata: Readonly<Record<string, unknown>> | undefined,
    appendedAt: number,
    attempts: number,
    segment: number,
    offset: number,
    length: number,
  ) {
    this.id = id
    this.hostName = hostName
    this.messageId = messageId
    this.metadata = metadata
    this.appendedAt = appendedAt
    this.attempts = attempts
    this.#reader = reader
    this.#segment = segment
    this.#offset = offset
    this.#length = length
    Object.defineProperty(this, 'payload', StoredEntry.#payload)
  }

  /** The one descriptor of every entry's `payload`: reads the record at the entry's location. */
  static readonly #payload: PropertyDescriptor = {
    get(this: StoredEntry): string {
      return this.#reader.read(this.id, this.#segment, this.#offset, this.#length)
    },
    enumerable: true,
  }
}
