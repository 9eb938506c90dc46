// The error classes of @li/hl7. One base class, `Hl7Error`, with a closed union of codes so that
// callers can branch on `code`; `Hl7ParseError` adds where in the input the problem was found.
// Expected findings that can be many (schema validation issues) are returned as data, not thrown.
import type { MllpErrorCode } from './mllp/errors.js'
import type { Hl7SchemaErrorCode } from './schema/errors.js'

/** Codes of errors thrown while reading or editing a message (all carried by Hl7ParseError). */
export type Hl7ParseErrorCode =
  /** The input is empty or its first segment is not MSH (or FHS/BHS/MSH for a batch). */
  | 'HL7_MISSING_MSH'
  /** MSH-1/MSH-2 do not define five distinct, usable delimiters (plus the optional `#`). */
  | 'HL7_BAD_ENCODING_CHARS'
  /** A segment ID is not three upper-case letters or digits starting with a letter. */
  | 'HL7_BAD_SEGMENT_NAME'
  /** `parseMessage` was given more than one MSH (use `parseBatch`). */
  | 'HL7_MULTIPLE_MESSAGES'
  /** A batch file's FHS/BHS/BTS/FTS segments are out of order. */
  | 'HL7_BAD_BATCH'
  /** The input is larger than the `maxSize` option allows. */
  | 'HL7_MESSAGE_TOO_LARGE'
  /** MSH-18 (or the `charset` option) names a character set this package cannot decode. */
  | 'HL7_UNSUPPORTED_CHARSET'
  /** The bytes are not valid in the character set they were decoded with. */
  | 'HL7_INVALID_BYTES'
  /** A path such as `PID-3[2].1` is malformed or out of range. */
  | 'HL7_BAD_PATH'
  /** The element cannot be written with `set` (MSH-1, MSH-2, a segment ID). */
  | 'HL7_READ_ONLY'

/** Stable codes of every error that @li/hl7 throws. */
export type Hl7ErrorCode =
  'HL7_INVALID_ARGUMENT' | 'HL7_INTERNAL' | Hl7ParseErrorCode | MllpErrorCode | Hl7SchemaErrorCode

/** The one error class of @li/hl7: `code` is stable, `message` says what was wrong and what to do. */
export class Hl7Error extends Error {
  override readonly name: string = 'Hl7Error'
  readonly code: Hl7ErrorCode

  constructor(code: Hl7ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Where in the input a parse error was found; every member is optional because not all apply. */
export interface Hl7ErrorPosition {
  /** Offset into the input: bytes for a Uint8Array, UTF-16 code units for a string. */
  offset?: number
  /** 1-based index of the segment (line) in the message, blank lines not counted. */
  segment?: number
}

/** Thrown by parseMessage, parseBatch, parsePath and Message.set for unusable input. */
export class Hl7ParseError extends Hl7Error {
  override readonly name: string = 'Hl7ParseError'
  override readonly code: Hl7ParseErrorCode
  /** Offset into the input (bytes for a Uint8Array, UTF-16 code units for a string), if known. */
  readonly offset: number | undefined
  /** 1-based segment index, if known. */
  readonly segment: number | undefined

  constructor(
    code: Hl7ParseErrorCode,
    message: string,
    position: Hl7ErrorPosition = {},
    options?: ErrorOptions,
  ) {
    super(code, message, options)
    this.code = code
    this.offset = position.offset
    this.segment = position.segment
  }
}

// Names used by the classes of this package; the guard accepts any of them so that it also works
// across duplicated copies of the module (where `instanceof` fails).
const ERROR_NAMES = new Set(['Hl7Error', 'Hl7ParseError', 'Hl7SchemaError', 'MllpError'])

/** Whether `e` is a Hl7Error (also across duplicated module copies: checks `name` and `code`). */
export function isHl7Error(e: unknown): e is Hl7Error {
  return (
    e instanceof Hl7Error ||
    (e instanceof Error &&
      ERROR_NAMES.has(e.name) &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}

/** Whether `e` is a Hl7ParseError (also across duplicated module copies). */
export function isHl7ParseError(e: unknown): e is Hl7ParseError {
  return (
    e instanceof Hl7ParseError ||
    (e instanceof Error &&
      e.name === 'Hl7ParseError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}

/** Shortens user input quoted in an error message to at most `max` characters, escaping CR/LF. */
export function quote(text: string, max = 40): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text
  return JSON.stringify(cut)
}
