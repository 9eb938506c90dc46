// MLLP framing: the block format of the Minimal Lower Layer Protocol (HL7 v2 Implementation Guide,
// Appendix C "Minimal Lower Layer Protocol", C.4 "Block format"; also HL7 v2.5 ch. 2, 2.C):
//
//   <VT 0x0B> message bytes <FS 0x1C><CR 0x0D>
//
// What this module does: wraps one message in a frame (`encodeFrame`) and cuts a byte stream into
// frames (`MllpDecoder`) however TCP splits or joins the chunks, discarding (and counting) bytes
// found outside frames and enforcing a size limit on each frame's content.
//
// What it does not do: it never looks inside a frame (no charset decoding, no MSH parsing; the
// bytes are passed on as they came, MSH-18 is the parser's business), it does not send ACKs and it
// does not implement the "reliable" MLLP release 2 (the commit-acknowledgement blocks of Appendix
// C.4.2); HL7 ACK messages are ordinary frames.
import { MllpError } from './errors.js'

/** Start Block character (vertical tab, 0x0B). */
export const MLLP_START_BLOCK = 0x0b
/** End Block character (file separator, 0x1C); always followed by {@link MLLP_CARRIAGE_RETURN}. */
export const MLLP_END_BLOCK = 0x1c
/** Carriage return (0x0D) that ends a frame after the End Block character. */
export const MLLP_CARRIAGE_RETURN = 0x0d
/** Default limit on one frame's content, in bytes (16 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

// How many bytes of an oversize frame's start are kept, so that a server can still read the MSH
// segment and address its NAK. An MSH segment is a few hundred bytes; 4 KiB leaves ample room.
const OVERSIZE_HEAD_BYTES = 4096

/**
 * Wraps one message in an MLLP frame: `0x0B` + bytes + `0x1C 0x0D`. Strings are encoded with
 * `encoding` (UTF-8 unless told otherwise).
 * @example encodeFrame('MSH|^~\\&|...\r') // <Buffer 0b 4d 53 48 ... 1c 0d>
 */
export function encodeFrame(
  message: string | Uint8Array,
  encoding: BufferEncoding = 'utf8',
): Buffer {
  if (typeof message === 'string') {
    // One allocation: the string is encoded straight into the frame, not into a temporary Buffer.
    const length = Buffer.byteLength(message, encoding)
    const frame = Buffer.allocUnsafe(length + 3)
    frame[0] = MLLP_START_BLOCK
    frame.write(message, 1, length, encoding)
    frame[length + 1] = MLLP_END_BLOCK
    frame[length + 2] = MLLP_CARRIAGE_RETURN
    return frame
  }
  const frame = Buffer.allocUnsafe(message.byteLength + 3)
  frame[0] = MLLP_START_BLOCK
  frame.set(message, 1)
  frame[message.byteLength + 1] = MLLP_END_BLOCK
  frame[message.byteLength + 2] = MLLP_CARRIAGE_RETURN
  return frame
}

/** An oversize frame, as reported by {@link MllpDecoder}: the error plus the frame's first bytes. */
export interface MllpOversizeFrame {
  /** An MllpError with code `MLLP_FRAME_TOO_LARGE`. */
  readonly error: MllpError
  /** The first bytes (up to 4 KiB) of the frame's content, enough to read its MSH segment. */
  readonly head: Buffer
  /** The limit that was exceeded. */
  readonly maxMessageBytes: number
}

/** Options of {@link MllpDecoder}. */
export interface MllpDecoderOptions {
  /** Called once per complete frame with its content (without VT, FS and CR), in stream order. */
  readonly onFrame: (frame: Buffer) => void
  /**
   * Called when a frame's content grows past `maxMessageBytes`. The rest of that frame is
   * discarded (and counted) up to its End Block; decoding then resumes with the next frame.
   */
  readonly onOversize?: (oversize: MllpOversizeFrame) => void
  /** Largest accepted frame content in bytes; default 16 MiB. */
  readonly maxMessageBytes?: number
}

const OUTSIDE = 0 // between frames: looking for VT
const IN_FRAME = 1 // inside a frame: looking for FS
const AFTER_END = 2 // just read FS: a CR is expected
const SKIPPING = 3 // inside an oversize frame: discarding up to FS
type DecoderState = typeof OUTSIDE | typeof IN_FRAME | typeof AFTER_END | typeof SKIPPING

/**
 * Streaming MLLP decoder: `push` TCP chunks of any size, get complete frames through `onFrame`.
 *
 * - A frame split over many chunks is joined once, when its End Block arrives (the pieces are kept
 *   in a list, so a frame costs one copy however many chunks it came in: no quadratic concat). A
 *   frame that lies inside one chunk is passed on as a zero-copy view of that chunk.
 * - Bytes outside frames (before a VT, or a partial frame abandoned because a new VT started) are
 *   discarded and counted in `discardedBytes`. The CR after FS is optional on input (some senders
 *   omit it); anything else after FS counts as outside a frame.
 * - Frames whose content exceeds `maxMessageBytes` are reported through `onOversize`; memory held
 *   for one frame never exceeds the limit plus one chunk.
 * @example
 * const decoder = new MllpDecoder({ onFrame: (frame) => console.log(frame.toString('latin1')) })
 * socket.on('data', (chunk) => decoder.push(chunk))
 */
export class MllpDecoder {
  /** The content limit per frame, in bytes. */
  readonly maxMessageBytes: number
  readonly #onFrame: (frame: Buffer) => void
  readonly #onOversize: ((oversize: MllpOversizeFrame) => void) | undefined
  #state: DecoderState = OUTSIDE
  #parts: Buffer[] = []
  #size = 0
  #discarded = 0
  #frames = 0
  #oversize = 0

  constructor(options: MllpDecoderOptions) {
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    if (!Number.isInteger(max) || max < 1) {
      throw new MllpError(
        'MLLP_INVALID_ARGUMENT',
        `maxMessageBytes must be a positive integer, got ${String(max)}`,
      )
    }
    this.maxMessageBytes = max
    this.#onFrame = options.onFrame
    this.#onOversize = options.onOversize
  }

  /** Bytes discarded so far: outside frames, abandoned partial frames and oversize frames. */
  get discardedBytes(): number {
    return this.#discarded
  }

  /** Complete frames passed to `onFrame` so far. */
  get frameCount(): number {
    return this.#frames
  }

  /** Oversize frames reported so far. */
  get oversizeCount(): number {
    return this.#oversize
  }

  /** Bytes of an incomplete frame currently held (0 between frames). */
  get bufferedBytes(): number {
    return this.#size
  }

  /** Whether the decoder is between frames (no partial frame held). */
  get idle(): boolean {
    return this.#state === OUTSIDE || this.#state === AFTER_END
  }

  /** Feeds one chunk; calls `onFrame`/`onOversize` synchronously for everything it completes. */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const end = buf.length
    let pos = 0
    while (pos < end) {
      switch (this.#state) {
        case OUTSIDE: {
          const start = buf.indexOf(MLLP_START_BLOCK, pos)
          if (start === -1) {
            this.#discarded += end - pos
            return
          }
          this.#discarded += start - pos
          pos = start + 1
          this.#state = IN_FRAME
          break
        }
        case AFTER_END: {
          if (buf[pos] === MLLP_CARRIAGE_RETURN) pos++
          this.#state = OUTSIDE
          break
        }
        case IN_FRAME:
        case SKIPPING: {
          const fs = buf.indexOf(MLLP_END_BLOCK, pos)
          const stop = fs === -1 ? end : fs
          // A VT before the End Block means the sender gave up on the frame and started another
          // (or the frame's start was lost): drop what we hold and restart after that VT.
          // lastIndexOf stops at the first VT found going back, so this stays linear.
          if (stop > pos) {
            const restart = buf.lastIndexOf(MLLP_START_BLOCK, stop - 1)
            if (restart >= pos) {
              this.#discarded += this.#size + (restart - pos)
              this.#parts = []
              this.#size = 0
              this.#state = IN_FRAME
              pos = restart + 1
            }
          }
          if (this.#state === SKIPPING) {
            this.#discarded += stop - pos
            if (fs === -1) return
            pos = fs + 1
            this.#state = AFTER_END
            break
          }
          const length = stop - pos
          if (this.#size + length > this.maxMessageBytes) {
            this.#reportOversize(buf.subarray(pos, stop))
            this.#discarded += this.#size + length
            this.#parts = []
            this.#size = 0
            if (fs === -1) {
              this.#state = SKIPPING
              return
            }
            pos = fs + 1
            this.#state = AFTER_END
            break
          }
          if (fs === -1) {
            this.#parts.push(buf.subarray(pos, end))
            this.#size += length
            return
          }
          let frame: Buffer
          if (this.#parts.length === 0) {
            frame = buf.subarray(pos, fs)
          } else {
            this.#parts.push(buf.subarray(pos, fs))
            frame = Buffer.concat(this.#parts, this.#size + length)
            this.#parts = []
          }
          this.#size = 0
          pos = fs + 1
          this.#state = AFTER_END
          this.#frames++
          this.#onFrame(frame)
          break
        }
      }
    }
  }

  /** Drops any partial frame (counted as discarded) and returns to the between-frames state. */
  reset(): void {
    this.#discarded += this.#size
    this.#parts = []
    this.#size = 0
    this.#state = OUTSIDE
  }

  #reportOversize(last: Buffer): void {
    this.#oversize++
    if (this.#onOversize === undefined) return
    const pieces = [...this.#parts, last]
    const head = Buffer.concat(pieces, Math.min(OVERSIZE_HEAD_BYTES, this.#size + last.length))
    const error = new MllpError(
      'MLLP_FRAME_TOO_LARGE',
      `MLLP frame content exceeds maxMessageBytes (${this.maxMessageBytes} bytes); the rest of the frame was discarded`,
    )
    this.#onOversize({ error, head, maxMessageBytes: this.maxMessageBytes })
  }
}
