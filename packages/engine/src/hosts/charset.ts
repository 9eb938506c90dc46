/**
 * Which Node encoding decodes an inbound message: DefCharEncoding with a leading `!` wins; else
 * MSH-18 when it names a known charset; else DefCharEncoding; else UTF-8 (IRIS defaults to
 * Latin-1; LI defaults to UTF-8, which NHS senders mostly use now).
 */
import { nodeEncoding } from '../runtime/settings.js'

/** Map an HL7 table 0211 value (MSH-18) to a Node encoding, or undefined when unknown. */
export function encodingForCharset(charset: string): BufferEncoding | undefined {
  const c = charset.trim().toUpperCase()
  if (c === '') return undefined
  if (c.startsWith('8859/1')) return 'latin1'
  if (c === 'ASCII') return 'ascii'
  if (c.includes('UTF-8') || c === 'UNICODE') return 'utf8'
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
