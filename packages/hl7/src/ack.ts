// Acknowledgements (HL7 v2.5.1 chapter 2, sections 2.9 and 2.14: MSA, ERR; table 0008 for the
// acknowledgment codes, table 0357 for error codes). createAck answers a parsed message; createNak
// answers input that could not be parsed, salvaging what it can of its MSH so that the sender can
// still match the answer to what it sent.
//
// The ACK keeps the original message's delimiters, version (MSH-12) and processing ID (MSH-11),
// swaps sender and receiver (MSH-3/4 <-> MSH-5/6) and carries MSH-9 `ACK^<trigger>^ACK`. The ERR
// segment follows the v2.5+ layout (ERR-3 error code, ERR-4 severity, ERR-8 user message) and,
// for v2.3/2.4 receivers, the ELD layout in ERR-1 plus the text in MSA-3.
//
// Not done here: deciding whether a message is acceptable (the caller's, or validate()'s job).
import { randomBytes } from 'node:crypto'
import { Hl7Error } from './errors.js'
import {
  DEFAULT_ENCODING,
  encodingCharacters,
  readEncoding,
  type Encoding,
} from './parse/encoding.js'
import { escape } from './parse/escape.js'
import type { Message } from './parse/message.js'
import { parseMessage } from './parse/parse-message.js'
import { parsePath } from './parse/path.js'

/** HL7 table 0008: AA/AE/AR (original mode) and CA/CE/CR (enhanced mode, accept level). */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR'

/** HL7 table 0357 (message error condition codes), with their names from the standard. */
export const HL7_ERROR_CODES = Object.freeze({
  0: 'Message accepted',
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  104: 'Value too long',
  200: 'Unsupported message type',
  201: 'Unsupported event code',
  202: 'Unsupported processing id',
  203: 'Unsupported version id',
  204: 'Unknown key identifier',
  205: 'Duplicate key identifier',
  206: 'Application record locked',
  207: 'Application internal error',
} as const)

/** A code of HL7 table 0357. */
export type Hl7ErrorConditionCode = keyof typeof HL7_ERROR_CODES

/** Options of createAck and createNak. */
export interface AckOptions {
  /** Human-readable reason, written to ERR-8 (and MSA-3 for v2.3/2.4) on AE/AR/CE/CR. */
  text?: string
  /** HL7 table 0357 code for the ERR segment; default 207 (application internal error). */
  errorCode?: Hl7ErrorConditionCode
  /** Where the error is, as a path such as `PID-3` or `PID-3[2].1`; written to ERR-2 (or ERR-1). */
  errorLocation?: string
  /** ERR-4 severity: `E` error (default), `W` warning, `I` information, `F` fatal. */
  severity?: 'E' | 'W' | 'I' | 'F'
  /** MSH-10 of the ACK; default a new unique ID of 20 characters or fewer. */
  controlId?: string
  /** Clock for MSH-7; default the current time. */
  now?: Date
}

/** Options of createNak: AckOptions plus defaults for what could not be salvaged. */
export interface NakOptions extends AckOptions {
  /** The error that made the input unusable; its message is the default `text`. */
  error?: unknown
  /** MSH-12 to use when the input has none; default `2.5.1`. */
  version?: string
}

const ACK_CODES = new Set<string>(['AA', 'AE', 'AR', 'CA', 'CE', 'CR'])

let counter = 0
const processTag = randomBytes(3).toString('hex').toUpperCase()

/**
 * A new message control ID, unique per process and across processes with high probability:
 * time (base 36) + process-random tag + counter, at most 20 characters (the ST limit of MSH-10
 * before v2.7).
 */
export function newControlId(now: Date = new Date()): string {
  counter = (counter + 1) % 1_679_616 // 36^4
  return (
    now.getTime().toString(36).toUpperCase() +
    processTag +
    counter.toString(36).toUpperCase().padStart(4, '0')
  )
}

/** Formats `d` as an HL7 DTM in UTC: YYYYMMDDHHMMSS+0000. */
export function formatTimestamp(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return (
    p(d.getUTCFullYear(), 4) +
    p(d.getUTCMonth() + 1) +
    p(d.getUTCDate()) +
    p(d.getUTCHours()) +
    p(d.getUTCMinutes()) +
    p(d.getUTCSeconds()) +
    '+0000'
  )
}

// The MSH fields an ACK copies, as encoded text (never decoded and re-encoded).
interface HeaderFields {
  sendingApp: string
  sendingFacility: string
  receivingApp: string
  receivingFacility: string
  trigger: string
  controlId: string
  processingId: string
  version: string
  charset: string
}

function checkCode(code: string): void {
  if (!ACK_CODES.has(code)) {
    throw new Hl7Error(
      'HL7_INVALID_ARGUMENT',
      `Acknowledgment code ${JSON.stringify(code)} is not valid; expected AA, AE, AR, CA, CE or CR`,
    )
  }
}

// "2.3" and "2.4" (and 2.3.1, 2.2 …) use the ELD layout of ERR-1; everything else the v2.5 one.
function isPre25(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version)
  return m !== null && (Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 5))
}

function build(h: HeaderFields, enc: Encoding, code: string, options: AckOptions): Message {
  checkCode(code)
  const fs = enc.field
  const cs = enc.component
  const now = options.now ?? new Date()
  const controlId = escape(options.controlId ?? newControlId(now), enc)
  const isError = code !== 'AA' && code !== 'CA'
  const old = isPre25(h.version)
  const text = options.text === undefined ? '' : escape(options.text, enc)
  const msh = [
    'MSH',
    encodingCharacters(enc),
    h.receivingApp,
    h.receivingFacility,
    h.sendingApp,
    h.sendingFacility,
    formatTimestamp(now),
    '',
    `ACK${cs}${h.trigger}${cs}ACK`,
    controlId,
    h.processingId,
    h.version,
  ]
  if (h.charset !== '') {
    while (msh.length < 17) msh.push('')
    msh.push(h.charset)
  }
  const segments = [msh.join(fs)]
  const msa = ['MSA', code, h.controlId]
  if (isError && old && text !== '') msa.push(text)
  segments.push(msa.join(fs))
  if (isError) {
    const errorCode = options.errorCode ?? 207
    const name = HL7_ERROR_CODES[errorCode]
    if (name === undefined) {
      throw new Hl7Error(
        'HL7_INVALID_ARGUMENT',
        `errorCode ${String(errorCode)} is not in HL7 table 0357; expected e.g. 100, 101, 207`,
      )
    }
    const location =
      options.errorLocation === undefined ? undefined : parsePath(options.errorLocation)
    if (old) {
      // ERR-1 (ELD): segment ^ sequence ^ field position ^ code&text&HL70357
      const ss = enc.subcomponent
      const loc =
        location === undefined
          ? ['', '', '']
          : [location.segment ?? '', String(location.segmentIndex ?? 1), String(location.field)]
      segments.push(`ERR${fs}${loc.join(cs)}${cs}${errorCode}${ss}${escape(name, enc)}${ss}HL70357`)
    } else {
      // ERR-2 (ERL): segment ^ sequence ^ field ^ repetition ^ component ^ subcomponent
      const parts =
        location === undefined
          ? []
          : [
              location.segment ?? '',
              String(location.segmentIndex ?? 1),
              String(location.field),
              location.repetition === undefined ? '' : String(location.repetition),
              location.component === undefined ? '' : String(location.component),
              location.subcomponent === undefined ? '' : String(location.subcomponent),
            ]
      while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop()
      const loc = parts.join(cs)
      const err = [
        'ERR',
        '',
        loc,
        `${errorCode}${cs}${escape(name, enc)}${cs}HL70357`,
        options.severity ?? 'E',
        '',
        '',
        '',
        text,
      ]
      while (err.length > 1 && err[err.length - 1] === '') err.pop()
      segments.push(err.join(fs))
    }
  }
  return parseMessage(segments.join('\r') + '\r')
}

/**
 * Builds the acknowledgment of `message`: AA/AE/AR (original mode) or CA/CE/CR (enhanced mode,
 * accept acknowledgment). AE/AR/CE/CR get an ERR segment with `errorCode` (default 207) and `text`.
 * @example createAck(msg, 'AE', { errorCode: 101, text: 'PID-3 is required', errorLocation: 'PID-3' })
 */
export function createAck(message: Message, code: AckCode, options: AckOptions = {}): Message {
  const enc = message.encoding
  // Encoded (not unescaped) MSH fields: composites such as HD are copied exactly as they are.
  const parts = (message.segments('MSH')[0]?.toString() ?? '').split(enc.field)
  const field = (n: number): string => parts[n - 1] ?? ''
  return build(
    {
      sendingApp: field(3),
      sendingFacility: field(4),
      receivingApp: field(5),
      receivingFacility: field(6),
      trigger: escape(message.triggerEvent ?? '', enc),
      controlId: field(10),
      processingId: field(11),
      version: field(12),
      charset: field(18),
    },
    enc,
    code,
    options,
  )
}

/**
 * Builds a negative acknowledgment for input that could not be parsed (or was not given), keeping
 * MSH-3/4/5/6 (swapped), MSH-9.2, MSH-10, MSH-11, MSH-12 and MSH-18 when the MSH line can be found.
 * @example createNak(raw, 'AR', { error: e }) // MSA|AR|<MSH-10 of raw> + ERR 207
 */
export function createNak(
  raw: string | Uint8Array | undefined,
  code: AckCode,
  options: NakOptions = {},
): Message {
  checkCode(code)
  const errorText =
    options.text ?? (options.error instanceof Error ? options.error.message : undefined)
  const opts: AckOptions = { ...options, text: errorText }
  // If the input parses after all, answer it normally.
  if (raw !== undefined) {
    try {
      return createAck(parseMessage(raw), code, opts)
    } catch {
      // Expected: the input is broken; salvage what we can below.
    }
  }
  const text =
    raw === undefined ? '' : typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')
  const h: HeaderFields = {
    sendingApp: '',
    sendingFacility: '',
    receivingApp: '',
    receivingFacility: '',
    trigger: '',
    controlId: '',
    processingId: 'P',
    version: options.version ?? '2.5.1',
    charset: '',
  }
  let enc = DEFAULT_ENCODING
  const at = /(?:^|[\r\n])MSH/.exec(text.slice(0, 1 << 20))
  if (at !== null) {
    const start = at.index + (at[0].length - 3)
    let end = text.slice(start).search(/[\r\n]/)
    end = end === -1 ? text.length : start + end
    const line = text.slice(start, end)
    const fs = line.charAt(3)
    const parts = fs === '' ? [] : line.split(fs)
    let ok = false
    try {
      enc = readEncoding(fs, parts[1] ?? '')
      ok = true
    } catch {
      // Unusable delimiters: keep the defaults and escape whatever is copied.
    }
    // With the sender's delimiters fields are copied as they are; otherwise escaped as text.
    const copy = (n: number): string => {
      const v = parts[n - 1] ?? ''
      return ok ? v : escape(v, enc)
    }
    h.sendingApp = copy(3)
    h.sendingFacility = copy(4)
    h.receivingApp = copy(5)
    h.receivingFacility = copy(6)
    h.trigger = ok ? ((copy(9).split(enc.repetition)[0] ?? '').split(enc.component)[1] ?? '') : ''
    h.controlId = copy(10)
    h.processingId = copy(11) || 'P'
    h.version = copy(12) || h.version
    h.charset = ok ? copy(18) : ''
  }
  return build(h, enc, code, opts)
}
