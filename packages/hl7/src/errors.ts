/** Stable codes of every error that @li/hl7 throws. */
export type Hl7ErrorCode = 'HL7_INVALID_ARGUMENT' | 'HL7_INTERNAL'

/** The one error class of @li/hl7: `code` is stable, `message` says what was wrong and what to do. */
export class Hl7Error extends Error {
  override readonly name: string = 'Hl7Error'
  readonly code: Hl7ErrorCode

  constructor(code: Hl7ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `e` is a Hl7Error (also across duplicated module copies: checks `name` and `code`). */
export function isHl7Error(e: unknown): e is Hl7Error {
  return (
    e instanceof Hl7Error ||
    (e instanceof Error && e.name === 'Hl7Error' && typeof (e as { code?: unknown }).code === 'string')
  )
}
