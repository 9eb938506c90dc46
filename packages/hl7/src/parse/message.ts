// The message model. A Message keeps the text it was parsed from and an index of where each
// segment starts and ends; Segment objects are created only for segments that are read, and a
// segment's fields are located only when read (see segment.ts). An unmodified message serializes
// by returning the kept text, so `toString` costs nothing; after `set`, only the touched segments
// hold new text and `toString` joins the untouched ranges of the original with them.
//
// Measured (bench/parse.mjs, 10,000-message corpus, one run): parsing and reading five paths per
// message this way ran at 2.0x a plain split of every segment into fields and 6.6x hl7parser,
// because most fields of most segments are never touched by a router.
import { Hl7ParseError, quote } from '../errors.js'
import type { Encoding } from './encoding.js'
import { parsePath, type Hl7Path } from './path.js'
import { emptySegmentText, Segment, type SegmentOwner } from './segment.js'

/** An HL7 v2 message: read and write elements by path, serialize losslessly with `toString`. */
export class Message {
  /** The delimiters declared by this message's MSH-1 and MSH-2. */
  readonly encoding: Encoding
  // The parsed text (terminators normalised to CR) and per-segment index into it. Segments added
  // by `set` have start -1 and exist only as Segment objects.
  readonly #src: string
  readonly #names: string[]
  readonly #starts: number[]
  readonly #ends: number[]
  readonly #segs: (Segment | undefined)[]
  readonly #trailing: boolean
  readonly #owner: SegmentOwner = { dirty: false }

  /**
   * Wraps an already scanned message; use `parseMessage` instead. `names`, `starts` and `ends`
   * index the segments of `src`, `trailing` says whether the text ends with a terminator.
   */
  constructor(
    src: string,
    encoding: Encoding,
    names: string[],
    starts: number[],
    ends: number[],
    trailing: boolean,
  ) {
    this.#src = src
    this.encoding = encoding
    this.#names = names
    this.#starts = starts
    this.#ends = ends
    this.#trailing = trailing
    this.#segs = new Array<Segment | undefined>(names.length)
  }

  /** Alias of `encoding`: the field, component, repetition, escape, subcomponent characters. */
  get delimiters(): Encoding {
    return this.encoding
  }

  /** MSH-9.1, the message code, e.g. `ADT`. */
  get messageType(): string | undefined {
    return this.get('MSH-9.1')
  }

  /** MSH-9.2, the trigger event, e.g. `A01`. */
  get triggerEvent(): string | undefined {
    return this.get('MSH-9.2')
  }

  /** MSH-9.3, the message structure, e.g. `ADT_A01`. */
  get messageStructure(): string | undefined {
    return this.get('MSH-9.3')
  }

  /** MSH-10, the message control ID. */
  get controlId(): string | undefined {
    return this.get('MSH-10')
  }

  /** MSH-12.1, the version ID, e.g. `2.5.1`. */
  get version(): string | undefined {
    return this.get('MSH-12.1')
  }

  /** Whether `set` has changed the message since it was parsed. */
  get modified(): boolean {
    return this.#owner.dirty
  }

  /** Number of segments in the message. */
  get segmentCount(): number {
    return this.#names.length
  }

  /**
   * The unescaped value at `path` (`PID-5.1`, `PID-3[2].1`, `OBX[3]-5`, `PID-3.4.2`); undefined
   * when absent or empty, `""` for an HL7 explicit null. A composite element read as a whole (e.g.
   * `PID-5`) is returned in its encoded form.
   * @example msg.get('PID-5.1') // 'Smith'
   */
  get(path: string): string | undefined {
    const p = this.#path(path)
    const i = this.#find(p.segment!, p.segmentIndex ?? 1)
    return i < 0 ? undefined : this.#segment(i).read(p)
  }

  /**
   * Every repetition of the element at `path`, across every segment with that ID unless the path
   * picks one (`OBX[2]-5`); empty repetitions are `''`, absent fields contribute nothing.
   * @example msg.getAll('PID-3.1') // ['123', '9434765919']
   */
  getAll(path: string): string[] {
    const p = this.#path(path)
    const name = p.segment!
    if (p.segmentIndex !== undefined) {
      const i = this.#find(name, p.segmentIndex)
      return i < 0 ? [] : this.#segment(i).readAll(p)
    }
    const out: string[] = []
    const names = this.#names
    for (let i = 0; i < names.length; i++) {
      // A loop, not push(...values): spreading 100,000+ repetitions would overflow the stack.
      if (names[i] === name) for (const v of this.#segment(i).readAll(p)) out.push(v)
    }
    return out
  }

  /**
   * Writes `value` at `path`, escaping delimiters in it. Missing segments are appended after the
   * last segment with the same ID (or at the end), missing fields, repetitions and components are
   * created. Writing a whole field (`PID-3`) replaces all its repetitions.
   * @example msg.set('PID-5.1', 'O\'Brien')
   */
  set(path: string, value: string): void {
    const p = this.#path(path)
    const name = p.segment!
    const occurrence = p.segmentIndex ?? 1
    let i = this.#find(name, occurrence)
    if (i < 0) {
      if (name === 'MSH') {
        throw new Hl7ParseError(
          'HL7_BAD_PATH',
          `Path ${quote(path)} names MSH occurrence ${occurrence}; a message has exactly one MSH`,
        )
      }
      i = this.#append(name, occurrence)
    }
    this.#segment(i).write(p, value)
  }

  /**
   * The message's segments in order, or only those with ID `name`. Each has its own `get`/`set`;
   * changes made through them show in the message.
   */
  segments(name?: string): Segment[] {
    const out: Segment[] = []
    const names = this.#names
    for (let i = 0; i < names.length; i++) {
      if (name === undefined || names[i] === name) out.push(this.#segment(i))
    }
    return out
  }

  /** The segment IDs in order, e.g. `['MSH', 'EVN', 'PID', 'PV1']` (no Segment objects built). */
  segmentNames(): string[] {
    return this.#names.slice()
  }

  /**
   * The message text with CR segment terminators. An unmodified message gives back exactly the
   * parsed text (after terminator normalisation), including trailing delimiters and Z-segments.
   */
  toString(): string {
    if (!this.#owner.dirty) return this.#src
    const parts: string[] = []
    for (let i = 0; i < this.#names.length; i++) {
      const seg = this.#segs[i]
      parts.push(
        seg !== undefined ? seg.toString() : this.#src.slice(this.#starts[i], this.#ends[i]),
      )
    }
    return parts.join('\r') + (this.#trailing ? '\r' : '')
  }

  #path(path: string): Hl7Path {
    const p = parsePath(path)
    if (p.segment === undefined) {
      throw new Hl7ParseError(
        'HL7_BAD_PATH',
        `Path ${quote(path)} has no segment ID; expected e.g. "PID-5.1" (segment-relative paths ` +
          `such as "5.1" work on Segment.get)`,
      )
    }
    return p
  }

  // Index of the nth (1-based) segment named `name`, or -1.
  #find(name: string, occurrence: number): number {
    const names = this.#names
    for (let i = 0; i < names.length; i++) {
      if (names[i] === name && --occurrence === 0) return i
    }
    return -1
  }

  #segment(i: number): Segment {
    let seg = this.#segs[i]
    if (seg === undefined) {
      const start = this.#starts[i]!
      seg = new Segment(
        this.#src.slice(start, this.#ends[i]),
        this.encoding,
        this.#owner,
        this.#names[i],
      )
      this.#segs[i] = seg
    }
    return seg
  }

  // Adds empty segments named `name` until there are `occurrence` of them; returns the last index.
  #append(name: string, occurrence: number): number {
    let count = 0
    let last = -1
    for (let i = 0; i < this.#names.length; i++) {
      if (this.#names[i] === name) {
        count++
        last = i
      }
    }
    let at = last < 0 ? this.#names.length : last + 1
    const text = emptySegmentText(name, this.encoding)
    for (; count < occurrence; count++, at++) {
      this.#names.splice(at, 0, name)
      this.#starts.splice(at, 0, -1)
      this.#ends.splice(at, 0, -1)
      this.#segs.splice(at, 0, new Segment(text, this.encoding, this.#owner, name))
    }
    this.#owner.dirty = true
    return at - 1
  }
}
