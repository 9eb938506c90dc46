// parseMessage: text or bytes in, Message out. It does one pass over the text to find segment
// boundaries (indexOf on CR: a native scan, about 20 ns per call on this machine, several times
// cheaper than a charCodeAt loop) and checks each segment ID; it does not split fields, which the
// Message does lazily when they are read.
//
// Terminators: HL7 v2.5.1 chapter 2, section 2.5.3 prescribes CR. LF and CR LF are accepted too,
// since files and some senders use them, and blank lines are skipped; such input is normalised to
// CR once, so that offsets and toString work on one form. Input that already uses CR only (what
// MLLP carries) is kept as it is, without a copy.
//
// Not done here: schema checks (see validate), and splitting batches (see parseBatch).
import { Hl7ParseError, quote } from '../errors.js'
import { decodeBytes, resolveCharset, sniffCharset } from './charset.js'
import { readEncoding, type Encoding } from './encoding.js'
import { Message } from './message.js'

/** Options of parseMessage and parseBatch. */
export interface ParseOptions {
  /**
   * Character set for byte input, overriding MSH-18: an HL7 table 0211 value (`8859/1`,
   * `UNICODE UTF-8`) or an encoding label (`latin1`, `utf-8`, `windows-1252`). Ignored for strings.
   */
  charset?: string
  /**
   * Largest accepted input, in bytes for a Uint8Array and UTF-16 code units for a string; larger
   * input throws HL7_MESSAGE_TOO_LARGE before any work is done. Default 16 MiB (as MLLP).
   */
  maxSize?: number
}

/** Default `maxSize`: 16 MiB, the same as the MLLP decoder's `maxMessageBytes`. */
export const DEFAULT_MAX_SIZE = 16 * 1024 * 1024

/** Segments of a text after terminator normalisation. */
export interface ScannedText {
  /** The text, CR-terminated, without blank lines (the input itself when it already was). */
  src: string
  /** Start of each segment in `src`. */
  starts: number[]
  /** End (exclusive, before the CR) of each segment in `src`. */
  ends: number[]
  /** Whether the last segment is followed by a terminator. */
  trailing: boolean
  /** Offset of each segment in the original input, when it differs from `starts`. */
  origin: number[] | undefined
}

// Whether text[start, end) is only spaces and tabs (a "blank line").
function isBlank(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 9) return false
  }
  return true
}

/** Finds segment boundaries in `text`, normalising LF / CR LF terminators and blank lines. */
export function scanSegments(text: string): ScannedText {
  const n = text.length
  // Fast path: CR terminators only and no blank lines, the form MLLP delivers.
  if (text.indexOf('\n') === -1) {
    const starts: number[] = []
    const ends: number[] = []
    let pos = 0
    let clean = true
    while (pos < n) {
      let end = text.indexOf('\r', pos)
      if (end === -1) end = n
      const c = text.charCodeAt(pos)
      if (end === pos || ((c === 32 || c === 9) && isBlank(text, pos, end))) {
        clean = false
        break
      }
      starts.push(pos)
      ends.push(end)
      pos = end + 1
    }
    if (clean) {
      return {
        src: text,
        starts,
        ends,
        trailing: n > 0 && text.charCodeAt(n - 1) === 13,
        origin: undefined,
      }
    }
  }
  // Slow path: rebuild the text with CR terminators and no blank lines.
  const starts: number[] = []
  const ends: number[] = []
  const origin: number[] = []
  const parts: string[] = []
  let length = 0
  let trailing = false
  let pos = 0
  while (pos < n) {
    let end = pos
    while (end < n) {
      const c = text.charCodeAt(end)
      if (c === 13 || c === 10) break
      end++
    }
    if (end > pos && !isBlank(text, pos, end)) {
      if (parts.length > 0) length++
      starts.push(length)
      origin.push(pos)
      parts.push(text.slice(pos, end))
      length += end - pos
      ends.push(length)
      trailing = end < n
    }
    // CR LF counts as one terminator; a blank line between them is skipped either way.
    pos = end + 1
  }
  const src = parts.join('\r') + (trailing ? '\r' : '')
  return { src, starts, ends, trailing, origin }
}

// Maps an offset in the decoded text back to the input (bytes for byte input).
type OffsetMap = (offset: number) => number
const identity: OffsetMap = (offset) => offset

function checkSize(size: number, max: number, unit: string): void {
  if (size > max) {
    throw new Hl7ParseError(
      'HL7_MESSAGE_TOO_LARGE',
      `Input is ${size} ${unit}; the limit is ${max} (raise the maxSize option to accept it)`,
      { offset: max },
    )
  }
}

/** Decodes byte input by the charset option or MSH-18; strings are returned unchanged. */
export function decodeInput(
  input: string | Uint8Array,
  options: ParseOptions,
): { text: string; map: OffsetMap } {
  const max = options.maxSize ?? DEFAULT_MAX_SIZE
  if (typeof input === 'string') {
    checkSize(input.length, max, 'characters')
    // A byte-order mark is not part of the message.
    if (input.charCodeAt(0) === 0xfeff) return { text: input.slice(1), map: (o) => o + 1 }
    return { text: input, map: identity }
  }
  if (!(input instanceof Uint8Array)) {
    throw new Hl7ParseError(
      'HL7_MISSING_MSH',
      `Input is ${input === null ? 'null' : typeof input}; expected a string or a Uint8Array`,
    )
  }
  checkSize(input.byteLength, max, 'bytes')
  const declared = options.charset ?? sniffCharset(input)
  const label = resolveCharset(declared ?? '')
  let bytes = input
  let bom = 0
  if (label === 'utf-8' && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
    bytes = input.subarray(3)
    bom = 3
  }
  const text = decodeBytes(bytes, label, declared !== undefined)
  // One character per byte (Latin-1, other single-byte sets, pure ASCII): offsets are equal.
  const single = text.length === bytes.byteLength
  // UTF-8 offsets are re-encoded to bytes (only when an error is reported). Node cannot encode the
  // other multi-byte sets (GB 18030, Big5, EUC-KR, ISO-2022-JP), so for them offsets stay in
  // characters.
  const map: OffsetMap =
    single || label !== 'utf-8'
      ? (o) => o + bom
      : (o) => Buffer.byteLength(text.slice(0, o), 'utf8') + bom
  return { text, map }
}

const STANDARD = readEncoding('|', '^~\\&')
const STANDARD_V27 = readEncoding('|', '^~\\&#')

function where(
  scan: ScannedText,
  map: OffsetMap,
  segment: number,
  within = 0,
): { offset: number; segment: number } {
  const base = scan.origin !== undefined ? scan.origin[segment]! : scan.starts[segment]!
  return { offset: map(base + within), segment: segment + 1 }
}

/** Reads the delimiters from the header segment (MSH, FHS or BHS) at `index` of `scan`. */
export function headerEncoding(scan: ScannedText, map: OffsetMap, index: number): Encoding {
  const src = scan.src
  const start = scan.starts[index]!
  const end = scan.ends[index]!
  const name = src.slice(start, start + 3)
  if (end - start < 4) {
    throw new Hl7ParseError(
      'HL7_BAD_ENCODING_CHARS',
      `${name} segment ${index + 1} ends after its ID; expected ${name}-1 (field separator) and ` +
        `${name}-2 (encoding characters) such as "${name}|^~\\&"`,
      where(scan, map, index, 3),
    )
  }
  // Fast path for the standard delimiters, which nearly every message uses: no slicing, no lookup.
  if (src.startsWith('|^~\\&', start + 3)) {
    const c = src.charCodeAt(start + 8)
    if (start + 8 === end || c === 124) return STANDARD
    if (c === 35 && (start + 9 === end || src.charCodeAt(start + 9) === 124)) return STANDARD_V27
  }
  const fs = src.charAt(start + 3)
  let charsEnd = src.indexOf(fs, start + 4)
  if (charsEnd === -1 || charsEnd > end) charsEnd = end
  return readEncoding(fs, src.slice(start + 4, charsEnd), {
    ...where(scan, map, index, 3),
    name,
  })
}

/** Checks that every segment ID is valid and returns the IDs in order. */
export function segmentNames(scan: ScannedText, fs: string, map: OffsetMap): string[] {
  const { src, starts, ends } = scan
  const names = new Array<string>(starts.length)
  const fsCode = fs.charCodeAt(0)
  for (let i = 0; i < starts.length; i++) {
    const s = starts[i]!
    const e = ends[i]!
    const c0 = src.charCodeAt(s)
    const c1 = src.charCodeAt(s + 1)
    const c2 = src.charCodeAt(s + 2)
    // [A-Z][A-Z0-9]{2}, followed by the field separator or the end of the segment.
    const ok =
      e - s >= 3 &&
      c0 >= 65 &&
      c0 <= 90 &&
      ((c1 >= 65 && c1 <= 90) || (c1 >= 48 && c1 <= 57)) &&
      ((c2 >= 65 && c2 <= 90) || (c2 >= 48 && c2 <= 57)) &&
      (e - s === 3 || src.charCodeAt(s + 3) === fsCode)
    if (!ok) {
      throw new Hl7ParseError(
        'HL7_BAD_SEGMENT_NAME',
        `Segment ${i + 1} starts with ${quote(src.slice(s, Math.min(e, s + 20)))}; expected a ` +
          `segment ID of three upper-case letters or digits followed by ${quote(fs)}`,
        where(scan, map, i),
      )
    }
    names[i] = src.slice(s, s + 3)
  }
  return names
}

/**
 * Parses one HL7 v2 message. Byte input is decoded by MSH-18 (or `options.charset`); delimiters
 * come from MSH-1/MSH-2. Throws Hl7ParseError for input that is not a message.
 * @example parseMessage('MSH|^~\\&|LAB|…\rPID|1||123^^^NHS||Smith^John\r').get('PID-5.2') // 'John'
 */
export function parseMessage(input: string | Uint8Array, options: ParseOptions = {}): Message {
  const { text, map } = decodeInput(input, options)
  const scan = scanSegments(text)
  const { src, starts } = scan
  if (starts.length === 0) {
    throw new Hl7ParseError(
      'HL7_MISSING_MSH',
      'Input is empty; expected a message starting with MSH',
      {
        offset: 0,
      },
    )
  }
  const first = starts[0]!
  if (!src.startsWith('MSH', first)) {
    throw new Hl7ParseError(
      'HL7_MISSING_MSH',
      `Message starts with ${quote(src.slice(first, Math.min(scan.ends[0]!, first + 20)))}; expected ` +
        `the MSH segment first`,
      where(scan, map, 0),
    )
  }
  const encoding = headerEncoding(scan, map, 0)
  const names = segmentNames(scan, encoding.field, map)
  for (let i = 1; i < names.length; i++) {
    if (names[i] === 'MSH') {
      throw new Hl7ParseError(
        'HL7_MULTIPLE_MESSAGES',
        `Segment ${i + 1} is a second MSH; expected one message (use parseBatch for several)`,
        where(scan, map, i),
      )
    }
  }
  return new Message(src, encoding, names, starts, scan.ends, scan.trailing)
}
