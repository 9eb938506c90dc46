// Errors of the MLLP transport (framing, server, client). One class, `MllpError`, with a closed
// set of codes, so that callers can branch on `code` (e.g. retry on MLLP_ACK_TIMEOUT).
import { Hl7Error } from '../errors.js'

/** Stable codes of every error the MLLP transport reports. */
export type MllpErrorCode =
  /** A frame's content grew past `maxMessageBytes`. */
  | 'MLLP_FRAME_TOO_LARGE'
  /** No TCP/TLS connection within `connectTimeoutMs`. */
  | 'MLLP_CONNECT_TIMEOUT'
  /** Connecting failed (refused, unreachable, TLS handshake rejected). */
  | 'MLLP_CONNECT_FAILED'
  /** No matching ACK (MSA-2 = the sent MSH-10) within `ackTimeoutMs` of writing the message. */
  | 'MLLP_ACK_TIMEOUT'
  /** The connection closed while the message was waiting for its ACK. */
  | 'MLLP_CONNECTION_CLOSED'
  /** The client or server was closed before the operation could complete. */
  | 'MLLP_CLOSED'
  /** The message to send has no usable MSH segment or no MSH-10, so its ACK could not be matched. */
  | 'MLLP_INVALID_MESSAGE'
  /** An option of `MllpDecoder`, `MllpServer` or `MllpClient` is out of range (a programming error). */
  | 'MLLP_INVALID_ARGUMENT'

/** The error class of the MLLP transport; `code` is one of {@link MllpErrorCode}. */
export class MllpError extends Hl7Error {
  override readonly name: string = 'MllpError'
  override readonly code: MllpErrorCode

  constructor(code: MllpErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.code = code
  }
}

/** Whether `e` is an MllpError (also across duplicated module copies: checks `name` and `code`). */
export function isMllpError(e: unknown): e is MllpError {
  return (
    e instanceof MllpError ||
    (e instanceof Error &&
      e.name === 'MllpError' &&
      String((e as { code?: unknown }).code).startsWith('MLLP_'))
  )
}
