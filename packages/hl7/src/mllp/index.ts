// The "@li/hl7/mllp" entry point: MLLP framing, server and client (HL7 v2 Implementation Guide,
// Appendix C "Minimal Lower Layer Protocol"). Hand-written export list, no `export *`.
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  MLLP_CARRIAGE_RETURN,
  MLLP_END_BLOCK,
  MLLP_START_BLOCK,
  MllpDecoder,
  encodeFrame,
} from './frame.js'
export type { MllpDecoderOptions, MllpOversizeFrame } from './frame.js'
export { MllpError, isMllpError } from './errors.js'
export type { MllpErrorCode } from './errors.js'
export { isHeaderProblem, readAckFields, readControlId, readHeader } from './header.js'
export type { MllpAckFields, MllpHeader, MllpHeaderProblem } from './header.js'
export { buildMllpAck } from './ack.js'
export type { MllpAckCode, MllpAckOptions } from './ack.js'
export { MllpServer } from './server.js'
export type {
  MllpCloseOptions,
  MllpConnectionInfo,
  MllpDisconnectInfo,
  MllpDisconnectReason,
  MllpHandler,
  MllpHandlerContext,
  MllpMessageInfo,
  MllpReply,
  MllpSerializable,
  MllpServerEvents,
  MllpServerOptions,
} from './server.js'
export { MllpClient } from './client.js'
export type {
  MllpAck,
  MllpBackoffOptions,
  MllpClientEvents,
  MllpClientOptions,
  MllpDiscardedAck,
} from './client.js'
