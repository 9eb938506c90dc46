/**
 * Which Node encoding decodes an inbound message or encodes an outbound one, as IRIS does:
 * DefCharEncoding with a leading `!` wins; else MSH-18 when it names a known charset; else
 * DefCharEncoding; else Latin-1 (IRIS's default for HL7 hosts).
 */
import { nodeEncoding } from '../runtime/settings.js'

/** Map an HL7 table 0211 value (MSH-18) to a Node encoding, or undefined when unknown. */
export function encodingForCharset(charset: string): BufferEncoding | undefined {
  const c = charset.trim().toUpperCase()
  if (c === '') return undefined
  if (c === '8859/1' || c === 'ISO-8859-1' || c === 'ISO8859_1' || c === 'ISO_IR 100')
    return 'latin1'
  if (c === 'ASCII') return 'ascii'
  if (c.includes('UTF-8') || c === 'UNICODE' || c === 'UTF8') return 'utf8'
  return undefined
}

/** The encoding for one inbound message. */
export function inboundEncoding(
  defCharEncoding: string | undefined,
  msh18: string,
): BufferEncoding {
  if (defCharEncoding !== undefined && defCharEncoding.startsWith('!'))
    return nodeEncoding(defCharEncoding)
  return encodingForCharset(msh18) ?? nodeEncoding(defCharEncoding)
}

/** The MSH-18 value of an HL7 text (first repetition), or ''. */
export function msh18Of(raw: string): string {
  const start = raw.indexOf('MSH')
  if (start < 0) return ''
  let end = raw.indexOf('\r', start)
  const lf = raw.indexOf('\n', start)
  if (end < 0 || (lf >= 0 && lf < end)) end = lf
  const msh = end < 0 ? raw.slice(start) : raw.slice(start, end)
  const fs = msh[3] ?? '|'
  const rep = msh[5] ?? '~'
  return (msh.split(fs)[17] ?? '').split(rep)[0] ?? ''
}

/** The encoding of an outbound HL7 text: `!` DefCharEncoding, else its MSH-18, else the setting. */
export function outboundEncoding(defCharEncoding: string | undefined, raw: string): BufferEncoding {
  return inboundEncoding(defCharEncoding, msh18Of(raw))
}
