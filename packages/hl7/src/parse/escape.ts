// Escape sequences (HL7 v2.5.1 chapter 2, section 2.7; `\P\` from v2.7). Reading decodes the
// delimiter escapes `\F\ \S\ \T\ \R\ \E\` (and `\P\` when a truncation character is declared) and
// hexadecimal data `\Xhh…\`. Formatting commands (`\.br\`, `\H\`, `\N\`, `\.sp\` …), character-set
// switches (`\C…\`, `\M…\`) and local `\Z…\` sequences have no plain-text meaning, so they are
// returned unchanged, written with the message's own escape character. Writing escapes every
// delimiter, CR/LF (as `\X0D\`/`\X0A\`) and the MLLP framing bytes VT/FS (`\X0B\`/`\X1C\`), so
// that any string can be stored, framed and read back.
import { DEFAULT_ENCODING, type Encoding } from './encoding.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

// Decodes the hex digits of a `\X…\` sequence; undefined when they are not whole hex byte pairs.
// The bytes are read as UTF-8 when they form valid UTF-8 (the common case, e.g. `\XC3A9\` = é) and
// as Latin-1 otherwise (e.g. `\XE9\`), since the standard leaves their interpretation to MSH-18.
function decodeHex(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  try {
    return utf8.decode(bytes)
  } catch {
    // Not UTF-8: every byte is a Latin-1 code point, which is lossless.
    let out = ''
    for (const b of bytes) out += String.fromCharCode(b)
    return out
  }
}

/**
 * Decodes the escape sequences in `text` (an encoded element of a message using `enc`).
 * @example unescape('Fish \\T\\ Chips') // 'Fish & Chips'
 */
export function unescape(text: string, enc: Encoding = DEFAULT_ENCODING): string {
  const e = enc.escape
  let at = text.indexOf(e)
  // Fast path: most values contain no escape character at all.
  if (at === -1) return text
  // Text is copied only up to the last decoded sequence; values whose only sequences are kept
  // formatting commands (report text full of \.br\) come back without any copy.
  let out = ''
  let from = 0
  while (at !== -1) {
    const close = text.indexOf(e, at + 1)
    // An escape character without a closing one is kept literally.
    if (close === -1) break
    let decoded: string | undefined
    if (close === at + 2) {
      switch (text.charCodeAt(at + 1)) {
        case 70 /* F */:
          decoded = enc.field
          break
        case 83 /* S */:
          decoded = enc.component
          break
        case 84 /* T */:
          decoded = enc.subcomponent
          break
        case 82 /* R */:
          decoded = enc.repetition
          break
        case 69 /* E */:
          decoded = enc.escape
          break
        case 80 /* P */:
          decoded = enc.truncation
          break
      }
    } else if (text.charCodeAt(at + 1) === 88 /* X */) {
      decoded = decodeHex(text.slice(at + 2, close))
    }
    // Formatting commands and unknown sequences (decoded undefined) stay as written.
    if (decoded !== undefined) {
      out += text.slice(from, at) + decoded
      from = close + 1
    }
    at = text.indexOf(e, close + 1)
  }
  return from === 0 ? text : out + text.slice(from)
}

// Whether a character must be escaped when written with `enc`.
function escapeFor(ch: string, enc: Encoding): string | undefined {
  if (ch === enc.escape) return 'E'
  if (ch === enc.field) return 'F'
  if (ch === enc.component) return 'S'
  if (ch === enc.subcomponent) return 'T'
  if (ch === enc.repetition) return 'R'
  if (ch === enc.truncation) return 'P'
  if (ch === '\r') return 'X0D'
  if (ch === '\n') return 'X0A'
  // The MLLP Start Block and End Block bytes: written raw they would cut the frame.
  if (ch === '\x0b') return 'X0B'
  if (ch === '\x1c') return 'X1C'
  return undefined
}

/**
 * Encodes `value` for use as one element of a message using `enc`: delimiters become `\F\ \S\ \T\
 * \R\ \E\ \P\`, CR/LF become `\X0D\`/`\X0A\` and the MLLP framing bytes VT/FS `\X0B\`/`\X1C\`.
 * @example escape('Fish & Chips') // 'Fish \\T\\ Chips'
 */
export function escape(value: string, enc: Encoding = DEFAULT_ENCODING): string {
  let out = ''
  let from = 0
  for (let i = 0; i < value.length; i++) {
    const seq = escapeFor(value.charAt(i), enc)
    if (seq === undefined) continue
    out += value.slice(from, i) + enc.escape + seq + enc.escape
    from = i + 1
  }
  return from === 0 ? value : out + value.slice(from)
}
