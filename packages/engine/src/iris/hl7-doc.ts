/**
 * A small, mutable ER7 (pipe-and-hat) document used by the IRIS rule and DTL evaluators.
 *
 * It keeps values exactly as encoded (escape sequences are not decoded), which is what IRIS's
 * `GetValueAt`/`SetValueAt` do, and it addresses values by segment position, field,
 * repetition, component and subcomponent (all 1-based, HL7 numbering; MSH-1 is the field
 * separator). It is the evaluators' working copy: the `@li/hl7` `Message` is the public model,
 * converted to and from through `toString()`.
 *
 * It does not validate, decode escapes, handle batches (FHS/BHS) or know about schemas; group
 * structure is resolved in `virtual-path.ts`.
 */

/** Subcomponents of one component. */
type Comp = string[]
/** Components of one repetition. */
type Rep = Comp[]
/** Repetitions of one field. */
type Field = Rep[]

/** One segment: its name and fields (index 1 = first field after the name). */
export interface DocSegment {
  name: string
  /** fields[0] is unused (the name); MSH: fields[1] = field separator, fields[2] = encoding chars. */
  fields: Field[]
}

/** The separators of a message (MSH-1 and MSH-2). */
export interface Separators {
  field: string
  component: string
  repetition: string
  escape: string
  subcomponent: string
}

const DEFAULT_SEPARATORS: Separators = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
}

/** A mutable HL7 v2 document addressed by 1-based positions. */
export class Hl7Doc {
  segments: DocSegment[] = []
  sep: Separators = { ...DEFAULT_SEPARATORS }

  /** Parses ER7 text (segments separated by CR, LF or CRLF). */
  static parse(text: string): Hl7Doc {
    const doc = new Hl7Doc()
    const lines = text.split(/\r\n|\r|\n/).filter((l) => l.length > 0)
    const first = lines[0]
    if (first !== undefined && /^(MSH|FHS|BHS)/.test(first) && first.length >= 8) {
      const enc = first.slice(4, 8)
      doc.sep = {
        field: first.charAt(3),
        component: enc.charAt(0) || '^',
        repetition: enc.charAt(1) || '~',
        escape: enc.charAt(2) || '\\',
        subcomponent: enc.charAt(3) || '&',
      }
    }
    for (const line of lines) doc.segments.push(new LazySegment(doc, line))
    return doc
  }

  /** Parses one segment line with this document's separators. */
  parseSegment(line: string): DocSegment {
    const s = this.sep
    const parts = line.split(s.field)
    const name = parts[0] ?? ''
    const fields: Field[] = [[[[name]]]]
    const isHeader = name === 'MSH' || name === 'FHS' || name === 'BHS'
    if (isHeader) {
      fields.push([[[s.field]]])
      fields.push([[[parts[1] ?? '']]])
      for (const raw of parts.slice(2)) fields.push(this.parseField(raw))
    } else {
      for (const raw of parts.slice(1)) fields.push(this.parseField(raw))
    }
    return { name, fields }
  }

  /** Splits one raw field into repetitions, components and subcomponents. */
  parseField(raw: string): Field {
    const s = this.sep
    // Most fields hold one plain value: no split (and no three arrays of callbacks) for them.
    if (!raw.includes(s.component) && !raw.includes(s.repetition) && !raw.includes(s.subcomponent))
      return [[[raw]]]
    const reps = raw.split(s.repetition)
    const field: Field = new Array<Rep>(reps.length)
    for (let i = 0; i < reps.length; i++) {
      const comps = (reps[i] as string).split(s.component)
      const rep: Rep = new Array<Comp>(comps.length)
      for (let j = 0; j < comps.length; j++) rep[j] = (comps[j] as string).split(s.subcomponent)
      field[i] = rep
    }
    return field
  }

  /** Encodes one field back to text. */
  encodeField(f: Field): string {
    const s = this.sep
    // One plain value (most fields): itself.
    if (f.length === 1) {
      const r = f[0] as Rep
      if (r.length === 1 && (r[0] as Comp).length === 1) return (r[0] as Comp)[0] as string
    }
    return f.map((r) => r.map((c) => c.join(s.subcomponent)).join(s.component)).join(s.repetition)
  }

  /** Encodes one segment back to text, trimming trailing empty fields (untouched ones as read). */
  encodeSegment(seg: DocSegment): string {
    if (seg instanceof LazySegment && seg.raw !== undefined) return seg.raw
    const isHeader = seg.name === 'MSH' || seg.name === 'FHS' || seg.name === 'BHS'
    const out: string[] = [seg.name]
    const start = isHeader ? 2 : 1
    if (isHeader) out.push(fieldRaw(seg.fields[2]) || this.encodingChars())
    for (let i = start + (isHeader ? 1 : 0); i < seg.fields.length; i++) {
      out.push(this.encodeField(seg.fields[i] ?? [[['']]]))
    }
    while (out.length > (isHeader ? 2 : 1) && out[out.length - 1] === '') out.pop()
    return out.join(this.sep.field)
  }

  /** The MSH-2 encoding characters of this document. */
  encodingChars(): string {
    const s = this.sep
    return s.component + s.repetition + s.escape + s.subcomponent
  }

  /** The message as ER7 text with CR segment terminators (no trailing CR). */
  toString(): string {
    return this.segments.map((seg) => this.encodeSegment(seg)).join('\r')
  }

  /** A deep copy. */
  clone(): Hl7Doc {
    const d = new Hl7Doc()
    d.sep = { ...this.sep }
    d.segments = this.segments.map((s) =>
      s instanceof LazySegment && s.raw !== undefined ? new LazySegment(d, s.raw) : cloneSegment(s),
    )
    return d
  }

  /** The first segment with this name, or undefined. */
  first(name: string): DocSegment | undefined {
    return this.segments.find((s) => s.name === name)
  }
}

/**
 * A segment read from text and split into fields only when first touched: rules and most DTLs
 * read a few segments, and untouched segments are written back exactly as read. Measured on the
 * ADT^A01 fixture: parsing every field took about 110 µs per message, lazily about 10 µs.
 */
class LazySegment implements DocSegment {
  readonly name: string
  #raw: string | undefined
  #fields: Field[] | undefined
  readonly #doc: Hl7Doc

  constructor(doc: Hl7Doc, raw: string) {
    this.#doc = doc
    this.#raw = raw
    const i = raw.indexOf(doc.sep.field)
    this.name = i < 0 ? raw : raw.slice(0, i)
  }

  /** The text as read, while no field has been touched. */
  get raw(): string | undefined {
    return this.#raw
  }

  get fields(): Field[] {
    if (this.#fields === undefined) {
      this.#fields = this.#doc.parseSegment(this.#raw ?? this.name).fields
      this.#raw = undefined
    }
    return this.#fields
  }

  set fields(f: Field[]) {
    this.#fields = f
    this.#raw = undefined
  }
}

/** A deep copy of one segment. */
export function cloneSegment(seg: DocSegment): DocSegment {
  return { name: seg.name, fields: seg.fields.map((f) => f.map((r) => r.map((c) => [...c]))) }
}

function fieldRaw(f: Field | undefined): string {
  return f?.[0]?.[0]?.[0] ?? ''
}

/** A value address inside one segment (all 1-based; undefined = the whole level). */
export interface FieldAddress {
  field?: number
  /** Repetition; undefined = all repetitions when no component is given, else the first. */
  rep?: number
  comp?: number
  sub?: number
}

/**
 * Reads a value from a segment, as encoded text. A segment not yet split (a `LazySegment` no one
 * has written) is read from its text: the value is cut out between separators, with the same
 * result as splitting it into nested arrays first (which rules and DTLs reading a few fields
 * of many segments paid for each segment they touched).
 */
export function getSegmentValue(doc: Hl7Doc, seg: DocSegment, a: FieldAddress): string {
  if (a.field === undefined) return doc.encodeSegment(seg)
  if (seg instanceof LazySegment) {
    const raw = seg.raw
    if (raw !== undefined) return rawSegmentValue(doc.sep, seg.name, raw, a, a.field)
  }
  const isHeader = seg.name === 'MSH' || seg.name === 'FHS' || seg.name === 'BHS'
  if (isHeader && (a.field === 1 || a.field === 2)) return fieldRaw(seg.fields[a.field])
  const f = seg.fields[a.field]
  if (f === undefined) return ''
  if (a.rep === undefined && a.comp === undefined) return doc.encodeField(f)
  const r = f[(a.rep ?? 1) - 1]
  if (r === undefined) return ''
  if (a.comp === undefined)
    return r.map((c) => c.join(doc.sep.subcomponent)).join(doc.sep.component)
  const c = r[a.comp - 1]
  if (c === undefined) return ''
  if (a.sub === undefined) return c.join(doc.sep.subcomponent)
  return c[a.sub - 1] ?? ''
}

/** `getSegmentValue` on the text of a segment (see there); `field` is `a.field`. */
function rawSegmentValue(
  sep: Separators,
  name: string,
  raw: string,
  a: FieldAddress,
  field: number,
): string {
  const isHeader = name === 'MSH' || name === 'FHS' || name === 'BHS'
  if (isHeader && field === 1) return sep.field
  // In a header the field separator is field 1, so field n is the (n-1)th piece after the name.
  const f = piece(raw, sep.field, isHeader ? field - 1 : field)
  if (isHeader && field === 2) return f
  if (a.rep === undefined && a.comp === undefined) return f
  const r = piece(f, sep.repetition, (a.rep ?? 1) - 1)
  if (a.comp === undefined) return r
  const c = piece(r, sep.component, a.comp - 1)
  if (a.sub === undefined) return c
  return piece(c, sep.subcomponent, a.sub - 1)
}

/** The `i`th (0-based) piece of `s` between `d` separators; '' when there are fewer pieces. */
function piece(s: string, d: string, i: number): string {
  if (i < 0) return ''
  let start = 0
  for (let k = 0; k < i; k++) {
    const j = s.indexOf(d, start)
    if (j < 0) return ''
    start = j + d.length
  }
  const end = s.indexOf(d, start)
  return end < 0 ? s.slice(start) : s.slice(start, end)
}

/** Writes a value (encoded text; separators in it split into the lower levels) into a segment. */
export function setSegmentValue(
  doc: Hl7Doc,
  seg: DocSegment,
  a: FieldAddress,
  value: string,
): void {
  if (a.field === undefined) {
    const parsed = doc.parseSegment(value)
    seg.fields = parsed.fields
    seg.fields[0] = [[[seg.name]]]
    return
  }
  const isHeader = seg.name === 'MSH' || seg.name === 'FHS' || seg.name === 'BHS'
  if (isHeader && (a.field === 1 || a.field === 2)) return
  while (seg.fields.length <= a.field) seg.fields.push([[['']]])
  if (a.rep === undefined && a.comp === undefined) {
    seg.fields[a.field] = doc.parseField(value)
    return
  }
  const f = seg.fields[a.field] ?? [[['']]]
  seg.fields[a.field] = f
  const ri = (a.rep ?? 1) - 1
  while (f.length <= ri) f.push([['']])
  if (a.comp === undefined) {
    f[ri] = value.split(doc.sep.component).map((c) => c.split(doc.sep.subcomponent))
    return
  }
  const r = f[ri] ?? [['']]
  f[ri] = r
  const ci = a.comp - 1
  while (r.length <= ci) r.push([''])
  if (a.sub === undefined) {
    r[ci] = value.split(doc.sep.subcomponent)
    return
  }
  const c = r[ci] ?? ['']
  r[ci] = c
  while (c.length < a.sub) c.push('')
  c[a.sub - 1] = value
}

/** Number of repetitions of a field (an empty field counts 0 when `emptyIsNull`, else 1 if present). */
export function repetitionCount(seg: DocSegment, field: number, emptyIsNull: boolean): number {
  const f = seg.fields[field]
  if (f === undefined) return 0
  if (f.length === 1 && f[0]?.every((c) => c.every((s) => s === '')) === true)
    return emptyIsNull ? 0 : 1
  return f.length
}

/** Removes one repetition (or all, when `rep` is undefined) of a field. */
export function removeRepetition(seg: DocSegment, field: number, rep?: number): void {
  const f = seg.fields[field]
  if (f === undefined) return
  if (rep === undefined) {
    seg.fields[field] = [[['']]]
    return
  }
  f.splice(rep - 1, 1)
  if (f.length === 0) f.push([['']])
}

/** Inserts a repetition holding `value` before `rep` (1-based); fills an empty field instead. */
export function insertRepetition(
  doc: Hl7Doc,
  seg: DocSegment,
  field: number,
  rep: number,
  value: string,
): void {
  while (seg.fields.length <= field) seg.fields.push([[['']]])
  const f = seg.fields[field] ?? [[['']]]
  seg.fields[field] = f
  const parsed = value.split(doc.sep.component).map((c) => c.split(doc.sep.subcomponent))
  if (f.length === 1 && f[0]?.every((c) => c.every((s) => s === '')) === true) {
    f[0] = parsed
    return
  }
  f.splice(Math.max(0, Math.min(rep - 1, f.length)), 0, parsed)
}
