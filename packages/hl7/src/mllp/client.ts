// MLLP client: sends HL7 messages in MLLP frames over TCP or TLS (HL7 v2 Implementation Guide,
// Appendix C "Minimal Lower Layer Protocol") and waits for each message's ACK (HL7 v2.5 ch. 2,
// 2.9 "Message processing rules": MSA-2 echoes the MSH-10 of the message it acknowledges).
//
// - Order: messages are written in `send()` order on one connection; by default one at a time
//   (the next is written once the previous is acknowledged or has failed), or up to `window`
//   awaiting their ACKs when pipelining.
// - Strict matching: an ACK is applied only to the in-flight message whose MSH-10 equals its
//   MSA-2. A late ACK (its message already timed out) or a mismatched one is discarded with a
//   `discardedAck` event; it is never taken as the answer to the next message.
// - Failure: no matching ACK within `ackTimeoutMs` rejects with MLLP_ACK_TIMEOUT; a connection that
//   drops rejects its in-flight messages with MLLP_CONNECTION_CLOSED (the caller decides whether to
//   resend: MLLP is at-least-once). Messages not yet written wait for the reconnection, which
//   retries with exponential backoff.
//
// What it does not do: resend on its own, persist its queue, or parse the ACK body (MSA-1..3 are
// read raw; parse `ack.raw` with the model's parser if you need more).
import { EventEmitter } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import { MllpError } from './errors.js'
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  MLLP_CARRIAGE_RETURN,
  MLLP_END_BLOCK,
  MLLP_START_BLOCK,
  MllpDecoder,
  encodeFrame,
} from './frame.js'
import type { Message } from '../parse/message.js'
import { parseMessage } from '../parse/parse-message.js'
import { ACK_FIELD_SPANS, locateAckFields, readControlId } from './header.js'
import type { MllpSerializable } from './server.js'

/** Reconnection backoff of {@link MllpClient}: delay = min(max, initial × factor^(n−1)), jittered. */
export interface MllpBackoffOptions {
  /** First delay in ms; default 100. */
  readonly initialDelayMs?: number
  /** Largest delay in ms; default 30 000. */
  readonly maxDelayMs?: number
  /** Growth factor per failed attempt; default 2. */
  readonly factor?: number
  /** Give up (rejecting queued messages with MLLP_CONNECT_FAILED) after this many failures in a row; default unlimited. */
  readonly maxAttempts?: number
}

/** Options of {@link MllpClient}. */
export interface MllpClientOptions {
  /** The peer's port. */
  readonly port: number
  /** The peer's host; default `127.0.0.1`. */
  readonly host?: string
  /** Connect with TLS: `true` for defaults, or options (`ca`, and `key` + `cert` for mutual TLS). */
  readonly tls?: boolean | tls.ConnectionOptions
  /** Give up a connection attempt after this many ms; default 10 000. */
  readonly connectTimeoutMs?: number
  /** Reject a message whose ACK has not arrived this many ms after it was written; default 30 000. */
  readonly ackTimeoutMs?: number
  /** Messages that may await their ACK at once on the connection; default 1 (no pipelining). */
  readonly window?: number
  /** Reconnection backoff. */
  readonly backoff?: MllpBackoffOptions
  /** Largest accepted ACK in bytes; default 16 MiB. */
  readonly maxMessageBytes?: number
  /** How string messages are encoded on the wire; default UTF-8 (use `latin1` for MSH-18 8859/1). */
  readonly encoding?: BufferEncoding
}

/** The ACK that answered a message. Fields are raw (escaped), read from the ACK's MSA segment. */
export interface MllpAck {
  /**
   * The ACK parsed by `parseMessage` (bytes decoded by its MSH-18), on first access. Throws
   * Hl7ParseError if the peer's ACK is not a well-formed message.
   */
  readonly message: Message
  /** The ACK message as received (frame content, without VT/FS/CR). */
  readonly raw: Buffer
  /** MSA-1: AA, AE, AR, CA, CE, CR (or whatever the peer sent). */
  readonly code: string
  /** MSA-2: the control id acknowledged, equal to the MSH-10 that was sent. */
  readonly controlId: string
  /** MSA-3 text message, or ''. */
  readonly text: string
  /** Whether MSA-1 is AA or CA. */
  readonly accepted: boolean
  /** Milliseconds from writing the message to receiving its ACK. */
  readonly durationMs: number
}

/** Payload of the `discardedAck` event. */
export interface MllpDiscardedAck {
  /** The frame that was discarded. */
  readonly raw: Buffer
  /** `late`: its message already timed out; `unmatched`: no message with that MSH-10 is in flight; `unreadable`: no MSA. */
  readonly reason: 'late' | 'unmatched' | 'unreadable'
  /** MSA-2 of the frame, if readable. */
  readonly controlId: string | undefined
}

/** Events of {@link MllpClient}. `error` is only emitted when someone listens to it. */
export interface MllpClientEvents {
  connect: []
  disconnect: [error: Error | undefined]
  reconnecting: [info: { attempt: number; delayMs: number; error: Error }]
  discardedAck: [info: MllpDiscardedAck]
  error: [error: Error]
}

// The resolved ACK: MSA fields read eagerly (cheap, needed for matching), the full parse lazily.
class Ack implements MllpAck {
  readonly raw: Buffer
  readonly code: string
  readonly controlId: string
  readonly text: string
  readonly accepted: boolean
  readonly durationMs: number
  #message: Message | undefined

  constructor(raw: Buffer, code: string, controlId: string, text: string, durationMs: number) {
    this.raw = raw
    this.code = code
    this.controlId = controlId
    this.text = text
    this.accepted = code === 'AA' || code === 'CA'
    this.durationMs = durationMs
  }

  get message(): Message {
    this.#message ??= parseMessage(this.raw)
    return this.#message
  }
}

interface Outgoing {
  // Either a complete frame (strings are encoded straight into one), or the caller's bytes,
  // written between START_BLOCK and END_BLOCK without copying.
  readonly frame: Buffer | undefined
  readonly body: Uint8Array
  readonly controlId: string
  readonly resolve: (ack: MllpAck) => void
  readonly reject: (error: Error) => void
  sentAt: number
}

const START_BLOCK = Buffer.from([MLLP_START_BLOCK])
const END_BLOCK = Buffer.from([MLLP_END_BLOCK, MLLP_CARRIAGE_RETURN])

// Whether bytes [from, to) of `buf` are the Latin-1 string `text` (control ids are read as
// Latin-1, one char per byte): MSA-2 is matched against MSH-10 without decoding it.
function bytesEqual(buf: Buffer, from: number, to: number, text: string): boolean {
  if (to - from !== text.length) return false
  for (let i = 0; i < text.length; i++) if (buf[from + i] !== text.charCodeAt(i)) return false
  return true
}

const ORIGINAL_CODES = ['AA', 'AE', 'AR'] as const
const ENHANCED_CODES = ['CA', 'CE', 'CR'] as const

// MSA-1 as a string: the six codes of HL7 table 0008 without decoding, anything else decoded.
function ackCodeOf(buf: Buffer, from: number, to: number): string {
  if (to - from === 2) {
    const second = buf[from + 1]
    const kind = second === 0x41 ? 0 : second === 0x45 ? 1 : second === 0x52 ? 2 : -1
    if (kind !== -1 && buf[from] === 0x41) return ORIGINAL_CODES[kind] ?? ''
    if (kind !== -1 && buf[from] === 0x43) return ENHANCED_CODES[kind] ?? ''
  }
  return buf.toString('latin1', from, to)
}

// Control ids of recently timed-out messages, so that their late ACKs are reported as `late`.
const LATE_MEMORY = 256

/**
 * Sends HL7 messages over one MLLP connection and resolves each with its ACK.
 * @example
 * const client = new MllpClient({ host: 'pas.example.nhs.uk', port: 2575 })
 * const ack = await client.send(message) // ack.code === 'AA'
 * await client.close()
 */
export class MllpClient extends EventEmitter<MllpClientEvents> {
  readonly #host: string
  readonly #port: number
  readonly #tls: tls.ConnectionOptions | undefined
  readonly #connectTimeoutMs: number
  readonly #ackTimeoutMs: number
  readonly #window: number
  #pumpScheduled = false
  readonly #backoff: Required<MllpBackoffOptions>
  readonly #maxMessageBytes: number
  readonly #encoding: BufferEncoding
  #socket: net.Socket | undefined
  #connected = false
  #connecting: Promise<void> | undefined
  #reconnecting = false
  #failures = 0
  #ackedOnConnection = false
  #closed = false
  #queue: Outgoing[] = []
  #queueHead = 0
  readonly #inFlight: Outgoing[] = []
  readonly #late: string[] = []
  #sleepTimer: NodeJS.Timeout | undefined
  #ackTimer: NodeJS.Timeout | undefined
  #wakeSleep: (() => void) | undefined
  #idleWaiters: Array<() => void> = []

  constructor(options: MllpClientOptions) {
    super()
    this.#host = options.host ?? '127.0.0.1'
    this.#port = options.port
    this.#tls = options.tls === true ? {} : options.tls === false ? undefined : options.tls
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 30_000
    this.#window = options.window ?? 1
    if (!Number.isInteger(this.#window) || this.#window < 1) {
      throw new MllpError(
        'MLLP_INVALID_ARGUMENT',
        `window must be a positive integer, got ${String(options.window)}`,
      )
    }
    this.#backoff = {
      initialDelayMs: options.backoff?.initialDelayMs ?? 100,
      maxDelayMs: options.backoff?.maxDelayMs ?? 30_000,
      factor: options.backoff?.factor ?? 2,
      maxAttempts: options.backoff?.maxAttempts ?? Number.POSITIVE_INFINITY,
    }
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.#encoding = options.encoding ?? 'utf8'
  }

  /** Whether a connection is open right now. */
  get connected(): boolean {
    return this.#connected
  }

  /** Messages written and awaiting their ACK. */
  get inFlight(): number {
    return this.#inFlight.length
  }

  /** Messages waiting to be written. */
  get queued(): number {
    return this.#queue.length - this.#queueHead
  }

  /**
   * Opens the connection now (one attempt, no backoff); `send()` also connects on demand. Rejects
   * with MLLP_CONNECT_TIMEOUT or MLLP_CONNECT_FAILED.
   */
  connect(): Promise<void> {
    if (this.#closed)
      return Promise.reject(new MllpError('MLLP_CLOSED', 'the MLLP client is closed'))
    if (this.#connected) return Promise.resolve()
    return this.#connectOnce()
  }

  /**
   * Sends one message and resolves with its ACK (whatever MSA-1 says: check `ack.accepted`).
   * Bytes are written as given, without a copy: do not modify them until the promise settles.
   * Rejects with MllpError: MLLP_INVALID_MESSAGE (no MSH-10 to match an ACK against),
   * MLLP_ACK_TIMEOUT, MLLP_CONNECTION_CLOSED, MLLP_CONNECT_FAILED or MLLP_CLOSED.
   */
  send(message: string | Uint8Array | MllpSerializable): Promise<MllpAck> {
    if (this.#closed)
      return Promise.reject(new MllpError('MLLP_CLOSED', 'the MLLP client is closed'))
    const payload =
      typeof message === 'string' || message instanceof Uint8Array
        ? message
        : String(message.toString())
    // Strings are encoded into a frame once; bytes are not copied at all (a 3.3 KB copy per message
    // was the client's largest allocation and, through GC, a visible part of its tail latency).
    const frame = typeof payload === 'string' ? encodeFrame(payload, this.#encoding) : undefined
    const body = frame === undefined ? (payload as Uint8Array) : frame.subarray(1, frame.length - 2)
    // MSH-10 is read from the encoded bytes (as Latin-1), exactly as MSA-2 will be read from the
    // ACK's bytes, so that the two compare equal whatever the charset.
    const controlId = readControlId(body)
    if (typeof controlId !== 'string') {
      return Promise.reject(
        new MllpError('MLLP_INVALID_MESSAGE', `cannot send this message: ${controlId.text}`),
      )
    }
    return new Promise<MllpAck>((resolve, reject) => {
      this.#queue.push({
        frame,
        body,
        controlId,
        resolve,
        reject,
        sentAt: 0,
      })
      this.#schedulePump()
    })
  }

  /**
   * Stops accepting messages, rejects those not yet written with MLLP_CLOSED, waits for those in
   * flight to be acknowledged (or time out), then closes the connection.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#rejectQueued(new MllpError('MLLP_CLOSED', 'the MLLP client was closed before sending'))
    this.#cancelSleep()
    if (this.#inFlight.length > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
    }
    const socket = this.#socket
    if (socket !== undefined && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve())
        socket.end()
        // A peer that never answers our FIN must not keep close() waiting.
        setTimeout(() => socket.destroy(), 1000).unref()
      })
    }
  }

  /** Closes at once: rejects everything queued or in flight and destroys the connection. */
  destroy(): void {
    this.#closed = true
    this.#cancelSleep()
    this.#rejectQueued(new MllpError('MLLP_CLOSED', 'the MLLP client was destroyed'))
    this.#rejectInFlight(new MllpError('MLLP_CLOSED', 'the MLLP client was destroyed'))
    clearTimeout(this.#ackTimer)
    this.#ackTimer = undefined
    this.#socket?.destroy()
  }

  // Writes queued messages while the window allows; connects first if needed. Called after every
  // change that may free a place: send(), an ACK, an ACK timeout, a (re)connection, a close.
  // The ACK timer starts when a message is written, not when it is queued, so a long queue
  // behind a slow peer does not time out messages that were never sent.
  // Sends in one tick and ACKs decoded from one TCP chunk each free a place; pumping once after
  // them (a microtask later) writes every frame they allow in one corked writev instead of one
  // syscall per frame.
  #schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    queueMicrotask(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    if (!this.#connected) {
      if (this.queued > 0 && !this.#closed) this.#ensureConnected()
      return
    }
    const socket = this.#socket
    if (socket === undefined) return
    let corked = false
    while (this.#inFlight.length < this.#window && this.#queueHead < this.#queue.length) {
      const out = this.#queue[this.#queueHead++]
      if (out === undefined) break
      this.#inFlight.push(out)
      out.sentAt = performance.now()
      // Corked, everything written in this loop leaves in one writev.
      if (!corked) socket.cork()
      corked = true
      if (out.frame !== undefined) {
        socket.write(out.frame)
      } else {
        socket.write(START_BLOCK)
        socket.write(out.body)
        socket.write(END_BLOCK)
      }
    }
    if (corked) socket.uncork()
    this.#armAckTimer()
    if (this.#queueHead === this.#queue.length) {
      // Emptied: reuse the array (this runs after every ACK; most calls have nothing to do).
      if (this.#queueHead > 0) {
        this.#queue.length = 0
        this.#queueHead = 0
      }
    } else if (this.#queueHead > 1024) {
      this.#queue = this.#queue.slice(this.#queueHead)
      this.#queueHead = 0
    }
  }

  // Reconnects with exponential backoff while messages are waiting.
  #ensureConnected(): void {
    if (this.#reconnecting) return
    this.#reconnecting = true
    void this.#reconnectLoop()
  }

  // Connects, retrying with backoff, for as long as messages wait and the client is open.
  // `#failures` is reset only by an ACK, not by a mere connection, and a connection dropped with
  // messages in flight before any ACK counts as a failure: a peer that accepts and then drops
  // every connection is backed off rather than hammered.
  async #reconnectLoop(): Promise<void> {
    try {
      await this.#reconnectAttempts()
    } finally {
      // Cleared as the loop ends, before any I/O callback can run: a connection that drops right
      // after this loop connected must be able to start a new loop.
      this.#reconnecting = false
    }
  }

  async #reconnectAttempts(): Promise<void> {
    while (!this.#closed && !this.#connected && this.queued > 0) {
      if (this.#failures > 0) {
        const { initialDelayMs, maxDelayMs, factor, maxAttempts } = this.#backoff
        if (this.#failures >= maxAttempts) {
          this.#rejectQueued(
            new MllpError(
              'MLLP_CONNECT_FAILED',
              `could not connect to ${this.#host}:${this.#port} after ${this.#failures} attempts`,
            ),
          )
          this.#failures = 0
          return
        }
        const base = Math.min(maxDelayMs, initialDelayMs * factor ** (this.#failures - 1))
        // Jitter (50-100 % of the delay) keeps many clients from reconnecting in lockstep.
        await this.#sleep(Math.round(base * (0.5 + Math.random() * 0.5)))
        if (this.#closed || this.#connected || this.queued === 0) return
      }
      try {
        await this.#connectOnce()
      } catch (e) {
        this.#failures++
        const error = e instanceof Error ? e : new Error(String(e))
        const { initialDelayMs, maxDelayMs, factor } = this.#backoff
        const delayMs = Math.min(maxDelayMs, initialDelayMs * factor ** (this.#failures - 1))
        this.emit('reconnecting', { attempt: this.#failures, delayMs, error })
      }
    }
  }

  // One connection attempt; concurrent callers share it. TLS counts as connected only after the
  // handshake, so the connect timeout covers it too.
  #connectOnce(): Promise<void> {
    if (this.#connecting !== undefined) return this.#connecting
    const attempt = new Promise<void>((resolve, reject) => {
      const options = { host: this.#host, port: this.#port, noDelay: true }
      const socket =
        this.#tls !== undefined
          ? tls.connect({
              servername: net.isIP(this.#host) === 0 ? this.#host : undefined,
              ...this.#tls,
              ...options,
            })
          : net.connect(options)
      const ready = this.#tls !== undefined ? 'secureConnect' : 'connect'
      const timer = setTimeout(() => {
        socket.destroy()
        reject(
          new MllpError(
            'MLLP_CONNECT_TIMEOUT',
            `no connection to ${this.#host}:${this.#port} within ${this.#connectTimeoutMs} ms`,
          ),
        )
      }, this.#connectTimeoutMs)
      const onError = (error: Error): void => {
        clearTimeout(timer)
        socket.destroy()
        reject(
          new MllpError(
            'MLLP_CONNECT_FAILED',
            `could not connect to ${this.#host}:${this.#port}: ${error.message}`,
            { cause: error },
          ),
        )
      }
      socket.once('error', onError)
      socket.once(ready, () => {
        clearTimeout(timer)
        socket.off('error', onError)
        this.#attach(socket)
        resolve()
      })
    })
    this.#connecting = attempt
    const clear = (): void => {
      this.#connecting = undefined
    }
    attempt.then(clear, clear)
    return attempt
  }

  // Wires a fresh connection: its own decoder (no bytes carry over from a previous connection),
  // and on close the in-flight messages fail while queued ones wait for the next connection.
  #attach(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy()
      return
    }
    this.#socket = socket
    this.#connected = true
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    const decoder = new MllpDecoder({
      maxMessageBytes: this.#maxMessageBytes,
      onFrame: (frame) => this.#onFrame(frame),
      onOversize: (oversize) => {
        this.emit('discardedAck', {
          raw: oversize.head,
          reason: 'unreadable',
          controlId: undefined,
        })
      },
    })
    let lastError: Error | undefined
    socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    socket.on('error', (error) => {
      lastError = error
      if (this.listenerCount('error') > 0) this.emit('error', error)
    })
    this.#ackedOnConnection = false
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined
      this.#connected = false
      // Dropped with messages in flight and not one ACK: count it as a failed attempt.
      if (!this.#ackedOnConnection && this.#inFlight.length > 0) this.#failures++
      this.#rejectInFlight(
        new MllpError(
          'MLLP_CONNECTION_CLOSED',
          `the connection to ${this.#host}:${this.#port} closed before the ACK arrived`,
          { cause: lastError },
        ),
      )
      this.emit('disconnect', lastError)
      this.#pump()
    })
    this.emit('connect')
    this.#pump()
  }

  // An inbound frame: the ACK of the in-flight message whose MSH-10 equals its MSA-2, or nothing of
  // ours. Unmatched frames are reported and dropped; they never settle another message. MSA-2 is
  // compared byte for byte with each in-flight MSH-10 and only the fields kept are decoded: the
  // ACK costs one short scan and, for a plain AA without MSA-3, no string at all.
  #onFrame(raw: Buffer): void {
    if (!locateAckFields(raw)) {
      this.emit('discardedAck', { raw, reason: 'unreadable', controlId: undefined })
      return
    }
    const spans = ACK_FIELD_SPANS
    const codeFrom = spans[0] ?? 0
    const codeTo = spans[1] ?? 0
    const idFrom = spans[2] ?? 0
    const idTo = spans[3] ?? 0
    const textFrom = spans[4] ?? 0
    const textTo = spans[5] ?? 0
    const inFlight = this.#inFlight
    let index = -1
    for (let i = 0; i < inFlight.length; i++) {
      const candidate = inFlight[i]
      if (candidate !== undefined && bytesEqual(raw, idFrom, idTo, candidate.controlId)) {
        index = i
        break
      }
    }
    const out = inFlight[index]
    if (out === undefined) {
      const controlId = raw.toString('latin1', idFrom, idTo)
      const reason = this.#late.includes(controlId) ? 'late' : 'unmatched'
      this.emit('discardedAck', { raw, reason, controlId })
      return
    }
    if (index === 0) inFlight.shift()
    else inFlight.splice(index, 1)
    this.#failures = 0
    this.#ackedOnConnection = true
    const code = ackCodeOf(raw, codeFrom, codeTo)
    const text = textTo > textFrom ? raw.toString('latin1', textFrom, textTo) : ''
    out.resolve(new Ack(raw, code, out.controlId, text, performance.now() - out.sentAt))
    this.#afterSettle()
  }

  // One timer per client, not one per message (a timer per message cost ~1-2 us of the ~50 us
  // round trip): armed for the oldest in-flight message's deadline, left running across ACKs,
  // and on firing it fails what is overdue and re-arms for the next deadline. In-flight messages
  // are in write order, so the oldest deadline is always the first. Unref'd: while anything is in
  // flight the socket keeps the process alive anyway.
  #armAckTimer(): void {
    const oldest = this.#inFlight[0]
    if (this.#ackTimer !== undefined || oldest === undefined) return
    const delay = Math.max(0, oldest.sentAt + this.#ackTimeoutMs - performance.now())
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined
      const now = performance.now()
      while (
        this.#inFlight[0] !== undefined &&
        now - this.#inFlight[0].sentAt >= this.#ackTimeoutMs
      ) {
        this.#onAckTimeout(this.#inFlight[0])
      }
      this.#armAckTimer()
    }, Math.ceil(delay))
    this.#ackTimer.unref()
  }

  // The message stays unacknowledged: it may or may not have been processed by the peer. Its
  // control id is remembered so that a late ACK is reported as `late`, not just `unmatched`.
  #onAckTimeout(out: Outgoing): void {
    const index = this.#inFlight.indexOf(out)
    if (index === -1) return
    this.#inFlight.splice(index, 1)
    this.#late.push(out.controlId)
    if (this.#late.length > LATE_MEMORY) this.#late.shift()
    out.reject(
      new MllpError(
        'MLLP_ACK_TIMEOUT',
        `no ACK with MSA-2 = ${JSON.stringify(out.controlId)} from ${this.#host}:${this.#port} within ${this.#ackTimeoutMs} ms`,
      ),
    )
    this.#afterSettle()
  }

  #afterSettle(): void {
    if (this.#inFlight.length === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const wake of waiters) wake()
    }
    this.#schedulePump()
  }

  #rejectQueued(error: MllpError): void {
    const queue = this.#queue
    const head = this.#queueHead
    this.#queue = []
    this.#queueHead = 0
    for (let i = head; i < queue.length; i++) queue[i]?.reject(error)
  }

  #rejectInFlight(error: MllpError): void {
    const inFlight = this.#inFlight.splice(0)
    for (const out of inFlight) out.reject(error)
    if (inFlight.length > 0) this.#afterSettle()
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleep = resolve
      this.#sleepTimer = setTimeout(resolve, ms)
    })
  }

  #cancelSleep(): void {
    clearTimeout(this.#sleepTimer)
    this.#wakeSleep?.()
    this.#wakeSleep = undefined
  }
}
