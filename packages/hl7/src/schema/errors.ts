// The error thrown by the schema lookups of @li/hl7 (unknown version, malformed custom schema).
// Validation findings are not errors: `validate` returns them as data and never throws.
import { Hl7Error } from '../errors.js'

/** Codes of errors thrown by getSchema, defineCustomSchema and loadCustomSchema. */
export type Hl7SchemaErrorCode =
  /** The version is not one whose tables ship with the package. */
  | 'HL7_SCHEMA_UNKNOWN_VERSION'
  /** A custom schema file is not valid JSON, or its content does not have the documented shape. */
  | 'HL7_SCHEMA_INVALID'
  /** A custom schema file could not be read. */
  | 'HL7_SCHEMA_UNREADABLE'

/** Thrown when a schema cannot be produced: unknown version or malformed custom schema. */
export class Hl7SchemaError extends Hl7Error {
  override readonly name: string = 'Hl7SchemaError'
  /** The schema-specific code (the same string as `code`). */
  readonly schemaCode: Hl7SchemaErrorCode

  constructor(code: Hl7SchemaErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.schemaCode = code
  }
}

/** Whether `e` is a Hl7SchemaError (also across duplicated module copies: checks `name` and `code`). */
export function isHl7SchemaError(e: unknown): e is Hl7SchemaError {
  return (
    e instanceof Hl7SchemaError ||
    (e instanceof Error &&
      e.name === 'Hl7SchemaError' &&
      typeof (e as { code?: unknown }).code === 'string')
  )
}
