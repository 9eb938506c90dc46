// One segment of a message, read lazily. A Segment keeps its encoded text and finds field
// boundaries only as far as a read needs them (reading PID-5 never looks past the fifth `|`); the
// positions found are kept for later reads of the same segment. Components, repetitions and
// subcomponents are located with indexOf on demand and never stored. Writing (`set`) splits only
// the touched field, re-joins the segment text and marks the owning message as modified.
//
// Numbering follows HL7 v2.5.1 chapter 2, section 2.5: in MSH (and the batch headers FHS/BHS)
// field 1 is the field separator itself and field 2 the encoding characters, so MSH-n is the
// (n-1)th piece after splitting on the separator, while in every other segment PID-n is the nth.
import { Hl7Error, Hl7ParseError, quote } from '../errors.js'
import { encodingCharacters, type Encoding } from './encoding.js'
import { escape, unescape } from './escape.js'
import { parsePath, type Hl7Path } from './path.js'

/** Shared modification flag between a message and its segments. */
export interface SegmentOwner {
  /** Set when any segment of the message was changed. */
  dirty: boolean
}

// Segments whose first field is the field separator and second the encoding characters.
function isHeaderName(name: string): boolean {
  return name === 'MSH' || name === 'FHS' || name === 'BHS'
}

// Replaces parts[idx], padding with empty parts; padding that stays empty is removed again, so
// writing an empty value past the end changes nothing.
function put(parts: string[], idx: number, value: string): void {
  const original = parts.length
  while (parts.length <= idx) parts.push('')
  parts[idx] = value
  while (parts.length > original && parts.length > 1 && parts[parts.length - 1] === '') parts.pop()
}

/** One segment of a message; obtained from `Message.segments()`, read with HL7 paths. */
export class Segment {
  /** The segment ID, e.g. `PID`. */
  readonly name: string
  /** The delimiters of the message this segment belongs to. */
  readonly encoding: Encoding
  #text: string
  // Positions of the field separators found so far; `#complete` once the last one was found.
  #seps: number[] = []
  #complete = false
  // End of the range found by the last #field/#piece call (avoids allocating a tuple per read).
  #end = 0
  readonly #header: boolean
  readonly #owner: SegmentOwner | undefined

  /**
   * Wraps the encoded text of one segment (without terminator). Normally created by the message;
   * `owner` is notified when the segment is changed.
   */
  constructor(text: string, encoding: Encoding, owner?: SegmentOwner, name?: string) {
    this.#text = text
    this.encoding = encoding
    this.#owner = owner
    this.name = name ?? text.slice(0, 3)
    this.#header = isHeaderName(this.name)
  }

  /** The encoded segment text, without segment terminator. */
  toString(): string {
    return this.#text
  }

  /** How many fields the segment has, in HL7 numbering (for MSH this counts MSH-1). */
  get fieldCount(): number {
    this.#field(Number.MAX_SAFE_INTEGER)
    return this.#header ? this.#seps.length + 1 : this.#seps.length
  }

  /**
   * The unescaped value at `path` (`5.1`, `3[2].4.2`, or with the segment ID: `PID-5.1`);
   * undefined when absent or empty, `""` for an explicit null. A composite element read as a whole
   * (e.g. `PID-5`) is returned in its encoded form, delimiters and escapes included.
   */
  get(path: string): string | undefined {
    return this.read(this.#own(path))
  }

  /** Every repetition of the element at `path` (one entry each, `''` for empty repetitions). */
  getAll(path: string): string[] {
    return this.readAll(this.#own(path))
  }

  /** Writes `value` (escaped) at `path`, creating missing fields, repetitions and components. */
  set(path: string, value: string): void {
    this.write(this.#own(path), value)
  }

  // Parses a path given to this segment; one naming another segment is a caller's mistake.
  #own(path: string): Hl7Path {
    const p = parsePath(path)
    if (p.segment !== undefined && p.segment !== this.name) {
      throw new Hl7ParseError(
        'HL7_BAD_PATH',
        `Path ${quote(path)} names segment ${p.segment} but was used on a ${this.name} segment; ` +
          `use a segment-relative path such as "5.1" or one starting with "${this.name}-"`,
      )
    }
    return p
  }

  /** `get` with an already parsed path (the segment and segment index of the path are ignored). */
  read(p: Hl7Path): string | undefined {
    return this.#read(p, p.repetition ?? 1)
  }

  /** `getAll` with an already parsed path. */
  readAll(p: Hl7Path): string[] {
    if (p.repetition !== undefined) {
      const v = this.#read(p, p.repetition)
      return v === undefined ? [] : [v]
    }
    const out: string[] = []
    if (this.#header && p.field <= 2) {
      const v = this.#read(p, 1)
      if (v !== undefined) out.push(v)
      return out
    }
    const start = this.#field(p.field)
    if (start < 0 || start === this.#end) return out
    const end = this.#end
    const rs = this.encoding.repetition
    const text = this.#text
    // One pass over the repetitions: each is read where it lies, never re-walked from the start.
    let from = start
    while (from <= end) {
      let stop = text.indexOf(rs, from)
      if (stop === -1 || stop > end) stop = end
      out.push(this.#leaf(p, from, stop) ?? '')
      from = stop + 1
    }
    return out
  }

  /** `set` with an already parsed path. */
  write(p: Hl7Path, value: string): void {
    if (typeof value !== 'string') {
      throw new Hl7Error(
        'HL7_INVALID_ARGUMENT',
        `Value for ${this.name}-${p.field} is ${typeof value}; expected a string`,
      )
    }
    const enc = this.encoding
    if (this.#header && p.field <= 2) {
      throw new Hl7ParseError(
        'HL7_READ_ONLY',
        `${this.name}-${p.field} holds the message delimiters and cannot be set; build a new ` +
          `message to change delimiters`,
      )
    }
    const encoded = escape(value, enc)
    const parts = this.#text.split(enc.field)
    const idx = this.#header ? p.field - 1 : p.field
    if (p.repetition === undefined && p.component === undefined) {
      put(parts, idx, encoded)
    } else {
      const reps = (parts[idx] ?? '').split(enc.repetition)
      const r = (p.repetition ?? 1) - 1
      if (p.component === undefined) {
        put(reps, r, encoded)
      } else {
        const comps = (reps[r] ?? '').split(enc.component)
        const c = p.component - 1
        if (p.subcomponent === undefined) {
          put(comps, c, encoded)
        } else {
          const subs = (comps[c] ?? '').split(enc.subcomponent)
          put(subs, p.subcomponent - 1, encoded)
          put(comps, c, subs.join(enc.subcomponent))
        }
        put(reps, r, comps.join(enc.component))
      }
      put(parts, idx, reps.join(enc.repetition))
    }
    this.#text = parts.join(enc.field)
    this.#seps = []
    this.#complete = false
    if (this.#owner !== undefined) this.#owner.dirty = true
  }

  // Start of the field with HL7 number `n` (end in #end), or -1 when the segment has fewer fields.
  #field(n: number): number {
    const i = this.#header ? n - 1 : n
    if (i < 1) return -1
    const seps = this.#seps
    // Separators are found one at a time and kept: seps[i - 1] starts field i, seps[i] ends it.
    while (seps.length <= i && !this.#complete) {
      const from = seps.length === 0 ? 0 : seps[seps.length - 1]! + 1
      const at = this.#text.indexOf(this.encoding.field, from)
      if (at === -1) this.#complete = true
      else seps.push(at)
    }
    if (seps.length < i) return -1
    this.#end = i < seps.length ? seps[i]! : this.#text.length
    return seps[i - 1]! + 1
  }

  // Start of the nth (1-based) piece between `sep`s within [start, end) (end in #end), or -1.
  #piece(sep: string, n: number, start: number, end: number): number {
    const text = this.#text
    let from = start
    for (let k = 1; k < n; k++) {
      const at = text.indexOf(sep, from)
      if (at === -1 || at >= end) return -1
      from = at + 1
    }
    const at = text.indexOf(sep, from)
    this.#end = at === -1 || at > end ? end : at
    return from
  }

  #read(p: Hl7Path, rep: number): string | undefined {
    const enc = this.encoding
    if (this.#header && p.field <= 2) {
      // MSH-1 and MSH-2 are not split into repetitions or components.
      if (rep !== 1 || (p.component ?? 1) !== 1 || (p.subcomponent ?? 1) !== 1) return undefined
      if (p.field === 1) return enc.field
      const start = this.#field(2)
      return start < 0 || start === this.#end ? undefined : this.#text.slice(start, this.#end)
    }
    let start = this.#field(p.field)
    if (start < 0 || start === this.#end) return undefined
    start = this.#piece(enc.repetition, rep, start, this.#end)
    if (start < 0) return undefined
    return this.#leaf(p, start, this.#end)
  }

  // The value of p's component/subcomponent within the repetition [start, end).
  #leaf(p: Hl7Path, start: number, end: number): string | undefined {
    const enc = this.encoding
    if (p.component !== undefined) {
      start = this.#piece(enc.component, p.component, start, end)
      if (start < 0) return undefined
      end = this.#end
      if (p.subcomponent !== undefined) {
        start = this.#piece(enc.subcomponent, p.subcomponent, start, end)
        if (start < 0) return undefined
        end = this.#end
      }
    }
    if (start === end) return undefined
    const raw = this.#text.slice(start, end)
    // A composite read as a whole stays encoded: decoding it would make `\S\` and `^` identical.
    if (p.subcomponent === undefined) {
      if (raw.indexOf(enc.subcomponent) !== -1) return raw
      if (p.component === undefined && raw.indexOf(enc.component) !== -1) return raw
    }
    return unescape(raw, enc)
  }
}

/** Builds the text of a new, empty segment named `name` (header segments get MSH-1/MSH-2). */
export function emptySegmentText(name: string, enc: Encoding): string {
  if (!/^[A-Z][A-Z0-9]{2}$/.test(name)) {
    throw new Hl7ParseError('HL7_BAD_PATH', `Segment ID ${quote(name)} is not valid`)
  }
  return isHeaderName(name) ? name + enc.field + encodingCharacters(enc) : name
}
