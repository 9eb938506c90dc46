/**
 * WAL record layout: how one log record is framed, checksummed, encoded and found again.
 *
 * Every record in a segment file is
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `0x3157494C` (bytes `L I W 1`), the resync point after corruption |
 * | 4 | 4 | body length `n`, u32 LE, at most `MAX_BODY_BYTES` |
 * | 8 | 4 | CRC-32C of bytes 4..8 (the length) followed by the body, u32 LE |
 * | 12 | n | body: a type byte, then the fields of that type |
 *
 * Bodies (all integers little-endian; strings are a length then UTF-8 bytes):
 * - `1` append: flags u8 (bit 0: the payload is pure ASCII), id f64, appendedAt f64 (ms epoch),
 *   hostName u16+bytes, messageId u16+bytes, metadata u32+JSON bytes (length 0 = no metadata),
 *   payload u32+bytes
 * - `2` complete: id f64
 * - `3` fail: id f64, attempts u32, permanent u8 (0/1), error u32+bytes (truncated to 1,000 chars)
 * - `4` expire: id f64
 *
 * The CRC covers the length so a flipped length bit cannot make a valid-looking record. A record
 * is valid only if magic, length bound, CRC and body structure all check; anything else is
 * "bad" and the reader resyncs by searching for the next magic whose record checks.
 *
 * Why the ASCII flag: a payload is decoded one record at a time (the WAL reads a pending entry's
 * payload from its segment when it is asked for; recovery does not decode payloads at all), and
 * an ASCII payload (HL7 v2 usually is) decodes as latin1, which copies bytes without the UTF-8
 * validation pass. (It was first added for recovery, which used to decode every pending payload:
 * 1,000,000 1 KiB payloads took ~23 s with one UTF-8 `toString` each.)
 * The flag is free to compute at encode time: UTF-8 byte length === string length iff ASCII.
 *
 * Does not: do any I/O, or decide what a bad record means (torn tail or corruption): `wal.ts` does.
 */

import { crc32c } from './crc32c.js'

/** The 4 magic bytes that open every record, as a u32 LE. */
export const RECORD_MAGIC = 0x3157494c
/** Bytes before the body: magic, length, CRC. */
export const RECORD_HEADER_BYTES = 12
/** Upper bound of a body; a larger length field marks the record as bad. 64 MiB. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024
/** Longest error text kept in a fail record, in characters. */
const MAX_ERROR_CHARS = 1000

const MAGIC_BYTES = Buffer.from([0x4c, 0x49, 0x57, 0x31])

/** Record type bytes. */
const TYPE_APPEND = 1
const TYPE_COMPLETE = 2
const TYPE_FAIL = 3
const TYPE_EXPIRE = 4
/** Append flag: every payload byte is < 0x80, so latin1 and UTF-8 decode it alike. */
const FLAG_ASCII = 1

/** A decoded record. */
export type WalRecord =
  | {
      readonly type: 'append'
      readonly id: number
      readonly appendedAt: number
      readonly hostName: string
      readonly messageId: string
      readonly metadata: Readonly<Record<string, unknown>> | undefined
      readonly payload: string
    }
  | WalDoneRecord

/**
 * An append record decoded without its payload (what recovery needs: the entry's fields, not its
 * text), and the other record types as in `WalRecord`.
 */
export type WalRecordHead =
  Omit<Extract<WalRecord, { readonly type: 'append' }>, 'payload'> | WalDoneRecord

/** The complete, fail and expire records (the same in `WalRecord` and `WalRecordHead`). */
export type WalDoneRecord =
  | { readonly type: 'complete'; readonly id: number }
  | {
      readonly type: 'fail'
      readonly id: number
      readonly attempts: number
      readonly permanent: boolean
      readonly error: string
    }
  | { readonly type: 'expire'; readonly id: number }

/** Allocates a record of `bodyBytes` and writes its magic and length; the caller fills the body. */
function allocRecord(bodyBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyBytes)
  buf.writeUInt32LE(RECORD_MAGIC, 0)
  buf.writeUInt32LE(bodyBytes, 4)
  return buf
}

/** Computes the CRC over length and body and stores it; returns the finished record. */
function sealRecord(buf: Buffer): Buffer {
  sealRecordAt(buf, 0, buf.length)
  return buf
}

/** Computes the CRC of the record in `buf[at, end)` over its length and body and stores it. */
function sealRecordAt(buf: Buffer, at: number, end: number): void {
  const crc = crc32c(buf, at + RECORD_HEADER_BYTES, end, crc32c(buf, at + 4, at + 8))
  buf.writeUInt32LE(crc, at + 8)
}

/**
 * Total bytes (header included) of the append record `encodeAppendInto` writes for these fields.
 * `metadataJson` is `''` for no metadata.
 */
export function appendRecordBytes(
  hostName: string,
  messageId: string,
  metadataJson: string,
  payload: string,
): number {
  const metaBytes = metadataJson.length === 0 ? 0 : Buffer.byteLength(metadataJson)
  return (
    RECORD_HEADER_BYTES +
    2 +
    8 +
    8 +
    2 +
    Buffer.byteLength(hostName) +
    2 +
    Buffer.byteLength(messageId) +
    4 +
    metaBytes +
    4 +
    Buffer.byteLength(payload)
  )
}

/**
 * Encodes an append record into `target` at `at` and returns its total length. `target` must
 * have `appendRecordBytes(...)` bytes free at `at`. The WAL encodes straight into the buffer of
 * the group being formed: measured here, that saves ~0.4 µs per 1 KiB append over allocating a
 * record and copying it into the group later (allocation, GC of the pool slabs, the copy).
 * Each string is written first and its length prefix filled in after, so no string is measured
 * twice.
 */
export function encodeAppendInto(
  target: Buffer,
  at: number,
  id: number,
  appendedAt: number,
  hostName: string,
  messageId: string,
  metadataJson: string,
  payload: string,
): number {
  target.writeUInt32LE(RECORD_MAGIC, at)
  let p = at + RECORD_HEADER_BYTES
  target[p++] = TYPE_APPEND
  const flagsAt = p++
  p = target.writeDoubleLE(id, p)
  p = target.writeDoubleLE(appendedAt, p)
  let n = target.write(hostName, p + 2)
  target.writeUInt16LE(n, p)
  p += 2 + n
  n = target.write(messageId, p + 2)
  target.writeUInt16LE(n, p)
  p += 2 + n
  n = metadataJson.length === 0 ? 0 : target.write(metadataJson, p + 4)
  target.writeUInt32LE(n, p)
  p += 4 + n
  n = target.write(payload, p + 4)
  target.writeUInt32LE(n, p)
  // UTF-8 byte length === string length iff the string is pure ASCII (see the header).
  target[flagsAt] = n === payload.length ? FLAG_ASCII : 0
  p += 4 + n
  target.writeUInt32LE(p - at - RECORD_HEADER_BYTES, at + 4)
  sealRecordAt(target, at, p)
  return p - at
}

/** Encodes an append record into a buffer of its own. `metadataJson` is `''` for no metadata. */
export function encodeAppend(
  id: number,
  appendedAt: number,
  hostName: string,
  messageId: string,
  metadataJson: string,
  payload: string,
): Buffer {
  const buf = Buffer.allocUnsafe(appendRecordBytes(hostName, messageId, metadataJson, payload))
  encodeAppendInto(buf, 0, id, appendedAt, hostName, messageId, metadataJson, payload)
  return buf
}

/** Encodes a complete record (type 2) or an expire record (type 4). */
export function encodeDone(kind: 'complete' | 'expire', id: number): Buffer {
  const buf = allocRecord(9)
  buf[RECORD_HEADER_BYTES] = kind === 'complete' ? TYPE_COMPLETE : TYPE_EXPIRE
  buf.writeDoubleLE(id, RECORD_HEADER_BYTES + 1)
  return sealRecord(buf)
}

/** Encodes a fail record; the error text is cut to 1,000 characters. */
export function encodeFail(
  id: number,
  attempts: number,
  permanent: boolean,
  error: string,
): Buffer {
  const text = error.length > MAX_ERROR_CHARS ? error.slice(0, MAX_ERROR_CHARS) : error
  const textBytes = Buffer.byteLength(text)
  const buf = allocRecord(1 + 8 + 4 + 1 + 4 + textBytes)
  let p = RECORD_HEADER_BYTES
  buf[p++] = TYPE_FAIL
  p = buf.writeDoubleLE(id, p)
  p = buf.writeUInt32LE(attempts, p)
  buf[p++] = permanent ? 1 : 0
  p = buf.writeUInt32LE(textBytes, p)
  buf.write(text, p)
  return sealRecord(buf)
}

/**
 * Checks the frame of the record at `pos`: returns its total length (header + body) if magic,
 * length bound and CRC hold and the whole record lies inside `buf`, otherwise -1.
 */
export function checkFrame(buf: Buffer, pos: number): number {
  if (pos + RECORD_HEADER_BYTES > buf.length) return -1
  if (buf.readUInt32LE(pos) !== RECORD_MAGIC) return -1
  const bodyBytes = buf.readUInt32LE(pos + 4)
  if (bodyBytes === 0 || bodyBytes > MAX_BODY_BYTES) return -1
  const end = pos + RECORD_HEADER_BYTES + bodyBytes
  if (end > buf.length) return -1
  const crc = crc32c(buf, pos + RECORD_HEADER_BYTES, end, crc32c(buf, pos + 4, pos + 8))
  return crc === buf.readUInt32LE(pos + 8) ? end - pos : -1
}

/**
 * Decodes the body of a record whose frame `checkFrame` accepted (`pos` is the record start,
 * `length` its total length). Returns `undefined` if the body is structurally wrong (an unknown
 * type, or fields that overrun the body), which the caller treats like a bad CRC.
 */
export function decodeRecord(buf: Buffer, pos: number, length: number): WalRecord | undefined {
  return decodeBody(buf, pos, length, true) as WalRecord | undefined
}

/**
 * `decodeRecord` without the payload of an append record: its bytes are checked to fill the body
 * exactly, but never decoded into a string. Recovery uses this, so that it keeps only where each
 * pending payload lives, not the payload.
 */
export function decodeRecordHead(
  buf: Buffer,
  pos: number,
  length: number,
): WalRecordHead | undefined {
  return decodeBody(buf, pos, length, false)
}

/** The shared decoder of `decodeRecord` and `decodeRecordHead`. */
function decodeBody(
  buf: Buffer,
  pos: number,
  length: number,
  withPayload: boolean,
): WalRecord | WalRecordHead | undefined {
  const end = pos + length
  let p = pos + RECORD_HEADER_BYTES
  const type: number = buf[p++] ?? 0
  try {
    switch (type) {
      case TYPE_APPEND: {
        const flags = buf[p++]
        const id = buf.readDoubleLE(p)
        const appendedAt = buf.readDoubleLE(p + 8)
        p += 16
        const hostLen = buf.readUInt16LE(p)
        const hostName = buf.toString('utf8', p + 2, (p += 2 + hostLen))
        const idLen = buf.readUInt16LE(p)
        const messageId = buf.toString('utf8', p + 2, (p += 2 + idLen))
        const metaLen = buf.readUInt32LE(p)
        const metaJson = metaLen === 0 ? '' : buf.toString('utf8', p + 4, p + 4 + metaLen)
        p += 4 + metaLen
        const payloadLen = buf.readUInt32LE(p)
        if (p + 4 + payloadLen !== end) return undefined
        const metadata =
          metaJson === '' ? undefined : (JSON.parse(metaJson) as Record<string, unknown>)
        if (!withPayload) return { type: 'append', id, appendedAt, hostName, messageId, metadata }
        const payload = buf.toString(flags === FLAG_ASCII ? 'latin1' : 'utf8', p + 4, end)
        return { type: 'append', id, appendedAt, hostName, messageId, metadata, payload }
      }
      case TYPE_COMPLETE:
      case TYPE_EXPIRE:
        if (p + 8 !== end) return undefined
        return {
          type: type === TYPE_COMPLETE ? 'complete' : 'expire',
          id: buf.readDoubleLE(p),
        }
      case TYPE_FAIL: {
        const id = buf.readDoubleLE(p)
        const attempts = buf.readUInt32LE(p + 8)
        const permanent = buf[p + 12] === 1
        const textLen = buf.readUInt32LE(p + 13)
        if (p + 17 + textLen !== end) return undefined
        return { type: 'fail', id, attempts, permanent, error: buf.toString('utf8', p + 17, end) }
      }
      default:
        return undefined
    }
  } catch {
    // A RangeError from a read past the end, or bad JSON: structurally wrong despite a good CRC.
    return undefined
  }
}

/**
 * The payload of the append record of entry `id` at `pos` (a frame `checkFrame` accepted, of
 * `length` bytes), decoding nothing else; `undefined` if the record there is not an append
 * record of entry `id` or its fields overrun the body.
 */
export function decodeAppendPayload(
  buf: Buffer,
  pos: number,
  length: number,
  id: number,
): string | undefined {
  const end = pos + length
  let p = pos + RECORD_HEADER_BYTES
  if (end - p < 30 || buf[p] !== TYPE_APPEND) return undefined
  const flags = buf[p + 1]
  if (buf.readDoubleLE(p + 2) !== id) return undefined
  p += 18
  p += 2 + buf.readUInt16LE(p) // hostName
  if (p + 2 > end) return undefined
  p += 2 + buf.readUInt16LE(p) // messageId
  if (p + 4 > end) return undefined
  p += 4 + buf.readUInt32LE(p) // metadata
  if (p + 4 > end || p + 4 + buf.readUInt32LE(p) !== end) return undefined
  return buf.toString(flags === FLAG_ASCII ? 'latin1' : 'utf8', p + 4, end)
}

/**
 * The messageId of the append record at `at` in `buf`, decoded from its bytes: a fresh string.
 * The WAL keeps this copy rather than the caller's string, which can be a slice of the payload
 * (V8 makes substrings of 13 characters or more views of their parent string, so keeping the
 * caller's MSH-10 could keep the whole message in memory).
 */
export function appendMessageIdAt(buf: Buffer, at: number): string {
  let p = at + RECORD_HEADER_BYTES + 18
  p += 2 + buf.readUInt16LE(p)
  const n = buf.readUInt16LE(p)
  return buf.toString('utf8', p + 2, p + 2 + n)
}

/**
 * Finds the first offset `>= from` where a record with a valid frame starts, or -1. Used to
 * resync after a bad record: a magic found inside a payload is rejected by its CRC.
 */
export function findNextFrame(buf: Buffer, from: number): number {
  let at = buf.indexOf(MAGIC_BYTES, from)
  while (at !== -1) {
    if (checkFrame(buf, at) > 0) return at
    at = buf.indexOf(MAGIC_BYTES, at + 1)
  }
  return -1
}
