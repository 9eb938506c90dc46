// The message delimiters ("encoding characters", HL7 v2.5.1 chapter 2, section 2.5.4). They are
// read from each message's MSH-1 (field separator) and MSH-2 (component, repetition, escape,
// subcomponent and, from v2.7, truncation character); nothing in this package hard-codes `|^~\&`
// except DEFAULT_ENCODING, which is only used when building new messages.
import { Hl7ParseError, quote } from '../errors.js'

/** The delimiters of one message, as declared in its MSH-1 and MSH-2. */
export interface Encoding {
  /** Field separator (MSH-1), usually `|`. */
  readonly field: string
  /** Component separator, usually `^`. */
  readonly component: string
  /** Repetition separator, usually `~`. */
  readonly repetition: string
  /** Escape character, usually `\`. */
  readonly escape: string
  /** Subcomponent separator, usually `&`. */
  readonly subcomponent: string
  /** Truncation character (v2.7+, usually `#`), or undefined when MSH-2 has only four characters. */
  readonly truncation: string | undefined
}

/** The standard delimiters `|^~\&`, used when a new message is built from scratch. */
export const DEFAULT_ENCODING: Encoding = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
  truncation: undefined,
})

// Encodings are shared between messages that declare the same delimiters (almost all of them),
// which saves an allocation and five string slices per parsed message.
const cache = new Map<string, Encoding>()

/** The MSH-2 text (encoding characters) of an encoding, e.g. `^~\&` or `^~\&#`. */
export function encodingCharacters(enc: Encoding): string {
  return enc.component + enc.repetition + enc.escape + enc.subcomponent + (enc.truncation ?? '')
}

/**
 * Validates and returns the encoding declared by a header segment's field separator and encoding
 * characters (MSH-1 and MSH-2, or the same fields of FHS/BHS).
 */
export function readEncoding(
  fieldSeparator: string,
  chars: string,
  where: { offset?: number; segment?: number; name?: string } = {},
): Encoding {
  const key = fieldSeparator + chars
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const name = where.name ?? 'MSH'
  const position = { offset: where.offset, segment: where.segment }
  if (chars.length !== 4 && chars.length !== 5) {
    throw new Hl7ParseError(
      'HL7_BAD_ENCODING_CHARS',
      `${name}-2 (encoding characters) is ${quote(chars)}; expected 4 characters such as "^~\\&" ` +
        `(or 5 with the v2.7 truncation character, "^~\\&#")`,
      position,
    )
  }
  const all = fieldSeparator + chars
  for (let i = 0; i < all.length; i++) {
    const c = all.charCodeAt(i)
    const ch = all.charAt(i)
    const alnum =
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 32 || c < 32
    if (alnum || all.indexOf(ch) !== i) {
      throw new Hl7ParseError(
        'HL7_BAD_ENCODING_CHARS',
        `${name}-1/${name}-2 declare the delimiters ${quote(all)}; expected distinct characters ` +
          `that are not letters, digits, spaces or control characters`,
        position,
      )
    }
  }
  const enc: Encoding = Object.freeze({
    field: fieldSeparator,
    component: chars.charAt(0),
    repetition: chars.charAt(1),
    escape: chars.charAt(2),
    subcomponent: chars.charAt(3),
    truncation: chars.length === 5 ? chars.charAt(4) : undefined,
  })
  // Bounded: a hostile sender could otherwise grow the cache with every delimiter combination.
  if (cache.size < 256) cache.set(key, enc)
  return enc
}
