// Character sets (HL7 table 0211, used in MSH-18). A message arriving as bytes is decoded by the
// first repetition of its MSH-18: empty or `UNICODE UTF-8` mean UTF-8, `8859/1` means ISO-8859-1.
// The delimiters are ASCII in every supported set, so MSH-18 can be read from the raw bytes before
// decoding. UTF-16 sets (`UNICODE`, `UNICODE UTF-16`) are not supported: their delimiters are not
// single bytes.
import { Hl7ParseError, quote } from '../errors.js'

// HL7 table 0211 values and the WHATWG encoding labels that decode them. `latin1` is handled by
// Buffer, not TextDecoder, because TextDecoder's "latin1" is really windows-1252.
const HL7_CHARSETS: Record<string, string> = {
  'UNICODE UTF-8': 'utf-8',
  ASCII: 'latin1',
  'ISO IR6': 'latin1',
  '8859/1': 'latin1',
  'ISO IR100': 'latin1',
  '8859/2': 'iso-8859-2',
  '8859/3': 'iso-8859-3',
  '8859/4': 'iso-8859-4',
  '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6',
  '8859/7': 'iso-8859-7',
  '8859/8': 'iso-8859-8',
  '8859/9': 'iso-8859-9',
  '8859/15': 'iso-8859-15',
  'GB 18030-2000': 'gb18030',
  'KS X 1001': 'euc-kr',
  'CNS 11643-1992': 'big5',
  'BIG-5': 'big5',
  'ISO IR87': 'iso-2022-jp',
  'ISO IR159': 'iso-2022-jp',
}

/** Resolves an MSH-18 value or an encoding label (`latin1`, `windows-1252`) to a decoder label. */
export function resolveCharset(name: string): string {
  const trimmed = name.trim()
  if (trimmed === '') return 'utf-8'
  const known = HL7_CHARSETS[trimmed.toUpperCase()]
  if (known !== undefined) return known
  const lower = trimmed.toLowerCase()
  if (lower === 'latin1' || lower === 'iso-8859-1' || lower === 'binary') return 'latin1'
  try {
    return new TextDecoder(lower).encoding
  } catch (cause) {
    throw new Hl7ParseError(
      'HL7_UNSUPPORTED_CHARSET',
      `Character set ${quote(name)} is not supported; expected an HL7 table 0211 value such as ` +
        `"UNICODE UTF-8" or "8859/1", or an encoding label such as "latin1"`,
      {},
      { cause },
    )
  }
}

/**
 * Decodes `bytes` with a decoder label from `resolveCharset`. `strict` makes invalid UTF-8 an
 * error; otherwise (MSH-18 empty) invalid UTF-8 falls back to Latin-1, which cannot fail and
 * keeps every byte.
 */
export function decodeBytes(bytes: Uint8Array, label: string, strict: boolean): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (label === 'latin1') return buf.toString('latin1')
  try {
    return new TextDecoder(label, { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch (cause) {
    if (label === 'utf-8' && !strict) return buf.toString('latin1')
    throw new Hl7ParseError(
      'HL7_INVALID_BYTES',
      `The message bytes are not valid ${label}; declare the right character set in MSH-18 or ` +
        `pass the charset option (e.g. { charset: '8859/1' })`,
      {},
      { cause },
    )
  }
}

/**
 * Reads the first repetition of MSH-18 from the first MSH in `bytes` without decoding the rest;
 * undefined when there is no MSH or no MSH-18.
 */
export function sniffCharset(bytes: Uint8Array): string | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = buf.indexOf('MSH')
  // The MSH must start a line.
  while (at > 0 && buf[at - 1] !== 13 && buf[at - 1] !== 10 && !(at === 3 && buf[0] === 0xef)) {
    at = buf.indexOf('MSH', at + 1)
  }
  if (at < 0 || at + 8 > buf.length) return undefined
  let end = at
  while (end < buf.length && buf[end] !== 13 && buf[end] !== 10) end++
  const line = buf.toString('latin1', at, end)
  const fs = line.charAt(3)
  const parts = line.split(fs)
  const field = parts[17]
  if (field === undefined || field === '') return undefined
  const rep = parts[1]?.charAt(1)
  const comp = parts[1]?.charAt(0)
  let value = field
  if (rep) value = value.split(rep)[0] ?? ''
  if (comp) value = value.split(comp)[0] ?? ''
  return value === '' ? undefined : value
}
