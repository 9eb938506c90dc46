/**
 * IRIS routing rule classes (`XData RuleDefinition`, as used by `EnsLib.HL7.MsgRouter.RoutingEngine`)
 * and the native rule form of `defineProduction`, compiled to one synchronous evaluator.
 *
 * Semantics (IRIS routing rules): the first rule set whose effectiveBegin/effectiveEnd window
 * holds the evaluation time is used; its rules run in order; a rule runs only when its
 * constraints (source, msgClass, docCategory, docName, docType lists) match; the first `when`
 * whose condition is true runs its actions (else `otherwise`); every matching rule contributes
 * its `send`s until a `return` stops evaluation. `foreach propertypath="HL7.{OBX()}"` runs its
 * nested rules once per segment, with `Segment.{5}` naming that segment's fields; a `return`
 * inside it ends the whole rule set, as anywhere else ("once execution encounters a return
 * action, the execution of the rule set ends"). `<assign property value>` sets a temporary
 * variable (`tCount`) or a context property (`context.Ward`) that later conditions and values of
 * the same evaluation read; the message itself cannot be assigned (change it in a DTL).
 *
 * Documents that are not HL7 messages (the `Ens.AlertRequest` an `Ens.Alert` router receives, as
 * a plain object in `RuleContext.document`): conditions read their properties as `Document.X`
 * (nested `Document.A.B`), `MsgClass` is the document's class, and a `msgClass` constraint matches
 * that class. Rules may read object properties when their `msgClass` constraint names a class that
 * is not HL7, or, without one, when the rule class is the generic kind
 * (`EnsLib.MsgRouter.RuleAssist` / context `EnsLib.MsgRouter.RoutingEngine`); for
 * `Ens.AlertRequest` the property names are checked at load time.
 *
 * General business rules (a context other than a routing engine, or
 * `Ens.Rule.GeneralBusinessRuleAssist`) return a value (`<return>expr</return>`) instead of
 * routing: `compileGeneralRule` evaluates them against a context object; `compileRules` refuses
 * them, so a router naming one fails to load with a message saying so.
 *
 * Anything not understood fails compilation with the class, file line, rule and construct.
 */
import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import type { Hl7Schema, MessageStructure } from '@li/hl7'
import { EngineError } from '../errors.js'
import { itemSetting, parseIrisBoolean, splitList } from '../production/model.js'
import type {
  CompiledRules,
  NativeCondition,
  NativeRule,
  Production,
  RouteAction,
  RouteResult,
  RuleClassDefinition,
  RuleContext,
} from '../production/types.js'
import {
  collectPaths,
  collectRefs,
  evaluate,
  expressionFailure,
  functionRegistry,
  parseExpression,
  truthy,
  toStr,
  type EvalEnv,
  type Expr,
  type FunctionRegistry,
  type PathForm,
  type Value,
} from './expression.js'
import { Hl7Doc, type DocSegment, getSegmentValue } from './hl7-doc.js'
import { schemaProviderFor, type CompileOptions } from './schemas.js'
import {
  formatValues,
  parseVirtualPath,
  pathDocFor,
  pathHasAll,
  pathSegments,
  readPath,
  readPathValues,
  structureFor,
  pathHasGroups,
  verifyGroupPath,
  verifySymbolicPath,
  type PathDoc,
  type SchemaProvider,
  type VirtualPath,
} from './virtual-path.js'
import { childrenNamed, localName, parseXml, type XmlElement } from './xml.js'

export type { CompileOptions } from './schemas.js'

/** A compiled rule class, with the transform classes its sends use. */
export interface CompiledRuleClass extends CompiledRules {
  /** Transform class names used by `send transform=...`, in first-use order. */
  readonly transforms: string[]
  /**
   * What could not be checked at load and may fail at run time: symbolic path names in rules
   * whose schema category is not known at load (no docCategory constraint, and a router whose
   * sources set no MessageSchemaCategory). `checkProduction` reports them.
   */
  readonly notes: string[]
}

type Action =
  | { a: 'send'; targets: string[]; transforms: string[] }
  | { a: 'delete' }
  | { a: 'return'; value?: Expr }
  | { a: 'assign'; name: string; value: Expr }
  | { a: 'trace'; value: Expr }
  | { a: 'foreach'; path: VirtualPath; base: string; rules: Rule[] }
  | { a: 'rule'; rule: Rule }

interface Rule {
  name: string
  /** `disabled="true"`: kept, never evaluated (as in IRIS). */
  disabled?: boolean
  constraints: {
    source?: string[]
    msgClass?: string[]
    docCategory?: string[]
    docName?: string[]
    docType?: string[]
  }
  whens: { cond: Expr; actions: Action[]; line?: number; src?: string }[]
  otherwise?: Action[]
  /** Actions directly under the rule (run when the constraints match). */
  direct: Action[]
}

interface RuleSet {
  name: string
  /** Names `<assign>` sets anywhere in the class: read as '' until assigned. */
  declared?: Set<string>
  begin?: Date
  end?: Date
  rules: Rule[]
}

const RULE_BASES = new Set([
  'HL7',
  'Document',
  'Source',
  'DocName',
  'DocType',
  'MsgClass',
  'Segment',
  'Session',
])
const HL7_PROPS = new Set([
  'Name',
  'DocType',
  'DocTypeName',
  'DocTypeCategory',
  'MessageTypeCategory',
  'Source',
  'Identifier',
  'TypeVersion',
])

function parseDate(s: string | undefined): Date | undefined {
  if (s === undefined || s.trim() === '') return undefined
  const t = s.trim()
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00` : t)
  return Number.isNaN(d.getTime()) ? undefined : d
}

/** Location text for messages: `file line N: rule class X`. */
function whereOf(def: RuleClassDefinition, line?: number): string {
  const file = def.origin?.file
  return `${file !== undefined ? `${file} ` : ''}${line !== undefined ? `line ${line}: ` : ''}rule class ${def.className}`
}

/**
 * Compiles a rule class (IRIS XML or native) against a production: targets must be items,
 * transforms must be loaded, every construct must be supported.
 */
export function compileRules(
  def: RuleClassDefinition,
  p: Production,
  options: CompileOptions = {},
): CompiledRuleClass {
  const functions = functionRegistry(options.functions)
  const schemas = schemaProviderFor(options, p)
  const kind = def.native ? undefined : generalRuleKind(def)
  if (kind !== undefined) {
    throw new EngineError(
      'ENGINE_RULE_UNSUPPORTED',
      `${whereOf(def)}: ${kind}: it is a general business rule, which returns a value and does not route messages, so a routing engine cannot use it as BusinessRuleName; evaluate it with compileGeneralRule (see docs/migration-from-iris.md)`,
    )
  }
  const notes: string[] = []
  const sets = def.native
    ? [nativeRuleSet(def, functions)]
    : xmlRuleSets(def, functions, schemas, 'routing', isAlertRuleClass(def, p), {
        categories: routerCategories(def, p),
        notes,
      })
  const transforms = checkTargets(def, sets, p)
  return {
    className: def.className,
    transforms,
    notes,
    evaluate(ctx: RuleContext): RouteResult {
      const set = sets.find(
        (s) =>
          (s.begin === undefined || ctx.now >= s.begin) &&
          (s.end === undefined || ctx.now <= s.end),
      )
      const result: RouteResult = { actions: [], matchedRules: [] }
      if (!set) return result
      if (ctx.document !== undefined) {
        const object = { doc: ctx.document, msgClass: ctx.msgClass ?? '' }
        const run = new Runner(def, ctx, undefined, undefined, functions, result, set.declared)
        run.object = object
        run.rules(set.rules, undefined)
        return result
      }
      const text = ctx.raw ?? ctx.message?.toString()
      if (text === undefined)
        throw new EngineError(
          'ENGINE_RULE_FAILED',
          `rule class ${def.className}: nothing to evaluate (no message, text or document given)`,
        )
      const doc = Hl7Doc.parse(text)
      const pd = pathDocFor(doc, schemas, ctx.docCategory)
      const facts = docFacts(doc, pd, ctx.docCategory)
      const run = new Runner(def, ctx, pd, facts, functions, result, set.declared)
      run.rules(set.rules, undefined)
      return result
    },
  }
}

/**
 * The schema categories messages reach this rule class with, when every one is known at load:
 * each router using it as BusinessRuleName gets, from each item that sends to it, that item's
 * MessageSchemaCategory, else the router's own. Undefined when any is unknown (no category, or
 * a router sending to it: the message's own category or MSH-12 then decides at run time) or no
 * item uses the class.
 */
export function routerCategories(def: RuleClassDefinition, p: Production): string[] | undefined {
  const routers = p.items.filter((i) => itemSetting(i, 'BusinessRuleName') === def.className)
  if (routers.length === 0) return undefined
  const out = new Set<string>()
  for (const r of routers) {
    const own = itemSetting(r, 'MessageSchemaCategory') ?? ''
    const sources = p.items.filter((i) =>
      splitList(itemSetting(i, 'TargetConfigNames')).includes(r.name),
    )
    if (sources.length === 0) return undefined
    for (const src of sources) {
      // A router passes on the category its own sources gave: not known from its settings.
      if (itemSetting(src, 'BusinessRuleName') !== undefined) return undefined
      const c = itemSetting(src, 'MessageSchemaCategory') || own
      if (c === '') return undefined
      out.add(c)
    }
  }
  return [...out]
}

/** What a general business rule is evaluated against. */
export interface GeneralRuleInput {
  /** The context object (`context.Amount` reads `{ Amount }`; nested properties by dots). */
  context?: Record<string, unknown>
  /** An HL7 message as ER7 text, for `Document.{...}`/`HL7.{...}` paths in conditions. */
  message?: string
  /** Schema category of `message` (defaults to its MSH-12). */
  docCategory?: string
  /** Evaluation time (rule set effective dates); default now. */
  now?: Date
  /** Lookup tables for `Lookup`/`Exists`. */
  lookupTables?: Map<string, Map<string, string>>
  /** Called by `<trace>`. */
  trace?: (text: string) => void
}

/** The outcome of a general business rule. */
export interface GeneralRuleResult {
  /** The value of the `<return>` that ended evaluation; '' when none did (as IRIS). */
  value: Value
  /** The rule whose `<return>` ended evaluation ('' when none did). */
  reason: string
  /** Names of the rules that fired. */
  matchedRules: string[]
  /** Temporary variables and context properties assigned by `<assign>`. */
  assigned: Record<string, Value>
}

/** A compiled general business rule (`Ens.Rule.GeneralBusinessRuleAssist`, BPL `<rule>`). */
export interface CompiledGeneralRule {
  readonly className: string
  evaluate(input?: GeneralRuleInput): GeneralRuleResult
}

/**
 * Compiles a general business rule: rules whose `when` conditions read `context.X` (and
 * `Document.{...}` when a message is given), `assign`, `trace`, `foreach` and `return value`.
 * Use it where a value is needed (what IRIS's BPL `<rule>` does): the value comes back in
 * `result.value`. A routing rule class is refused (use `compileRules`).
 * @example compileGeneralRule(def).evaluate({ context: { Amount: 1200 } }).value // "Deny"
 */
export function compileGeneralRule(
  def: RuleClassDefinition,
  p?: Production,
  options: CompileOptions = {},
): CompiledGeneralRule {
  const functions = functionRegistry(options.functions)
  const schemas = schemaProviderFor(options, p)
  if (def.native || generalRuleKind(def) === undefined) {
    throw new EngineError(
      'ENGINE_RULE_INVALID',
      `${whereOf(def)}: is a routing rule (context a routing engine), not a general business rule; compile it with compileRules`,
    )
  }
  const sets = xmlRuleSets(def, functions, schemas, 'general')
  return {
    className: def.className,
    evaluate(input: GeneralRuleInput = {}): GeneralRuleResult {
      const now = input.now ?? new Date()
      const out: GeneralRuleResult = { value: '', reason: '', matchedRules: [], assigned: {} }
      const set = sets.find(
        (s) => (s.begin === undefined || now >= s.begin) && (s.end === undefined || now <= s.end),
      )
      if (!set) return out
      let pd: PathDoc | undefined
      let facts: DocFacts | undefined
      if (input.message !== undefined) {
        const doc = Hl7Doc.parse(input.message)
        pd = pathDocFor(doc, schemas, input.docCategory)
        facts = docFacts(doc, pd, input.docCategory)
      }
      const result: RouteResult = { actions: [], matchedRules: [] }
      const ctx: GeneralContext = {
        source: '',
        now,
        lookupTables: input.lookupTables ?? new Map<string, Map<string, string>>(),
        ...(input.trace ? { trace: input.trace } : {}),
        ...(input.context ? { context: input.context } : {}),
      }
      const run = new Runner(def, ctx, pd, facts, functions, result, set.declared)
      run.rules(set.rules, undefined)
      out.matchedRules = result.matchedRules
      out.value = run.returned ?? ''
      out.reason = run.returnedBy ?? ''
      out.assigned = Object.fromEntries(run.vars)
      return out
    },
  }
}

/** Whether a rule class is a general business rule: the reason, or undefined for routing rules. */
export function generalRuleKind(def: RuleClassDefinition): string | undefined {
  if (def.native) return undefined
  const m = /<RuleDefinition\b[^>]*?\scontext\s*=\s*["']([^"']*)["']/i.exec(def.xml)
  const context = m?.[1] ?? ''
  const assist = def.parameters?.RuleAssistClass ?? ''
  if (context !== '' && !/RoutingEngine$/.test(context)) return `context "${context}"`
  if (assist !== '' && !/MsgRouter\.(RuleAssist|VDocRuleAssist)$/.test(assist))
    return `RuleAssistClass "${assist}"`
  return undefined
}

/** The run-time context of a rule evaluation (routing, or general with a context object). */
type GeneralContext = Omit<RuleContext, 'message'> & { context?: Record<string, unknown> }

interface DocFacts {
  docName: string
  category: string
  structure: string
}

function docFacts(doc: Hl7Doc, pd: PathDoc, docCategory: string | undefined): DocFacts {
  const msh = doc.first('MSH')
  const get = (f: number, c: number): string =>
    msh ? getSegmentValue(doc, msh, { field: f, comp: c }) : ''
  const type = get(9, 1)
  const event = get(9, 2)
  return {
    docName: event === '' ? type : `${type}_${event}`,
    category: docCategory ?? get(12, 1),
    structure: pd.structure?.id ?? (get(9, 3) || (event === '' ? type : `${type}_${event}`)),
  }
}

class Runner {
  /** `<assign>`ed temporary variables and context properties, by name as written. */
  readonly vars = new Map<string, Value>()
  /** The value of the `<return>` that ended evaluation (general rules). */
  returned: Value | undefined
  returnedBy: string | undefined
  /** The routed document when it is an object (e.g. an Ens.AlertRequest), not an HL7 message. */
  object: { doc: Record<string, unknown>; msgClass: string } | undefined
  constructor(
    readonly def: RuleClassDefinition,
    readonly ctx: GeneralContext,
    readonly pdOpt: PathDoc | undefined,
    readonly factsOpt: DocFacts | undefined,
    readonly functions: FunctionRegistry,
    readonly result: RouteResult,
    readonly declared: Set<string> = new Set(),
  ) {}

  get pd(): PathDoc {
    if (this.object)
      throw new EngineError(
        'ENGINE_RULE_FAILED',
        `rule class ${this.def.className}: an HL7 path ({...}) was read, but the routed document is a ${this.object.msgClass || 'non-HL7'} object: read its properties as Document.Property`,
      )
    if (!this.pdOpt)
      throw new EngineError(
        'ENGINE_RULE_FAILED',
        `rule class ${this.def.className}: a message path was read, but no message was given`,
      )
    return this.pdOpt
  }

  get facts(): DocFacts {
    if (!this.factsOpt)
      throw new EngineError(
        'ENGINE_RULE_FAILED',
        `rule class ${this.def.className}: a message property was read, but no message was given`,
      )
    return this.factsOpt
  }

  env(segment: DocSegment | undefined, ruleName: string): EvalEnv {
    return {
      lookupTables: this.ctx.lookupTables,
      now: this.ctx.now,
      functions: this.functions,
      vpath: (base: string, path: VirtualPath, form?: PathForm): Value => {
        try {
          // `()` anywhere in a rule path, `HL7.(...)` and `HL7.[...]` read every value (IRIS
          // GetValues / FindSegmentValues) and show them as `<a><b><c>`.
          const multi = form !== undefined || pathHasAll(path)
          if (base === 'Segment') {
            if (!segment)
              throw new EngineError(
                'ENGINE_RULE_FAILED',
                'Segment.{...} is only valid inside foreach',
              )
            const fp = toFieldPath(path)
            return multi
              ? formatValues(readPathValues(this.pd, fp, noVars, { context: segment }))
              : readPath(this.pd, fp, noVars, { context: segment })
          }
          if (multi)
            return formatValues(
              readPathValues(this.pd, path, noVars, { anywhere: form === 'square' }),
            )
          return readPath(this.pd, path, noVars)
        } catch (e) {
          throw expressionFailure(e, `rule class ${this.def.className}, rule "${ruleName}"`, {
            invalid: 'ENGINE_RULE_FAILED',
            unsupported: 'ENGINE_RULE_FAILED',
          })
        }
      },
      ref: (base: string, props: string[]): Value => this.ref(base, props),
    }
  }

  ref(base: string, props: string[]): Value {
    const full = [base, ...props].join('.')
    const v = this.vars.get(full)
    if (v !== undefined) return v
    if (this.declared.has(full) && base !== 'context') return ''
    if (base === 'context') return this.ctx.context ? getProp(this.ctx.context, props) : ''
    if (this.object) {
      const prop = props.join('.')
      if (base === 'Document' || base === 'HL7')
        return props.length === 0 ? '' : getProp(this.object.doc, props)
      if (base === 'Source' && prop === '') return this.ctx.source
      if (base === 'MsgClass' && prop === '') return this.object.msgClass
      if ((base === 'DocName' || base === 'DocType') && prop === '') return ''
    }
    if (this.factsOpt === undefined && /^[A-Za-z%][\w%]*$/.test(full) && !RULE_BASES.has(full))
      return ''
    const f = this.facts
    const prop = props.join('.')
    if (base === 'Source' && prop === '') return this.ctx.source
    if (base === 'DocName' && prop === '') return f.docName
    if (base === 'DocType' && prop === '') return `${f.category}:${f.structure}`
    if (base === 'MsgClass' && prop === '') return 'EnsLib.HL7.Message'
    if (base === 'HL7' || base === 'Document') {
      switch (prop) {
        case 'Name':
          return f.docName
        case 'DocType':
          return `${f.category}:${f.structure}`
        case 'DocTypeName':
          return f.structure
        case 'DocTypeCategory':
        case 'MessageTypeCategory':
        case 'TypeVersion':
          return f.category
        case 'Source':
          return this.ctx.source
        case 'Identifier':
          return this.pd.doc.first('MSH')
            ? getSegmentValue(this.pd.doc, this.pd.doc.first('MSH') as DocSegment, { field: 10 })
            : ''
        default:
          break
      }
    }
    throw new EngineError(
      'ENGINE_RULE_FAILED',
      `rule class ${this.def.className}: ${[base, ...props].join('.')} is not supported`,
    )
  }

  evaluate(e: Expr, env: EvalEnv, ruleName: string): Value {
    try {
      return evaluate(e, env)
    } catch (err) {
      throw expressionFailure(err, `rule class ${this.def.className}, rule "${ruleName}"`, {
        invalid: 'ENGINE_RULE_FAILED',
        unsupported: 'ENGINE_RULE_FAILED',
      })
    }
  }

  constraintsMatch(r: Rule): boolean {
    const c = r.constraints
    if (this.object) {
      if (c.source && !c.source.includes(this.ctx.source)) return false
      if (c.msgClass && !c.msgClass.includes(this.object.msgClass)) return false
      // Doc category/name/type describe HL7 (virtual) documents; an object has none.
      return !c.docCategory && !c.docName && !c.docType
    }
    if (!this.factsOpt) return Object.keys(c).length === 0
    const f = this.facts
    if (c.source && !c.source.includes(this.ctx.source)) return false
    if (c.msgClass && !c.msgClass.some((m) => m === 'EnsLib.HL7.Message')) return false
    if (c.docCategory && !c.docCategory.includes(f.category)) return false
    if (c.docName && !c.docName.includes(f.docName)) return false
    if (
      c.docType &&
      !c.docType.includes(`${f.category}:${f.structure}`) &&
      !c.docType.includes(f.structure)
    )
      return false
    return true
  }

  /** Runs rules; returns true when a `return` stopped them. */
  rules(rules: Rule[], segment: DocSegment | undefined): boolean {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as Rule
      if (r.disabled === true || !this.constraintsMatch(r)) continue
      const env = this.env(segment, r.name)
      let actions: Action[] | undefined
      for (const w of r.whens) {
        let v: Value
        try {
          v = evaluate(w.cond, env)
        } catch (e) {
          throw expressionFailure(e, `rule class ${this.def.className}, rule "${r.name}"`, {
            invalid: 'ENGINE_RULE_FAILED',
            unsupported: 'ENGINE_RULE_FAILED',
          })
        }
        if (truthy(v)) {
          actions = w.actions
          break
        }
      }
      actions ??= r.otherwise
      const all = [...r.direct, ...(actions ?? [])]
      if (actions !== undefined || r.direct.length > 0) this.result.matchedRules.push(r.name)
      if (this.actions(all, r.name, segment, env)) return true
    }
    return false
  }

  actions(
    actions: Action[],
    ruleName: string,
    segment: DocSegment | undefined,
    env: EvalEnv,
  ): boolean {
    for (const a of actions) {
      switch (a.a) {
        case 'send':
          for (const t of a.targets) {
            const act: RouteAction = {
              type: 'send',
              target: t,
              transforms: a.transforms,
              rule: ruleName,
            }
            this.result.actions.push(act)
          }
          break
        case 'delete':
          this.result.actions.push({ type: 'delete', rule: ruleName })
          break
        case 'return':
          if (a.value) this.returned = this.evaluate(a.value, env, ruleName)
          this.returnedBy = ruleName
          return true
        case 'assign':
          this.vars.set(a.name, this.evaluate(a.value, env, ruleName))
          break
        case 'trace':
          this.ctx.trace?.(toStr(this.evaluate(a.value, env, ruleName)))
          break
        case 'rule':
          if (this.rules([a.rule], segment)) return true
          break
        case 'foreach': {
          const segs = pathSegments(this.pd, a.path, noVars)
          // A return inside foreach ends the whole rule set, as it does outside.
          for (const s of segs) if (this.rules(a.rules, s)) return true
          break
        }
      }
    }
    return false
  }
}

function getProp(obj: Record<string, unknown>, props: string[]): Value {
  let cur: unknown = obj
  for (const p of props) {
    if (cur === null || typeof cur !== 'object') return ''
    cur = (cur as Record<string, unknown>)[p]
  }
  if (typeof cur === 'string' || typeof cur === 'number') return cur
  if (typeof cur === 'boolean') return cur ? 1 : 0
  return ''
}

const noVars = (name: string): number => {
  throw new EngineError('ENGINE_RULE_FAILED', `variable "${name}" is not defined in a rule path`)
}

/** `Segment.{ObservationValue}` names a field of the current segment, not a segment. */
function toFieldPath(p: VirtualPath): VirtualPath {
  if (p.steps.length === 1 && p.fields.length === 0) {
    const st = p.steps[0] as { name: string; index?: number | string }
    const key = /^\d+$/.test(st.name) ? Number(st.name) : st.name
    return {
      raw: p.raw,
      steps: [],
      fields: [st.index === undefined ? { key } : { key, index: st.index }],
    }
  }
  if (p.steps.length === 1 && p.fields.length > 0) {
    // `{3.1}` written as `{3:1}` never occurs; `{PatientIdentifierList.IDNumber}` parses as steps
    return p
  }
  return p
}

// ---- XML rule classes -------------------------------------------------------------------

/** A rule's docName and docType constraints (its own, else the enclosing rule's). */
interface DocConstraints {
  docName?: string[] | undefined
  docType?: string[] | undefined
}

/**
 * The message structures a rule's constraints name, for checking group paths at load: each
 * docType (`2.5:ORU_R01`, or `ORU_R01` with the rule's categories), else each docName
 * (`ORU_R01`, mapped through the schema's events) in each known category. Empty when any of
 * them cannot be resolved (then the paths are reported as unchecked, not half-checked).
 */
function ruleStructures(
  docs: DocConstraints,
  cats: string[],
  schemas: SchemaProvider,
): { structure: MessageStructure; how: string }[] {
  const out: { structure: MessageStructure; how: string }[] = []
  const add = (cat: string, name: string, how: string): boolean => {
    const schema = schemas(cat)
    const structure = schema ? structureFor(schema, name) : undefined
    if (structure) out.push({ structure, how })
    return structure !== undefined
  }
  if (docs.docType && docs.docType.length > 0) {
    for (const t of docs.docType) {
      const i = t.indexOf(':')
      if (i > 0) {
        if (!add(t.slice(0, i), t.slice(i + 1), `docType constraint ${t}`)) return []
      } else {
        if (cats.length === 0) return []
        for (const c of cats) if (!add(c, t, `docType constraint ${t}, category ${c}`)) return []
      }
    }
    return out
  }
  if (!docs.docName || docs.docName.length === 0 || cats.length === 0) return []
  for (const n of docs.docName)
    for (const c of cats) if (!add(c, n, `docName constraint ${n}, category ${c}`)) return []
  return out
}

/** Why a rule's group paths could not be checked at load, for its note. */
function groupsUncheckedWhy(
  docs: DocConstraints,
  cats: string[] | undefined,
  checked: string[],
): string {
  if ((docs.docName?.length ?? 0) === 0 && (docs.docType?.length ?? 0) === 0)
    return 'no docName or docType constraint names the message structure'
  if (cats === undefined && (docs.docType ?? []).every((t) => !t.includes(':')))
    return "no docCategory constraint and the routers' sources set no MessageSchemaCategory"
  if (checked.length === 0 && cats !== undefined) return `no schema for category ${cats.join(', ')}`
  return `the schema has no structure for ${[...(docs.docType ?? []), ...(docs.docName ?? [])].join(', ')}`
}

function xmlRuleSets(
  def: RuleClassDefinition,
  functions: FunctionRegistry,
  schemas: SchemaProvider,
  mode: 'routing' | 'general',
  alertRules = false,
  known: { categories?: string[] | undefined; notes?: string[] } = {},
): RuleSet[] {
  const offset = (def.origin?.line ?? 1) - 1
  let root: XmlElement
  try {
    root = parseXml(def.xml.replace(/^\s+/, ''), whereOf(def), offset + leadingNewlines(def.xml))
  } catch (e) {
    throw new EngineError('ENGINE_RULE_INVALID', (e as Error).message, { cause: e })
  }
  if (localName(root.name).toLowerCase() !== 'ruledefinition') {
    throw new EngineError(
      'ENGINE_RULE_INVALID',
      `${whereOf(def, root.line)}: expected <RuleDefinition>, found <${root.name}>`,
    )
  }
  // Every name an <assign> sets, so that conditions may read it (before or after the assign).
  const declared = new Set<string>()
  const scan = (el: XmlElement): void => {
    for (const c of el.children) {
      if (localName(c.name) === 'assign') {
        const prop = (c.attrs.property ?? '').trim()
        const bad = assignProblem(prop, mode)
        if (bad !== undefined)
          throw new EngineError(
            'ENGINE_RULE_UNSUPPORTED',
            `${whereOf(def, c.line)}: <assign property="${prop}">: ${bad}`,
          )
        declared.add(prop)
      }
      scan(c)
    }
  }
  scan(root)
  const allowed: Allowed = { vars: declared, general: mode === 'general' }
  // A generic routing rule class (EnsLib.MsgRouter, not its HL7 subclass) routes any message
  // class: its rules may read object properties when no msgClass constraint says otherwise.
  // The BusinessRuleName of the item Ens.Alert sees Ens.AlertRequest objects.
  if (alertRules) allowed.object = { props: new Set(ALERT_REQUEST_PROPERTIES) }
  else if (mode === 'routing' && isGenericRuleClass(def)) allowed.object = {}
  const sets: RuleSet[] = []
  let anon = 0
  /** The schema categories of the rule being compiled (its own, else the enclosing rule's). */
  let currentCats: string[] | undefined = known.categories
  let catsHow: 'docCategory constraint' | 'MessageSchemaCategory' = 'MessageSchemaCategory'
  /** The docName/docType constraints of the rule being compiled (its own, else the enclosing rule's). */
  let currentDocs: DocConstraints = {}
  const compileRule = (
    el: XmlElement,
    parent: Allowed = allowed,
    parentCats: string[] | undefined = known.categories,
    parentDocs: DocConstraints = {},
  ): Rule => {
    const ownCats = childrenNamed(el, 'constraint')
      .filter((c) => c.attrs.name === 'docCategory')
      .flatMap((c) => splitList(c.attrs.value))
    const cats = ownCats.length > 0 ? ownCats : parentCats
    const ownOf = (n: string): string[] =>
      childrenNamed(el, 'constraint')
        .filter((c) => c.attrs.name === n)
        .flatMap((c) => splitList(c.attrs.value))
    const ownNames = ownOf('docName')
    const ownTypes = ownOf('docType')
    const docs: DocConstraints = {
      docName: ownNames.length > 0 ? ownNames : parentDocs.docName,
      docType: ownTypes.length > 0 ? ownTypes : parentDocs.docType,
    }
    const outerCats = currentCats
    const outerHow = catsHow
    const outerDocs = currentDocs
    currentCats = cats
    currentDocs = docs
    if (ownCats.length > 0) catsHow = 'docCategory constraint'
    anon++
    const name = el.attrs.name !== undefined && el.attrs.name !== '' ? el.attrs.name : `#${anon}`
    const rule: Rule = { name, constraints: {}, whens: [], direct: [] }
    if (parseIrisBoolean(el.attrs.disabled) === true) rule.disabled = true
    const where = (line: number): string => `${whereOf(def, line)}, rule "${name}"`
    const allow = ruleAllowed(el, parent)
    for (const c of el.children) {
      const n = localName(c.name)
      if (n === 'constraint') {
        const cname = c.attrs.name ?? ''
        const values = splitList(c.attrs.value)
        if (
          cname === 'source' ||
          cname === 'msgClass' ||
          cname === 'docCategory' ||
          cname === 'docName' ||
          cname === 'docType'
        ) {
          if (values.length > 0) rule.constraints[cname] = values
        } else {
          throw new EngineError(
            'ENGINE_RULE_UNSUPPORTED',
            `${where(c.line)}: constraint "${cname}" is not supported (expected source, msgClass, docCategory, docName, docType)`,
          )
        }
      } else if (n === 'when') {
        rule.whens.push({
          cond: compileCondition(c.attrs.condition ?? '', where(c.line), functions, allow),
          actions: compileActions(c, where, allow),
          line: c.line,
          src: c.attrs.condition ?? '',
        })
      } else if (n === 'otherwise') {
        rule.otherwise = compileActions(c, where, allow)
      } else if (n === 'annotation' || n === 'description') {
        continue
      } else {
        rule.direct.push(...compileActions({ ...el, children: [c] }, where, allow))
      }
    }
    // When the schema is known (a docCategory constraint, else the categories the routers'
    // sources assign), check symbolic names now; else say they are checked per message.
    currentCats = outerCats
    currentDocs = outerDocs
    const how = catsHow
    catsHow = outerHow
    const checked = (cats ?? []).filter((c) => schemas(c) !== undefined)
    const structs = ruleStructures(docs, checked, schemas)
    // IRIS group names: checked against the message structure when the constraints name it
    // (conditions, and the paths of this rule's own actions: foreach, assign, trace, return).
    const checkGroups = (base: string, path: VirtualPath, line: number, what: string): void => {
      if ((base !== 'HL7' && base !== 'Document') || !pathHasGroups(path)) return
      if (structs.length === 0) {
        known.notes?.push(
          `rule "${name}": HL7.{${path.raw}} walks IRIS groups that could not be checked at load (${groupsUncheckedWhy(docs, cats, checked)}); a misspelled group name reads "" for each message at run time`,
        )
      }
      for (const s of structs) {
        const wrong = verifyGroupPath(path, s.structure)
        if (wrong !== undefined)
          throw new EngineError(
            'ENGINE_RULE_INVALID',
            `${where(line)}: ${what}: ${wrong} (${s.how})`,
          )
      }
    }
    const actionGroups = (acts: Action[], line: number): void => {
      for (const act of acts) {
        if (act.a === 'foreach')
          checkGroups(act.base, act.path, line, `foreach ${act.base}.{${act.path.raw}}`)
        const v =
          act.a === 'assign' || act.a === 'trace' || act.a === 'return' ? act.value : undefined
        if (v)
          for (const { base, path } of collectPaths(v))
            checkGroups(base, path, line, `<${act.a}> value`)
      }
    }
    for (const w of rule.whens) actionGroups(w.actions, w.line ?? el.line)
    actionGroups([...(rule.otherwise ?? []), ...rule.direct], el.line)
    for (const w of rule.whens) {
      for (const { base, path } of collectPaths(w.cond)) {
        if (base !== 'HL7' && base !== 'Document') continue
        checkGroups(base, path, w.line ?? el.line, `condition ${w.src ?? ''}`)
        if (!path.fields.some((f) => typeof f.key === 'string')) continue
        if (checked.length === 0) {
          known.notes?.push(
            `rule "${name}": HL7.{${path.raw}} uses symbolic names that could not be checked at load (${cats === undefined ? "no docCategory constraint and the routers' sources set no MessageSchemaCategory" : `no schema for category ${cats.join(', ')}`}); an unknown name fails each message at run time`,
          )
          continue
        }
        for (const cat of checked) {
          const wrong = verifySymbolicPath(path, schemas(cat) as Hl7Schema)
          if (wrong !== undefined) {
            throw new EngineError(
              'ENGINE_RULE_INVALID',
              `${where(w.line ?? el.line)}: condition ${w.src ?? ''}: path {${path.raw}} (${how === 'docCategory constraint' ? `docCategory constraint ${cat}` : `MessageSchemaCategory ${cat} of the messages routed with this rule class`}): ${wrong}`,
            )
          }
        }
      }
    }
    // InFile with a literal file name: the file must exist now, not only when a message comes.
    for (const w of rule.whens) inFileProblems(w.cond, where(w.line ?? el.line))
    return rule
  }
  const compileActions = (
    parent: XmlElement,
    where: (line: number) => string,
    allow: Allowed = allowed,
  ): Action[] => {
    const out: Action[] = []
    for (const c of parent.children) {
      const n = localName(c.name)
      switch (n) {
        case 'send': {
          if (mode === 'general')
            throw new EngineError(
              'ENGINE_RULE_UNSUPPORTED',
              `${where(c.line)}: <send> in a general business rule (only routing rules send)`,
            )
          const targets = splitList(c.attrs.target)
          if (targets.length === 0)
            throw new EngineError('ENGINE_RULE_INVALID', `${where(c.line)}: <send> has no target`)
          out.push({ a: 'send', targets, transforms: splitList(c.attrs.transform) })
          break
        }
        case 'delete':
          out.push({ a: 'delete' })
          break
        case 'return': {
          // General rules return a value (`<return>"Deny"</return>`); routing rules just stop.
          const text = c.text.trim()
          out.push(
            text === ''
              ? { a: 'return' }
              : { a: 'return', value: compileCondition(text, where(c.line), functions, allow) },
          )
          break
        }
        case 'assign':
          out.push({
            a: 'assign',
            name: (c.attrs.property ?? '').trim(),
            value: compileCondition(
              (c.attrs.value ?? '').trim() === '' ? '""' : (c.attrs.value as string),
              where(c.line),
              functions,
              allow,
            ),
          })
          break
        case 'trace':
          out.push({
            a: 'trace',
            value: compileCondition(c.attrs.value ?? '""', where(c.line), functions, allow),
          })
          break
        case 'rule':
          out.push({ a: 'rule', rule: compileRule(c, allow, currentCats, currentDocs) })
          break
        case 'foreach': {
          const pp = c.attrs.propertypath ?? c.attrs.propertyPath ?? ''
          const m = /^\s*(HL7|Document)\.\{(.*)\}\s*$/.exec(pp)
          if (!m?.[2])
            throw new EngineError(
              'ENGINE_RULE_UNSUPPORTED',
              `${where(c.line)}: foreach propertypath "${pp}" is not supported (expected HL7.{SEG()})`,
            )
          let path: VirtualPath
          try {
            path = parseVirtualPath(m[2])
          } catch (e) {
            throw new EngineError(
              'ENGINE_RULE_UNSUPPORTED',
              `${where(c.line)}: ${(e as Error).message}`,
            )
          }
          const last = path.steps[path.steps.length - 1]
          if (!last || path.fields.length > 0 || /grp$/i.test(last.name)) {
            throw new EngineError(
              'ENGINE_RULE_UNSUPPORTED',
              `${where(c.line)}: foreach propertypath "${pp}" must name repeating segments (e.g. HL7.{OBX()}); groups and fields are not supported`,
            )
          }
          out.push({
            a: 'foreach',
            path,
            base: m[1] as string,
            rules: childrenNamed(c, 'rule').map((r) =>
              compileRule(r, allow, currentCats, currentDocs),
            ),
          })
          break
        }
        case 'comment':
        case 'annotation':
        case 'description':
          break
        default:
          throw new EngineError(
            'ENGINE_RULE_UNSUPPORTED',
            `${where(c.line)}: <${n}> is not supported in routing rules`,
          )
      }
    }
    return out
  }
  for (const rs of root.children) {
    const n = localName(rs.name)
    if (n === 'ruleSet') {
      const set: RuleSet = { name: rs.attrs.name ?? '', rules: [], declared }
      const begin = parseDate(rs.attrs.effectiveBegin)
      const end = parseDate(rs.attrs.effectiveEnd)
      if (begin) set.begin = begin
      if (end) set.end = end
      for (const c of rs.children) {
        const cn = localName(c.name)
        if (cn === 'rule') set.rules.push(compileRule(c))
        else if (cn === 'comment' || cn === 'annotation' || cn === 'description') continue
        else {
          anon++
          const direct = compileActions(
            { ...rs, children: [c] },
            (line) => `${whereOf(def, line)}, rule set "${set.name}"`,
          )
          set.rules.push({ name: `#${anon}`, constraints: {}, whens: [], direct })
        }
      }
      sets.push(set)
    } else if (n !== 'comment' && n !== 'annotation' && n !== 'description') {
      throw new EngineError(
        'ENGINE_RULE_UNSUPPORTED',
        `${whereOf(def, rs.line)}: <${n}> is not supported under <RuleDefinition>`,
      )
    }
  }
  return sets
}

/**
 * Throws when an `InFile(value, "file")` names, as a literal, a file that does not exist (relative
 * names are resolved from the working directory, as at run time).
 */
function inFileProblems(e: Expr, where: string): void {
  if (e.k === 'call') {
    const file = e.args[1]
    if (e.name === 'infile' && file?.k === 'str' && !existsSync(file.v))
      throw new EngineError(
        'ENGINE_RULE_INVALID',
        `${where}: InFile file "${file.v}" does not exist${isAbsolute(file.v) ? '' : ` (resolved from ${process.cwd()})`}`,
      )
    for (const a of e.args) inFileProblems(a, where)
  } else if (e.k === 'bin') {
    inFileProblems(e.l, where)
    inFileProblems(e.r, where)
  } else if (e.k === 'un') inFileProblems(e.e, where)
}

function leadingNewlines(s: string): number {
  return (/^\s*/.exec(s)?.[0].match(/\n/g) ?? []).length
}

/** What conditions may read besides the message: assigned names, and `context.X` (general). */
interface Allowed {
  vars: Set<string>
  general: boolean
  /**
   * Set when the rule may see an object document (`Document.Property`): `props` lists the
   * properties of its class when known (Ens.AlertRequest), `only` when it can see no HL7 message
   * (its msgClass constraint names object classes only), `classes` names them for messages.
   */
  object?: { props?: ReadonlySet<string>; only?: boolean; classes?: string }
}

/**
 * The properties of IRIS's `Ens.AlertRequest`, the message every alert is sent to `Ens.Alert` as
 * (InterSystems class reference; `AlertTime` is an `Ens.DataType.UTC` timestamp).
 */
export const ALERT_REQUEST_PROPERTIES: readonly string[] = [
  'SourceConfigName',
  'AlertText',
  'AlertTime',
  'SessionId',
  'AlertDestination',
]

const ALERT_REQUEST = 'Ens.AlertRequest'

function isHl7MsgClass(c: string): boolean {
  return c.startsWith('EnsLib.HL7.')
}

/** Whether the production's `Ens.Alert` item is a router using this rule class. */
function isAlertRuleClass(def: RuleClassDefinition, p: Production): boolean {
  return p.items.some(
    (i) => i.name === 'Ens.Alert' && itemSetting(i, 'BusinessRuleName') === def.className,
  )
}

/** A rule class for the generic router (`EnsLib.MsgRouter.RoutingEngine`), not the HL7 one. */
function isGenericRuleClass(def: RuleClassDefinition): boolean {
  const assist = def.parameters?.RuleAssistClass ?? ''
  if (assist !== '') return assist === 'EnsLib.MsgRouter.RuleAssist'
  const m = /<RuleDefinition\b[^>]*?\scontext\s*=\s*["']([^"']*)["']/i.exec(def.xml)
  return m?.[1] === 'EnsLib.MsgRouter.RoutingEngine'
}

/**
 * What one rule's conditions may read: object properties when its msgClass constraint names a
 * class that is not HL7 (only them when it names no HL7 class); without a msgClass constraint,
 * what the enclosing rule (or the rule class) allows.
 */
function ruleAllowed(el: XmlElement, parent: Allowed): Allowed {
  const classes = childrenNamed(el, 'constraint')
    .filter((c) => c.attrs.name === 'msgClass')
    .flatMap((c) => splitList(c.attrs.value))
  if (classes.length === 0 || parent.general) return parent
  const objects = classes.filter((c) => !isHl7MsgClass(c))
  if (objects.length === 0) {
    const rest = { ...parent }
    delete rest.object
    return rest
  }
  const alertOnly = objects.every((c) => c === ALERT_REQUEST)
  return {
    ...parent,
    object: {
      ...(alertOnly ? { props: new Set(ALERT_REQUEST_PROPERTIES) } : {}),
      only: objects.length === classes.length,
      classes: objects.join(', '),
    },
  }
}

/** Why a rule `<assign property>` cannot be compiled, or undefined. */
function assignProblem(prop: string, mode: 'routing' | 'general'): string | undefined {
  if (/^(HL7|Document)\b/.test(prop) || prop.includes('{'))
    return 'rules cannot change the message (it is read-only while rules run); change it in a DTL transform'
  if (!/^[A-Za-z%][\w%]*(\.[A-Za-z%][\w%]*)*$/.test(prop))
    return 'expected a temporary variable name or context.Property'
  const base = prop.split('.')[0] as string
  if (RULE_BASES.has(base)) return `${base} is a property of the message and cannot be assigned`
  if (prop.includes('.') && base !== 'context')
    return `expected a temporary variable name or context.Property${mode === 'general' ? '' : ' (the routing context)'}`
  return undefined
}

function compileCondition(
  src: string,
  where: string,
  functions: FunctionRegistry,
  allowed: Allowed = { vars: new Set(), general: false },
): Expr {
  if (src.trim() === '') return { k: 'num', v: 1 }
  let e: Expr
  try {
    e = parseExpression(src, { functions, rules: true })
  } catch (err) {
    throw expressionFailure(err, `${where}: condition ${src}`, {
      invalid: 'ENGINE_RULE_INVALID',
      unsupported: 'ENGINE_RULE_UNSUPPORTED',
    })
  }
  const { refs, vpaths } = collectRefs(e)
  const object = allowed.object
  for (const r of refs) {
    const [base, ...props] = r.split('.')
    if (allowed.vars.has(r)) continue
    if (base === 'context' && props.length > 0 && allowed.general) continue
    if (object && (base === 'Document' || base === 'HL7') && props.length > 0) {
      const prop = props[0] as string
      if (object.props === undefined || object.props.has(prop)) continue
      if (object.only || !HL7_PROPS.has(prop) || props.length > 1)
        throw new EngineError(
          'ENGINE_RULE_INVALID',
          `${where}: condition ${src}: ${ALERT_REQUEST} has no property "${prop}" (it has ${ALERT_REQUEST_PROPERTIES.join(', ')})`,
        )
    }
    const ok =
      (base === 'HL7' || base === 'Document'
        ? props.length === 1 && HL7_PROPS.has(props[0] as string)
        : RULE_BASES.has(base as string) && props.length === 0) && base !== 'Segment'
    if (!ok)
      throw new EngineError(
        'ENGINE_RULE_UNSUPPORTED',
        `${where}: condition ${src}: "${r}" is not supported (expected HL7.{path}, Document.{path}, Segment.{path}, HL7.Name/DocType, Source, DocName, DocType${allowed.general ? ', context.Property' : ''}${object ? ', Document.Property of the routed object' : ''} or a name an <assign> sets)`,
      )
  }
  for (const v of vpaths) {
    if (object?.only === true) {
      throw new EngineError(
        'ENGINE_RULE_INVALID',
        `${where}: condition ${src}: "${v}.{...}" reads an HL7 message, but the rule's msgClass is ${object.classes ?? 'an object class'}: read its properties as Document.Property`,
      )
    }
    if (v !== 'HL7' && v !== 'Document' && v !== 'Segment') {
      throw new EngineError(
        'ENGINE_RULE_UNSUPPORTED',
        `${where}: condition ${src}: "${v}.{...}" is not supported (expected HL7.{...}, Document.{...} or Segment.{...})`,
      )
    }
  }
  return e
}

function checkTargets(def: RuleClassDefinition, sets: RuleSet[], p: Production): string[] {
  const used = new Set<string>()
  const visit = (actions: Action[], rule: string): void => {
    for (const a of actions) {
      if (a.a === 'send') {
        for (const t of a.targets) {
          if (!p.items.some((i) => i.name === t)) {
            throw new EngineError(
              'ENGINE_RULE_INVALID',
              `${whereOf(def)}, rule "${rule}": send target "${t}" is not an item of production "${p.name}"`,
            )
          }
        }
        for (const t of a.transforms) {
          used.add(t)
          if (!p.transforms.has(t)) {
            throw new EngineError(
              'ENGINE_RULE_INVALID',
              `${whereOf(def)}, rule "${rule}": transform "${t}" was not found in the export or next to it`,
            )
          }
        }
      } else if (a.a === 'rule') visitRule(a.rule)
      else if (a.a === 'foreach') a.rules.forEach(visitRule)
    }
  }
  const visitRule = (r: Rule): void => {
    visit(r.direct, r.name)
    for (const w of r.whens) visit(w.actions, r.name)
    if (r.otherwise) visit(r.otherwise, r.name)
  }
  for (const s of sets) s.rules.forEach(visitRule)
  return [...used]
}

// ---- native rules -----------------------------------------------------------------------

function asList(v: string | string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined
  const l = Array.isArray(v) ? v : splitList(v)
  return l.length > 0 ? l : undefined
}

function nativeRuleSet(def: RuleClassDefinition, functions: FunctionRegistry): RuleSet {
  const rules = (def.native ?? []).map((n: NativeRule, i): Rule => {
    const name = n.name ?? `#${i + 1}`
    const where = `rule class ${def.className}, rule "${name}"`
    const actions: Action[] = []
    const targets = asList(n.send)
    if (targets) actions.push({ a: 'send', targets, transforms: asList(n.transform) ?? [] })
    if (n.delete === true) actions.push({ a: 'delete' })
    if (n.return === true) actions.push({ a: 'return' })
    const constraints: Rule['constraints'] = {}
    const source = asList(n.source)
    if (source) constraints.source = source
    const docName = asList(n.docName)
    if (docName) constraints.docName = docName
    const docCategory = asList(n.docCategory)
    if (docCategory) constraints.docCategory = docCategory
    const cond =
      n.when === undefined
        ? ({ k: 'num', v: 1 } as Expr)
        : nativeCondition(n.when, where, functions)
    return { name, constraints, whens: [{ cond, actions }], direct: [] }
  })
  return { name: def.className, rules }
}

/** `PID-3[1].1` → `PID:3(1).1`; IRIS `{...}` paths pass through. */
function toIrisPath(path: string): string {
  const t = path.trim()
  if (t.startsWith('{') && t.endsWith('}')) return t.slice(1, -1)
  const m = /^([A-Z0-9]{3})(?:\[(\d+)\])?(?:-(\d+)(?:\[(\d+)\])?((?:\.\d+){0,2}))?$/.exec(t)
  if (!m) return t
  let out = (m[1] as string) + (m[2] !== undefined ? `(${m[2]})` : '')
  if (m[3] !== undefined) out += `:${m[3]}` + (m[4] !== undefined ? `(${m[4]})` : '') + (m[5] ?? '')
  return out
}

function nativeCondition(c: NativeCondition, where: string, functions: FunctionRegistry): Expr {
  if (typeof c === 'string') return compileCondition(c, where, functions)
  if ('all' in c)
    return c.all
      .map((x) => nativeCondition(x, where, functions))
      .reduce<Expr>((l, r) => ({ k: 'bin', op: '&&', l, r }), { k: 'num', v: 1 })
  if ('any' in c)
    return c.any
      .map((x) => nativeCondition(x, where, functions))
      .reduce<Expr>((l, r) => ({ k: 'bin', op: '||', l, r }), { k: 'num', v: 0 })
  if ('not' in c) return { k: 'un', op: '!', e: nativeCondition(c.not, where, functions) }
  let path: VirtualPath
  try {
    path = parseVirtualPath(toIrisPath(c.path))
  } catch (e) {
    throw new EngineError(
      'ENGINE_RULE_INVALID',
      `${where}: path "${c.path}": ${(e as Error).message}`,
    )
  }
  const v: Expr = { k: 'vpath', base: 'HL7', path }
  const str = (s: string): Expr => ({ k: 'str', v: s })
  const parts: Expr[] = []
  if (c.eq !== undefined) parts.push({ k: 'bin', op: '=', l: v, r: str(c.eq) })
  if (c.ne !== undefined) parts.push({ k: 'bin', op: '!=', l: v, r: str(c.ne) })
  if (c.in !== undefined) parts.push({ k: 'call', name: 'in', args: [v, str(c.in.join(','))] })
  if (c.notIn !== undefined)
    parts.push({ k: 'call', name: 'notin', args: [v, str(c.notIn.join(','))] })
  if (c.contains !== undefined)
    parts.push({ k: 'call', name: 'contains', args: [v, str(c.contains)] })
  if (c.startsWith !== undefined)
    parts.push({ k: 'call', name: 'startswith', args: [v, str(c.startsWith)] })
  if (c.exists !== undefined) parts.push({ k: 'bin', op: c.exists ? '!=' : '=', l: v, r: str('') })
  if (c.matches !== undefined) {
    let re: RegExp
    try {
      re = new RegExp(c.matches)
    } catch (e) {
      throw new EngineError(
        'ENGINE_RULE_INVALID',
        `${where}: matches "${c.matches}" is not a valid regular expression: ${(e as Error).message}`,
      )
    }
    const fname = `__re${functions.size}`
    functions.set(fname, (a) => (re.test(toStr(a[0] ?? '')) ? 1 : 0))
    parts.push({ k: 'call', name: fname, args: [v] })
  }
  if (parts.length === 0)
    throw new EngineError(
      'ENGINE_RULE_INVALID',
      `${where}: condition on "${c.path}" has no test (eq, ne, in, notIn, contains, startsWith, matches, exists)`,
    )
  return parts.reduce((l, r) => ({ k: 'bin', op: '&&', l, r }))
}
