/**
 * Checkpoint file layout: a snapshot of where every pending entry lives, so that recovery reads
 * only pending records plus the segments written since the snapshot, not the whole history.
 *
 * A checkpoint does not copy payloads. It lists, for each pending entry, the segment and byte
 * offset of its append record (and its retry count, which lives in later fail records that will
 * not be replayed). Its size is 28 bytes per pending entry (28 MB for 1,000,000 entries).
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `0x4357494C` (bytes `L I W C`) |
 * | 4 | 4 | format version, u32 LE (1) |
 * | 8 | 8 | next entry id, f64 LE |
 * | 16 | 4 | `replayFrom`: first segment to replay sequentially, u32 LE |
 * | 20 | 4 | entry count `n`, u32 LE |
 * | 24 | 28·n | per entry: id f64, segment u32, offset f64, record length u32, attempts u32 |
 * | 24+28n | 4 | CRC-32C of all preceding bytes, u32 LE |
 *
 * fsync policy (in `wal.ts`): written to `checkpoint-<replayFrom>.ckpt.tmp`, fdatasync'd, renamed
 * to `checkpoint-<replayFrom>.ckpt`, then the directory is fsync'd; only then are older
 * checkpoints and unreferenced segments deleted. A torn or corrupt checkpoint fails its CRC and is ignored.
 *
 * Does not: do any I/O.
 */

import { crc32c } from './crc32c.js'

const CHECKPOINT_MAGIC = 0x4357494c
const CHECKPOINT_VERSION = 1
const HEADER_BYTES = 24
const ENTRY_BYTES = 28

/** Where the append record of one pending entry lives, and its retry count. */
export interface CheckpointEntry {
  readonly id: number
  readonly segment: number
  readonly offset: number
  readonly length: number
  readonly attempts: number
}

/**
 * A decoded checkpoint. Entries are columns (entry `i` is `ids[i]`, `segments[i]`, ...) rather
 * than objects: for 1,000,000 entries that saves a million short-lived objects, which measurably
 * slowed recovery through V8's old-generation collections.
 */
export interface Checkpoint {
  readonly nextId: number
  readonly replayFrom: number
  readonly count: number
  readonly ids: Float64Array
  readonly segments: Uint32Array
  readonly offsets: Float64Array
  readonly lengths: Uint32Array
  readonly attempts: Uint32Array
}

/** Encodes a checkpoint; `entries` is iterated once and must yield exactly `count` items. */
export function encodeCheckpoint(
  nextId: number,
  replayFrom: number,
  count: number,
  entries: Iterable<CheckpointEntry>,
): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + ENTRY_BYTES * count + 4)
  buf.writeUInt32LE(CHECKPOINT_MAGIC, 0)
  buf.writeUInt32LE(CHECKPOINT_VERSION, 4)
  buf.writeDoubleLE(nextId, 8)
  buf.writeUInt32LE(replayFrom, 16)
  buf.writeUInt32LE(count, 20)
  let p = HEADER_BYTES
  let written = 0
  for (const e of entries) {
    if (written === count) break
    p = buf.writeDoubleLE(e.id, p)
    p = buf.writeUInt32LE(e.segment, p)
    p = buf.writeDoubleLE(e.offset, p)
    p = buf.writeUInt32LE(e.length, p)
    p = buf.writeUInt32LE(e.attempts, p)
    written++
  }
  if (written !== count)
    throw new RangeError(`checkpoint expected ${count} entries, got ${written}`)
  buf.writeUInt32LE(crc32c(buf, 0, p), p)
  return buf
}

/**
 * Decodes a checkpoint file's bytes, or returns `undefined` if magic, version, size or CRC do not
 * check (a torn or corrupt checkpoint).
 */
export function decodeCheckpoint(buf: Buffer): Checkpoint | undefined {
  if (buf.length < HEADER_BYTES + 4) return undefined
  if (buf.readUInt32LE(0) !== CHECKPOINT_MAGIC || buf.readUInt32LE(4) !== CHECKPOINT_VERSION) {
    return undefined
  }
  const count = buf.readUInt32LE(20)
  const end = HEADER_BYTES + ENTRY_BYTES * count
  if (buf.length !== end + 4 || crc32c(buf, 0, end) !== buf.readUInt32LE(end)) return undefined
  const ids = new Float64Array(count)
  const segments = new Uint32Array(count)
  const offsets = new Float64Array(count)
  const lengths = new Uint32Array(count)
  const attempts = new Uint32Array(count)
  for (let i = 0, p = HEADER_BYTES; i < count; i++, p += ENTRY_BYTES) {
    ids[i] = buf.readDoubleLE(p)
    segments[i] = buf.readUInt32LE(p + 8)
    offsets[i] = buf.readDoubleLE(p + 12)
    lengths[i] = buf.readUInt32LE(p + 20)
    attempts[i] = buf.readUInt32LE(p + 24)
  }
  return {
    nextId: buf.readDoubleLE(8),
    replayFrom: buf.readUInt32LE(16),
    count,
    ids,
    segments,
    offsets,
    lengths,
    attempts,
  }
}
