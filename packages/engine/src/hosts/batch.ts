/**
 * HL7 batch files (HL7 v2.5 §2.10.3): `[FHS [BHS] {MSH …} [BTS] [FTS]]`, several BHS batches per
 * file allowed. This module splits such a text into its envelope segments and its messages, and
 * builds trailers with the right counts. It reads segment names only; it does not parse fields
 * beyond BTS-1/FTS-1.
 *
 * A text with several BHS batches is treated as one batch: the header is every FHS/BHS before the
 * first MSH, the trailer every BTS/FTS after the last message; BHS/BTS segments between messages
 * are dropped from the children (they stay in the parent document, which is the file as read).
 */

/** A batch text split into its parts. */
export interface BatchText {
  /** Header segments (FHS, BHS) before the first message, each ending in `\r`. */
  header: string
  /** The messages, each ending in `\r`. */
  messages: string[]
  /** Trailer segments (BTS, FTS) after the last message, each ending in `\r`. */
  trailer: string
  /** Whether the text had any FHS/BHS/BTS/FTS segment. */
  isBatch: boolean
  /** The whole text with `\r` segment terminators (blank lines and MLLP framing bytes dropped). */
  text: string
}

/** Split the text of an HL7 file (one message, several, or a batch). */
export function parseBatchText(input: string): BatchText {
  // Files written with MLLP framing (IRIS Framing Flexible/MLLP on files) lose the frame bytes.
  const segments = input
    .replaceAll('\x0b', '')
    .replaceAll('\x1c', '')
    .split(/\r\n|\r|\n/)
    .filter((s) => s.trim() !== '')
  const messages: string[] = []
  let current: string[] = []
  let header = ''
  let trailer = ''
  let isBatch = false
  const flush = (): void => {
    if (current.length > 0) messages.push(current.join('\r') + '\r')
    current = []
  }
  for (const seg of segments) {
    const name = seg.slice(0, 3)
    if (name === 'FHS' || name === 'BHS') {
      isBatch = true
      flush()
      if (messages.length === 0) header += seg + '\r'
      else trailer = '' // a later batch in the same file: the trailer so far was not the last
    } else if (name === 'BTS' || name === 'FTS') {
      isBatch = true
      flush()
      trailer += seg + '\r'
    } else if (name === 'MSH') {
      flush()
      trailer = ''
      current.push(seg)
    } else current.push(seg)
  }
  if (current.length > 0) messages.push(current.join('\r') + '\r')
  return { header, messages, trailer, isBatch, text: segments.join('\r') + '\r' }
}

/** Split the text of an HL7 file into messages (batch envelope segments dropped). */
export function splitHl7File(text: string): string[] {
  return parseBatchText(text).messages
}

/**
 * The trailer to write after `count` messages of a batch whose header is `header`: the trailer
 * as read with BTS-1 (batch message count) and FTS-1 (file batch count) set, or a new BTS/FTS
 * when the batch had a BHS/FHS and no trailer.
 */
export function batchTrailer(header: string, trailer: string, count: number): string {
  const fsOf = (seg: string): string => seg[3] ?? '|'
  const hasFhs = /(^|\r)FHS/.test(header)
  const bhs = (header.match(/(^|\r)BHS/g) ?? []).length
  const segs = trailer.split('\r').filter((s) => s !== '')
  if (!segs.some((s) => s.startsWith('BTS')) && bhs > 0) segs.unshift('BTS|')
  if (!segs.some((s) => s.startsWith('FTS')) && hasFhs) segs.push('FTS|')
  return segs
    .map((seg) => {
      const name = seg.slice(0, 3)
      if (name !== 'BTS' && name !== 'FTS') return seg
      const fs = fsOf(seg)
      const fields = seg.split(fs)
      fields[1] = String(name === 'BTS' ? count : Math.max(bhs, 1))
      return fields.join(fs)
    })
    .map((s) => s + '\r')
    .join('')
}
