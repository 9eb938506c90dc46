// Validates a parsed message against an HL7 schema and returns every finding as data (the ACK
// needs them all). It never throws on a bad message: a message whose version or structure cannot
// be determined gets one finding saying so.
//
// What it checks (HL7 v2.5.1 chapter 2, sections 2.5 "Message construction rules" and 2.12):
// - segment order, optionality and repetition against the message structure, groups included:
//   a greedy matcher walks the segments once, entering a group when the segment can start it and
//   repeating it while the next segment can start it again; a segment that fits nowhere later in
//   the structure is reported and skipped, so one stray segment gives one finding, not a cascade;
// - per field: required fields present, repetitions allowed, lengths (whole field for primitive
//   types, each component for composite types; lengths counted on the unescaped value).
// What it does not check: data type formats (dates, numbers), table values, conditional (C)
// fields, and segments or structures new after 2.7 (2.7.1/2.8 are the 2.7 tables: docs/schemas.md).
//
// Z-segments: allowed anywhere and not checked, unless the schema names them in the structure
// (then they are matched where named) or sets `allowUndeclaredZSegments: false`.
import { getSchema, isHl7Version } from './load.js'
import { structureForMessage, getStructure } from './lookup.js'
import type { Hl7Schema, MessageStructure, StructureNode, ValidationIssue } from './types.js'

/** The parts of a segment the validator reads (the package's `Segment` has them). */
export interface ValidatableSegment {
  readonly name: string
  /** Number of fields, HL7 numbering (for MSH it counts MSH-1). */
  readonly fieldCount: number
  /** Unescaped value at a segment-relative path such as `3[2].1`; undefined when empty. */
  get(path: string): string | undefined
  /** Every repetition of a field (`''` for an empty one). */
  getAll(path: string): string[]
}

/** The parts of a message the validator reads (the package's `Message` has them). */
export interface ValidatableMessage {
  segments(): readonly ValidatableSegment[]
  readonly version?: string | undefined
  readonly messageType?: string | undefined
  readonly triggerEvent?: string | undefined
  readonly messageStructure?: string | undefined
}

/** Options of `validate`: which schema and structure to check against (found from MSH by default). */
export interface ValidateOptions {
  /** HL7 version whose tables to use; default MSH-12 of the message. Ignored when `schema` is given. */
  version?: string
  /** Structure ID, e.g. "ADT_A01"; default from MSH-9.3, else the event map for MSH-9.1/9.2. */
  structure?: string
  /** A schema to use instead of a standard version, e.g. from `loadCustomSchema`. */
  schema?: Hl7Schema
}

type GroupNode = Extract<StructureNode, { kind: 'group' }>

/** Segments accepted after the current sequence: the union of these sets. */
type Follow = readonly ReadonlySet<string>[]

function accepts(follow: Follow, s: string): boolean {
  for (const set of follow) if (set.has(s)) return true
  return false
}

interface Sets {
  /** Segments that can begin the node. */
  first: ReadonlySet<string>
  /** Segments that occur anywhere in the node. */
  all: ReadonlySet<string>
}

const setCache = new WeakMap<StructureNode, Sets>()

function sets(node: StructureNode): Sets {
  let s = setCache.get(node)
  if (s) return s
  if (node.kind === 'segment') {
    s = { first: new Set([node.segment]), all: new Set([node.segment]) }
  } else {
    const first = new Set<string>()
    const all = new Set<string>()
    let open = true
    for (const child of node.children) {
      const c = sets(child)
      for (const x of c.all) all.add(x)
      if (open || node.choice) for (const x of c.first) first.add(x)
      if (child.required && !node.choice) open = false
    }
    s = { first, all }
  }
  setCache.set(node, s)
  return s
}

// Segments that occur anywhere in children[j..], per j (cached per children array).
const laterCache = new WeakMap<readonly StructureNode[], ReadonlySet<string>[]>()

function laterSets(children: readonly StructureNode[]): ReadonlySet<string>[] {
  let out = laterCache.get(children)
  if (out) return out
  out = new Array<ReadonlySet<string>>(children.length + 1)
  let acc = new Set<string>()
  out[children.length] = acc
  for (let j = children.length - 1; j >= 0; j--) {
    acc = new Set([...acc, ...sets(children[j]!).all])
    out[j] = acc
  }
  laterCache.set(children, out)
  return out
}

/** IRIS-style path from a node to the first segment it requires, e.g. "ORCgrp.OBR". */
function firstRequiredPath(node: StructureNode): string {
  if (node.kind === 'segment') return node.segment
  const child = node.children.find((c) => c.required) ?? node.children[0]
  return child ? `${node.name}.${firstRequiredPath(child)}` : node.name
}

class Matcher {
  pos = 0

  constructor(
    private readonly names: readonly string[],
    private readonly paths: readonly string[],
    private readonly schema: Hl7Schema,
    private readonly structure: MessageStructure,
    private readonly issues: ValidationIssue[],
  ) {}

  private isSkippableZ(name: string): boolean {
    return name.startsWith('Z') && this.schema.allowUndeclaredZSegments !== false
  }

  run(): void {
    this.sequence(this.structure.children, [], '')
    // Whatever is left after the structure ended fits nowhere.
    while (this.pos < this.names.length) this.stray()
  }

  private stray(): void {
    const name = this.names[this.pos]!
    const path = this.paths[this.pos]!
    this.pos++
    if (this.isSkippableZ(name)) return
    if (!Object.hasOwn(this.schema.segments, name) && !name.startsWith('Z')) {
      this.issue(
        'SEGMENT_UNKNOWN',
        path,
        `Segment ${name} is not defined in HL7 ${this.schema.version}`,
      )
    } else {
      this.issue(
        'SEGMENT_UNEXPECTED',
        path,
        `Segment ${name} is not allowed here by structure ${this.structure.id}`,
      )
    }
  }

  private issue(code: ValidationIssue['code'], path: string, message: string): void {
    this.issues.push({ severity: 'error', code, path, message })
  }

  /**
   * Matches a sequence of nodes; stops at the first segment that belongs to `follow` instead.
   * `follow` is a chain of sets (what the enclosing groups and their later siblings accept), kept
   * as an array so that entering a group costs no set copy.
   */
  private sequence(children: readonly StructureNode[], follow: Follow, where: string): void {
    const later = laterSets(children)
    const counts = children.map(() => 0)
    let i = 0
    const acceptedFrom = (j: number, s: string): boolean => later[j]!.has(s) || accepts(follow, s)
    // What may follow child i: its later siblings' segments and whatever follows this sequence.
    const after = (i: number): Follow => [...follow, later[i + 1]!]
    while (i < children.length && this.pos < this.names.length) {
      const s = this.names[this.pos]!
      const child = children[i]!
      const starts = sets(child).first.has(s)
      if (starts && (counts[i] === 0 || child.repeatable)) {
        this.consume(child, after(i), where)
        counts[i]!++
        continue
      }
      if (starts && !acceptedFrom(i + 1, s)) {
        const label = child.kind === 'segment' ? `Segment ${s}` : `Group ${where}${child.name}`
        this.issue(
          'SEGMENT_TOO_MANY',
          this.paths[this.pos]!,
          `${label} may occur only once here (structure ${this.structure.id})`,
        )
        this.consume(child, after(i), where)
        continue
      }
      if (acceptedFrom(i + 1, s)) {
        this.finish(child, counts[i]!, where)
        i++
        continue
      }
      // The segment belongs inside this group but not at its start, and nothing later takes it:
      // the group's first segment is missing. Enter the group anyway, so that the finding is
      // "missing OBR" rather than "unexpected OBX" followed by "missing OBR".
      if (
        child.kind === 'group' &&
        !child.choice &&
        (counts[i] === 0 || child.repeatable) &&
        sets(child).all.has(s)
      ) {
        this.consume(child, after(i), where)
        counts[i]!++
        continue
      }
      this.stray()
    }
    for (; i < children.length; i++) this.finish(children[i]!, counts[i]!, where)
  }

  /** Consumes one occurrence of `child`; `after` holds the segments that may follow it. */
  private consume(child: StructureNode, after: Follow, where: string): void {
    const before = this.pos
    if (child.kind === 'segment') {
      this.pos++
      return
    }
    // Inside the group, a segment belongs to the parent if a later sibling (or an ancestor) takes
    // it, or if it starts the next occurrence of this repeating group.
    const inner = child.repeatable ? [...after, sets(child).first] : after
    this.group(child, inner, `${where}${child.name}.`)
    if (this.pos === before) this.stray() // cannot happen for a well-formed schema; never loop
  }

  private group(node: GroupNode, follow: Follow, where: string): void {
    if (!node.choice) {
      this.sequence(node.children, follow, where)
      return
    }
    const s = this.names[this.pos]!
    const alt = node.children.findIndex((c) => sets(c).first.has(s))
    if (alt >= 0) this.consume(node.children[alt]!, follow, where)
  }

  private finish(child: StructureNode, count: number, where: string): void {
    if (count > 0 || !child.required) return
    const path = `${where}${firstRequiredPath(child)}`
    const what =
      child.kind === 'segment'
        ? `Required segment ${path}`
        : `Required ${child.choice ? 'choice' : 'group'} ${where}${child.name} (${path})`
    const at = this.pos < this.paths.length ? `before ${this.paths[this.pos]!}` : 'at the end'
    this.issue('SEGMENT_MISSING', path, `${what} is missing ${at} (structure ${this.structure.id})`)
  }
}

function fieldPath(segPath: string, field: number, rep?: number, component?: number): string {
  let p = `${segPath}-${field}`
  if (rep !== undefined && rep > 1) p += `[${rep}]`
  if (component !== undefined) p += `.${component}`
  return p
}

function checkFields(
  schema: Hl7Schema,
  seg: ValidatableSegment,
  segPath: string,
  issues: ValidationIssue[],
): void {
  const def = schema.segments[seg.name]
  if (!def) return
  const header = seg.name === 'MSH' || seg.name === 'BHS' || seg.name === 'FHS'
  const count = seg.fieldCount
  for (const f of def.fields) {
    // MSH-1 and MSH-2 are the delimiters themselves: the parser has already checked them.
    if (header && f.index <= 2) continue
    const reps = f.index <= count ? seg.getAll(String(f.index)) : []
    const present = reps.some((r) => r !== '')
    if (!present) {
      if (f.optionality === 'R') {
        issues.push({
          severity: 'error',
          code: 'FIELD_REQUIRED',
          path: fieldPath(segPath, f.index),
          message: `Required field ${seg.name}-${f.index} (${f.description}) is empty`,
        })
      }
      continue
    }
    const maxReps = f.repeatable ? f.maxRepetitions : 1
    if (maxReps !== undefined && reps.length > maxReps) {
      issues.push({
        severity: 'error',
        code: 'FIELD_TOO_MANY_REPETITIONS',
        path: fieldPath(segPath, f.index),
        message:
          `Field ${seg.name}-${f.index} (${f.description}) has ${reps.length} repetitions; ` +
          (maxReps === 1 ? 'it does not repeat' : `at most ${maxReps} allowed`),
      })
    }
    const type = schema.dataTypes[f.dataType]
    const components = type?.components ?? []
    reps.forEach((_, r) => {
      const rep = r + 1
      if (components.length === 0) {
        const value = seg.get(`${f.index}[${rep}]`)
        if (f.maxLength !== undefined && value !== undefined && value.length > f.maxLength) {
          issues.push({
            severity: 'error',
            code: 'FIELD_TOO_LONG',
            path: fieldPath(segPath, f.index, rep),
            message: `Field ${seg.name}-${f.index} (${f.description}) is ${value.length} characters long; at most ${f.maxLength} allowed`,
          })
        }
        return
      }
      for (const c of components) {
        if (c.maxLength === undefined) continue
        // A component of a composite type read as a whole keeps its subcomponent delimiters, so
        // only components of primitive types are measured.
        if ((schema.dataTypes[c.dataType]?.components.length ?? 0) > 0) continue
        const value = seg.get(`${f.index}[${rep}].${c.index}`)
        if (value !== undefined && value.length > c.maxLength) {
          issues.push({
            severity: 'error',
            code: 'FIELD_TOO_LONG',
            path: fieldPath(segPath, f.index, rep, c.index),
            message: `Component ${seg.name}-${f.index}.${c.index} (${c.description}) is ${value.length} characters long; at most ${c.maxLength} allowed`,
          })
        }
      }
    })
  }
  const extra = count - def.fields.length
  if (extra > 0) {
    for (let n = def.fields.length + 1; n <= count; n++) {
      if (seg.getAll(String(n)).some((r) => r !== '')) {
        issues.push({
          severity: 'warning',
          code: 'FIELD_UNEXPECTED',
          path: fieldPath(segPath, n),
          message: `Segment ${seg.name} has a field ${n}; HL7 ${schema.version} defines ${def.fields.length}`,
        })
      }
    }
  }
}

/**
 * Checks a parsed message against its schema and returns every finding (an empty array when the
 * message conforms). Never throws on a bad message.
 * @example validate(parseMessage(text)) // [{ severity: 'error', code: 'SEGMENT_MISSING', path: 'PV1', … }]
 */
export function validate(
  message: ValidatableMessage,
  options: ValidateOptions = {},
): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  let schema = options.schema
  if (!schema) {
    const version = options.version ?? safe(() => message.version)
    if (version === undefined || !isHl7Version(version)) {
      issues.push({
        severity: 'error',
        code: 'VERSION_UNKNOWN',
        path: 'MSH-12',
        message: `HL7 version ${JSON.stringify(version ?? '')} is not supported; nothing else was checked`,
      })
      return issues
    }
    schema = getSchema(version)
  }
  const segments = safe(() => message.segments()) ?? []
  const names = segments.map((s) => s.name)
  const seen = new Map<string, number>()
  const paths = names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1
    seen.set(n, k)
    return k === 1 ? n : `${n}[${k}]`
  })

  const structure = options.structure
    ? getStructure(schema, options.structure)
    : structureForMessage(
        schema,
        safe(() => message.messageType) ?? '',
        safe(() => message.triggerEvent),
        safe(() => message.messageStructure),
      )
  if (structure) {
    new Matcher(names, paths, schema, structure, issues).run()
  } else {
    const asked =
      options.structure ??
      [
        safe(() => message.messageType),
        safe(() => message.triggerEvent),
        safe(() => message.messageStructure),
      ]
        .filter(Boolean)
        .join('^')
    issues.push({
      severity: 'warning',
      code: 'STRUCTURE_UNKNOWN',
      path: 'MSH-9',
      message: `No message structure for ${JSON.stringify(asked)} in HL7 ${schema.version}; segment order was not checked`,
    })
  }
  segments.forEach((seg, k) => {
    const path = paths[k]!
    if (!Object.hasOwn(schema.segments, seg.name)) {
      if (!structure && !(seg.name.startsWith('Z') && schema.allowUndeclaredZSegments !== false)) {
        issues.push({
          severity: 'warning',
          code: 'SEGMENT_UNKNOWN',
          path,
          message: `Segment ${seg.name} is not defined in HL7 ${schema.version}; its fields were not checked`,
        })
      }
      return
    }
    safe(() => checkFields(schema, seg, path, issues))
  })
  return issues
}

// The message model may throw on malformed content while being read (a path error deep in a bad
// segment, say); validation reports what it could check instead of throwing.
function safe<T>(read: () => T): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}
