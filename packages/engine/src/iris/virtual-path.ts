/**
 * IRIS virtual property paths (`{PID:3(1).1}`, `{PID:PatientIdentifierList(1).IDNumber}`,
 * `{PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:ObservationValue(1)}`, `{NK1(2)}`, `{PID:3(*)}`,
 * `{OBX()}`): parsing, mapping to `@li/hl7` paths, and reading and writing them on an `Hl7Doc`.
 *
 * Group names come from the schema's message structures (`StructureNode.name`, which the schema
 * data gives the IRIS names: `PIDgrp`, `ORCgrp`, ...). Without a structure, a group `Xgrp` (or
 * `Xgrpgrp`) is taken to start at each occurrence of segment X: right for most messages, wrong
 * where the group's first segment is optional and absent (reported by `checkProduction`).
 * Symbolic field and component names come from the schema's segment and data type tables.
 * A number in place of the segment name is the segment's position in the message (`{1:9}` is
 * MSH-9, `{3:PatientName}` a field of the third segment, whatever its name).
 */
import type { Hl7Schema, MessageStructure, StructureNode } from '@li/hl7'
import { EngineError } from '../errors.js'
import {
  Hl7Doc,
  type DocSegment,
  type FieldAddress,
  getSegmentValue,
  insertRepetition,
  removeRepetition,
  repetitionCount,
  setSegmentValue,
} from './hl7-doc.js'

/** An index inside a path: a number, a variable (foreach key), `''` (all) or `'*'` (count). */
export type PathIndex = number | string

/** One step of the segment address: a group or segment name with an optional index. */
export interface PathStep {
  name: string
  index?: PathIndex
}

/** One level of the field address (field, component, subcomponent) as written. */
export interface FieldStep {
  /** A number or a symbolic name. */
  key: number | string
  index?: PathIndex
}

/** A parsed virtual property path. */
export interface VirtualPath {
  raw: string
  /** Groups then segment; empty for a segment-context path (`{3.1}` inside a segment DTL). */
  steps: PathStep[]
  fields: FieldStep[]
}

function parseIndex(s: string, raw: string): PathIndex {
  const t = s.trim()
  if (t === '' || t === '*') return t
  if (/^\d+$/.test(t)) return Number(t)
  if (/^[A-Za-z%][\w%]*$/.test(t)) return t
  throw new EngineError(
    'ENGINE_RULE_UNSUPPORTED',
    `virtual path {${raw}}: index "(${s})" is not a number, a variable, () or (*)`,
  )
}

function parseStep(s: string, raw: string): { name: string; index?: PathIndex } {
  const m = /^([^()]+?)\s*(?:\(([^()]*)\))?$/.exec(s.trim())
  if (!m?.[1])
    throw new EngineError('ENGINE_RULE_UNSUPPORTED', `virtual path {${raw}}: cannot read "${s}"`)
  return m[2] === undefined ? { name: m[1] } : { name: m[1], index: parseIndex(m[2], raw) }
}

/**
 * Parses the inside of `{...}`.
 * @example parseVirtualPath('PID:3(1).1') // steps [{name:'PID'}], fields [{key:3,index:1},{key:1}]
 */
export function parseVirtualPath(inner: string): VirtualPath {
  const raw = inner.trim()
  const colon = raw.indexOf(':')
  let segPart = colon < 0 ? raw : raw.slice(0, colon)
  let fieldPart = colon < 0 ? '' : raw.slice(colon + 1)
  // A segment-context path (`{3.1}`, `{PatientIdentifierList(1)}`) has no colon and does not
  // start with a segment or group name; we decide by shape: a leading number means fields.
  if (colon < 0 && /^\d/.test(segPart)) {
    fieldPart = segPart
    segPart = ''
  }
  const steps = segPart === '' ? [] : segPart.split('.').map((s) => parseStep(s, raw))
  const fields: FieldStep[] = []
  if (fieldPart !== '') {
    for (const part of fieldPart.split('.')) {
      const st = parseStep(part, raw)
      const key = /^\d+$/.test(st.name) ? Number(st.name) : st.name
      fields.push(st.index === undefined ? { key } : { key, index: st.index })
    }
  }
  if (fields.length > 3)
    throw new EngineError(
      'ENGINE_RULE_UNSUPPORTED',
      `virtual path {${raw}}: more than field.component.subcomponent`,
    )
  return { raw, steps, fields }
}

/**
 * Maps a numeric IRIS path to an `@li/hl7` path, or undefined when it uses groups, names,
 * variables or all/count indexes.
 * @example irisPathToHl7('PID:3(1).1') // 'PID-3[1].1'
 */
export function irisPathToHl7(inner: string): string | undefined {
  const p = parseVirtualPath(inner)
  const seg = p.steps[0]
  if (p.steps.length !== 1 || !seg || (seg.index !== undefined && typeof seg.index !== 'number'))
    return undefined
  let out = seg.name + (typeof seg.index === 'number' ? `[${seg.index}]` : '')
  for (let i = 0; i < p.fields.length; i++) {
    const f = p.fields[i] as FieldStep
    if (typeof f.key !== 'number' || (f.index !== undefined && typeof f.index !== 'number'))
      return undefined
    out +=
      (i === 0 ? '-' : '.') + String(f.key) + (typeof f.index === 'number' ? `[${f.index}]` : '')
  }
  return out
}

/** Finds the schema (and structure) that applies to a document. */
export type SchemaProvider = (category: string) => Hl7Schema | undefined

/** A document with what is needed to resolve paths on it. */
export class PathDoc {
  private tree: GroupInst | undefined
  constructor(
    readonly doc: Hl7Doc,
    readonly schema: Hl7Schema | undefined,
    readonly structure: MessageStructure | undefined,
  ) {}

  /** Forgets the cached group tree (after segments were added or removed). */
  invalidate(): void {
    this.tree = undefined
  }

  groupTree(): GroupInst {
    this.tree ??= buildTree(this.doc, this.structure)
    return this.tree
  }
}

/** One instance of a group: segment indexes and child groups by name. */
export interface GroupInst {
  segs: Map<string, number[]>
  groups: Map<string, GroupInst[]>
  /** Every segment index inside the instance (for insertion points). */
  all: number[]
}

function newInst(): GroupInst {
  return { segs: new Map(), groups: new Map(), all: [] }
}

const firstCache = new WeakMap<StructureNode, Set<string>>()

/** The segments a node can start with (cached: structures are immutable schema data). */
function firstSegments(node: StructureNode): Set<string> {
  const cached = firstCache.get(node)
  if (cached) return cached
  const out = new Set<string>()
  if (node.kind === 'segment') out.add(node.segment)
  else {
    for (const c of node.children) {
      for (const s of firstSegments(c)) out.add(s)
      if (c.required) break
    }
  }
  firstCache.set(node, out)
  return out
}

function buildTree(doc: Hl7Doc, structure: MessageStructure | undefined): GroupInst {
  const names = doc.segments.map((s) => s.name)
  if (!structure) {
    const root = newInst()
    names.forEach((n, i) => {
      push(root.segs, n, i)
      root.all.push(i)
    })
    return root
  }
  const match = (
    children: StructureNode[],
    pos: number,
    top: boolean,
  ): { inst: GroupInst; pos: number } => {
    const inst = newInst()
    let ci = 0
    const used = new Set<number>()
    while (pos < names.length) {
      const name = names[pos] as string
      let found = false
      for (let j = ci; j < children.length; j++) {
        const c = children[j] as StructureNode
        if (c.kind === 'segment' && c.segment === name) {
          if (!c.repeatable && used.has(j)) continue
          push(inst.segs, name, pos)
          inst.all.push(pos)
          used.add(j)
          pos++
          ci = c.repeatable ? j : j + 1
          found = true
          break
        }
        if (c.kind === 'group' && firstSegments(c).has(name)) {
          if (!c.repeatable && used.has(j)) continue
          const r = match(c.children, pos, false)
          push(inst.groups, c.name, r.inst)
          inst.all.push(...r.inst.all)
          used.add(j)
          pos = r.pos
          ci = c.repeatable ? j : j + 1
          found = true
          break
        }
      }
      if (!found) {
        if (!top) break
        push(inst.segs, name, pos)
        inst.all.push(pos)
        pos++
      }
    }
    return { inst, pos }
  }
  return match(structure.children, 0, true).inst
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const a = m.get(k)
  if (a) a.push(v)
  else m.set(k, [v])
}

/** Resolves variable indexes. */
export type IndexResolver = (name: string) => number

function numIndex(i: PathIndex | undefined, vars: IndexResolver): number | undefined {
  if (i === undefined) return undefined
  if (typeof i === 'number') return i
  if (i === '' || i === '*') return undefined
  return vars(i)
}

/** `{1:9}`: a segment named by its position in the message. */
function isOrdinal(name: string): boolean {
  return /^\d+$/.test(name)
}

function leaderOf(group: string): string | undefined {
  const m = /^(.+?)(grp)+$/i.exec(group)
  return m?.[1]
}

/** Segment indexes (into `doc.segments`) addressed by the steps, before the last index applies. */
function segmentCandidates(
  pd: PathDoc,
  steps: PathStep[],
  vars: IndexResolver,
  raw: string,
): number[] {
  const segStep = steps[steps.length - 1] as PathStep
  const groups = steps.slice(0, -1)
  if (isOrdinal(segStep.name)) {
    if (groups.length > 0)
      throw new EngineError(
        'ENGINE_RULE_FAILED',
        `virtual path {${raw}}: a segment position (${segStep.name}) cannot follow a group`,
      )
    const i = Number(segStep.name) - 1
    return i >= 0 && i < pd.doc.segments.length ? [i] : []
  }
  if (groups.length === 0) {
    // A segment that occurs at most once resolves the same with or without the group tree, and
    // most rule paths (`{MSH:9.1}`, `{PID:3(1).1}`) name one: skip building the tree for them.
    const all: number[] = []
    const segs = pd.doc.segments
    for (let i = 0; i < segs.length; i++)
      if ((segs[i] as DocSegment).name === segStep.name) all.push(i)
    if (all.length <= 1) return all
    const tree = pd.groupTree()
    const direct = tree.segs.get(segStep.name)
    if (direct && direct.length > 0) return direct
    return all
  }
  if (pd.structure) {
    let inst: GroupInst | undefined = pd.groupTree()
    for (const g of groups) {
      const list: GroupInst[] = inst?.groups.get(g.name) ?? []
      const n = numIndex(g.index, vars) ?? 1
      inst = list[n - 1]
      if (!inst) return []
    }
    return inst?.segs.get(segStep.name) ?? []
  }
  // No structure: each group `Xgrp` spans from one X to the next X (within the parent span).
  let lo = 0
  let hi = pd.doc.segments.length
  for (const g of groups) {
    const leader = leaderOf(g.name)
    if (leader === undefined) {
      throw new EngineError(
        'ENGINE_RULE_FAILED',
        `virtual path {${raw}}: group "${g.name}" needs the message structure from the schema`,
      )
    }
    const starts: number[] = []
    for (let i = lo; i < hi; i++) if (pd.doc.segments[i]?.name === leader) starts.push(i)
    const n = numIndex(g.index, vars) ?? 1
    const s = starts[n - 1]
    if (s === undefined) return []
    lo = s
    hi = starts[n] ?? hi
  }
  const out: number[] = []
  for (let i = lo; i < hi; i++) if (pd.doc.segments[i]?.name === segStep.name) out.push(i)
  return out
}

function fieldNumbers(
  pd: PathDoc,
  segName: string,
  fields: FieldStep[],
  raw: string,
): { field?: number; comp?: number; sub?: number } {
  const out: { field?: number; comp?: number; sub?: number } = {}
  let dataType: string | undefined
  for (let level = 0; level < fields.length; level++) {
    const f = fields[level] as FieldStep
    let n: number
    if (typeof f.key === 'number') {
      n = f.key
      if (level === 0)
        dataType = pd.schema?.segments[segName]?.fields.find((d) => d.index === n)?.dataType
      else if (dataType !== undefined)
        dataType = pd.schema?.dataTypes[dataType]?.components.find((c) => c.index === n)?.dataType
    } else {
      const key = f.key
      if (!pd.schema) {
        throw new EngineError(
          'ENGINE_RULE_FAILED',
          `virtual path {${raw}}: symbolic name "${key}" needs a schema (none for this message's category)`,
        )
      }
      if (level === 0) {
        const defs = pd.schema.segments[segName]?.fields ?? []
        const d =
          defs.find((x) => x.name === key) ??
          defs.find((x) => x.name.toLowerCase() === key.toLowerCase())
        if (!d)
          throw new EngineError(
            'ENGINE_RULE_FAILED',
            `virtual path {${raw}}: segment ${segName} has no field named "${key}" in schema ${pd.schema.version}`,
          )
        n = d.index
        dataType = d.dataType
      } else {
        const comps =
          dataType !== undefined ? (pd.schema.dataTypes[dataType]?.components ?? []) : []
        const c =
          comps.find((x) => x.name === key) ??
          comps.find((x) => x.name.toLowerCase() === key.toLowerCase())
        if (!c)
          throw new EngineError(
            'ENGINE_RULE_FAILED',
            `virtual path {${raw}}: data type ${dataType ?? '?'} has no component named "${key}" in schema ${pd.schema.version}`,
          )
        n = c.index
        dataType = c.dataType
      }
    }
    if (level === 0) out.field = n
    else if (level === 1) out.comp = n
    else out.sub = n
  }
  return out
}

/** A resolved location: the segment (if it exists) and the numeric address inside it. */
interface Located {
  segIndex: number | undefined
  candidates: number[]
  segName: string
  field?: number
  comp?: number
  sub?: number
  rep?: number
  /** The segment index was `()` or `(*)`. */
  segAll: '' | '*' | undefined
  repAll: '' | '*' | undefined
}

function locate(pd: PathDoc, p: VirtualPath, vars: IndexResolver, context?: DocSegment): Located {
  let candidates: number[]
  let segName: string
  let segAll: '' | '*' | undefined
  let segIndex: number | undefined
  if (p.steps.length === 0) {
    if (!context)
      throw new EngineError('ENGINE_RULE_FAILED', `virtual path {${p.raw}} names no segment`)
    segName = context.name
    const i = pd.doc.segments.indexOf(context)
    candidates = i < 0 ? [] : [i]
    segIndex = candidates[0]
  } else {
    const last = p.steps[p.steps.length - 1] as PathStep
    segName = last.name
    candidates = segmentCandidates(pd, p.steps, vars, p.raw)
    if (last.index === '' || last.index === '*') segAll = last.index
    else segIndex = candidates[(numIndex(last.index, vars) ?? 1) - 1]
    if (isOrdinal(segName)) {
      if (last.index !== undefined)
        throw new EngineError(
          'ENGINE_RULE_FAILED',
          `virtual path {${p.raw}}: a segment position (${segName}) takes no index`,
        )
      // Field names resolve against the segment found at that position.
      const at = candidates[0]
      segName = at === undefined ? segName : (pd.doc.segments[at] as DocSegment).name
    }
  }
  const nums = fieldNumbers(pd, segName, p.fields, p.raw)
  const f0 = p.fields[0]
  let repAll: '' | '*' | undefined
  let rep: number | undefined
  if (f0?.index === '' || f0?.index === '*') repAll = f0.index
  else rep = numIndex(f0?.index, vars)
  return { segIndex, candidates, segName, ...nums, rep, segAll, repAll }
}

/**
 * Reads a path: the encoded value, `(*)` counts as a number. A missing segment reads as ''.
 */
export function readPath(
  pd: PathDoc,
  p: VirtualPath,
  vars: IndexResolver,
  options: { emptyIsNull?: boolean; context?: DocSegment } = {},
): string | number {
  const last = p.steps[p.steps.length - 1]
  if (last?.index === '*' && p.fields.length === 0 && /grp$/i.test(last.name))
    return countGroups(pd, p.steps, vars, p.raw)
  const loc = locate(pd, p, vars, options.context)
  if (loc.segAll === '*') return loc.candidates.length
  if (loc.segAll === '') {
    return loc.candidates
      .map((i) => pd.doc.encodeSegment(pd.doc.segments[i] as DocSegment))
      .join('\r')
  }
  if (loc.segIndex === undefined) return loc.repAll === '*' ? 0 : ''
  const seg = pd.doc.segments[loc.segIndex] as DocSegment
  if (loc.repAll === '*')
    return loc.field === undefined
      ? 0
      : repetitionCount(seg, loc.field, options.emptyIsNull ?? false)
  return getSegmentValue(pd.doc, seg, {
    ...(loc.field !== undefined ? { field: loc.field } : {}),
    ...(loc.rep !== undefined ? { rep: loc.rep } : {}),
    ...(loc.comp !== undefined ? { comp: loc.comp } : {}),
    ...(loc.sub !== undefined ? { sub: loc.sub } : {}),
  })
}

/** Whether the segment a path names exists. */
export function pathSegmentExists(pd: PathDoc, p: VirtualPath, vars: IndexResolver): boolean {
  if (p.steps.length === 0) return true
  const loc = locate(pd, p, vars)
  return loc.segAll !== undefined ? loc.candidates.length > 0 : loc.segIndex !== undefined
}

/** How many items a path has: segments for `{OBX()}`, group instances for `{ORCgrp()}`, repetitions for `{PID:3()}`. */
export function countPath(
  pd: PathDoc,
  p: VirtualPath,
  vars: IndexResolver,
  emptyIsNull: boolean,
): number {
  const last = p.steps[p.steps.length - 1]
  if (last && p.fields.length === 0 && /grp$/i.test(last.name))
    return countGroups(pd, p.steps, vars, p.raw)
  const loc = locate(pd, p, vars)
  if (loc.segAll !== undefined) return loc.candidates.length
  if (loc.segIndex === undefined || loc.field === undefined)
    return loc.segIndex === undefined ? 0 : 1
  return repetitionCount(pd.doc.segments[loc.segIndex] as DocSegment, loc.field, emptyIsNull)
}

function countGroups(pd: PathDoc, steps: PathStep[], vars: IndexResolver, raw: string): number {
  const last = steps[steps.length - 1] as PathStep
  const parents = steps.slice(0, -1)
  if (pd.structure) {
    let inst: GroupInst | undefined = pd.groupTree()
    for (const g of parents) {
      inst = (inst?.groups.get(g.name) ?? [])[(numIndex(g.index, vars) ?? 1) - 1]
      if (!inst) return 0
    }
    return inst?.groups.get(last.name)?.length ?? 0
  }
  const leader = leaderOf(last.name)
  if (leader === undefined)
    throw new EngineError(
      'ENGINE_RULE_FAILED',
      `virtual path {${raw}}: group "${last.name}" needs the message structure from the schema`,
    )
  return segmentCandidates(pd, [...parents, { name: leader }], vars, raw).length
}

/** The segments a `{...SEG()}` path covers, for rule `foreach`. */
export function pathSegments(pd: PathDoc, p: VirtualPath, vars: IndexResolver): DocSegment[] {
  const loc = locate(pd, p, vars)
  if (loc.segAll !== undefined) return loc.candidates.map((i) => pd.doc.segments[i] as DocSegment)
  return loc.segIndex === undefined ? [] : [pd.doc.segments[loc.segIndex] as DocSegment]
}

/** The action of a DTL assign on a virtual path. */
export type WriteAction = 'set' | 'clear' | 'remove' | 'append' | 'insert'

/**
 * Writes a path (DTL assign). `append` adds a repetition (or segment) when the path ends in `()`
 * and otherwise appends to the text; `insert` inserts a repetition (or segment) at the index;
 * `remove` deletes a segment or repetition; `clear` empties. Creates the segment when missing (after the last segment of the
 * deepest existing group instance, else at the end), unless `createIfMissing` is false.
 */
export function writePath(
  pd: PathDoc,
  p: VirtualPath,
  vars: IndexResolver,
  value: string,
  action: WriteAction,
  options: { createIfMissing?: boolean; context?: DocSegment } = {},
): void {
  const loc = locate(pd, p, vars, options.context)
  const doc = pd.doc
  const wholeSegment = loc.field === undefined
  // segment-level actions
  if (wholeSegment && (action === 'remove' || action === 'clear')) {
    const idxs =
      loc.segAll !== undefined ? loc.candidates : loc.segIndex !== undefined ? [loc.segIndex] : []
    if (action === 'remove') {
      for (const i of [...idxs].sort((a, b) => b - a)) doc.segments.splice(i, 1)
      pd.invalidate()
    } else for (const i of idxs) (doc.segments[i] as DocSegment).fields.length = 1
    return
  }
  if (wholeSegment && (action === 'append' || action === 'insert' || loc.segAll !== undefined)) {
    const seg = doc.parseSegment(value === '' ? loc.segName : value)
    seg.name = loc.segName
    seg.fields[0] = [[[loc.segName]]]
    let at: number
    const last = p.steps[p.steps.length - 1]
    if (action === 'insert' && typeof last?.index === 'number')
      at = loc.candidates[last.index - 1] ?? insertionPoint(pd, p, vars)
    else
      at =
        loc.candidates.length > 0
          ? (loc.candidates[loc.candidates.length - 1] as number) + 1
          : insertionPoint(pd, p, vars)
    doc.segments.splice(at, 0, seg)
    pd.invalidate()
    return
  }
  let segIndex = loc.segIndex
  if (segIndex === undefined) {
    if (options.createIfMissing === false || action === 'remove' || action === 'clear') return
    const lastStep = p.steps[p.steps.length - 1]
    if (lastStep && isOrdinal(lastStep.name))
      throw new EngineError(
        'ENGINE_TRANSFORM_FAILED',
        `virtual path {${p.raw}}: there is no segment ${lastStep.name} (the message has ${doc.segments.length}); a segment position cannot create one`,
      )
    segIndex = insertionPoint(pd, p, vars)
    const seg: DocSegment = { name: loc.segName, fields: [[[[loc.segName]]]] }
    if (loc.segName === 'MSH') seg.fields.push([[[doc.sep.field]]], [[[doc.encodingChars()]]])
    doc.segments.splice(segIndex, 0, seg)
    pd.invalidate()
  }
  const seg = doc.segments[segIndex] as DocSegment
  if (wholeSegment) {
    setSegmentValue(doc, seg, {}, value === '' ? seg.name : value)
    return
  }
  const field = loc.field as number
  if (loc.repAll !== undefined && loc.comp === undefined) {
    if (action === 'remove' || action === 'clear') removeRepetition(seg, field)
    else if (action === 'append') insertRepetition(doc, seg, field, Number.MAX_SAFE_INTEGER, value)
    else setSegmentValue(doc, seg, { field }, value)
    return
  }
  if (action === 'remove' && loc.comp === undefined) {
    removeRepetition(seg, field, loc.rep)
    return
  }
  if (action === 'insert' && loc.comp === undefined) {
    insertRepetition(doc, seg, field, loc.rep ?? 1, value)
    return
  }
  const addr = {
    field,
    ...(loc.rep !== undefined ? { rep: loc.rep } : {}),
    ...(loc.comp !== undefined ? { comp: loc.comp } : {}),
    ...(loc.sub !== undefined ? { sub: loc.sub } : {}),
  }
  if (action === 'append') {
    setSegmentValue(doc, seg, addr, getSegmentValue(doc, seg, addr) + value)
    return
  }
  setSegmentValue(doc, seg, addr, action === 'clear' || action === 'remove' ? '' : value)
}

/**
 * Where a missing segment goes: by the structure, after the last present segment that comes
 * before it in its group (else before the first that comes after it); without a structure, after
 * the deepest existing group instance, else at the end.
 */
function insertionPoint(pd: PathDoc, p: VirtualPath, vars: IndexResolver): number {
  const groups = p.steps.slice(0, -1)
  const segName = p.steps[p.steps.length - 1]?.name ?? ''
  let inst: GroupInst | undefined = pd.groupTree()
  let nodes: StructureNode[] | undefined = pd.structure?.children
  let lastAll: number[] = []
  for (const g of groups) {
    const node: StructureNode | undefined = nodes?.find(
      (n) => n.kind === 'group' && n.name === g.name,
    )
    nodes = node?.kind === 'group' ? node.children : undefined
    const list: GroupInst[] = inst?.groups.get(g.name) ?? []
    inst = list[(numIndex(g.index, vars) ?? 1) - 1]
    if (!inst) break
    lastAll = inst.all
  }
  if (inst && nodes) {
    const j = nodes.findIndex((n) => n.kind === 'segment' && n.segment === segName)
    if (j >= 0) {
      const indexesOf = (n: StructureNode): number[] =>
        n.kind === 'segment'
          ? (inst?.segs.get(n.segment) ?? [])
          : (inst?.groups.get(n.name) ?? []).flatMap((g) => g.all)
      const before = nodes.slice(0, j + 1).flatMap(indexesOf)
      if (before.length > 0) return Math.max(...before) + 1
      const after = nodes.slice(j + 1).flatMap(indexesOf)
      if (after.length > 0) return Math.min(...after)
    }
  }
  if (lastAll.length > 0) return Math.max(...lastAll) + 1
  return pd.doc.segments.length
}

/** Builds a `PathDoc` from text or an `Hl7Doc` with the schema and structure that apply. */
export function pathDocFor(
  doc: Hl7Doc,
  schemas: SchemaProvider | undefined,
  docType?: string,
): PathDoc {
  let category: string | undefined
  let structureName: string | undefined
  if (docType !== undefined && docType.includes(':')) {
    const i = docType.indexOf(':')
    category = docType.slice(0, i)
    structureName = docType.slice(i + 1)
  } else if (docType !== undefined && docType !== '') category = docType
  const msh = doc.first('MSH')
  if (category === undefined && msh) category = getSegmentValue(doc, msh, { field: 12, comp: 1 })
  const schema = category !== undefined && category !== '' ? schemas?.(category) : undefined
  if (structureName === undefined && msh && schema) {
    const s3 = getSegmentValue(doc, msh, { field: 9, comp: 3 })
    const type = getSegmentValue(doc, msh, { field: 9, comp: 1 })
    const event = getSegmentValue(doc, msh, { field: 9, comp: 2 })
    structureName = s3 !== '' ? s3 : (schema.events[`${type}^${event}`] ?? `${type}_${event}`)
  }
  const structure = structureName !== undefined ? schema?.structures[structureName] : undefined
  return new PathDoc(doc, schema, structure)
}

/**
 * Checks the symbolic field and component names of a path against a schema, at compile time.
 * Returns what is wrong, or undefined. Segments the schema does not define (Z-segments of
 * another category) are not checked.
 */
export function verifySymbolicPath(p: VirtualPath, schema: Hl7Schema): string | undefined {
  const seg = p.steps[p.steps.length - 1]?.name
  if (seg === undefined || schema.segments[seg] === undefined) return undefined
  if (!p.fields.some((f) => typeof f.key === 'string')) return undefined
  try {
    fieldNumbers(new PathDoc(new Hl7Doc(), schema, undefined), seg, p.fields, p.raw)
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

/**
 * The structure a doc type names: `category:STRUCTURE` (`2.5:ORU_R01`), or a message type
 * `TYPE_EVENT` (`ADT_A08`, an IRIS docName) mapped through the schema's events
 * (`ADT^A08` → `ADT_A01`), as the runtime does for MSH-9. Undefined when the schema lacks it.
 */
export function structureFor(schema: Hl7Schema, name: string): MessageStructure | undefined {
  const direct = schema.structures[name]
  if (direct) return direct
  const i = name.indexOf('_')
  if (i <= 0) return undefined
  const mapped = schema.events[`${name.slice(0, i)}^${name.slice(i + 1)}`]
  return mapped !== undefined ? schema.structures[mapped] : undefined
}

/** Whether a path walks IRIS groups (`{PIDgrpgrp(1).ORCgrp(1).OBX:5}`, `{ORCgrp(*)}`). */
export function pathHasGroups(p: VirtualPath): boolean {
  const last = p.steps[p.steps.length - 1]
  return (
    p.steps.length > 1 ||
    (last !== undefined &&
      p.fields.length === 0 &&
      /grp$/i.test(last.name) &&
      !isOrdinal(last.name))
  )
}

/**
 * Checks the group steps of a path against a message structure, at load: each group must be a
 * group of the level above it (the IRIS names `StructureNode.name` carries, which the runtime's
 * group tree uses), and a segment after groups must be a segment of the last group. Returns
 * what is wrong (with the names valid at that level), or undefined. A path without groups is
 * not checked (segments outside the structure are still read at the top level).
 */
export function verifyGroupPath(p: VirtualPath, structure: MessageStructure): string | undefined {
  if (!pathHasGroups(p)) return undefined
  let nodes: StructureNode[] = structure.children
  let where = `structure ${structure.id}`
  const groupNames = (ns: StructureNode[]): string[] =>
    ns.flatMap((n) => (n.kind === 'group' ? [n.name] : []))
  const segNames = (ns: StructureNode[]): string[] =>
    ns.flatMap((n) => (n.kind === 'segment' ? [n.segment] : []))
  const list = (a: string[]): string => (a.length > 0 ? a.join(', ') : 'none')
  for (let i = 0; i < p.steps.length; i++) {
    const step = p.steps[i] as PathStep
    const last = i === p.steps.length - 1
    if (last && p.fields.length > 0) {
      // the segment after the groups
      if (segNames(nodes).includes(step.name)) return undefined
      return `virtual path {${p.raw}}: segment "${step.name}" is not a segment of ${where} (segments there: ${list(segNames(nodes))}; groups there: ${list(groupNames(nodes))})`
    }
    const g = nodes.find((n) => n.kind === 'group' && n.name === step.name)
    if (g?.kind === 'group') {
      nodes = g.children
      where = `group ${g.name} of structure ${structure.id}`
      continue
    }
    if (last && segNames(nodes).includes(step.name)) return undefined
    return `virtual path {${p.raw}}: group "${step.name}" is not a group of ${where} (groups there: ${list(groupNames(nodes))})`
  }
  return undefined
}

/** Whether a path has `()` (every instance) at a group, segment or field level. */
export function pathHasAll(p: VirtualPath): boolean {
  return p.steps.some((s) => s.index === '') || p.fields.some((f) => f.index === '')
}

/**
 * Every value a path addresses, for the multi-valued forms of IRIS business rules (`GetValues`):
 * `()` on a group, segment or field iterates every instance, in message order. With `anywhere`
 * (the square bracket form `[PID:3.1]`, IRIS `FindSegmentValues`) the segment is every segment of
 * that name in the message, whatever the group structure. A missing segment gives no value; a
 * present but empty field gives one empty value.
 */
export function readPathValues(
  pd: PathDoc,
  p: VirtualPath,
  vars: IndexResolver,
  options: { context?: DocSegment; anywhere?: boolean } = {},
): string[] {
  const out: string[] = []
  const fromSegment = (segIndex: number): void => {
    const seg = pd.doc.segments[segIndex] as DocSegment
    const nums = fieldNumbers(pd, seg.name, p.fields, p.raw)
    if (nums.field === undefined) {
      out.push(pd.doc.encodeSegment(seg))
      return
    }
    const addr = (rep: number | undefined): FieldAddress => ({
      field: nums.field,
      ...(rep !== undefined ? { rep } : {}),
      ...(nums.comp !== undefined ? { comp: nums.comp } : {}),
      ...(nums.sub !== undefined ? { sub: nums.sub } : {}),
    })
    const f0 = p.fields[0]
    if (f0?.index === '') {
      const n = repetitionCount(seg, nums.field, false)
      for (let r = 1; r <= n; r++) out.push(getSegmentValue(pd.doc, seg, addr(r)))
    } else if (f0?.index === '*') {
      out.push(String(repetitionCount(seg, nums.field, false)))
    } else out.push(getSegmentValue(pd.doc, seg, addr(numIndex(f0?.index, vars))))
  }
  if (p.steps.length === 0) {
    if (!options.context)
      throw new EngineError('ENGINE_RULE_FAILED', `virtual path {${p.raw}} names no segment`)
    const i = pd.doc.segments.indexOf(options.context)
    if (i >= 0) fromSegment(i)
    return out
  }
  if (options.anywhere === true) {
    const name = (p.steps[p.steps.length - 1] as PathStep).name
    pd.doc.segments.forEach((s, i) => {
      if (s.name === name) fromSegment(i)
    })
    return out
  }
  const expand = (i: number, done: PathStep[]): void => {
    const st = p.steps[i] as PathStep
    if (i === p.steps.length - 1) {
      const cands = segmentCandidates(pd, [...done, { name: st.name }], vars, p.raw)
      if (st.index === '') cands.forEach(fromSegment)
      else if (st.index === '*') out.push(String(cands.length))
      else {
        const c = cands[(numIndex(st.index, vars) ?? 1) - 1]
        if (c !== undefined) fromSegment(c)
      }
      return
    }
    if (st.index === '') {
      const n = countGroups(pd, [...done, { name: st.name }], vars, p.raw)
      for (let k = 1; k <= n; k++) expand(i + 1, [...done, { name: st.name, index: k }])
    } else expand(i + 1, [...done, st])
  }
  expand(0, [])
  return out
}

/** Values as IRIS rules show several at once: `<a><b><c>`; no value gives ''. */
export function formatValues(values: string[]): string {
  return values.map((v) => `<${v}>`).join('')
}
