/**
 * Shapes of the HL7 v2 schema data (message structures, segments, fields, data types) that
 * `@li/hl7` ships for each supported version, and of trust-specific custom schemas.
 *
 * This file is a contract shared by the schema generator, the validator and `@li/engine`'s IRIS
 * path resolver (symbolic names and IRIS group names). Extend it; do not rename what is here.
 */

/** The HL7 v2 versions whose tables ship with the package. */
export type Hl7Version = '2.3' | '2.3.1' | '2.4' | '2.5' | '2.5.1' | '2.6' | '2.7' | '2.7.1' | '2.8'

/** One field of a segment definition (HL7 numbering: `index` 1 is the first field after the name). */
export interface FieldDefinition {
  /** 1-based field number, as in `PID-3`. */
  index: number
  /** The standard's description, e.g. "Patient Identifier List". */
  description: string
  /** IRIS-style symbolic property name: description in PascalCase, e.g. "PatientIdentifierList". */
  name: string
  /** Data type code, e.g. "CX", "XPN", "ST". */
  dataType: string
  /** Optionality code from the standard: R, O, C, B (backward compatible), W/X (withdrawn). */
  optionality: string
  /** Whether the field repeats. */
  repeatable: boolean
  /** Maximum repetitions when bounded; undefined means unbounded. */
  maxRepetitions?: number
  /** Maximum length in characters when the standard gives one. */
  maxLength?: number
  /** HL7 table number for coded values, e.g. "0001". */
  table?: string
}

/** A segment definition: its fields in order. */
export interface SegmentDefinition {
  /** Three-character segment ID, e.g. "PID". */
  id: string
  /** The standard's description, e.g. "Patient Identification". */
  description: string
  fields: FieldDefinition[]
}

/** One component of a composite data type (1-based `index`). */
export interface ComponentDefinition {
  index: number
  description: string
  /** IRIS-style symbolic name, e.g. "IDNumber", "FamilyName". */
  name: string
  dataType: string
  maxLength?: number
}

/** A data type: primitive (no components) or composite. */
export interface DataTypeDefinition {
  id: string
  description: string
  components: ComponentDefinition[]
}

/** A node of a message structure: a segment reference or a group of nodes. */
export type StructureNode =
  | {
      kind: 'segment'
      /** Segment ID, e.g. "PID". */
      segment: string
      required: boolean
      repeatable: boolean
    }
  | {
      kind: 'group'
      /** Group name; for IRIS compatibility, the name IRIS gives the group (e.g. "PIDgrp", "ORCgrp"). */
      name: string
      required: boolean
      repeatable: boolean
      children: StructureNode[]
    }

/** A message structure, e.g. "ADT_A01", with its segments and groups in order. */
export interface MessageStructure {
  id: string
  description?: string
  children: StructureNode[]
}

/** Everything known about one HL7 version (or a custom schema built on one). */
export interface Hl7Schema {
  /** The version, or a custom schema's name. */
  version: string
  /** For a custom schema: the version it extends. */
  base?: Hl7Version
  segments: Record<string, SegmentDefinition>
  dataTypes: Record<string, DataTypeDefinition>
  structures: Record<string, MessageStructure>
  /** Event map: "ADT^A04" → "ADT_A01" (MSH-9.3 is used first when the message carries it). */
  events: Record<string, string>
}
