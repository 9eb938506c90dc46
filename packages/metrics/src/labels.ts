/**
 * Label hygiene. A label value that comes from a message (its type, an error class) is untrusted:
 * a sender that puts garbage in MSH-9 must not be able to create unbounded time series. Values are
 * checked against a shape, cut to a length, and each label keeps at most `maxValues` distinct
 * values; anything past that is reported as `other`.
 */

/** The value used for anything that is not a well-formed or not an admitted label value. */
export const OTHER_LABEL = 'other'

/** Bounds the distinct values of one label. */
export class LabelLimiter {
  readonly #seen = new Set<string>()

  constructor(
    private readonly maxValues: number,
    private readonly shape: RegExp,
    private readonly maxLength = 64,
  ) {}

  /** The value to use for `raw`: itself when well-formed and admitted, else `other`. */
  value(raw: string | undefined): string {
    if (raw === undefined || raw === '') return OTHER_LABEL
    if (raw.length > this.maxLength || !this.shape.test(raw)) return OTHER_LABEL
    if (this.#seen.has(raw)) return raw
    if (this.#seen.size >= this.maxValues) return OTHER_LABEL
    this.#seen.add(raw)
    return raw
  }
}

/** HL7 message types and events look like `ADT`, `ADT_A01`, `ORU^R01`. */
export const MESSAGE_TYPE_SHAPE = /^[A-Z0-9]{2,3}([_^][A-Z0-9]{2,3})?$/
/** Host names, targets, error types: config names and identifiers. */
export const NAME_SHAPE = /^[\w.:\- ]+$/
