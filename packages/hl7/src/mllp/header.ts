// Just enough of the MSH segment (HL7 v2.5 ch. 2, 2.14.9 "MSH - message header segment") for the
// transport to address an ACK or NAK and to match ACKs to messages, read without the full parser:
// the server must be able to NAK bytes the parser refuses, and the client reads MSH-10 of every
// message it sends and MSA-1/MSA-2 of every ACK it receives on the hot path.
//
// Values are returned raw: still escaped, not split into components, decoded as Latin-1 so that
// every byte maps to one char and back (`Buffer.from(value, 'latin1')` gives the original bytes
// whatever MSH-18 says). Comparing raw MSH-10 with raw MSA-2 is exact.
// What it does not do: unescape, validate field contents or look past MSH and MSA.

/** The MSH fields the transport needs, raw (escaped, Latin-1 code units = bytes). */
export interface MllpHeader {
  /** MSH-1, the field separator. */
  readonly fieldSeparator: string
  /** MSH-2, the encoding characters (component, repetition, escape, sub-component [, truncation]). */
  readonly encodingCharacters: string
  /** MSH-3. */
  readonly sendingApplication: string
  /** MSH-4. */
  readonly sendingFacility: string
  /** MSH-5. */
  readonly receivingApplication: string
  /** MSH-6. */
  readonly receivingFacility: string
  /** MSH-9, whole (e.g. `ADT^A01^ADT_A01`). */
  readonly messageType: string
  /** MSH-9.2, the trigger event (e.g. `A01`), or '' if absent. */
  readonly triggerEvent: string
  /** MSH-10, the message control id. */
  readonly controlId: string
  /** MSH-11, the processing id (e.g. `P`). */
  readonly processingId: string
  /** MSH-12.1, the version id (e.g. `2.5.1`). */
  readonly version: string
  /** MSH-15, accept acknowledgment type (AL/NE/ER/SU); non-empty with MSH-16 means enhanced mode. */
  readonly acceptAckType: string
  /** MSH-16, application acknowledgment type. */
  readonly applicationAckType: string
  /** MSH-18.1, the character set (e.g. `UNICODE UTF-8`, `8859/1`), or '' if unset. */
  readonly charset: string
  /** Whether MSH-15 or MSH-16 is valued: the sender asked for enhanced acknowledgment mode. */
  readonly enhancedMode: boolean
}

/** Why {@link readHeader} could not read a header. */
export interface MllpHeaderProblem {
  /** HL7 table 0357 error code to put in the NAK's ERR segment (100 or 101). */
  readonly errorCode: 100 | 101
  /** What was wrong, for the ERR segment and for logs. */
  readonly text: string
  /** The part of the header that could be read (for addressing the NAK), if any. */
  readonly partial: MllpHeader | undefined
}

// The MSH segment is short; looking no further than this keeps a garbage frame from costing a
// full scan.
const MAX_HEADER_CHARS = 65536
const FIRST_LOOK_CHARS = 2048

// MSH-1 must be a printable, non-alphanumeric character (HL7 v2.5 ch. 2, 2.5.4 and 2.14.9.1).
function isSeparatorCode(c: number): boolean {
  const alphanumeric =
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
  return c > 0x20 && c !== 0x7f && !alphanumeric
}

function isSeparator(ch: string): boolean {
  return ch.length === 1 && isSeparatorCode(ch.charCodeAt(0))
}

function segmentEnd(text: string, from: number): number {
  const cr = text.indexOf('\r', from)
  const lf = text.indexOf('\n', from)
  if (cr === -1) return lf === -1 ? text.length : lf
  return lf === -1 ? cr : Math.min(cr, lf)
}

// Up to which component separator a value is kept (MSH-12.1, MSH-18.1), or the 2nd component.
function firstComponent(value: string, component: string): string {
  const at = value.indexOf(component)
  return at === -1 ? value : value.slice(0, at)
}

function secondComponent(value: string, component: string): string {
  const at = value.indexOf(component)
  if (at === -1) return ''
  const next = value.indexOf(component, at + 1)
  return next === -1 ? value.slice(at + 1) : value.slice(at + 1, next)
}

// Builds the header from the MSH line `line` (MSH at `start`, no terminator). The separators are
// located with indexOf and only the needed fields are cut out (the slow path: strings, batch
// headers, leading blank lines; bytes that start with MSH take readHeaderBytes).
function headerFromLine(line: string, start: number, fs: string): MllpHeader {
  // seps[k] is the index of the separator that precedes MSH-(k + 2); seps[0] is MSH-1 itself.
  const seps = [start + 3]
  for (let at = line.indexOf(fs, start + 4); at !== -1 && seps.length < 18;) {
    seps.push(at)
    at = line.indexOf(fs, at + 1)
  }
  return headerFromSeparators(line, fs, seps, seps.length, 0)
}

// Builds the header from `line` and the positions of its separators: sep[k] (k < count) is the
// index of the separator before MSH-(k + 2), counted from `base` (line index = sep - base).
// `sep` holds at least MSH-1's own position.
function headerFromSeparators(
  line: string,
  fs: string,
  sep: ArrayLike<number>,
  count: number,
  base: number,
): MllpHeader {
  const f = (n: number): string => {
    if (n - 2 >= count) return ''
    const from = (sep[n - 2] ?? 0) - base + 1
    return n - 1 < count ? line.slice(from, (sep[n - 1] ?? 0) - base) : line.slice(from)
  }
  const encodingCharacters = f(2)
  const component = encodingCharacters.charAt(0) || '^'
  const messageType = f(9)
  const acceptAckType = f(15)
  const applicationAckType = f(16)
  return {
    fieldSeparator: fs,
    encodingCharacters,
    sendingApplication: f(3),
    sendingFacility: f(4),
    receivingApplication: f(5),
    receivingFacility: f(6),
    messageType,
    triggerEvent: secondComponent(messageType, component),
    controlId: f(10),
    processingId: f(11),
    version: firstComponent(f(12), component),
    acceptAckType,
    applicationAckType,
    charset: firstComponent(f(18), component),
    enhancedMode: acceptAckType !== '' || applicationAckType !== '',
  }
}

function asBuffer(message: Uint8Array): Buffer {
  return Buffer.isBuffer(message)
    ? message
    : Buffer.from(message.buffer, message.byteOffset, message.byteLength)
}

/**
 * What {@link scanMsh} found: `[0..17]` the positions of the separators before MSH-2 ... MSH-19
 * (`[0]` is MSH-1 itself, 3 bytes after the MSH segment's start), `[MSH_SEPARATORS]` how many of
 * them the line has (at most 18), `[MSH_LINE_END]` where the MSH line ends (its CR/LF, or the end
 * of what was scanned). Filled and read synchronously by one caller (no await in between), so one
 * module-level array serves every connection without allocating.
 * @internal
 */
export const MSH_SCAN = new Int32Array(20)
/** Index in {@link MSH_SCAN} of the separator count. @internal */
export const MSH_SEPARATORS = 18
/** Index in {@link MSH_SCAN} of the line end. @internal */
export const MSH_LINE_END = 19

/**
 * One pass over the bytes of the MSH line at the start of `buf` (after optional whitespace),
 * recording its separators and its end in {@link MSH_SCAN}. False when the bytes do not start
 * with MSH and a valid field separator (the caller then takes the general path). This is all the
 * reading the transport does per message on its fast paths: no string is made.
 * @internal
 */
export function scanMsh(buf: Buffer): boolean {
  const n = Math.min(buf.length, MAX_HEADER_CHARS)
  let start = 0
  while (start < n && (buf[start] ?? 0) <= 0x20) start++
  if (buf[start] !== 0x4d || buf[start + 1] !== 0x53 || buf[start + 2] !== 0x48) return false
  const fs = buf[start + 3]
  if (fs === undefined || !isSeparatorCode(fs)) return false
  const scan = MSH_SCAN
  scan[0] = start + 3
  let count = 1
  let end = start + 4
  for (; end < n; end++) {
    const c = buf[end]
    if (c === fs) {
      if (count < 18) scan[count++] = end
    } else if (c === 0x0d || c === 0x0a) break
  }
  scan[MSH_SEPARATORS] = count
  scan[MSH_LINE_END] = end
  return true
}

/**
 * Whether the MSH line described by {@link MSH_SCAN} passes the checks of `readHeader` (MSH-2 of
 * at least two characters, MSH-9 and MSH-10 valued).
 * @internal
 */
export function scannedHeaderIsUsable(): boolean {
  const scan = MSH_SCAN
  const count = scan[MSH_SEPARATORS] ?? 0
  const end = scan[MSH_LINE_END] ?? 0
  const at = (k: number): number => (k < count ? (scan[k] ?? 0) : end)
  // MSH-2 two characters or more; MSH-9 and MSH-10 present (count >= 9) and valued.
  return count >= 9 && at(1) - at(0) > 2 && at(8) - at(7) > 1 && at(9) - at(8) > 1
}

// The fast path for bytes that start with MSH (after optional whitespace), which is every frame
// a well-behaved peer sends: one pass over the MSH line's bytes records the separators (up to
// MSH-18) and finds the line end, then the line alone is decoded once and the fields are slices
// of it. About half the cost of decoding the line first and searching it with indexOf.
// Returns undefined when the bytes need the general path.
function readHeaderBytes(buf: Buffer): MllpHeader | MllpHeaderProblem | undefined {
  if (!scanMsh(buf)) return undefined
  const scan = MSH_SCAN
  const start = (scan[0] ?? 0) - 3
  const line = buf.toString('latin1', start, scan[MSH_LINE_END])
  return checkHeader(
    headerFromSeparators(line, line.charAt(3), scan, scan[MSH_SEPARATORS] ?? 1, start),
  )
}

function toLatin1(message: string | Uint8Array, limit: number): string {
  if (typeof message === 'string') return message.length > limit ? message.slice(0, limit) : message
  const buf = Buffer.isBuffer(message)
    ? message
    : Buffer.from(message.buffer, message.byteOffset, message.byteLength)
  return buf.toString('latin1', 0, Math.min(buf.length, limit))
}

/**
 * Reads the MSH segment at the start of `message` (leading CR/LF and whitespace skipped).
 * Returns the header, or a problem saying what was wrong when there is no usable MSH: not
 * starting with MSH, bad separators, or MSH-9/MSH-10 empty.
 */
export function readHeader(message: string | Uint8Array): MllpHeader | MllpHeaderProblem {
  if (typeof message !== 'string') {
    const fast = readHeaderBytes(asBuffer(message))
    if (fast !== undefined) return fast
  }
  // Slow path (batch headers, garbage, strings): decode a short prefix first; only a header
  // longer than that costs a second, longer decode.
  const length = typeof message === 'string' ? message.length : message.byteLength
  let text = toLatin1(message, FIRST_LOOK_CHARS)
  if (length > FIRST_LOOK_CHARS && segmentEnd(text, text.indexOf('MSH') + 1) === text.length) {
    text = toLatin1(message, MAX_HEADER_CHARS)
  }
  let start = 0
  while (start < text.length && text.charCodeAt(start) <= 0x20) start++
  if (text.startsWith('FHS', start) || text.startsWith('BHS', start)) {
    // A batch: the first message's MSH addresses the ACK.
    const msh = text.indexOf('MSH', start)
    if (msh !== -1) start = msh
  }
  if (!text.startsWith('MSH', start)) {
    const seen = JSON.stringify(text.slice(start, start + 20))
    return {
      errorCode: 100,
      text: `expected the message to start with an MSH segment, found ${seen}`,
      partial: undefined,
    }
  }
  const fs = text.charAt(start + 3)
  if (!isSeparator(fs)) {
    return {
      errorCode: 100,
      text: `MSH-1 (field separator) is missing or invalid: ${JSON.stringify(fs)}`,
      partial: undefined,
    }
  }
  const end = segmentEnd(text, start)
  return checkHeader(headerFromLine(end === text.length ? text : text.slice(0, end), start, fs))
}

// The checks that make a header usable for addressing an ACK and matching it.
function checkHeader(header: MllpHeader): MllpHeader | MllpHeaderProblem {
  const fs = header.fieldSeparator
  if (header.encodingCharacters.length < 2 || header.encodingCharacters.includes(fs)) {
    return {
      errorCode: 100,
      text: `MSH-2 (encoding characters) is invalid: ${JSON.stringify(header.encodingCharacters)}`,
      partial: { ...header, encodingCharacters: '^~\\&' },
    }
  }
  if (header.messageType === '') {
    return { errorCode: 101, text: 'MSH-9 (message type) is empty', partial: header }
  }
  if (header.controlId === '') {
    return { errorCode: 101, text: 'MSH-10 (message control id) is empty', partial: header }
  }
  return header
}

/**
 * MSH-10 of `message` (raw, Latin-1), or the problem `readHeader` would report. Same answer as
 * `readHeader(message).controlId`, cheaper: for a message that starts with MSH it only locates the
 * separators up to MSH-10 in the bytes and decodes MSH-10 alone (the client's per-message path).
 */
export function readControlId(message: Uint8Array): string | MllpHeaderProblem {
  const buf = asBuffer(message)
  const fs = buf[3]
  if (
    buf[0] === 0x4d &&
    buf[1] === 0x53 &&
    buf[2] === 0x48 &&
    fs !== undefined &&
    isSeparatorCode(fs)
  ) {
    // One pass over the MSH line up to the separator after MSH-10: p2 ends MSH-2, p8..p10 are the
    // separators before MSH-9, MSH-10 and after MSH-10 (or the line end).
    const n = Math.min(buf.length, MAX_HEADER_CHARS)
    let p2 = -1
    let p8 = -1
    let p9 = -1
    let p10 = -1
    let count = 0
    let i = 4
    for (; i < n; i++) {
      const c = buf[i]
      if (c === fs) {
        count++
        if (count === 1) p2 = i
        else if (count === 7) p8 = i
        else if (count === 8) p9 = i
        else if (count === 9) {
          p10 = i
          break
        }
      } else if (c === 0x0d || c === 0x0a) break
    }
    if (p10 === -1 && count === 8) p10 = i
    // The common case: MSH-2 usable, MSH-9 (p8, p9) and MSH-10 (p9, p10) valued, on the MSH line.
    if (p2 - 4 >= 2 && p9 - p8 > 1 && p10 - p9 > 1) {
      return buf.toString('latin1', p9 + 1, p10)
    }
  }
  // Anything else (leading blank lines, batch headers, problems): the full reading decides.
  const header = readHeader(buf)
  return isHeaderProblem(header) ? header : header.controlId
}

/** Whether a {@link readHeader} result is a problem rather than a header. */
export function isHeaderProblem(
  result: MllpHeader | MllpHeaderProblem,
): result is MllpHeaderProblem {
  return 'errorCode' in result
}

/** MSA fields of an ACK, raw. */
export interface MllpAckFields {
  /** MSA-1, the acknowledgment code (AA, AE, AR, CA, CE, CR, or whatever the peer sent). */
  readonly code: string
  /** MSA-2, the control id of the message being acknowledged. */
  readonly controlId: string
  /** MSA-3, the text message (deprecated since v2.5 but still sent by many systems), or ''. */
  readonly text: string
}

/**
 * Finds the MSA segment of an ACK and returns MSA-1..3 raw, or undefined when there is no MSH or
 * no MSA. The field separator comes from the ACK's own MSH-1.
 */
export function readAckFields(ack: string | Uint8Array): MllpAckFields | undefined {
  if (typeof ack !== 'string') return readAckFieldsFromBytes(ack)
  const text = ack.length > MAX_HEADER_CHARS ? ack.slice(0, MAX_HEADER_CHARS) : ack
  const msh = text.indexOf('MSH')
  if (msh === -1) return undefined
  const fs = text.charAt(msh + 3)
  if (!isSeparator(fs)) return undefined
  let at = msh
  for (;;) {
    at = text.indexOf('MSA' + fs, at + 1)
    if (at === -1) return undefined
    const before = text.charCodeAt(at - 1)
    if (before === 0x0d || before === 0x0a) break
  }
  const fields = text.slice(at + 4, segmentEnd(text, at)).split(fs)
  return { code: fields[0] ?? '', controlId: fields[1] ?? '', text: fields[2] ?? '' }
}

const MSH_BYTES = Buffer.from('MSH')

/**
 * Where MSA-1..3 lie in an ACK's bytes, as found by {@link locateAckFields}: `[code start, code
 * end, control id start, control id end, text start, text end]` (end exclusive; start = end for an
 * absent field). Overwritten by every call: read it before the next one.
 * @internal
 */
export const ACK_FIELD_SPANS = new Int32Array(6)

/**
 * The byte-level reading behind readAckFields, for received frames (the client's hot path): finds
 * the MSA segment and records where MSA-1..3 lie in {@link ACK_FIELD_SPANS} without decoding
 * anything, so that the client can match MSA-2 against the MSH-10 it sent byte by byte and decode
 * only what it keeps; a long ACK (many ERR segments, long texts) costs no more than a short one.
 * Returns false when there is no MSH or no MSA.
 * @internal
 */
export function locateAckFields(buf: Buffer): boolean {
  const limit = Math.min(buf.length, MAX_HEADER_CHARS)
  const msh = buf[0] === 0x4d && buf[1] === 0x53 && buf[2] === 0x48 ? 0 : buf.indexOf(MSH_BYTES)
  if (msh === -1 || msh + 3 >= limit) return false
  const fs = buf[msh + 3]
  if (fs === undefined || !isSeparatorCode(fs)) return false
  // MSA counts only at a segment start: right after a CR or LF that follows the MSH.
  let at = -1
  for (let i = msh; i + 4 < limit; i++) {
    const c = buf[i]
    if (
      (c === 0x0d || c === 0x0a) &&
      buf[i + 1] === 0x4d &&
      buf[i + 2] === 0x53 &&
      buf[i + 3] === 0x41 &&
      buf[i + 4] === fs
    ) {
      at = i + 1
      break
    }
  }
  if (at === -1) return false
  const spans = ACK_FIELD_SPANS
  // Absent fields are empty spans (start = end); six stores are cheaper than TypedArray#fill.
  spans[0] = spans[1] = spans[2] = spans[3] = spans[4] = spans[5] = 0
  let from = at + 4
  for (let k = 0; k < 3 && from <= limit; k++) {
    let to = from
    while (to < limit) {
      const c = buf[to]
      if (c === fs || c === 0x0d || c === 0x0a) break
      to++
    }
    spans[2 * k] = from
    spans[2 * k + 1] = to
    if (to >= limit || buf[to] !== fs) break
    from = to + 1
  }
  return true
}

function readAckFieldsFromBytes(ack: Uint8Array): MllpAckFields | undefined {
  const buf = asBuffer(ack)
  if (!locateAckFields(buf)) return undefined
  const [codeFrom = 0, codeTo = 0, idFrom = 0, idTo = 0, textFrom = 0, textTo = 0] = ACK_FIELD_SPANS
  return {
    code: buf.toString('latin1', codeFrom, codeTo),
    controlId: buf.toString('latin1', idFrom, idTo),
    text: buf.toString('latin1', textFrom, textTo),
  }
}
