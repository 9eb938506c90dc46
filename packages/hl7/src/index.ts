// Hand-written export list (no `export *`). Each section is owned by one area of the package.

// --- errors -------------------------------------------------------------------------------
export { Hl7Error, isHl7Error } from './errors.js'
export type { Hl7ErrorCode } from './errors.js'

// --- message model, parser, serializer, paths, batches, ACKs (section: model) -------------
export { Hl7ParseError, isHl7ParseError } from './errors.js'
export type { Hl7ParseErrorCode, Hl7ErrorPosition } from './errors.js'
export { parseMessage, DEFAULT_MAX_SIZE } from './parse/parse-message.js'
export type { ParseOptions } from './parse/parse-message.js'
export { Message } from './parse/message.js'
export { Segment } from './parse/segment.js'
export { parsePath, MAX_PATH_INDEX } from './parse/path.js'
export type { Hl7Path } from './parse/path.js'
export { escape, unescape } from './parse/escape.js'
export { DEFAULT_ENCODING } from './parse/encoding.js'
export type { Encoding } from './parse/encoding.js'
export { parseBatch } from './parse/batch.js'
export type { Hl7Batch, Hl7BatchGroup } from './parse/batch.js'
export { createAck, createNak, newControlId, HL7_ERROR_CODES } from './ack.js'
export type { AckCode, AckOptions, NakOptions, Hl7ErrorConditionCode } from './ack.js'
// (end model)

// --- schemas and validation (section: schema) ----------------------------------------------
export { HL7_VERSIONS, getSchema, isHl7Version } from './schema/load.js'
export {
  findField,
  findComponent,
  findGroup,
  getStructure,
  structureForMessage,
} from './schema/lookup.js'
export { irisName } from './schema/names.js'
export { defineCustomSchema, loadCustomSchema, parseStructureDefinition } from './schema/custom.js'
export type { CustomSchemaDefinition, CustomFieldDefinition } from './schema/custom.js'
export { validate } from './schema/validate.js'
export type { ValidateOptions, ValidatableMessage, ValidatableSegment } from './schema/validate.js'
export { Hl7SchemaError, isHl7SchemaError } from './schema/errors.js'
export type { Hl7SchemaErrorCode } from './schema/errors.js'
export type {
  Hl7Version,
  Hl7Schema,
  FieldDefinition,
  SegmentDefinition,
  ComponentDefinition,
  DataTypeDefinition,
  StructureNode,
  MessageStructure,
  ValidationIssue,
  ValidationCode,
  ValidationSeverity,
} from './schema/types.js'
// (end schema)

// --- MLLP framing, server, client (section: mllp; also the "./mllp" subpath) ---------------
// The header/ACK helpers (readHeader, readControlId, readAckFields, buildMllpAck) are on
// "@li/hl7/mllp" only.
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  MLLP_CARRIAGE_RETURN,
  MLLP_END_BLOCK,
  MLLP_START_BLOCK,
  MllpClient,
  MllpDecoder,
  MllpError,
  MllpServer,
  encodeFrame,
  isMllpError,
} from './mllp/index.js'
export type {
  MllpAck,
  MllpAckCode,
  MllpAckOptions,
  MllpBackoffOptions,
  MllpClientEvents,
  MllpClientOptions,
  MllpCloseOptions,
  MllpConnectionInfo,
  MllpDecoderOptions,
  MllpDisconnectInfo,
  MllpDisconnectReason,
  MllpDiscardedAck,
  MllpErrorCode,
  MllpHandler,
  MllpHandlerContext,
  MllpHeader,
  MllpMessageInfo,
  MllpOversizeFrame,
  MllpReply,
  MllpSerializable,
  MllpServerEvents,
  MllpServerOptions,
} from './mllp/index.js'
// (end mllp)
