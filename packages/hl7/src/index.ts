// Hand-written export list (no `export *`). Each section is owned by one area of the package.

// --- errors -------------------------------------------------------------------------------
export { Hl7Error, isHl7Error } from './errors.js'
export type { Hl7ErrorCode } from './errors.js'

// --- message model, parser, serializer, paths, batches, ACKs (section: model) -------------
// (end model)

// --- schemas and validation (section: schema) ----------------------------------------------
export type {
  Hl7Version,
  Hl7Schema,
  FieldDefinition,
  SegmentDefinition,
  ComponentDefinition,
  DataTypeDefinition,
  StructureNode,
  MessageStructure,
} from './schema/types.js'
// (end schema)

// --- MLLP framing, server, client (section: mllp; also the "./mllp" subpath) ---------------
// (end mllp)
