// Transport-level acknowledgments (HL7 v2.5 ch. 2, 2.9 "Message processing rules", 2.14.8 "MSA",
// 2.14.5 "ERR"; HL7 table 0008 acknowledgment codes, table 0357 error codes).
//
// The MLLP server answers some frames itself: input it cannot hand to the application (no MSH,
// oversize frame) gets AR/CR, a failing handler gets AE/CE, and a handler that returns nothing gets
// an AA/CA. Those ACKs are built here from the raw MSH fields read by `readHeader`, without the
// full message parser, because the inbound bytes may be exactly what the parser refuses.
//
// What it does not do: application ACKs with content beyond MSH/MSA/ERR; for those use the
// model's `createAck(message, code, options)` in the handler.
import { HL7_ERROR_CODES } from '../ack.js'
import type { Hl7ErrorConditionCode } from '../ack.js'
import { MSH_LINE_END, MSH_SCAN, MSH_SEPARATORS, scanMsh, scannedHeaderIsUsable } from './header.js'
import type { MllpHeader } from './header.js'
import { MLLP_CARRIAGE_RETURN, MLLP_END_BLOCK } from './frame.js'

/** HL7 table 0008 acknowledgment codes: original mode (A*) and enhanced mode commit (C*). */
export type MllpAckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR'

/** Options of {@link buildMllpAck}. */
export interface MllpAckOptions {
  /** Human-readable text for ERR-8 (and MSA-3 before v2.7); escaped and truncated here. */
  readonly text?: string
  /** HL7 table 0357 error code for the ERR segment (default 207 "Application internal error"). */
  readonly errorCode?: Hl7ErrorConditionCode
}

// MSH-10 of generated ACKs: a random per-process prefix plus a counter, both base 36, so ids are
// unique across restarts in practice and stay within the 20 characters of MSH-10 before v2.7.
const idPrefix = Math.floor(Math.random() * 36 ** 6)
  .toString(36)
  .padStart(6, '0')
let idCounter = 0

const ID_COUNTER_LIMIT = 36 ** 10

// Wraps at 36^10 (10 base-36 digits); a comparison, not `%`, which on a counter past 2^31 is a
// floating-point fmod per ACK.
function nextCounter(): number {
  idCounter = idCounter + 1 >= ID_COUNTER_LIMIT ? 0 : idCounter + 1
  return idCounter
}

function nextControlId(): string {
  return 'LI' + idPrefix + nextCounter().toString(36)
}

// The timestamp changes once a second; formatting it once per second instead of once per ACK
// keeps Date formatting off the hot path.
let stampSecond = -1
let stamp = ''

function timestamp(): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== stampSecond) {
    stampSecond = second
    const iso = new Date(second * 1000).toISOString() // 2026-11-27T13:45:00.000Z
    stamp =
      iso.slice(0, 4) +
      iso.slice(5, 7) +
      iso.slice(8, 10) +
      iso.slice(11, 13) +
      iso.slice(14, 16) +
      iso.slice(17, 19) +
      '+0000'
  }
  return stamp
}

function escapeText(text: string, fs: string, enc: string, max: number): string {
  const [component = '^', repetition = '~', escape = '\\', subcomponent = '&'] = enc
  let out = ''
  for (const ch of text.length > max ? text.slice(0, max) : text) {
    if (ch === escape) out += escape + 'E' + escape
    else if (ch === fs) out += escape + 'F' + escape
    else if (ch === component) out += escape + 'S' + escape
    else if (ch === repetition) out += escape + 'R' + escape
    else if (ch === subcomponent) out += escape + 'T' + escape
    else if (ch === '\r' || ch === '\n') out += ' '
    // Latin-1 output (see buildMllpAck): anything outside printable ASCII becomes '?'.
    else if (ch < ' ' || ch > '~') out += '?'
    else out += ch
  }
  return out
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = '0', b = '0'] = version.split('.')
  const x = Number(a)
  const y = Number(b)
  return x > major || (x === major && y >= minor)
}

/**
 * Builds an ACK for a message whose MSH fields are `header` (or a generic one if undefined):
 * sender and receiver swapped, MSH-9 `ACK^<trigger>^ACK`, a new MSH-10, same processing id,
 * version and charset, MSA-2 = the original MSH-10, and an ERR segment on errors.
 * The result is in Latin-1 code units (the inbound raw fields are copied byte for byte): encode it
 * with `'latin1'`.
 * @example buildMllpAck(readHeader(frame), 'AR', { text: 'MSH-10 is empty', errorCode: 101 })
 */
export function buildMllpAck(
  header: MllpHeader | undefined,
  code: MllpAckCode,
  options: MllpAckOptions = {},
): string {
  const fs = header?.fieldSeparator ?? '|'
  const enc =
    header !== undefined && header.encodingCharacters.length >= 2
      ? header.encodingCharacters
      : '^~\\&'
  const component = enc.charAt(0)
  const version = header?.version || '2.5.1'
  // Runs once per message on the server's fast path (ctx.ack, auto-ACK): about 1 us including
  // the Latin-1 encoding, measured on this machine with the benchmark corpus.
  let msh =
    'MSH' +
    fs +
    enc +
    fs +
    (header?.receivingApplication ?? '') +
    fs +
    (header?.receivingFacility ?? '') +
    fs +
    (header?.sendingApplication ?? '') +
    fs +
    (header?.sendingFacility ?? '') +
    fs +
    timestamp() +
    fs +
    fs +
    'ACK' +
    component +
    (header?.triggerEvent ?? '') +
    component +
    'ACK' +
    fs +
    nextControlId() +
    fs +
    (header?.processingId || 'P') +
    fs +
    version
  // MSH-13..17 empty, MSH-18 the inbound charset (the copied fields are in it).
  if (header !== undefined && header.charset !== '') msh += fs.repeat(6) + header.charset
  const isError = code !== 'AA' && code !== 'CA'
  const text = options.text === undefined ? '' : options.text
  let msa = 'MSA' + fs + code + fs + (header?.controlId ?? '')
  // Like the model's createAck: MSA-3 (deprecated since v2.5) only for v2.3/2.4 receivers.
  if (isError && text !== '' && !versionAtLeast(version, 2, 5)) {
    msa += fs + escapeText(text, fs, enc, 80)
  }
  let ack = msh + '\r' + msa + '\r'
  if (isError || options.errorCode !== undefined) {
    const errorCode = String(options.errorCode ?? 207)
    const errorText = HL7_ERROR_CODES[options.errorCode ?? 207]
    const sub = enc.charAt(3) || '&'
    if (versionAtLeast(version, 2, 5)) {
      // ERR-3 code^text^HL70357, ERR-4 severity, ERR-8 user message.
      const err = ['ERR', '', '', [errorCode, errorText, 'HL70357'].join(component), 'E']
      if (text !== '') err.push('', '', '', escapeText(text, fs, enc, 250))
      ack += err.join(fs) + '\r'
    } else {
      // Before v2.5: ERR-1 ELD, its 4th component the code as a CE in sub-components.
      ack +=
        ['ERR', component.repeat(3) + [errorCode, errorText, 'HL70357'].join(sub)].join(fs) + '\r'
    }
  }
  return ack
}

// Byte helpers of buildAckFrameFromBytes: fields are short, so a plain loop beats the fixed cost
// of Buffer#copy / Buffer#write per call.
function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, pos: number): number {
  for (let i = from; i < to; i++) dst[pos++] = src[i] ?? 0
  return pos
}

// Index of the first byte equal to `c` in [from, to), or `to`.
function find(buf: Buffer, c: number, from: number, to: number): number {
  let i = from
  while (i < to && buf[i] !== c) i++
  return i
}

// Constant pieces of the ACK, and the timestamp as bytes (re-encoded when the second changes).
const ACK_MSH = Buffer.from('\x0bMSH', 'latin1')
const ACK_TYPE = Buffer.from('ACK', 'latin1')
const ACK_MSA = Buffer.from('\rMSA', 'latin1')
const DEFAULT_VERSION = Buffer.from('2.5.1', 'latin1')
const ID_PREFIX = Buffer.from('LI' + idPrefix, 'latin1')
const DIGITS36 = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz', 'latin1')
let stampBytesSecond = -1
let stampBytes = Buffer.alloc(0)

function timestampBytes(): Buffer {
  const text = timestamp()
  if (stampSecond !== stampBytesSecond) {
    stampBytesSecond = stampSecond
    stampBytes = Buffer.from(text, 'latin1')
  }
  return stampBytes
}

// Digits of `n` in base 36 (as nextControlId writes them).
function base36Length(n: number): number {
  let length = 1
  while (n >= 36) {
    n = Math.floor(n / 36)
    length++
  }
  return length
}

/**
 * The server's fast path for `ctx.ack('AA')` / `ctx.ack('CA')` and its own AA/CA: the same ACK as
 * `encodeFrame(buildMllpAck(readHeader(message), code), 'latin1')`, framed, but built straight
 * from the message's bytes (the copied MSH fields are byte ranges of the MSH line), so no header
 * object and no string is made per message. Undefined when the message needs the general path
 * (no MSH at its start, or a header `readHeader` would refuse).
 * @internal
 */
export function buildAckFrameFromBytes(message: Buffer, code: 'AA' | 'CA'): Buffer | undefined {
  if (!scanMsh(message) || !scannedHeaderIsUsable()) return undefined
  const scan = MSH_SCAN
  const count = scan[MSH_SEPARATORS] ?? 0
  const end = scan[MSH_LINE_END] ?? 0
  // sep(k): the separator before MSH-(k + 2), or the line end past the last one; MSH-n spans
  // [sep(n - 2) + 1, sep(n - 1)). A usable header has count >= 9: MSH-2..MSH-10 are all there.
  const sep = (k: number): number => (k < count ? (scan[k] ?? 0) : end)
  const fs = message[scan[0] ?? 0] ?? 0x7c
  const s1 = sep(1) // end of MSH-2
  const s2 = sep(2)
  const s3 = sep(3)
  const s4 = sep(4)
  const s5 = sep(5) // end of MSH-6
  const s7 = sep(7) // before MSH-9
  const s8 = sep(8) // end of MSH-9
  const s9 = sep(9) // end of MSH-10
  const s10 = sep(10) // end of MSH-11
  const s11 = sep(11) // end of MSH-12
  const component = message[(scan[0] ?? 0) + 1] ?? 0x5e
  // MSH-9.2 (trigger), MSH-11 (processing id), MSH-12.1 (version), MSH-18.1 (charset).
  const triggerFrom = find(message, component, s7 + 1, s8) + 1
  const triggerTo = triggerFrom > s8 ? triggerFrom : find(message, component, triggerFrom, s8)
  const processingFrom = count > 9 ? s9 + 1 : end
  const versionFrom = count > 10 ? s10 + 1 : end
  const versionTo = find(message, component, versionFrom, s11)
  const charsetFrom = count > 16 ? sep(16) + 1 : end
  const charsetTo = count > 16 ? find(message, component, charsetFrom, sep(17)) : end
  const processingLength = s10 > processingFrom ? s10 - processingFrom : 1
  const versionLength = versionTo > versionFrom ? versionTo - versionFrom : DEFAULT_VERSION.length
  const charsetLength = charsetTo > charsetFrom ? 6 + charsetTo - charsetFrom : 0
  const stamp = timestampBytes()
  const counter = nextCounter()
  const idDigits = base36Length(counter)
  const triggerLength = triggerTo > triggerFrom ? triggerTo - triggerFrom : 0
  // VT MSH | enc |5 |6 |3 |4 | stamp | | ACK ^ trigger ^ ACK | id | 11 | 12.1 [| | | | | | 18.1]
  // CR MSA | code | 10 CR FS CR
  const length =
    ACK_MSH.length +
    1 +
    (s1 - (scan[0] ?? 0) - 1) +
    (s5 - s1) +
    1 +
    stamp.length +
    2 +
    ACK_TYPE.length +
    1 +
    triggerLength +
    1 +
    ACK_TYPE.length +
    1 +
    ID_PREFIX.length +
    idDigits +
    1 +
    processingLength +
    1 +
    versionLength +
    charsetLength +
    ACK_MSA.length +
    1 +
    2 +
    (s9 - s8) +
    3
  const frame = Buffer.allocUnsafe(length)
  let pos = copyBytes(ACK_MSH, 0, ACK_MSH.length, frame, 0)
  frame[pos++] = fs
  pos = copyBytes(message, (scan[0] ?? 0) + 1, s1, frame, pos) // MSH-2
  // MSH-3..6 of the ACK are the message's MSH-5, 6, 3, 4 (sender and receiver swapped); each
  // range starts at the separator before the field.
  pos = copyBytes(message, s3, s4, frame, pos)
  pos = copyBytes(message, s4, s5, frame, pos)
  pos = copyBytes(message, s1, s2, frame, pos)
  pos = copyBytes(message, s2, s3, frame, pos)
  frame[pos++] = fs
  pos = copyBytes(stamp, 0, stamp.length, frame, pos)
  frame[pos++] = fs
  frame[pos++] = fs
  pos = copyBytes(ACK_TYPE, 0, 3, frame, pos)
  frame[pos++] = component
  if (triggerTo > triggerFrom) pos = copyBytes(message, triggerFrom, triggerTo, frame, pos)
  frame[pos++] = component
  pos = copyBytes(ACK_TYPE, 0, 3, frame, pos)
  frame[pos++] = fs
  pos = copyBytes(ID_PREFIX, 0, ID_PREFIX.length, frame, pos)
  // The counter may exceed 2^31, so its digits come from float division, not `%` (fmod).
  for (let n = counter, i = pos + idDigits - 1; i >= pos; i--) {
    const quotient = Math.floor(n / 36)
    frame[i] = DIGITS36[n - quotient * 36] ?? 0x30
    n = quotient
  }
  pos += idDigits
  frame[pos++] = fs
  if (s10 > processingFrom) pos = copyBytes(message, processingFrom, s10, frame, pos)
  else frame[pos++] = 0x50 // P
  frame[pos++] = fs
  if (versionTo > versionFrom) pos = copyBytes(message, versionFrom, versionTo, frame, pos)
  else pos = copyBytes(DEFAULT_VERSION, 0, DEFAULT_VERSION.length, frame, pos)
  if (charsetLength > 0) {
    for (let i = 0; i < 6; i++) frame[pos++] = fs
    pos = copyBytes(message, charsetFrom, charsetTo, frame, pos)
  }
  pos = copyBytes(ACK_MSA, 0, ACK_MSA.length, frame, pos)
  frame[pos++] = fs
  frame[pos++] = code.charCodeAt(0)
  frame[pos++] = code.charCodeAt(1)
  pos = copyBytes(message, s8, s9, frame, pos) // fs + MSH-10
  frame[pos++] = MLLP_CARRIAGE_RETURN
  frame[pos++] = MLLP_END_BLOCK
  frame[pos++] = MLLP_CARRIAGE_RETURN
  return frame
}
