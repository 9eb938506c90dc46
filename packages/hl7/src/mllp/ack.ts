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
import type { MllpHeader } from './header.js'

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

function nextControlId(): string {
  idCounter = (idCounter + 1) % 36 ** 10
  return 'LI' + idPrefix + idCounter.toString(36)
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
