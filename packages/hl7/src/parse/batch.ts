// Batch files (HL7 v2.5.1 chapter 2, section 2.10.3): [FHS] { [BHS] { MSH … } [BTS] } [FTS]. Also
// plain concatenations of messages with no batch segments at all, as files and some feeds carry.
// Each message is parsed with its own MSH-1/MSH-2, so messages with different delimiters may sit in
// one file. The counts in BTS-1 and FTS-1 are returned, not checked: a wrong count is a finding for
// the caller (and its ACK), not a reason to throw away the messages.
import { Hl7ParseError } from '../errors.js'
import {
  type ParseOptions,
  decodeInput,
  headerEncoding,
  parseMessage,
  scanSegments,
} from './parse-message.js'
import type { Encoding } from './encoding.js'
import type { Message } from './message.js'
import { Segment } from './segment.js'

/** One batch (BHS … BTS) of a batch file; header and trailer are absent in a plain concatenation. */
export interface Hl7BatchGroup {
  /** The BHS segment, if present. */
  header: Segment | undefined
  /** The messages of this batch, in order. */
  messages: Message[]
  /** The BTS segment, if present; BTS-1 is the declared message count. */
  trailer: Segment | undefined
}

/** The result of parseBatch. */
export interface Hl7Batch {
  /** The file header FHS if present, otherwise the first BHS. */
  header: Segment | undefined
  /** Every message of every batch, in order. */
  messages: Message[]
  /** The file trailer FTS if present, otherwise the last BTS. */
  trailer: Segment | undefined
  /** The FHS segment, if present. */
  fileHeader: Segment | undefined
  /** The FTS segment, if present; FTS-1 is the declared batch count. */
  fileTrailer: Segment | undefined
  /** The batches, in order (one group without header/trailer when there is no BHS). */
  batches: Hl7BatchGroup[]
  /** The whole input again, CR-terminated; byte-exact for unmodified messages. */
  toString(): string
}

const BATCH_NAMES = new Set(['FHS', 'BHS', 'BTS', 'FTS'])

/**
 * Parses a batch file (FHS/BHS/BTS/FTS) or plain concatenated messages into messages.
 * @example parseBatch(file).messages.map((m) => m.controlId)
 */
export function parseBatch(input: string | Uint8Array, options: ParseOptions = {}): Hl7Batch {
  const { text, map } = decodeInput(input, options)
  const scan = scanSegments(text)
  const { src, starts, ends } = scan
  const position = (i: number): { offset: number; segment: number } => ({
    offset: map(scan.origin !== undefined ? scan.origin[i]! : starts[i]!),
    segment: i + 1,
  })
  const fail = (i: number, what: string): never => {
    throw new Hl7ParseError('HL7_BAD_BATCH', `Segment ${i + 1} is ${what}`, position(i))
  }
  // Every piece of the output in input order, so toString can rebuild the input exactly.
  const pieces: (Segment | Message)[] = []
  const batches: Hl7BatchGroup[] = []
  let fileHeader: Segment | undefined
  let fileTrailer: Segment | undefined
  let group: Hl7BatchGroup | undefined
  // The batch-segment delimiters: from FHS/BHS, or the standard ones until one is seen.
  let encoding: Encoding | undefined
  const last = starts.length - 1
  let i = 0
  while (i <= last) {
    const name = src.slice(starts[i], starts[i]! + 3)
    if (name === 'MSH') {
      // A message runs until the next MSH or batch segment.
      let j = i + 1
      while (j <= last) {
        const next = src.slice(starts[j], starts[j]! + 3)
        if (next === 'MSH' || BATCH_NAMES.has(next)) break
        j++
      }
      const end = j <= last ? ends[j - 1]! + 1 : scan.trailing ? ends[j - 1]! + 1 : ends[j - 1]!
      let message: Message
      try {
        message = parseMessage(src.slice(starts[i], end), { maxSize: Number.MAX_SAFE_INTEGER })
      } catch (e) {
        if (!(e instanceof Hl7ParseError)) throw e
        // Re-anchor the position to the batch input.
        const at = position(i + (e.segment ?? 1) - 1)
        throw new Hl7ParseError(e.code, `${e.message} (in the message at segment ${i + 1})`, at, {
          cause: e,
        })
      }
      if (group === undefined) {
        group = { header: undefined, messages: [], trailer: undefined }
        batches.push(group)
      }
      group.messages.push(message)
      pieces.push(message)
      i = j
      continue
    }
    if (!BATCH_NAMES.has(name)) {
      fail(i, `${JSON.stringify(name)} outside a message; expected MSH, FHS, BHS, BTS or FTS`)
    }
    if (name === 'FHS' || name === 'BHS') encoding = headerEncoding(scan, map, i)
    else if (encoding === undefined) fail(i, `${name} without a preceding FHS/BHS`)
    const seg = new Segment(src.slice(starts[i], ends[i]), encoding!, undefined, name)
    pieces.push(seg)
    switch (name) {
      case 'FHS':
        if (i !== 0) fail(i, 'FHS after other segments; expected FHS first')
        fileHeader = seg
        break
      case 'BHS':
        if (fileTrailer !== undefined) fail(i, 'BHS after FTS')
        group = { header: seg, messages: [], trailer: undefined }
        batches.push(group)
        break
      case 'BTS':
        if (group?.header === undefined || group.trailer !== undefined) fail(i, 'BTS without BHS')
        group!.trailer = seg
        break
      case 'FTS':
        if (fileHeader === undefined || fileTrailer !== undefined) fail(i, 'FTS without FHS')
        fileTrailer = seg
        break
    }
    i++
  }
  const trailing = scan.trailing
  return {
    header: fileHeader ?? batches[0]?.header,
    trailer: fileTrailer ?? batches[batches.length - 1]?.trailer,
    messages: batches.flatMap((b) => b.messages),
    fileHeader,
    fileTrailer,
    batches,
    toString(): string {
      let out = ''
      for (let k = 0; k < pieces.length; k++) {
        const piece = pieces[k]!
        if (piece instanceof Segment) {
          out += piece.toString()
          if (k < pieces.length - 1 || trailing) out += '\r'
        } else {
          out += piece.toString()
        }
      }
      return out
    },
  }
}
