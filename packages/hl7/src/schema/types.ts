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
  /** Optionality code from the standard (R, O, C, B), when the source gives one. */
  optionality?: string
  /** HL7 table number for coded values, e.g. "0203". */
  table?: string
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
      /**
       * The standard's group name, e.g. "PATIENT_RESULT", when the source gives one (undefined for a
       * choice and for groups written in the abstract syntax of a custom schema).
       */
      standardName?: string
      /**
       * When true, the node is the standard's choice `<A|B|C>`: exactly one of the children appears
       * per occurrence. IRIS names it after its first alternative plus "union" ("OBRunion").
       */
      choice?: boolean
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
  /** Where the tables come from, e.g. "hl7-dictionary@1.0.1", or the version it was derived from. */
  source?: string
  /**
   * Whether segments whose ID starts with Z may appear anywhere in a message without being named in
   * its structure (true when unset). A Z-segment the structure does name is matched where it is named.
   */
  allowUndeclaredZSegments?: boolean
}

/** How bad a validation finding is: an `error` breaks the schema; a `warning` could not be checked fully. */
export type ValidationSeverity = 'error' | 'warning'

/** Stable codes of validation findings (returned as data by `validate`, never thrown). */
export type ValidationCode =
  /** A required segment (or the first required segment of a required group) is absent. */
  | 'SEGMENT_MISSING'
  /** A segment appears where the structure does not allow it (or not at all in the structure). */
  | 'SEGMENT_UNEXPECTED'
  /** A non-repeating segment or group occurs more than once. */
  | 'SEGMENT_TOO_MANY'
  /** A segment ID that the schema does not define (Z-segments excepted when allowed). */
  | 'SEGMENT_UNKNOWN'
  /** A required field is empty. */
  | 'FIELD_REQUIRED'
  /** A field (or one of its components) is longer than the schema's maximum length. */
  | 'FIELD_TOO_LONG'
  /** A non-repeating field has several repetitions, or more than its maximum. */
  | 'FIELD_TOO_MANY_REPETITIONS'
  /** More fields than the segment definition has. */
  | 'FIELD_UNEXPECTED'
  /** The message structure could not be determined or is not in the schema (fields are still checked). */
  | 'STRUCTURE_UNKNOWN'
  /** The version could not be determined or is not supported; nothing else was checked. */
  | 'VERSION_UNKNOWN'

/** One validation finding. */
export interface ValidationIssue {
  severity: ValidationSeverity
  code: ValidationCode
  /**
   * Where: a segment occurrence (`PID`, `OBX[3]`: the third OBX of the message), a field
   * (`PID-3`, `OBX[3]-5`), a repetition (`PID-3[2]`) or a component (`PID-5.1`), in the package's
   * path syntax, 1-based.
   */
  path: string
  /** What was wrong and what was expected, in words. */
  message: string
}
