/**
 * IRIS DTL transforms (`XData DTL`, classes extending `Ens.DataTransformDTL`), compiled to a
 * synchronous function from a source message to a new target message (or, for a target class
 * that is not an HL7 message, a plain JSON object with the same property paths). A source class
 * that is not an HL7 message is a plain object too (`source.Name.Family` reads
 * `{ Name: { Family } }`), given as an object (`applyObject`) or JSON text.
 *
 * `create`: `new` starts from an empty target, `copy` from a copy of the source, `existing` uses
 * the object the caller passes as target; without one (the router's case) the target is the
 * source itself, so changes apply in place and `source` reads what earlier actions wrote.
 *
 * Expressions are ObjectScript: binary operators apply strictly left to right (`1+2*3` = 9).
 *
 * Supported: `<transform sourceClass targetClass sourceDocType targetDocType create language>`
 * with create `new`, `copy` and `existing`; actions `assign` (action set, append, clear, remove,
 * insert), `foreach` (key; over repeating fields, segments and groups), `if`/`true`/`false`,
 * `switch`/`case`/`default`, `break`, `subtransform` (whole message or segment), `group`,
 * `comment`, `trace`, `<code>` blocks of `set` statements and `$$$TRACE`/`$$$LOG*` macros
 * (`simpleCodeStatements`); the class parameters IGNOREMISSINGSOURCE, REPORTERRORS,
 * TREATEMPTYREPEATINGFIELDASNULL and GENERATEEMPTYSEGMENTS; expressions as in `expression.ts`.
 *
 * Not supported (the compile fails naming class, file line and construct): other `<code>`
 * statements, `<sql>`, languages other than ObjectScript, unknown functions and
 * `##class(...)` calls. Register a function with `registerIrisFunction` to supply one.
 */
import { parseMessage, type Message } from '@li/hl7'
import { EngineError } from '../errors.js'
import type {
  CompiledTransform,
  Production,
  RuleContext,
  TransformDefinition,
} from '../production/types.js'
import {
  collectPaths,
  collectRefs,
  evaluate,
  ExpressionError,
  functionRegistry,
  parseExpression,
  toNum,
  toStr,
  truthy,
  type EvalEnv,
  type Expr,
  type Value,
} from './expression.js'
import { Hl7Doc, type DocSegment, cloneSegment } from './hl7-doc.js'
import { schemaProviderFor, type CompileOptions } from './schemas.js'
import {
  countPath,
  parseVirtualPath,
  pathDocFor,
  pathSegmentExists,
  readPath,
  pathHasGroups,
  structureFor,
  verifyGroupPath,
  verifySymbolicPath,
  writePath,
  type PathDoc,
  type VirtualPath,
  type WriteAction,
} from './virtual-path.js'
import { localName, parseXml, type XmlElement } from './xml.js'

/** What a transform produced. */
export interface TransformOutput {
  /** The target message as ER7 text (HL7 targets). */
  text?: string
  /** The target object (non-HL7 targets). */
  object?: Record<string, unknown>
  /** Errors collected while running (with REPORTERRORS = 0 they do not throw). */
  errors: string[]
}

/** A compiled DTL: `apply` for `@li/hl7` messages, `applyText` for ER7 text. */
export interface CompiledDtl extends CompiledTransform {
  /** Source and target classes and doc types, as declared. */
  readonly header: DtlHeader
  /**
   * What could not be checked at load and may differ at run time (IRIS group paths on a side
   * whose doc type names no structure the schema has), for the compatibility report.
   */
  readonly notes: readonly string[]
  /** Runs on ER7 text (JSON text for a non-HL7 source class); the target as text or object. */
  applyText(source: string, ctx: Omit<RuleContext, 'message'>): TransformOutput
  /**
   * Runs on a plain object (non-HL7 source class). With create="existing" the object itself is
   * the target and is changed in place.
   */
  applyObject(source: Record<string, unknown>, ctx: Omit<RuleContext, 'message'>): TransformOutput
}

/** The `<transform>` attributes and class parameters. */
export interface DtlHeader {
  sourceClass: string
  targetClass: string
  sourceDocType?: string
  targetDocType?: string
  create: 'new' | 'copy' | 'existing'
  ignoreMissingSource: boolean
  reportErrors: boolean
  treatEmptyRepeatingFieldAsNull: boolean
  generateEmptySegments: boolean
  /** Whether the target is an HL7 message (else a plain object). */
  hl7Target: boolean
  /** Whether the source is an HL7 message (else a plain object). */
  hl7Source: boolean
  /** Whether this is a segment transform (`EnsLib.HL7.Segment`). */
  segment: boolean
}

type Act =
  | { a: 'assign'; line: number; target: Lhs; value: Expr; action: WriteAction }
  | { a: 'foreach'; line: number; path: VirtualPath; base: string; key: string; body: Act[] }
  | { a: 'if'; line: number; cond: Expr; then: Act[]; else: Act[] }
  | { a: 'switch'; line: number; cases: { cond: Expr; body: Act[] }[]; dflt: Act[] }
  | { a: 'break'; line: number }
  | { a: 'sub'; line: number; className: string; source: Lhs; target: Lhs }
  | { a: 'trace'; line: number; value: Expr }
  | { a: 'group'; line: number; body: Act[] }

type Lhs =
  | { k: 'vpath'; base: 'source' | 'target'; path: VirtualPath }
  | { k: 'whole'; base: 'source' | 'target' }
  | { k: 'prop'; base: 'target'; props: string[] }
  | { k: 'var'; name: string }

const BREAK = Symbol('break')

function isHl7Class(c: string): boolean {
  return c === '' || c.startsWith('EnsLib.HL7.')
}

function boolParam(
  params: Record<string, string> | undefined,
  name: string,
  dflt: boolean,
): boolean {
  const v = params?.[name]
  if (v === undefined || v.trim() === '') return dflt
  return toNum(v) !== 0
}

const HL7_DOC_PROPS = new Set([
  'DocType',
  'Name',
  'DocTypeName',
  'DocTypeCategory',
  'TypeVersion',
  'Identifier',
])

/**
 * Compiles a DTL class against a production (subtransforms must be loaded too). Throws
 * `ENGINE_TRANSFORM_UNSUPPORTED` / `ENGINE_TRANSFORM_INVALID` naming class, line and construct.
 */
export function compileTransform(
  def: TransformDefinition,
  p: Production,
  options: CompileOptions = {},
  cache = new Map<string, CompiledDtl>(),
): CompiledDtl {
  const cached = cache.get(def.className)
  if (cached) return cached
  const functions = functionRegistry(options.functions)
  const file = def.origin?.file
  const whereLine = (line: number): string =>
    `${file !== undefined ? `${file} ` : ''}line ${line}: transform class ${def.className}`
  const offset = (def.origin?.line ?? 1) - 1 + (/^\s*/.exec(def.xml)?.[0].match(/\n/g) ?? []).length
  let root: XmlElement
  try {
    root = parseXml(def.xml.replace(/^\s+/, ''), `transform class ${def.className}`, offset)
  } catch (e) {
    throw new EngineError(
      'ENGINE_TRANSFORM_INVALID',
      `${file ?? ''} ${(e as Error).message}`.trim(),
      { cause: e },
    )
  }
  if (localName(root.name) !== 'transform') {
    throw new EngineError(
      'ENGINE_TRANSFORM_INVALID',
      `${whereLine(root.line)}: expected <transform>, found <${root.name}>`,
    )
  }
  const a = root.attrs
  const language = (a.language ?? 'objectscript').toLowerCase()
  if (language !== 'objectscript') {
    throw new EngineError(
      'ENGINE_TRANSFORM_UNSUPPORTED',
      `${whereLine(root.line)}: language="${a.language ?? ''}" is not supported (only objectscript)`,
    )
  }
  const create = (a.create ?? 'new').toLowerCase()
  if (create !== 'new' && create !== 'copy' && create !== 'existing') {
    throw new EngineError(
      'ENGINE_TRANSFORM_INVALID',
      `${whereLine(root.line)}: create="${a.create ?? ''}" is not new, copy or existing`,
    )
  }
  const sourceClass = a.sourceClass ?? 'EnsLib.HL7.Message'
  const targetClass = a.targetClass ?? 'EnsLib.HL7.Message'
  const params = def.parameters
  const header: DtlHeader = {
    sourceClass,
    targetClass,
    ...(a.sourceDocType !== undefined && a.sourceDocType !== ''
      ? { sourceDocType: a.sourceDocType }
      : {}),
    ...(a.targetDocType !== undefined && a.targetDocType !== ''
      ? { targetDocType: a.targetDocType }
      : {}),
    create,
    ignoreMissingSource: boolParam(params, 'IGNOREMISSINGSOURCE', false),
    reportErrors: boolParam(params, 'REPORTERRORS', false),
    treatEmptyRepeatingFieldAsNull: boolParam(params, 'TREATEMPTYREPEATINGFIELDASNULL', false),
    generateEmptySegments: boolParam(params, 'GENERATEEMPTYSEGMENTS', false),
    hl7Target: isHl7Class(targetClass),
    hl7Source: isHl7Class(sourceClass),
    // A segment transform: either side an `EnsLib.HL7.Segment` (an object source may fill one).
    segment:
      sourceClass === 'EnsLib.HL7.Segment' ||
      (!isHl7Class(sourceClass) && targetClass === 'EnsLib.HL7.Segment'),
  }
  if (create !== 'new' && header.hl7Source !== header.hl7Target) {
    throw new EngineError(
      'ENGINE_TRANSFORM_INVALID',
      `${whereLine(root.line)}: create="${create}" needs source and target of the same kind, but ${header.hl7Source ? 'the source is an HL7 message and the target an object' : 'the source is an object and the target an HL7 message'} (${sourceClass} -> ${targetClass})`,
    )
  }

  const expr = (src: string, line: number, what: string): Expr => {
    let e: Expr
    try {
      e = parseExpression(src, { functions, leftToRight: true })
    } catch (err) {
      const unsupported = err instanceof ExpressionError
      throw new EngineError(
        unsupported ? 'ENGINE_TRANSFORM_UNSUPPORTED' : 'ENGINE_TRANSFORM_INVALID',
        `${whereLine(line)}: ${what} ${src}: ${(err as Error).message}`,
        { cause: err },
      )
    }
    const { refs, vpaths } = collectRefs(e)
    for (const v of vpaths) {
      if (v === 'source' && !header.hl7Source) {
        throw new EngineError(
          'ENGINE_TRANSFORM_INVALID',
          `${whereLine(line)}: ${what} ${src}: source class ${header.sourceClass} is not an HL7 message: read it with source.Property, not source.{...}`,
        )
      }
      if (v !== 'source' && v !== 'target') {
        throw new EngineError(
          'ENGINE_TRANSFORM_UNSUPPORTED',
          `${whereLine(line)}: ${what} ${src}: "${v}.{...}" is not supported (expected source.{...} or target.{...})`,
        )
      }
    }
    for (const r of refs) {
      const [base, ...props] = r.split('.')
      if (
        (base === 'source' || base === 'target') &&
        props.length === 1 &&
        HL7_DOC_PROPS.has(props[0] as string)
      )
        continue
      if (base === 'target' && !header.hl7Target) continue
      if (base === 'source' && !header.hl7Source && props.length > 0) continue
      if (
        props.length === 0 &&
        base !== undefined &&
        /^[A-Za-z%][\w%]*$/.test(base) &&
        base !== 'source' &&
        base !== 'target' &&
        base !== 'aux' &&
        base !== 'process' &&
        base !== 'context'
      )
        continue
      throw new EngineError(
        'ENGINE_TRANSFORM_UNSUPPORTED',
        `${whereLine(line)}: ${what} ${src}: "${r}" is not supported (expected source/target virtual paths, DocType/Name, or local variables)`,
      )
    }
    for (const { base, path } of collectPaths(e)) checkPath(base, path, line, `${what} ${src}`)
    return e
  }
  // With declared doc types the schemas are known: check symbolic names now, not per message.
  const schemas = schemaProviderFor(options, p)
  const categoryOf = (docType: string | undefined): string | undefined =>
    docType !== undefined && docType.includes(':')
      ? docType.slice(0, docType.indexOf(':'))
      : undefined
  const notes: string[] = []
  const checkPath = (base: string, path: VirtualPath, line: number, what: string): void => {
    if (header.segment) return
    const docType =
      base === 'source' ? header.sourceDocType : header.hl7Target ? header.targetDocType : undefined
    const cat = categoryOf(docType)
    const schema = cat !== undefined ? schemas(cat) : undefined
    const wrong = schema ? verifySymbolicPath(path, schema) : undefined
    if (wrong !== undefined) {
      throw new EngineError('ENGINE_TRANSFORM_INVALID', `${whereLine(line)}: ${what}: ${wrong}`)
    }
    if ((base !== 'source' && !(base === 'target' && header.hl7Target)) || !pathHasGroups(path))
      return
    // IRIS group names: checked against the structure the declared doc type names.
    const structName =
      docType !== undefined && docType.includes(':')
        ? docType.slice(docType.indexOf(':') + 1)
        : undefined
    const structure =
      schema && structName !== undefined ? structureFor(schema, structName) : undefined
    if (!structure) {
      const attr = base === 'source' ? 'sourceDocType' : 'targetDocType'
      notes.push(
        `${whereLine(line)}: ${what}${what.includes(`{${path.raw}}`) ? '' : `: {${path.raw}}`} walks IRIS groups that could not be checked at load (${
          docType === undefined || docType === ''
            ? `no ${attr}`
            : structName === undefined
              ? `${attr}="${docType}" names no structure`
              : schema === undefined
                ? `no schema for category ${cat ?? ''}`
                : `the schema has no structure ${structName}`
        }); a misspelled group name reads "" (or writes nowhere) at run time`,
      )
      return
    }
    const bad = verifyGroupPath(path, structure)
    if (bad !== undefined) {
      throw new EngineError(
        'ENGINE_TRANSFORM_INVALID',
        `${whereLine(line)}: ${what}: ${bad} (${base === 'source' ? 'sourceDocType' : 'targetDocType'} ${docType ?? ''})`,
      )
    }
  }
  const lhs = (src: string, line: number): Lhs => {
    const t = src.trim()
    const m = /^(source|target)\.\{(.*)\}$/.exec(t)
    if (m) {
      let path: VirtualPath
      try {
        path = parseVirtualPath(m[2] as string)
      } catch (e) {
        throw new EngineError(
          'ENGINE_TRANSFORM_UNSUPPORTED',
          `${whereLine(line)}: ${(e as Error).message}`,
        )
      }
      checkPath(m[1] as string, path, line, `property ${src}`)
      return { k: 'vpath', base: m[1] as 'source' | 'target', path }
    }
    if (t === 'source' || t === 'target') return { k: 'whole', base: t }
    const pm = /^target\.([A-Za-z%][\w%]*(?:\.[A-Za-z%][\w%]*)*)$/.exec(t)
    if (pm) return { k: 'prop', base: 'target', props: (pm[1] as string).split('.') }
    if (/^[A-Za-z%][\w%]*$/.test(t)) return { k: 'var', name: t }
    throw new EngineError(
      'ENGINE_TRANSFORM_UNSUPPORTED',
      `${whereLine(line)}: property "${src}" is not supported (expected target.{path}, target.Property or a local variable)`,
    )
  }
  const subs = new Map<string, CompiledDtl>()
  const compileBody = (parent: XmlElement): Act[] => {
    const out: Act[] = []
    for (const c of parent.children) {
      const n = localName(c.name)
      const line = c.line
      switch (n) {
        case 'assign': {
          const action = (c.attrs.action ?? 'set').toLowerCase()
          if (!['set', 'append', 'clear', 'remove', 'insert'].includes(action)) {
            throw new EngineError(
              'ENGINE_TRANSFORM_UNSUPPORTED',
              `${whereLine(line)}: assign action="${c.attrs.action ?? ''}" is not supported (set, append, clear, remove, insert)`,
            )
          }
          const value = c.attrs.value ?? '""'
          out.push({
            a: 'assign',
            line,
            target: lhs(c.attrs.property ?? '', line),
            value: expr(value.trim() === '' ? '""' : value, line, 'value'),
            action: action as WriteAction,
          })
          break
        }
        case 'foreach': {
          const prop = (c.attrs.property ?? '').trim()
          const m = /^(source|target)\.\{(.*)\}$/.exec(prop)
          if (!m)
            throw new EngineError(
              'ENGINE_TRANSFORM_UNSUPPORTED',
              `${whereLine(line)}: foreach property "${prop}" is not supported (expected source.{...()} or target.{...()})`,
            )
          let path: VirtualPath
          try {
            path = parseVirtualPath(m[2] as string)
          } catch (e) {
            throw new EngineError(
              'ENGINE_TRANSFORM_UNSUPPORTED',
              `${whereLine(line)}: ${(e as Error).message}`,
            )
          }
          checkPath(m[1] as string, path, line, `foreach property ${prop}`)
          const key = (c.attrs.key ?? '').trim()
          if (key === '')
            throw new EngineError(
              'ENGINE_TRANSFORM_INVALID',
              `${whereLine(line)}: foreach has no key`,
            )
          out.push({ a: 'foreach', line, path, base: m[1] as string, key, body: compileBody(c) })
          break
        }
        case 'if': {
          const t = c.children.find((x) => localName(x.name) === 'true')
          const f = c.children.find((x) => localName(x.name) === 'false')
          out.push({
            a: 'if',
            line,
            cond: expr(c.attrs.condition ?? '0', line, 'condition'),
            then: t ? compileBody(t) : [],
            else: f ? compileBody(f) : [],
          })
          break
        }
        case 'switch': {
          const cases: { cond: Expr; body: Act[] }[] = []
          let dflt: Act[] = []
          for (const k of c.children) {
            const kn = localName(k.name)
            if (kn === 'case')
              cases.push({
                cond: expr(k.attrs.condition ?? '0', k.line, 'condition'),
                body: compileBody(k),
              })
            else if (kn === 'default') dflt = compileBody(k)
            else if (kn !== 'annotation')
              throw new EngineError(
                'ENGINE_TRANSFORM_UNSUPPORTED',
                `${whereLine(k.line)}: <${kn}> inside <switch>`,
              )
          }
          out.push({ a: 'switch', line, cases, dflt })
          break
        }
        case 'break':
          out.push({ a: 'break', line })
          break
        case 'subtransform': {
          const cls = c.attrs.class ?? ''
          const subDef = p.transforms.get(cls)
          if (!subDef)
            throw new EngineError(
              'ENGINE_TRANSFORM_INVALID',
              `${whereLine(line)}: subtransform class "${cls}" was not found in the export or next to it`,
            )
          if (subDef.className !== def.className && !subs.has(cls))
            subs.set(cls, compileTransform(subDef, p, options, cache))
          out.push({
            a: 'sub',
            line,
            className: cls,
            source: lhs(c.attrs.sourceObj ?? 'source', line),
            target: lhs(c.attrs.targetObj ?? 'target', line),
          })
          break
        }
        case 'trace':
          out.push({ a: 'trace', line, value: expr(c.attrs.value ?? '""', line, 'trace value') })
          break
        case 'group':
          out.push({ a: 'group', line, body: compileBody(c) })
          break
        case 'comment':
        case 'annotation':
        case 'true':
        case 'false':
          break
        case 'code': {
          // `set` statements run as assigns, the $$$TRACE/$$$LOG* macros as traces.
          const refuse = (text: string, why: string): never => {
            throw new EngineError(
              'ENGINE_TRANSFORM_UNSUPPORTED',
              `${whereLine(line)}: <code> statement "${text.slice(0, 60)}" is not supported (${why}); rewrite it with DTL actions or register a function`,
            )
          }
          for (const st of simpleCodeStatements(c.text, refuse)) {
            if (st.k === 'trace') {
              out.push({ a: 'trace', line, value: expr(st.value, line, 'trace value') })
              continue
            }
            out.push({
              a: 'assign',
              line,
              target: lhs(st.target, line),
              value: expr(st.value.trim() === '' ? '""' : st.value, line, 'value'),
              action: 'set',
            })
          }
          break
        }
        default:
          throw new EngineError(
            'ENGINE_TRANSFORM_UNSUPPORTED',
            `${whereLine(line)}: <${n}> is not supported in DTL`,
          )
      }
    }
    return out
  }

  const body = compileBody(root)

  const run = (
    source: Hl7Doc | Record<string, unknown>,
    ctx: Omit<RuleContext, 'message'>,
    existingTarget?: Hl7Doc | Record<string, unknown>,
  ): { target: Hl7Doc | Record<string, unknown>; errors: string[] } => {
    const errors: string[] = []
    const sourceDoc = source instanceof Hl7Doc ? source : undefined
    const sourceObj = source instanceof Hl7Doc ? undefined : source
    const sourcePd = sourceDoc
      ? pathDocFor(sourceDoc, schemas, header.sourceDocType ?? ctx.docCategory)
      : undefined
    let target: Hl7Doc | Record<string, unknown>
    if (existingTarget) target = existingTarget
    else if (header.create === 'existing') target = source
    else if (!header.hl7Target)
      target = header.create === 'copy' && sourceObj ? structuredClone(sourceObj) : {}
    else if (header.create === 'new' || !sourceDoc) {
      const t = new Hl7Doc()
      if (sourceDoc) t.sep = { ...sourceDoc.sep }
      target = t
    } else target = sourceDoc.clone()
    // create="existing" without a caller's target: source and target are one message, so a
    // write through `target` must also reset the source's cached group tree.
    const inPlace = target === sourceDoc
    let targetDocType = header.targetDocType
    let targetPd: PathDoc | undefined =
      target instanceof Hl7Doc
        ? pathDocFor(target, schemas, targetDocType ?? header.sourceDocType)
        : undefined
    const vars = new Map<string, Value>()
    const varIndex = (name: string): number => {
      const v = vars.get(name)
      if (v === undefined)
        throw new EngineError(
          'ENGINE_TRANSFORM_FAILED',
          `variable "${name}" used as an index is not set`,
        )
      return toNum(v)
    }
    const segCtx = (pd: PathDoc): DocSegment | undefined =>
      header.segment ? pd.doc.segments[0] : undefined
    // In a segment transform `{3.1}` and `{AssignedPatientLocation.PointOfCare}` name fields.
    const fieldPathFor = (path: VirtualPath): VirtualPath => {
      if (!header.segment || path.steps.length === 0 || path.fields.length > 0) return path
      const fields = path.steps.map((st) => {
        const key = /^\d+$/.test(st.name) ? Number(st.name) : st.name
        return st.index === undefined ? { key } : { key, index: st.index }
      })
      return { raw: path.raw, steps: [], fields }
    }
    const env: EvalEnv = {
      lookupTables: ctx.lookupTables,
      now: ctx.now,
      functions,
      vpath: (base: string, path: VirtualPath): Value => {
        const pd = base === 'source' ? sourcePd : targetPd
        if (!pd) return ''
        const fp = fieldPathFor(path)
        if (
          base === 'source' &&
          !header.ignoreMissingSource &&
          !header.segment &&
          !pathSegmentExists(pd, fp, varIndex)
        ) {
          errors.push(`source path {${path.raw}}: segment not present`)
        }
        const segment = segCtx(pd)
        return readPath(pd, fp, varIndex, {
          emptyIsNull: header.treatEmptyRepeatingFieldAsNull,
          ...(segment ? { context: segment } : {}),
        })
      },
      ref: (base: string, props: string[]): Value => {
        if (props.length === 0) return vars.get(base) ?? ''
        const prop = props[0]
        if (base === 'source' && sourceObj) return getProp(sourceObj, props)
        if (base === 'source' || base === 'target') {
          const pd = base === 'source' ? sourcePd : targetPd
          if (base === 'target' && !(target instanceof Hl7Doc)) return toStr(getProp(target, props))
          if (!pd) return ''
          const cat = pd.schema?.version ?? ''
          const st = pd.structure?.id ?? ''
          if (prop === 'DocType')
            return base === 'target'
              ? (targetDocType ?? `${cat}:${st}`)
              : (header.sourceDocType ?? `${cat}:${st}`)
          if (prop === 'DocTypeName') return st
          if (prop === 'DocTypeCategory' || prop === 'TypeVersion') return cat
          if (prop === 'Name') {
            const msh = pd.doc.first('MSH')
            if (!msh) return ''
            const t = readPath(pd, parseVirtualPath('MSH:9.1'), varIndex)
            const e = readPath(pd, parseVirtualPath('MSH:9.2'), varIndex)
            return e === '' ? t : `${toStr(t)}_${toStr(e)}`
          }
          if (prop === 'Identifier') return readPath(pd, parseVirtualPath('MSH:10'), varIndex)
        }
        return ''
      },
    }
    const fail = (line: number, e: unknown): void => {
      errors.push(`line ${line}: ${(e as Error).message}`)
    }
    const exec = (acts: Act[]): typeof BREAK | undefined => {
      for (const act of acts) {
        try {
          switch (act.a) {
            case 'assign': {
              const raw = evaluate(act.value, env)
              const value = toStr(raw)
              const l = act.target
              if (l.k === 'var') {
                if (act.action === 'append') vars.set(l.name, toStr(vars.get(l.name) ?? '') + value)
                else if (act.action === 'clear' || act.action === 'remove') vars.delete(l.name)
                else vars.set(l.name, raw)
              } else if (l.k === 'prop') {
                if (target instanceof Hl7Doc) {
                  if (l.props.length === 1 && l.props[0] === 'DocType') {
                    targetDocType = value
                    targetPd = pathDocFor(target, schemas, value)
                  } else
                    throw new Error(
                      `target.${l.props.join('.')} is not a property of an HL7 message`,
                    )
                } else setProp(target, l.props, value, act.action)
              } else if (l.k === 'whole') {
                if (l.base === 'target' && target instanceof Hl7Doc) {
                  const d = Hl7Doc.parse(value)
                  target.segments = d.segments
                  target.sep = d.sep
                  targetPd?.invalidate()
                } else throw new Error(`cannot assign to ${l.base}`)
              } else {
                if (l.base !== 'target') throw new Error('only target paths can be assigned')
                if (!(target instanceof Hl7Doc)) {
                  setProp(target, [l.path.raw], value, act.action)
                  break
                }
                const pd = targetPd as PathDoc
                const fp = fieldPathFor(l.path)
                const segment = segCtx(pd)
                const createIfMissing = value !== '' || header.generateEmptySegments
                writePath(pd, fp, varIndex, value, act.action, {
                  createIfMissing,
                  ...(segment ? { context: segment } : {}),
                })
              }
              break
            }
            case 'foreach': {
              const pd = act.base === 'source' ? sourcePd : targetPd
              if (!pd) break
              const n = countPath(
                pd,
                fieldPathFor(act.path),
                varIndex,
                header.treatEmptyRepeatingFieldAsNull,
              )
              for (let k = 1; k <= n; k++) {
                vars.set(act.key, k)
                if (exec(act.body) === BREAK) break
              }
              break
            }
            case 'if': {
              const r = exec(truthy(evaluate(act.cond, env)) ? act.then : act.else)
              if (r === BREAK) return BREAK
              break
            }
            case 'switch': {
              const c = act.cases.find((x) => truthy(evaluate(x.cond, env)))
              const r = exec(c ? c.body : act.dflt)
              if (r === BREAK) return BREAK
              break
            }
            case 'break':
              return BREAK
            case 'group': {
              const r = exec(act.body)
              if (r === BREAK) return BREAK
              break
            }
            case 'trace':
              ctx.trace?.(toStr(evaluate(act.value, env)))
              break
            case 'sub': {
              const sub = act.className === def.className ? self : subs.get(act.className)
              if (!sub) throw new Error(`subtransform ${act.className} is not compiled`)
              runSub(sub, act, source, sourcePd, targetPd, target, env, varIndex, ctx, errors)
              break
            }
          }
        } catch (e) {
          fail(act.line, e)
        }
        if (inPlace && (act.a === 'assign' || act.a === 'sub')) sourcePd?.invalidate()
      }
      return undefined
    }
    exec(body)
    return { target, errors }
  }

  const output = (r: {
    target: Hl7Doc | Record<string, unknown>
    errors: string[]
  }): TransformOutput => {
    finish(r.errors)
    return r.target instanceof Hl7Doc
      ? { text: r.target.toString(), errors: r.errors }
      : { object: r.target, errors: r.errors }
  }
  const applyObject = (
    source: Record<string, unknown>,
    ctx: Omit<RuleContext, 'message'>,
  ): TransformOutput => {
    if (header.hl7Source)
      throw new EngineError(
        'ENGINE_TRANSFORM_FAILED',
        `transform class ${def.className} reads HL7 messages (sourceClass ${sourceClass}), not objects`,
      )
    return output(run(source, ctx))
  }
  const applyText = (source: string, ctx: Omit<RuleContext, 'message'>): TransformOutput => {
    if (!header.hl7Source) {
      let obj: unknown
      try {
        obj = JSON.parse(source)
      } catch {
        obj = undefined
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
        throw new EngineError(
          'ENGINE_TRANSFORM_FAILED',
          `transform class ${def.className}: source class ${sourceClass} is not an HL7 message, so the source must be a JSON object (the output of a transform with a non-HL7 target), not ${/^\s*(MSH|FHS|BHS)/.test(source) ? 'an HL7 message' : 'this text'}`,
        )
      return applyObject(obj as Record<string, unknown>, ctx)
    }
    return output(run(Hl7Doc.parse(source), ctx))
  }
  const finish = (errors: string[]): void => {
    if (errors.length > 0 && header.reportErrors) {
      throw new EngineError(
        'ENGINE_TRANSFORM_FAILED',
        `transform class ${def.className}${file !== undefined ? ` (${file})` : ''} failed:\n  - ${errors.join('\n  - ')}`,
      )
    }
  }
  const self: CompiledDtl & { run: typeof run } = {
    className: def.className,
    header,
    notes,
    applyText,
    applyObject,
    run,
    apply(source: Message, ctx: Omit<RuleContext, 'message'>): Message | Record<string, unknown> {
      const out = applyText(source.toString(), ctx)
      if (out.object) return out.object
      return toMessage(out.text ?? '')
    },
  }
  cache.set(def.className, self)
  return self
}

type Runnable = CompiledDtl & {
  run?: (
    s: Hl7Doc | Record<string, unknown>,
    ctx: Omit<RuleContext, 'message'>,
    t?: Hl7Doc | Record<string, unknown>,
  ) => { target: Hl7Doc | Record<string, unknown>; errors: string[] }
}

function runSub(
  sub: Runnable,
  act: Extract<Act, { a: 'sub' }>,
  source: Hl7Doc | Record<string, unknown>,
  sourcePd: PathDoc | undefined,
  targetPd: PathDoc | undefined,
  target: Hl7Doc | Record<string, unknown>,
  env: EvalEnv,
  varIndex: (n: string) => number,
  ctx: Omit<RuleContext, 'message'>,
  errors: string[],
): void {
  if (!sub.run) throw new Error(`subtransform ${sub.className} cannot run here`)
  let srcDoc: Hl7Doc | Record<string, unknown>
  if (act.source.k === 'whole') srcDoc = act.source.base === 'source' ? source : target
  else if (act.source.k === 'vpath') {
    const pd = act.source.base === 'source' ? sourcePd : targetPd
    if (!pd)
      throw new Error(`subtransform ${sub.className}: ${act.source.base} is not an HL7 message`)
    const text = toStr(readPath(pd, act.source.path, varIndex))
    const d = new Hl7Doc()
    d.sep = { ...pd.doc.sep }
    if (text !== '') d.segments = [d.parseSegment(text)]
    srcDoc = d
  } else
    srcDoc = Hl7Doc.parse(toStr(env.ref(act.source.k === 'var' ? act.source.name : 'source', [])))
  if (act.target.k === 'whole' && !(target instanceof Hl7Doc)) {
    const r = sub.run(srcDoc, ctx, sub.header.create === 'new' ? undefined : target)
    errors.push(...r.errors.map((e) => `${sub.className}: ${e}`))
    if (r.target !== target && !(r.target instanceof Hl7Doc)) Object.assign(target, r.target)
    return
  }
  if (act.target.k === 'whole' && target instanceof Hl7Doc) {
    const existing = sub.header.create === 'new' ? undefined : target
    const r = sub.run(srcDoc, ctx, existing)
    errors.push(...r.errors.map((e) => `${sub.className}: ${e}`))
    if (r.target instanceof Hl7Doc && r.target !== target) {
      target.segments = r.target.segments
    }
    targetPd?.invalidate()
    return
  }
  if (act.target.k === 'vpath' && target instanceof Hl7Doc && targetPd) {
    const existingText = toStr(readPath(targetPd, act.target.path, varIndex))
    const segName = act.target.path.steps[act.target.path.steps.length - 1]?.name ?? ''
    const t = new Hl7Doc()
    t.sep = { ...target.sep }
    t.segments = [
      existingText !== '' && sub.header.create !== 'new'
        ? t.parseSegment(existingText)
        : { name: segName, fields: [[[[segName]]]] },
    ]
    const first = srcDoc instanceof Hl7Doc ? srcDoc.segments[0] : undefined
    if (sub.header.create === 'copy' && first) t.segments = [cloneSegment(first)]
    const r = sub.run(srcDoc, ctx, t)
    errors.push(...r.errors.map((e) => `${sub.className}: ${e}`))
    const out = r.target instanceof Hl7Doc ? r.target : t
    const seg = out.segments[0]
    if (seg)
      writePath(
        targetPd,
        act.target.path,
        varIndex,
        out.encodeSegment({
          ...seg,
          name: segName,
          fields: [[[[segName]]], ...seg.fields.slice(1)],
        }),
        'set',
      )
    return
  }
  throw new Error(`subtransform ${sub.className}: targetObj must be target or target.{segment}`)
}

/** The ObjectScript statements of a `<code>` block: its lines that are neither blank nor comments. */
export function codeStatements(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('//') && !l.startsWith(';') && !l.startsWith('#;'))
}

/** A statement without its trailing `//` or `;` comment (outside string literals). */
function stripComment(st: string): string {
  let quoted = false
  for (let i = 0; i < st.length; i++) {
    const ch = st.charAt(i)
    if (ch === '"') quoted = !quoted
    else if (!quoted && (ch === ';' || (ch === '/' && st.charAt(i + 1) === '/')))
      return st.slice(0, i).trim()
  }
  return st.trim()
}

/**
 * `text` split at `sep` where it is outside string literals, parentheses and `{...}` paths (the
 * commas between the assignments of one `set`, the `=` after its target).
 */
function splitTopLevel(text: string, sep: string): string[] {
  const out: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i)
    if (ch === '"') quoted = !quoted
    else if (quoted) continue
    else if (ch === '(' || ch === '{') depth++
    else if (ch === ')' || ch === '}') depth--
    else if (depth === 0 && ch === sep) {
      out.push(text.slice(start, i))
      start = i + 1
    }
  }
  out.push(text.slice(start))
  return out
}

/** A statement of a `<code>` block that DTL and BPL run: an assignment, or a trace macro. */
export type SimpleCodeStatement =
  { k: 'set'; target: string; value: string } | { k: 'trace'; value: string; alert: boolean }

/**
 * The statements of a `<code>` block that run: `set` (`set a = x, b = y`; also `s`) and the
 * `$$$TRACE`, `$$$LOGINFO`, `$$$LOGWARNING`, `$$$LOGERROR` (traces) and `$$$LOGALERT` (an alert)
 * macros, comments dropped. Any other statement is handed to `refuse` (which throws).
 */
export function simpleCodeStatements(
  text: string,
  refuse: (statement: string, why: string) => never,
): SimpleCodeStatement[] {
  const out: SimpleCodeStatement[] = []
  for (const st of codeStatements(text)) {
    const line = stripComment(st)
    if (line === '') continue
    const macro = /^\$\$\$(TRACE|LOGINFO|LOGWARNING|LOGERROR|LOGALERT)\((.*)\)$/i.exec(line)
    if (macro) {
      out.push({
        k: 'trace',
        value: macro[2] as string,
        alert: (macro[1] as string).toUpperCase() === 'LOGALERT',
      })
      continue
    }
    const set = /^(?:set|s)(\s+|:)(.*)$/i.exec(line)
    if (!set) return refuse(line, 'only set and the $$$TRACE/$$$LOG macros run here')
    if (set[1] === ':') return refuse(line, 'a postconditional')
    for (const part of splitTopLevel(set[2] as string, ',')) {
      const eq = splitTopLevel(part, '=')
      if (eq.length < 2) return refuse(line, `"${part.trim()}" is not target = value`)
      const target = (eq[0] as string).trim()
      out.push({ k: 'set', target, value: part.slice((eq[0] as string).length + 1).trim() })
    }
  }
  return out
}

/** Whether a compiled transform is a DTL (it also runs on ER7 text and on objects). */
export function isCompiledDtl(
  t: CompiledTransform,
): t is CompiledTransform & Pick<CompiledDtl, 'applyText' | 'applyObject' | 'header'> {
  return typeof (t as { applyText?: unknown }).applyText === 'function'
}

/** The value at `props` of a plain object ('' when absent or not a string or number). */
export function getProp(obj: Record<string, unknown>, props: string[]): Value {
  let cur: unknown = obj
  for (const p of props) {
    if (cur === null || typeof cur !== 'object') return ''
    cur = (cur as Record<string, unknown>)[p]
  }
  return typeof cur === 'string' || typeof cur === 'number' ? cur : ''
}

/** Writes `value` at `props` of a plain object, as a DTL or BPL assign does (append: a list). */
export function setProp(
  obj: Record<string, unknown>,
  props: string[],
  value: string,
  action: WriteAction,
): void {
  let cur = obj
  for (const p of props.slice(0, -1)) {
    const next = cur[p]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[p] = {}
    cur = cur[p] as Record<string, unknown>
  }
  const last = props[props.length - 1] as string
  if (action === 'remove' || action === 'clear') delete cur[last]
  else if (action === 'append' || action === 'insert') {
    const prev = cur[last]
    const list = Array.isArray(prev) ? (prev as unknown[]) : prev === undefined ? [] : [prev]
    if (action === 'append') list.push(value)
    else list.unshift(value)
    cur[last] = list
  } else cur[last] = value
}

/** Turns ER7 text into an `@li/hl7` Message. */
function toMessage(text: string): Message {
  return parseMessage(text)
}
