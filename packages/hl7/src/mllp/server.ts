// MLLP server: accepts TCP or TLS connections, cuts each byte stream into MLLP frames (HL7 v2
// Implementation Guide, Appendix C "Minimal Lower Layer Protocol"), hands every message to an
// application handler and writes back the ACK the handler returns, in arrival order per connection.
//
// The transport answers by itself where the application cannot (HL7 v2.5 ch. 2, 2.9):
// - a frame without a usable MSH (or oversize) gets AR, or CR when MSH-15/16 ask for enhanced mode,
//   with an ERR segment saying what was wrong; an oversize frame's connection is then closed;
// - a handler that throws `Hl7ParseError` gets AR/CR; any other handler failure gets AE/CE; the
//   server never crashes and never drops a connection silently because of one bad message;
// - a handler that resolves `undefined` gets AA/CA (none when MSH-15 is NE or ER in enhanced mode);
//   one that resolves `null` gets no reply at all (IRIS AckMode "Never").
//
// What it does not do: decode charsets (the handler gets the frame's bytes; MSH-18 is the parser's
// business), parse the message body, persist anything, or retry. Events replace logging.
import { EventEmitter } from 'node:events'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { createNak } from '../ack.js'
import type { Hl7ErrorConditionCode } from '../ack.js'
import { isHl7ParseError } from '../errors.js'
import { buildAckFrameFromBytes, buildMllpAck } from './ack.js'
import type { MllpAckCode, MllpAckOptions } from './ack.js'
import { DEFAULT_MAX_MESSAGE_BYTES, MllpDecoder, encodeFrame } from './frame.js'
import { MllpError } from './errors.js'
import type { MllpOversizeFrame } from './frame.js'
import {
  isHeaderProblem,
  readAckFields,
  readControlId,
  readHeader,
  scanMsh,
  scannedHeaderIsUsable,
} from './header.js'
import type { MllpHeader } from './header.js'

/** Anything with a `toString()` that serializes an HL7 message, such as the model's `Message`. */
export interface MllpSerializable {
  /** The message as an HL7 string (segments ended by CR). */
  toString(): string
}

/**
 * What a handler may return: the ACK to send (string, bytes or a message object), `undefined` for
 * the transport's own AA/CA, or `null` to send no reply at all (IRIS AckMode "Never").
 */
export type MllpReply = string | Uint8Array | MllpSerializable | undefined | null

/** Facts about one connection, passed to events and (via the context) to the handler. */
export interface MllpConnectionInfo {
  /** Server-unique id of the connection (1, 2, 3, ...). */
  readonly connectionId: number
  /** The peer's IP address. */
  readonly remoteAddress: string
  /** The peer's port. */
  readonly remotePort: number
  /** Whether the connection is TLS. */
  readonly tls: boolean
  /** With TLS: whether the peer presented a certificate that verified against `ca`. */
  readonly authorized: boolean
  /** With mutual TLS: the subject CN of the peer's certificate, if any. */
  readonly peerCommonName: string | undefined
}

/** The second argument of a handler: the connection, the MSH fields and an ACK builder. */
export interface MllpHandlerContext extends MllpConnectionInfo {
  /** The MSH fields of this message, raw (see `readHeader`); read from the bytes on first access. */
  readonly header: MllpHeader
  /** `Date.now()` when the frame was complete. */
  readonly receivedAt: number
  /**
   * Builds a minimal ACK (MSH, MSA, ERR on errors) for this message, as bytes ready to return.
   * Returned unchanged, a plain AA/CA is written without a copy (it is built inside its frame).
   */
  ack(code: MllpAckCode, options?: MllpAckOptions): Buffer
}

/** The application: receives each message's bytes and returns (a promise of) the ACK to send. */
export type MllpHandler = (
  message: Buffer,
  context: MllpHandlerContext,
) => MllpReply | Promise<MllpReply>

/** Options of {@link MllpServer}. */
export interface MllpServerOptions {
  /** The application handler. */
  readonly handler: MllpHandler
  /**
   * Serve TLS with these options (`key`, `cert`, and for mutual TLS `ca` + `requestCert: true`;
   * `rejectUnauthorized` defaults to true, so unverified clients fail the handshake).
   */
  readonly tls?: tls.TlsOptions
  /** Largest accepted message in bytes; larger frames get AR/CR and the connection closes. 16 MiB. */
  readonly maxMessageBytes?: number
  /** Close a connection after this many ms without traffic and with nothing in flight; 0 = never. */
  readonly idleTimeoutMs?: number
  /**
   * Messages per connection whose handler may be running at once (when the peer pipelines).
   * Handlers are always called in arrival order and ACKs written in that order; past this limit the
   * server stops reading from the connection. Default 64; 1 runs one handler at a time.
   */
  readonly maxInFlight?: number
  /**
   * Close each connection once the answer to its first message is written (IRIS StayConnected=0);
   * frames the peer pipelined behind it get no answer. Default false.
   */
  readonly closeAfterAck?: boolean
  /** Refuse connections beyond this many; default unlimited. */
  readonly maxConnections?: number
}

/** Why a connection ended, in the `disconnect` event. */
export type MllpDisconnectReason = 'peer' | 'idle' | 'oversize' | 'error' | 'server-close'

/** Payload of the `disconnect` event. */
export interface MllpDisconnectInfo extends MllpConnectionInfo {
  /** Why the connection ended. */
  readonly reason: MllpDisconnectReason
  /** Messages received on the connection. */
  readonly messages: number
  /** Bytes received outside frames (discarded). */
  readonly discardedBytes: number
}

/** Payload of the `message` event, emitted once the ACK (if any) is written. */
export interface MllpMessageInfo {
  /** The connection it came on. */
  readonly connectionId: number
  /** Size of the message (frame content) in bytes. */
  readonly bytes: number
  /** MSH-10 of the message, or '' if unreadable. */
  readonly controlId: string
  /** MSA-1 of the ACK sent, or undefined when no ACK was sent. */
  readonly ackCode: string | undefined
  /** Milliseconds from the frame being complete to the ACK being written. */
  readonly durationMs: number
  /** Who produced the ACK: the handler, or the transport (NAK, handler failure, auto-ACK). */
  readonly ackedBy: 'handler' | 'transport'
}

/** Events of {@link MllpServer}. `error` is only emitted when someone listens to it. */
export interface MllpServerEvents {
  connection: [info: MllpConnectionInfo]
  disconnect: [info: MllpDisconnectInfo]
  message: [info: MllpMessageInfo]
  error: [error: Error, connection: MllpConnectionInfo | undefined]
  listening: [address: AddressInfo]
  close: []
}

/** Options of {@link MllpServer.close}. */
export interface MllpCloseOptions {
  /** Let running handlers finish and their ACKs be written before closing connections; default true. */
  readonly drain?: boolean
  /** Give up draining after this many ms and destroy what is left; default 10 s. */
  readonly timeoutMs?: number
}

// One queued answer per received frame, written when it and every frame before it are done.
interface Slot {
  done: boolean
  ack: Buffer | undefined
  ackedBy: 'handler' | 'transport'
  closeAfter: boolean
  ran: boolean
  readonly bytes: number
  // MSH-10, or undefined when it is read from `message` only if a `message` listener wants it.
  readonly controlId: string | undefined
  readonly message: Buffer | undefined
  readonly receivedAt: number
  ackCode: string | undefined
}

// What a context reads its header from when the MSH turned out unusable after all (cannot happen
// for a frame that passed scanMsh + scannedHeaderIsUsable; kept so the type stays total).
const EMPTY_HEADER: MllpHeader = {
  fieldSeparator: '|',
  encodingCharacters: '^~\\&',
  sendingApplication: '',
  sendingFacility: '',
  receivingApplication: '',
  receivingFacility: '',
  messageType: '',
  triggerEvent: '',
  controlId: '',
  processingId: '',
  version: '',
  acceptAckType: '',
  applicationAckType: '',
  charset: '',
  enhancedMode: false,
}

class HandlerContext implements MllpHandlerContext {
  readonly connectionId: number
  readonly remoteAddress: string
  readonly remotePort: number
  readonly tls: boolean
  readonly authorized: boolean
  readonly peerCommonName: string | undefined
  readonly receivedAt: number
  readonly #message: Buffer
  #header: MllpHeader | undefined

  constructor(
    info: MllpConnectionInfo,
    message: Buffer,
    header: MllpHeader | undefined,
    receivedAt: number,
  ) {
    this.connectionId = info.connectionId
    this.remoteAddress = info.remoteAddress
    this.remotePort = info.remotePort
    this.tls = info.tls
    this.authorized = info.authorized
    this.peerCommonName = info.peerCommonName
    this.receivedAt = receivedAt
    this.#message = message
    this.#header = header
  }

  // Read on first access: a handler that only answers `ctx.ack('AA')` never needs the strings.
  get header(): MllpHeader {
    if (this.#header === undefined) {
      const read = readHeader(this.#message)
      this.#header = isHeaderProblem(read) ? (read.partial ?? EMPTY_HEADER) : read
    }
    return this.#header
  }

  // The last ACK built by ack(), returned to the handler as a view into its ready MLLP frame: when
  // the handler returns that view (the usual `return ctx.ack('AA')`), the server writes the frame
  // as it is instead of copying the ACK into a new one.
  #lastAck: Buffer | undefined
  #lastAckFrame: Buffer | undefined

  ack(code: MllpAckCode, options?: MllpAckOptions): Buffer {
    const frame = this.ackFrame(code, options)
    const ack = frame.subarray(1, frame.length - 2)
    this.#lastAck = ack
    this.#lastAckFrame = frame
    return ack
  }

  /** The ACK of `ack(code, options)`, framed: built from the message's bytes for a plain AA/CA. */
  ackFrame(code: MllpAckCode, options?: MllpAckOptions): Buffer {
    const plain =
      (code === 'AA' || code === 'CA') &&
      (options === undefined || (options.text === undefined && options.errorCode === undefined))
    return (
      (plain ? buildAckFrameFromBytes(this.#message, code) : undefined) ??
      encodeFrame(buildMllpAck(this.header, code, options), 'latin1')
    )
  }

  /** The MLLP frame around `reply` if it is the last ACK built by `ack()`, else undefined. */
  frameOf(reply: unknown): Buffer | undefined {
    return reply === this.#lastAck ? this.#lastAckFrame : undefined
  }
}

// MSH-10 of a frame that passed the server's fast check (so readControlId finds it), for events.
function controlIdOf(message: Buffer | undefined): string {
  if (message === undefined) return ''
  const id = readControlId(message)
  return typeof id === 'string' ? id : ''
}

function isPromiseLike(value: unknown): value is PromiseLike<MllpReply> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function'
}

function errorOf(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e))
}

// The MSH line of a frame (or its first 4 KiB if there is no MSH), as Latin-1 text.
function mshLine(frame: Buffer): string {
  const limit = Math.min(frame.length, 65536)
  const start = frame.indexOf('MSH')
  if (start === -1 || start >= limit) return frame.toString('latin1', 0, Math.min(limit, 4096))
  let end = start
  while (end < limit && frame[end] !== 0x0d && frame[end] !== 0x0a) end++
  return frame.toString('latin1', start, end)
}

// MSH-18 8859/1 means Latin-1; everything else the transport writes as UTF-8.
function encodingFor(header: MllpHeader | undefined): BufferEncoding {
  return header !== undefined && header.charset.startsWith('8859/1') ? 'latin1' : 'utf8'
}

// Answers (e.g. NAKs for garbage frames) that may wait behind a slow handler before the server
// stops reading from the connection: bounds memory per connection whatever the peer sends.
const MAX_QUEUED_ANSWERS = 1024

/**
 * One accepted connection: its decoder, its queue of answers and its lifecycle.
 *
 * Every complete frame gets a Slot, appended in arrival order. A slot is finished either at once
 * (NAK for a frame without a usable MSH) or when its handler settles; `#flush` then writes the
 * answers of all finished slots at the head of the queue, so ACKs leave in arrival order however
 * the handlers interleave. `#pending` counts slots not yet written (what `close({ drain })` and
 * the idle timer wait for); `#running` counts handlers started and not settled (what
 * `maxInFlight` limits). Frames beyond that limit wait in `#backlog` and the socket is paused,
 * so a fast sender cannot make the server buffer without bound: TCP flow control pushes back.
 */
class Connection {
  readonly info: MllpConnectionInfo
  readonly socket: net.Socket
  readonly decoder: MllpDecoder
  readonly #server: ServerHooks
  readonly #handler: MllpHandler
  readonly #maxInFlight: number
  readonly #closeAfterAck: boolean
  readonly #slots: Slot[] = []
  #head = 0
  #pending = 0
  #running = 0
  #starting = false
  #backlog: Array<{ slot: Slot; frame: Buffer; header: MllpHeader | undefined }> = []
  #paused = false
  #closing = false
  #peerEnded = false
  #reason: MllpDisconnectReason = 'peer'
  messages = 0

  constructor(
    server: ServerHooks,
    socket: net.Socket,
    info: MllpConnectionInfo,
    options: Resolved,
  ) {
    this.#server = server
    this.socket = socket
    this.info = info
    this.#handler = options.handler
    this.#maxInFlight = options.maxInFlight
    this.#closeAfterAck = options.closeAfterAck
    this.decoder = new MllpDecoder({
      maxMessageBytes: options.maxMessageBytes,
      onFrame: (frame) => this.#onFrame(frame),
      onOversize: (oversize) => this.#onOversize(oversize),
    })
  }

  get pending(): number {
    return this.#pending
  }

  get reason(): MllpDisconnectReason {
    return this.#reason
  }

  onData(chunk: Buffer): void {
    if (this.#closing) return
    this.decoder.push(chunk)
  }

  // The peer sent FIN. With allowHalfOpen we can still write, so we end our side only once every
  // owed ACK is out (see #flush).
  onPeerEnd(): void {
    this.#peerEnded = true
    if (this.#pending === 0) this.socket.end()
  }

  // No bytes either way for idleTimeoutMs. A connection whose ACKs are still owed is busy, not
  // idle; a half-received frame with nothing arriving is idle (and dropped: no slow-loris hold).
  onIdle(): void {
    if (this.#pending > 0) {
      this.socket.setTimeout(this.socket.timeout ?? 0)
      return
    }
    this.#reason = 'idle'
    this.socket.destroy()
  }

  /** Stops reading (server closing); answers already owed are still written. */
  stopReading(): void {
    this.#closing = true
    this.#reason = 'server-close'
    this.socket.pause()
    if (this.#pending === 0) this.socket.end()
  }

  setReason(reason: MllpDisconnectReason): void {
    if (this.#reason === 'peer') this.#reason = reason
  }

  #pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.socket.pause()
  }

  // Called by the decoder, synchronously inside socket 'data', once per complete frame.
  #onFrame(frame: Buffer): void {
    // After close() or an oversize frame, frames still in the last chunk are not processed: the
    // peer gets no ACK for them and will resend them on its next connection.
    if (this.#closing) return
    this.messages++
    const receivedAt = Date.now()
    // The usual frame (MSH at its start, MSH-2/9/10 usable) is checked with one pass over the MSH
    // line's bytes and no string; its header object is made only if the handler reads it. Anything
    // else takes the full reading, which also says what is wrong for the NAK.
    const usable = scanMsh(frame) && scannedHeaderIsUsable()
    const read = usable ? undefined : readHeader(frame)
    const slot: Slot = {
      done: false,
      ack: undefined,
      ackedBy: 'transport',
      closeAfter: this.#closeAfterAck,
      ran: false,
      bytes: frame.length,
      controlId:
        read === undefined
          ? undefined
          : isHeaderProblem(read)
            ? (read.partial?.controlId ?? '')
            : read.controlId,
      message: read === undefined ? frame : undefined,
      receivedAt,
      ackCode: undefined,
    }
    this.#slots.push(slot)
    this.#pending++
    if (this.#pending >= this.#maxInFlight + MAX_QUEUED_ANSWERS) this.#pause()
    if (read !== undefined && isHeaderProblem(read)) {
      const code = read.partial?.enhancedMode === true ? 'CR' : 'AR'
      this.#finish(slot, this.#nak(frame, code, read.text, read.errorCode), code)
      return
    }
    const header = read
    if (this.#running >= this.#maxInFlight || this.#backlog.length > 0) {
      // Enough handlers running for this connection: hold the frame and stop reading.
      this.#backlog.push({ slot, frame, header })
      this.#pause()
      return
    }
    this.#run(slot, frame, header)
  }

  #run(slot: Slot, frame: Buffer, header: MllpHeader | undefined): void {
    this.#running++
    slot.ran = true
    const context = new HandlerContext(this.info, frame, header, slot.receivedAt)
    let result: MllpReply | Promise<MllpReply>
    try {
      result = this.#handler(frame, context)
    } catch (e) {
      this.#fail(slot, frame, context, e)
      return
    }
    if (isPromiseLike(result)) {
      result.then(
        (reply) => this.#reply(slot, frame, context, reply),
        (e: unknown) => this.#fail(slot, frame, context, e),
      )
    } else {
      this.#reply(slot, frame, context, result)
    }
  }

  // An oversize frame (HL7 gives no way to resynchronise reliably inside a huge frame, and a peer
  // that sends one will likely resend it): NAK it after the ACKs already owed, then close.
  #onOversize(oversize: MllpOversizeFrame): void {
    if (this.#closing) return
    this.messages++
    this.#closing = true
    this.#reason = 'oversize'
    this.socket.pause()
    const read = readHeader(oversize.head)
    const header = isHeaderProblem(read) ? read.partial : read
    const code = header?.enhancedMode === true ? 'CR' : 'AR'
    const slot: Slot = {
      done: false,
      ack: undefined,
      ackedBy: 'transport',
      closeAfter: true,
      ran: false,
      bytes: oversize.maxMessageBytes,
      controlId: header?.controlId ?? '',
      message: undefined,
      receivedAt: Date.now(),
      ackCode: undefined,
    }
    this.#slots.push(slot)
    this.#pending++
    const text = `message larger than the limit of ${oversize.maxMessageBytes} bytes`
    this.#finish(slot, this.#nak(oversize.head, code, text, 207), code)
    this.#server.reportError(oversize.error, this.info)
  }

  // A NAK built by the model's createNak from the frame's MSH line only (enough to address it, and
  // cheap to parse). The line is read as Latin-1 and the NAK written as Latin-1, so the copied
  // MSH-3..6 go back byte for byte whatever the charset; our own text is kept to ASCII for that.
  #nak(raw: Buffer, code: MllpAckCode, text: string, errorCode: Hl7ErrorConditionCode): Buffer {
    const safeText = text.replace(/[^\x20-\x7e]/g, '?')
    try {
      const nak = createNak(mshLine(raw), code, { text: safeText, errorCode })
      return encodeFrame(nak.toString(), 'latin1')
    } catch {
      // createNak only throws on invalid arguments; keep answering even then.
      return encodeFrame(buildMllpAck(undefined, code, { text: safeText }), 'latin1')
    }
  }

  // Turns the handler's reply into the frame to write. Strings follow the inbound charset
  // (Latin-1 for MSH-18 8859/1, else UTF-8); bytes are written as given.
  #reply(slot: Slot, frame: Buffer, context: HandlerContext, reply: MllpReply): void {
    if (reply === null) {
      // The application asked for no reply (AckMode Never): nothing is written for this frame.
      this.#finish(slot, undefined, undefined)
      return
    }
    if (reply === undefined) {
      // No ACK from the application: acknowledge receipt ourselves, unless the sender said in
      // MSH-15 (enhanced mode) that it wants no accept ACK, or only one on errors.
      const header = context.header
      const accept = header.acceptAckType
      if (header.enhancedMode && (accept === 'NE' || accept === 'ER')) {
        this.#finish(slot, undefined, undefined)
        return
      }
      const code = header.enhancedMode ? 'CA' : 'AA'
      this.#finish(slot, context.ackFrame(code), code)
      return
    }
    let ack: Buffer
    try {
      const built = context.frameOf(reply)
      if (built !== undefined) ack = built
      else if (typeof reply === 'string') ack = encodeFrame(reply, encodingFor(context.header))
      else if (reply instanceof Uint8Array) ack = encodeFrame(reply)
      else ack = encodeFrame(String(reply.toString()), encodingFor(context.header))
    } catch (e) {
      // A reply that cannot be serialized (e.g. a number from untyped code) is a handler failure.
      this.#fail(slot, frame, context, e)
      return
    }
    slot.ackedBy = 'handler'
    this.#finish(slot, ack, undefined)
  }

  // A handler that threw or rejected. A parse error is the sender's fault (AR/CR: do not resend
  // unchanged); anything else is ours (AE/CE: the sender may retry later).
  #fail(slot: Slot, frame: Buffer, context: HandlerContext, e: unknown): void {
    const error = errorOf(e)
    const header = context.header
    let code: MllpAckCode
    let ack: Buffer
    if (isHl7ParseError(error)) {
      code = header.enhancedMode ? 'CR' : 'AR'
      ack = this.#nak(frame, code, error.message, 100)
    } else {
      // The error's own text stays on this side (event); the peer learns only that it failed.
      code = header.enhancedMode ? 'CE' : 'AE'
      ack = this.#nak(frame, code, 'application error while processing the message', 207)
    }
    this.#finish(slot, ack, code)
    this.#server.reportError(error, this.info)
  }

  #finish(slot: Slot, ack: Buffer | undefined, ackCode: string | undefined): void {
    slot.ack = ack
    slot.ackCode = ackCode
    slot.done = true
    if (slot.ran) {
      this.#running--
      this.#startBacklog()
    }
    this.#flush()
  }

  // Starts held frames in arrival order. Handlers that finish synchronously re-enter #finish;
  // the flag keeps that from recursing once per held frame.
  #startBacklog(): void {
    if (this.#starting) return
    this.#starting = true
    while (this.#running < this.#maxInFlight && this.#backlog.length > 0) {
      const next = this.#backlog.shift()
      if (next !== undefined) this.#run(next.slot, next.frame, next.header)
    }
    this.#starting = false
  }

  // Writes every answer at the head of the queue that is done, in arrival order.
  #flush(): void {
    const slots = this.#slots
    const socket = this.socket
    while (this.#head < slots.length) {
      const slot = slots[this.#head]
      if (slot === undefined || !slot.done) break
      this.#head++
      this.#pending--
      if (!socket.destroyed && slot.ack !== undefined) socket.write(slot.ack)
      this.#server.reportMessage(this.info.connectionId, slot)
      if (slot.closeAfter) {
        this.#closing = true
        socket.end()
        return
      }
    }
    // Reuse the array when empty; otherwise trim the written prefix now and then (not per write,
    // which would make a long pipelined run quadratic).
    if (this.#head === slots.length) {
      slots.length = 0
      this.#head = 0
    } else if (this.#head > 1024) {
      slots.splice(0, this.#head)
      this.#head = 0
    }
    if (
      this.#paused &&
      this.#backlog.length === 0 &&
      this.#pending < this.#maxInFlight + MAX_QUEUED_ANSWERS &&
      !this.#closing
    ) {
      this.#paused = false
      socket.resume()
    }
    if (this.#pending === 0) {
      if (this.#peerEnded || this.#closing) socket.end()
      this.#server.checkDrained()
    }
  }
}

// What a connection needs from its server (kept off the server's public surface).
interface ServerHooks {
  reportError(error: Error, connection: MllpConnectionInfo | undefined): void
  reportMessage(connectionId: number, slot: Slot): void
  checkDrained(): void
}

interface Resolved {
  readonly handler: MllpHandler
  readonly maxMessageBytes: number
  readonly idleTimeoutMs: number
  readonly maxInFlight: number
  readonly closeAfterAck: boolean
}

/**
 * An MLLP listener (TCP, or TLS with `tls` options) that passes each message to `handler` and
 * writes back the ACK it returns.
 * @example
 * const server = new MllpServer({ handler: async (bytes, ctx) => ctx.ack('AA') })
 * const { port } = await server.listen(2575)
 */
export class MllpServer extends EventEmitter<MllpServerEvents> {
  readonly #options: Resolved
  readonly #server: net.Server
  readonly #tls: boolean
  readonly #connections = new Set<Connection>()
  readonly #hooks: ServerHooks
  #nextId = 1
  #closing = false
  #drainWaiters: Array<() => void> = []

  constructor(options: MllpServerOptions) {
    super()
    const maxInFlight = options.maxInFlight ?? 64
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new MllpError(
        'MLLP_INVALID_ARGUMENT',
        `maxInFlight must be a positive integer, got ${String(maxInFlight)}`,
      )
    }
    this.#options = {
      handler: options.handler,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      idleTimeoutMs: options.idleTimeoutMs ?? 0,
      maxInFlight,
      closeAfterAck: options.closeAfterAck ?? false,
    }
    this.#tls = options.tls !== undefined
    // allowHalfOpen (TCP only): a peer that half-closes after its last message still gets that
    // message's ACK. Not for TLS: there a peer's EOF during the handshake then leaves the socket
    // open forever (seen on Node 20), and TLS peers close with close_notify anyway.
    if (options.tls !== undefined) {
      const server = tls.createServer(options.tls)
      server.on('secureConnection', (socket) => this.#accept(socket))
      server.on('tlsClientError', (error, socket) => {
        socket.destroy()
        this.#reportError(error, undefined)
      })
      this.#server = server
    } else {
      this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
        this.#accept(socket),
      )
    }
    if (options.maxConnections !== undefined) this.#server.maxConnections = options.maxConnections
    this.#server.on('error', (error) => this.#reportError(error, undefined))
    this.#hooks = {
      reportError: (error, info) => this.#reportError(error, info),
      reportMessage: (id, slot) => this.#reportMessage(id, slot),
      checkDrained: () => this.#checkDrained(),
    }
  }

  /** Open connections right now. */
  get connectionCount(): number {
    return this.#connections.size
  }

  /** Starts listening (port 0 picks a free port); resolves with the bound address. */
  listen(port = 0, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error)
      this.#server.once('error', onError)
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError)
        const address = this.#server.address() as AddressInfo
        this.emit('listening', address)
        resolve(address)
      })
    })
  }

  /** The bound address, or null before `listen()` and after `close()`. */
  address(): AddressInfo | null {
    const address = this.#server.address()
    return address !== null && typeof address === 'object' ? address : null
  }

  /**
   * Stops accepting connections and reading new messages. With `drain` (default), running handlers
   * finish and their ACKs are written before connections close; without it, connections are
   * destroyed at once. Resolves when everything is closed.
   */
  async close(options: MllpCloseOptions = {}): Promise<void> {
    const drain = options.drain ?? true
    const timeoutMs = options.timeoutMs ?? 10_000
    this.#closing = true
    const closed = new Promise<void>((resolve) => {
      if (!this.#server.listening) resolve()
      else this.#server.close(() => resolve())
    })
    if (drain) {
      for (const connection of this.#connections) connection.stopReading()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.#drained(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs)
        }),
      ])
      clearTimeout(timer)
      // Give sockets a moment to close after their FIN, then force the stragglers.
      await this.#allClosed(Math.min(1000, timeoutMs))
    }
    for (const connection of this.#connections) {
      connection.setReason('server-close')
      connection.socket.destroy()
    }
    await closed
    this.emit('close')
  }

  // Emits `error` only if anyone listens: an unheard `error` event would crash the process.
  #reportError(error: Error, connection: MllpConnectionInfo | undefined): void {
    if (this.listenerCount('error') > 0) this.emit('error', error, connection)
  }

  #reportMessage(connectionId: number, slot: Slot): void {
    if (this.listenerCount('message') === 0) return
    let ackCode = slot.ackCode
    if (ackCode === undefined && slot.ack !== undefined) {
      ackCode = readAckFields(slot.ack.subarray(1, slot.ack.length - 2))?.code
    }
    this.emit('message', {
      connectionId,
      bytes: slot.bytes,
      controlId: slot.controlId ?? controlIdOf(slot.message),
      ackCode,
      durationMs: Date.now() - slot.receivedAt,
      ackedBy: slot.ackedBy,
    })
  }

  // Wakes `close()` when no connection has a handler running.
  #checkDrained(): void {
    if (this.#drainWaiters.length === 0) return
    for (const connection of this.#connections) if (connection.pending > 0) return
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const wake of waiters) wake()
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve)
      this.#checkDrained()
    })
  }

  #allClosed(timeoutMs: number): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs)
      const sockets = [...this.#connections].map((c) => c.socket)
      let left = sockets.length
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      for (const socket of sockets) {
        if (socket.destroyed) left--
        else
          socket.once('close', () => {
            if (--left === 0) done()
          })
      }
      if (left === 0) done()
    })
  }

  // A new connection (after the TLS handshake, for TLS): identify the peer, wire the socket to a
  // Connection. Nagle is off: ACKs are small and latency-bound, batching them only adds delay.
  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy()
      return
    }
    let peerCommonName: string | undefined
    let authorized = false
    if (socket instanceof tls.TLSSocket) {
      authorized = socket.authorized
      const subject = socket.getPeerCertificate().subject as Record<string, unknown> | undefined
      const cn = subject?.['CN']
      peerCommonName = typeof cn === 'string' ? cn : undefined
    }
    const info: MllpConnectionInfo = {
      connectionId: this.#nextId++,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      tls: this.#tls,
      authorized,
      peerCommonName,
    }
    const connection = new Connection(this.#hooks, socket, info, this.#options)
    this.#connections.add(connection)
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    if (this.#options.idleTimeoutMs > 0) {
      socket.setTimeout(this.#options.idleTimeoutMs)
      socket.on('timeout', () => connection.onIdle())
    }
    socket.on('data', (chunk: Buffer) => connection.onData(chunk))
    socket.on('end', () => connection.onPeerEnd())
    socket.on('error', (error) => {
      connection.setReason('error')
      // Resets by peers are routine on hospital networks; they end the connection, nothing more.
      this.#reportError(error, info)
    })
    socket.on('close', () => {
      this.#connections.delete(connection)
      this.emit('disconnect', {
        ...info,
        reason: connection.reason,
        messages: connection.messages,
        discardedBytes: connection.decoder.discardedBytes,
      })
      this.#checkDrained()
    })
    this.emit('connection', info)
  }
}
