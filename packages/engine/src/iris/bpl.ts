/**
 * IRIS BPL business processes (`XData BPL`, classes extending `Ens.BusinessProcessBPL`),
 * compiled to an asynchronous function from the request to the calls it makes. The process host
 * (`hosts/bpl-process.ts`) runs it for each message of its queue and hands the asynchronous calls
 * to their targets in one step at the end, as a router does with its sends; a synchronous call
 * goes through `BplRunInput.callSync`, which hands it (and the calls before it) over and waits for
 * the target's reply.
 *
 * Supported: `<process request response>` with an HL7 request (`EnsLib.HL7.Message`) or an object
 * request (any other class: a plain object, e.g. `Ens.AlertRequest`); `<context>` properties (HL7
 * messages, data types such as `%String` with `initialexpression`, other classes as plain
 * objects); properties of the class (`process.Name`: the item's host setting, else the
 * InitialExpression); activities `sequence`, `assign` (set, clear, remove, append, insert; on
 * `context.X`, `context.X.{path}`, `context.X.Prop`, `callrequest`, `callrequest.{path}` and
 * `response`), `if`, `switch`, `while`, `until`, `break`, `continue`, `call` (its `<request>`
 * assigns build `callrequest`; `target="@expression"` names the target at run time; with
 * `async="0"` to an operation it waits for the reply and runs its `<response>` assigns with
 * `callresponse`, the operation's ACK; `timeout` in seconds), `transform`, `rule` (a general
 * business rule, with resultLocation, reasonLocation and ruleContext), `trace`, `alert`, `scope`
 * with `faulthandlers` (`catch`, `catchall`), `throw`, `delay` (through `BplRunInput.delay`),
 * `flow` (branches one after the other), `reply`, `empty`, `milestone`; `<code>` whose
 * statements are `set` and the `$$$TRACE`/`$$$LOG*` macros. Expressions are ObjectScript (binary operators strictly left to right,
 * as in DTL) over `request`, `context`, `callrequest`, `callresponse` and `response`, with virtual
 * property paths (`request.{PID:3.1}`) and `X.GetValueAt("PID:3.1")`.
 * A `<sync>` waits for the asynchronous calls it names: they go at once, with reply tokens,
 * through `BplRunInput.startCall` (type all or any, timeout, `synctimedout`).
 *
 * Not supported (the compile fails naming class, file line and construct): `<response>` handling
 * of an asynchronous call no `<sync>` waits for, `syncresponses`, a call that waits (synchronous,
 * or named by a `<sync>`) to a router or process, `receive`, `foreach` (collections), `<code>` statements other than `set` and the `$$$TRACE`/`$$$LOG*` macros,
 * `sql`, `xslt`, `xpath`, `label` and `branch`, compensation, languages other than ObjectScript,
 * `##class()` calls other than `Ens.Util.FunctionSet` and methods of the process class. A
 * process that fails sends nothing more; a resend runs it again from the start.
 */
import { parseMessage, type Message } from '@li/hl7'
import { EngineError, type EngineErrorCode } from '../errors.js'
import { hostKindOf } from '../production/model.js'
import type {
  CompiledTransform,
  Production,
  RuleClassDefinition,
  RuleContext,
} from '../production/types.js'
import {
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
import { Hl7Doc } from './hl7-doc.js'
import { compileGeneralRule, generalRuleKind, type CompiledGeneralRule } from './rules.js'
import { schemaProviderFor, type CompileOptions } from './schemas.js'
import {
  parseVirtualPath,
  pathDocFor,
  readPath,
  writePath,
  type PathDoc,
  type VirtualPath,
  type WriteAction,
} from './virtual-path.js'
import {
  compileTransform,
  getProp,
  isCompiledDtl,
  setProp,
  simpleCodeStatements,
  type CompiledDtl,
} from './dtl.js'
import { localName, parseXml, type XmlElement } from './xml.js'

/** A BPL class (`XData BPL`) as loaded, before compilation. */
export interface ProcessDefinition {
  className: string
  /** The raw XML of the `<process>`, kept for the compatibility report and round trip. */
  xml: string
  origin?: { file?: string | undefined; line?: number }
  /** The class's superclass as written (`Ens.BusinessProcessBPL`). */
  superClass?: string
  /** Properties of the class (`process.Name` in expressions), by name. */
  properties?: Record<string, ClassProperty>
  /** Names its `Parameter SETTINGS` lists: items set them as host settings. */
  settings?: string[]
}

/** A property of an IRIS class: its type and `InitialExpression` (ObjectScript), as written. */
export interface ClassProperty {
  type: string
  initial?: string
}

/** One call a run made: what the host queues to `target`. */
export interface BplCall {
  /** The `<call name>` (for the trace), or its target when unnamed. */
  name: string
  target: string
  /** ER7 text, or JSON text when `format` is `json` (a `callrequest` that is not HL7). */
  raw: string
  format?: 'json'
}

/** What a run needs besides the request. */
export interface BplRunInput {
  /** The request, as ER7 text. */
  request: string
  /** Schema category for paths (the service's MessageSchemaCategory); default MSH-12. */
  docCategory?: string
  /** Config name of the host that sent the request. */
  source?: string
  now?: Date
  lookupTables?: Map<string, Map<string, string>>
  /** `<trace>` texts (and the traces of the transforms and rules it runs). */
  trace?: (text: string) => void
  /** `<alert>` texts. */
  alert?: (text: string) => void
  /**
   * The item's host settings: `process.Name` reads the setting of that name, else the
   * property's InitialExpression.
   */
  settings?: Record<string, string> /**
   * Hands a synchronous call (and the calls before it) to the engine and waits for the target's
   * reply. Without it, a synchronous call fails the run.
   */
  callSync?: (call: BplSyncCall) => Promise<BplCallReply>
  /**
   * Hands a call a `<sync>` will wait for (and the calls before it) to the engine, and returns
   * its reply (not waited for here). Without it, such a call fails the run.
   */
  startCall?: (call: BplSyncCall) => Promise<{ reply: Promise<BplCallReply> }>
  /** Waits `ms` for a `<delay>` (the host's own wait ends when it stops); default a plain timer. */
  delay?: (ms: number) => Promise<void>
}

/** A synchronous call (`async="0"`), with the asynchronous calls made before it. */
export interface BplSyncCall {
  /** Calls made before this one and not yet handed over: they go first. */
  pending: BplCall[]
  call: BplCall
  /** The call's `timeout` in milliseconds; undefined waits as long as the target works on it. */
  timeoutMs?: number
}

/** How the target of a synchronous call ended with it. */
export interface BplCallReply {
  outcome: 'completed' | 'failed' | 'aborted'
  /** The target's response (an operation's ACK), when it had one. */
  response?: string
  /** Why it failed. */
  error?: string
}

/** The outcome of a run. */
export interface BplRunResult {
  /** The calls, in the order the process made them. */
  calls: BplCall[]
  /** `<milestone>` values, in order. */
  milestones: string[]
}

/** A compiled BPL process: pure and synchronous. */
export interface CompiledProcess {
  readonly className: string
  readonly requestClass: string
  readonly responseClass: string
  /** Targets named by `<call target>` (indirect `@` targets are not listed). */
  readonly targets: readonly string[]
  /** DTL classes its `<transform>` activities run. */
  readonly transforms: readonly string[]
  /** General business rules its `<rule>` activities evaluate. */
  readonly rules: readonly string[]
  /** Differences from IRIS worth a line in the compatibility report. */
  readonly notes: readonly string[]
  /**
   * Runs the process on one request; `calls` are the calls not handed over to `callSync`.
   * Rejects with `ENGINE_PROCESS_FAILED` when it fails.
   */
  run(input: BplRunInput): Promise<BplRunResult>
  /**
   * Whether it waits: synchronous calls (which need `BplRunInput.callSync`) or `<delay>`s.
   */
  readonly synchronous: boolean
}

/** Where a process finds the transforms and general rules it names (the engine's caches). */
export interface ProcessResolver {
  transform(className: string): CompiledTransform
  generalRule(className: string): CompiledGeneralRule
}

/** A context property, a call request or a response: a message, an object or a plain value. */
type Slot = Hl7Doc | Record<string, unknown> | Value | undefined

type Lhs =
  | { k: 'context'; prop: string; path?: VirtualPath }
  | { k: 'callrequest'; path?: VirtualPath; props?: string[] }
  | { k: 'response'; path?: VirtualPath; props?: string[] }
  | { k: 'contextProp'; prop: string; props: string[] }

type Act =
  | { a: 'assign'; line: number; target: Lhs; value: Expr; whole?: string; action: WriteAction }
  | { a: 'if'; line: number; cond: Expr; then: Act[]; else: Act[] }
  | { a: 'switch'; line: number; cases: { cond: Expr; body: Act[] }[]; dflt: Act[] }
  | { a: 'while'; line: number; cond: Expr; body: Act[]; until: boolean }
  | { a: 'break'; line: number }
  | { a: 'continue'; line: number }
  | {
      a: 'call'
      line: number
      name: string
      target: string | Expr
      hl7: boolean
      request: Act[]
      /** `async="0"`: wait for the target's response, then run `response`. */
      sync: boolean
      /** An asynchronous call a `<sync>` names: handed over at once, its reply awaited there. */
      tracked: boolean
      response: Act[]
      timeout?: Expr
    }
  | { a: 'transform'; line: number; className: string; source: string; target: Lhs }
  | {
      a: 'rule'
      line: number
      className: string
      result?: Lhs
      reason?: Lhs
      withContext: boolean
    }
  | { a: 'trace'; line: number; value: Expr }
  | { a: 'alert'; line: number; value: Expr }
  | { a: 'milestone'; line: number; value: Expr }
  | {
      a: 'scope'
      line: number
      body: Act[]
      catches: { fault: Expr; body: Act[] }[]
      catchAll?: Act[]
    }
  | { a: 'throw'; line: number; fault: Expr }
  | { a: 'seq'; line: number; body: Act[] }
  | { a: 'delay'; line: number; duration?: Expr; until?: Expr }
  | { a: 'sync'; line: number; calls: string[]; any: boolean; timeout?: Expr }

/** `break` and `continue` leave loops through these. */
const BREAK = Symbol('break')
const CONTINUE = Symbol('continue')

/** A loop that runs more often than this fails the run (a condition that never changes). */
export const BPL_MAX_ITERATIONS = 100_000

/** A `<throw>`: caught by a `<catch>` whose fault expression has the same value. */
class BplFault extends Error {
  constructor(
    readonly fault: string,
    readonly line: number,
  ) {
    super(`fault ${JSON.stringify(fault)} thrown at line ${line} was not caught`)
  }
}

/**
 * A wait of the process (a synchronous call, a `<delay>`) ended without its outcome: `stopped`
 * when the host stopped (the message goes back to its queue; never caught by the process), else
 * the call's timeout passed (a fault the process may catch).
 */
export class BplWaitEnded extends EngineError {
  constructor(
    message: string,
    readonly stopped: boolean,
  ) {
    super('ENGINE_PROCESS_FAILED', message)
  }
}

/** An error of one activity, said with its line (once, however deep the activity). */
class BplStepError extends Error {}

/** Data types of context properties that hold a plain value. */
function isDataType(type: string): boolean {
  return type === '' || type.startsWith('%')
}

function isHl7(type: string): boolean {
  return type === 'EnsLib.HL7.Message'
}

/** Activities that do not act at all (annotations, layout). */
const IGNORED = new Set(['annotation', 'empty'])

/** Activities IRIS has that LI Engine does not run, with what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  receive: 'a process cannot wait for a deferred response here',
  foreach:
    'collections are not supported: loop with <while> over a counter, or move the loop into a DTL <foreach>',
  sql: 'embedded SQL is not run',
  xslt: 'XSLT is not run',
  xpath: 'XPath over XML documents is not run',
  label: '<label>/<branch> jumps are not run: use <if>/<while>',
  branch: '<label>/<branch> jumps are not run: use <if>/<while>',
  compensate: 'compensation is not run',
  compensationhandlers: 'compensation is not run',
}

/**
 * Compiles a BPL class against a production: its transforms, general rules and call targets must
 * be there. Throws `ENGINE_PROCESS_INVALID` / `ENGINE_PROCESS_UNSUPPORTED` naming class, line and
 * construct.
 * @example const bp = compileProcess(p.processes.get('Trust.BPL.Orders')!, p); (await bp.run({ request: er7 })).calls
 */
export function compileProcess(
  def: ProcessDefinition,
  p: Production,
  resolver?: Partial<ProcessResolver>,
  options: CompileOptions = {},
): CompiledProcess {
  const functions = functionRegistry(options.functions)
  const schemas = schemaProviderFor(options, p)
  const file = def.origin?.file
  const where = (line: number): string =>
    `${file !== undefined ? `${file} ` : ''}line ${line}: business process ${def.className}`
  const fail = (code: EngineErrorCode, line: number, what: string): never => {
    throw new EngineError(code, `${where(line)}: ${what}`)
  }
  const invalid = (line: number, what: string): never => fail('ENGINE_PROCESS_INVALID', line, what)
  const unsupported = (line: number, what: string): never =>
    fail('ENGINE_PROCESS_UNSUPPORTED', line, what)
  const offset = (def.origin?.line ?? 1) - 1 + (/^\s*/.exec(def.xml)?.[0].match(/\n/g) ?? []).length
  let root: XmlElement
  try {
    root = parseXml(def.xml.replace(/^\s+/, ''), `business process ${def.className}`, offset)
  } catch (e) {
    throw new EngineError(
      'ENGINE_PROCESS_INVALID',
      `${file ?? ''} ${(e as Error).message}`.trim(),
      {
        cause: e,
      },
    )
  }
  if (localName(root.name) !== 'process')
    invalid(root.line, `expected <process>, found <${root.name}>`)
  const language = (root.attrs.language ?? 'objectscript').toLowerCase()
  if (language !== 'objectscript')
    unsupported(
      root.line,
      `language="${root.attrs.language ?? ''}" is not supported (only objectscript)`,
    )
  const requestClass = root.attrs.request ?? 'Ens.Request'
  const responseClass = root.attrs.response ?? 'Ens.Response'
  // A request class that is not HL7 (Ens.AlertRequest, a message class of the export) is a plain
  // object, as routers see object documents: `request.Prop` reads it, paths do not apply.
  const hl7Request = isHl7(requestClass)
  if (!hl7Request && requestClass.startsWith('EnsLib.HL7.'))
    unsupported(
      root.line,
      `request="${requestClass}": expected EnsLib.HL7.Message or an object class`,
    )
  const notes: string[] = []
  const targets = new Set<string>()
  const transformNames = new Set<string>()
  const ruleNames = new Set<string>()

  // Properties of the process class: process.Name (item settings, else InitialExpression).
  const processProps = new Map<string, { init?: Expr }>()
  // Context properties: name -> type.
  const props = new Map<string, { type: string; init?: Expr; line: number }>()
  const contextEl = root.children.find((c) => localName(c.name) === 'context')
  const expr = (src: string, line: number, what: string, allowCallrequest = false): Expr => {
    const text = src.trim() === '' ? '""' : src
    let e: Expr
    try {
      e = parseExpression(text, { functions, leftToRight: true })
    } catch (err) {
      const uns = err instanceof ExpressionError && err.unsupported
      return fail(
        uns ? 'ENGINE_PROCESS_UNSUPPORTED' : 'ENGINE_PROCESS_INVALID',
        line,
        `${what} ${src}: ${(err as Error).message}`,
      )
    }
    const { refs, vpaths } = collectRefs(e)
    const okBase = (b: string): boolean =>
      (inResponse && b === 'callresponse') ||
      b === 'request' ||
      b === 'response' ||
      (allowCallrequest && b === 'callrequest') ||
      (b.startsWith('context.') && props.has(b.slice(8)))
    for (const v of vpaths) {
      if (v === 'request' && !hl7Request)
        invalid(
          line,
          `${what} ${src}: the request is a ${requestClass} object, not an HL7 message: read it with request.Property`,
        )
      if (!okBase(v))
        unsupported(
          line,
          `${what} ${src}: "${v}.{...}" is not supported (paths read request, response${allowCallrequest ? ', callrequest' : ''} or an HL7 context property)`,
        )
    }
    for (const r of refs) {
      const [base, ...rest] = r.split('.')
      if (base === 'context' && rest.length >= 1 && props.has(rest[0] as string)) continue
      if ((base === 'request' || base === 'response') && rest.length <= 1) continue
      if (base === 'request' && !hl7Request) continue
      if (allowCallrequest && base === 'callrequest' && rest.length <= 1) continue
      if (base === 'process' && rest.length === 1 && processProps.has(rest[0] as string)) continue
      if (base === 'process' && rest.length >= 1)
        unsupported(
          line,
          `${what} ${src}: "${r}": ${rest[0] ?? ''} is not a property of the process class (declare it with Property ${rest[0] ?? ''} As %String and list it in Parameter SETTINGS to set it per item)`,
        )
      if (base === 'context' && rest.length >= 1)
        invalid(
          line,
          `${what} ${src}: context property "${rest[0] ?? ''}" is not declared in <context>`,
        )
      if (base === 'callresponse' && inResponse && rest.length <= 1) continue
      if (base === 'synctimedout' && rest.length === 0) continue
      if (base === 'callresponse' || base === 'syncresponses' || base === 'synctimedout')
        unsupported(
          line,
          `${what} ${src}: "${base}" is read only in the <response> of a synchronous call (async="0")`,
        )
      unsupported(
        line,
        `${what} ${src}: "${r}" is not supported (expected request, response, context properties${allowCallrequest ? ', callrequest' : ''}, paths and functions)`,
      )
    }
    return e
  }
  const path = (inner: string, line: number): VirtualPath => {
    try {
      return parseVirtualPath(inner)
    } catch (e) {
      return unsupported(line, (e as Error).message)
    }
  }
  if (contextEl) {
    for (const c of contextEl.children) {
      if (localName(c.name) !== 'property') continue
      const name = c.attrs.name ?? ''
      if (!/^[A-Za-z%][\w%]*$/.test(name)) invalid(c.line, `context property name "${name}"`)
      if ((c.attrs.collection ?? '') !== '')
        unsupported(
          c.line,
          `context property ${name}: collection="${c.attrs.collection ?? ''}" is not supported`,
        )
      props.set(name, { type: c.attrs.type ?? '%String', line: c.line })
    }
    // Initial expressions may read properties declared before or after them (IRIS sets them in
    // order): compiled once every name is known.
    for (const c of contextEl.children) {
      if (localName(c.name) !== 'property') continue
      const init = c.attrs.initialexpression
      const prop = props.get(c.attrs.name ?? '')
      if (init !== undefined && init.trim() !== '' && prop) {
        if (!isDataType(prop.type))
          unsupported(
            c.line,
            `context property ${c.attrs.name ?? ''}: initialexpression on a ${prop.type}`,
          )
        prop.init = expr(init, c.line, 'initialexpression')
      }
    }
  }

  for (const name of Object.keys(def.properties ?? {})) processProps.set(name, {})
  for (const [name, prop] of Object.entries(def.properties ?? {})) {
    if (prop.initial === undefined) continue
    ;(processProps.get(name) as { init?: Expr }).init = expr(
      prop.initial,
      root.line,
      `InitialExpression of property ${name}`,
    )
  }

  const lhs = (src: string, line: number, inCall: boolean): Lhs => {
    const t = src.trim()
    let m = /^context\.([A-Za-z%][\w%]*)(?:\.\{(.*)\})?$/.exec(t)
    if (m) {
      const prop = m[1] as string
      const p0 = props.get(prop)
      if (!p0)
        invalid(line, `property ${src}: context property "${prop}" is not declared in <context>`)
      if (m[2] !== undefined) {
        if (!isHl7(p0?.type ?? ''))
          invalid(
            line,
            `property ${src}: context.${prop} is a ${p0?.type ?? ''}, not an HL7 message`,
          )
        return { k: 'context', prop, path: path(m[2], line) }
      }
      return { k: 'context', prop }
    }
    m = /^context\.([A-Za-z%][\w%]*)\.([A-Za-z%][\w%]*(?:\.[A-Za-z%][\w%]*)*)$/.exec(t)
    if (m) {
      const prop = m[1] as string
      const p0 = props.get(prop)
      if (!p0)
        invalid(line, `property ${src}: context property "${prop}" is not declared in <context>`)
      if (isHl7(p0?.type ?? '') || isDataType(p0?.type ?? ''))
        unsupported(
          line,
          `property ${src}: context.${prop} (${p0?.type ?? ''}) has no properties to set here`,
        )
      return { k: 'contextProp', prop, props: (m[2] as string).split('.') }
    }
    m = /^(callrequest|response)(?:\.\{(.*)\}|\.([A-Za-z%][\w%]*(?:\.[A-Za-z%][\w%]*)*))?$/.exec(t)
    if (m) {
      if (m[1] === 'callrequest' && !inCall)
        invalid(line, `property ${src}: callrequest exists only inside a <call>'s <request>`)
      const k = m[1] as 'callrequest' | 'response'
      if (m[2] !== undefined) return { k, path: path(m[2], line) }
      if (m[3] !== undefined) return { k, props: m[3].split('.') }
      return { k }
    }
    if (t === 'request' || t.startsWith('request.'))
      return invalid(
        line,
        `property ${src}: the request cannot be changed (IRIS messages are immutable): copy it into a context property or callrequest first`,
      )
    return unsupported(
      line,
      `property "${src}" is not supported (expected context.Property, context.Property.{path}, callrequest, callrequest.{path} or response)`,
    )
  }

  /** The name a value expression moves whole (`request`, `context.X`, `callrequest`), if it is one. */
  const wholeRef = (src: string, inCall: boolean): string | undefined => {
    const t = src.trim()
    if (t === 'request' || t === 'response' || (inCall && t === 'callrequest')) return t
    if (inResponse && t === 'callresponse') return t
    const m = /^context\.([A-Za-z%][\w%]*)$/.exec(t)
    if (m && props.has(m[1] as string) && !isDataType(props.get(m[1] as string)?.type ?? ''))
      return t
    return undefined
  }

  /** Names of the calls some `<sync calls="...">` waits for. */
  const synced = new Set<string>()
  /** Names of the asynchronous calls compiled as tracked (each name a `<sync>` gives must be one). */
  const trackedNames = new Set<string>()
  const scanSyncs = (el: XmlElement): void => {
    for (const c of el.children) {
      if (localName(c.name) === 'sync')
        for (const n of (c.attrs.calls ?? '').split(',')) if (n.trim() !== '') synced.add(n.trim())
      scanSyncs(c)
    }
  }
  scanSyncs(root)
  /** Whether the activities being compiled are a synchronous call's `<response>`. */
  let inResponse = false
  const responseBody = (el: XmlElement): Act[] => {
    inResponse = true
    try {
      return body(el, false, false)
    } finally {
      inResponse = false
    }
  }
  const body = (parent: XmlElement, inCall: boolean, inLoop: boolean): Act[] => {
    const out: Act[] = []
    for (const c of parent.children) {
      const n = localName(c.name)
      const line = c.line
      if (IGNORED.has(n)) continue
      const why = UNSUPPORTED[n]
      if (why !== undefined) unsupported(line, `<${n}> is not supported: ${why}`)
      switch (n) {
        case 'sequence':
          out.push({ a: 'seq', line, body: body(c, inCall, inLoop) })
          break
        case 'assign': {
          const action = (c.attrs.action ?? 'set').toLowerCase()
          if (!['set', 'append', 'clear', 'remove', 'insert'].includes(action))
            unsupported(
              line,
              `assign action="${c.attrs.action ?? ''}" is not supported (set, append, clear, remove, insert)`,
            )
          if ((c.attrs.key ?? '') !== '')
            unsupported(line, `assign key="${c.attrs.key ?? ''}": collections are not supported`)
          const value = c.attrs.value ?? '""'
          const target = lhs(c.attrs.property ?? '', line, inCall)
          const whole =
            action === 'set' && pathOf(target) === undefined && propsOf(target) === undefined
              ? wholeRef(value, inCall)
              : undefined
          out.push({
            a: 'assign',
            line,
            target,
            value: expr(value, line, 'value', inCall),
            ...(whole !== undefined ? { whole } : {}),
            action: action as WriteAction,
          })
          break
        }
        case 'if': {
          const t = c.children.find((x) => localName(x.name) === 'true')
          const f = c.children.find((x) => localName(x.name) === 'false')
          out.push({
            a: 'if',
            line,
            cond: expr(c.attrs.condition ?? '0', line, 'condition', inCall),
            then: t ? body(t, inCall, inLoop) : [],
            else: f ? body(f, inCall, inLoop) : [],
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
                cond: expr(k.attrs.condition ?? '0', k.line, 'condition', inCall),
                body: body(k, inCall, inLoop),
              })
            else if (kn === 'default') dflt = body(k, inCall, inLoop)
            else if (kn !== 'annotation') unsupported(k.line, `<${kn}> inside <switch>`)
          }
          out.push({ a: 'switch', line, cases, dflt })
          break
        }
        case 'while':
        case 'until':
          out.push({
            a: 'while',
            line,
            cond: expr(c.attrs.condition ?? '0', line, 'condition', inCall),
            body: body(c, inCall, true),
            until: n === 'until',
          })
          break
        case 'break':
        case 'continue':
          if (!inLoop) invalid(line, `<${n}> outside a <while> or <until>`)
          out.push({ a: n, line })
          break
        case 'call': {
          if (inCall) invalid(line, '<call> inside a <call>')
          const async = (c.attrs.async ?? '1').trim().toLowerCase()
          const name = c.attrs.name ?? ''
          const sync = async !== '1' && async !== 'true'
          const rawTarget = (c.attrs.target ?? '').trim()
          if (rawTarget === '') invalid(line, `call "${name}" has no target`)
          let target: string | Expr
          if (rawTarget.startsWith('@')) target = expr(rawTarget.slice(1), line, 'call target')
          else {
            target = rawTarget
            targets.add(rawTarget)
            const item = p.items.find((i) => i.name === rawTarget)
            if (item === undefined)
              invalid(
                line,
                `call "${name}": target "${rawTarget}" is not an item of the production`,
              )
            else if (sync && hostKindOf(item) !== 'operation')
              unsupported(
                line,
                `call "${name}" is synchronous (async="0") to "${rawTarget}", which is not an operation: LI Engine waits only for an operation's response; set async="1"`,
              )
          }
          const reqEl = c.children.find((x) => localName(x.name) === 'request')
          const resEl = c.children.find((x) => localName(x.name) === 'response')
          const callName = name === '' ? rawTarget : name
          const tracked = !sync && synced.has(callName)
          if (tracked) trackedNames.add(callName)
          if (
            !sync &&
            !tracked &&
            resEl &&
            resEl.children.some((x) => !IGNORED.has(localName(x.name)))
          )
            unsupported(
              resEl.line,
              `call "${name}": <response> handling (callresponse) of an asynchronous call that no <sync> waits for is not supported: name it in a <sync calls="...">, or make the call synchronous (async="0")`,
            )
          if (tracked && typeof target !== 'string')
            unsupported(
              line,
              `call "${name}": a <sync> waits for it, so its target must be an operation named as such, not "@..."`,
            )
          if (tracked && typeof target === 'string') {
            const item = p.items.find((i) => i.name === target)
            if (item !== undefined && hostKindOf(item) !== 'operation')
              unsupported(
                line,
                `call "${name}": a <sync> waits for it, but "${target}" is not an operation: only operations reply`,
              )
          }
          const type = reqEl?.attrs.type ?? 'EnsLib.HL7.Message'
          const timeout = (c.attrs.timeout ?? '').trim()
          out.push({
            a: 'call',
            line,
            name: name === '' ? rawTarget : name,
            target,
            hl7: isHl7(type),
            request: reqEl ? body(reqEl, true, false) : [],
            sync,
            tracked,
            response: (sync || tracked) && resEl ? responseBody(resEl) : [],
            ...(sync && timeout !== '' ? { timeout: expr(timeout, line, 'call timeout') } : {}),
          })
          break
        }
        case 'transform': {
          const cls = (c.attrs.class ?? '').trim()
          if (cls === '') invalid(line, '<transform> has no class')
          if (!p.transforms.has(cls) && resolver?.transform === undefined)
            invalid(line, `transform class "${cls}" was not found in the export or next to it`)
          transformNames.add(cls)
          const source = (c.attrs.source ?? '').trim()
          if (wholeRef(source, inCall) === undefined)
            unsupported(
              line,
              `transform source "${source}": expected request, response, callrequest or an HL7 context property`,
            )
          const target = lhs(c.attrs.target ?? '', line, inCall)
          if (pathOf(target) !== undefined || propsOf(target) !== undefined)
            unsupported(
              line,
              `transform target "${c.attrs.target ?? ''}": expected a whole message (context.X, callrequest or response)`,
            )
          out.push({ a: 'transform', line, className: cls, source, target })
          break
        }
        case 'rule': {
          const cls = (c.attrs.rule ?? '').trim()
          const def0 = p.rules.get(cls)
          if (!def0 && resolver?.generalRule === undefined)
            invalid(line, `rule class "${cls}" was not found in the export or next to it`)
          if (def0 && generalRuleKind(def0) === undefined)
            invalid(line, `rule class "${cls}" is a routing rule, not a general business rule`)
          ruleNames.add(cls)
          const rc = (c.attrs.ruleContext ?? 'context').trim()
          if (rc !== 'context' && rc !== '')
            unsupported(line, `ruleContext="${rc}": only the process context is supported`)
          const result = (c.attrs.resultLocation ?? '').trim()
          const reason = (c.attrs.reasonLocation ?? '').trim()
          out.push({
            a: 'rule',
            line,
            className: cls,
            withContext: rc !== '',
            ...(result !== '' ? { result: lhs(result, line, inCall) } : {}),
            ...(reason !== '' ? { reason: lhs(reason, line, inCall) } : {}),
          })
          break
        }
        case 'trace':
        case 'alert':
        case 'milestone':
          out.push({ a: n, line, value: expr(c.attrs.value ?? '""', line, `${n} value`, inCall) })
          break
        case 'throw':
          out.push({ a: 'throw', line, fault: expr(c.attrs.fault ?? '""', line, 'fault', inCall) })
          break
        case 'sync': {
          const calls = (c.attrs.calls ?? '')
            .split(',')
            .map((x) => x.trim())
            .filter((x) => x !== '')
          if (calls.length === 0) invalid(line, '<sync> names no calls')
          const type = (c.attrs.type ?? 'all').trim().toLowerCase()
          if (type !== 'all' && type !== 'any')
            invalid(line, `<sync> type="${c.attrs.type ?? ''}" is not all or any`)
          const timeout = (c.attrs.timeout ?? '').trim()
          out.push({
            a: 'sync',
            line,
            calls,
            any: type === 'any',
            ...(timeout !== '' ? { timeout: expr(timeout, line, 'sync timeout', inCall) } : {}),
          })
          break
        }
        case 'delay': {
          const duration = (c.attrs.duration ?? '').trim()
          const until = (c.attrs.until ?? '').trim()
          if ((duration === '') === (until === ''))
            invalid(line, '<delay> needs either duration or until')
          out.push({
            a: 'delay',
            line,
            ...(duration !== ''
              ? { duration: expr(duration, line, 'delay duration', inCall) }
              : {}),
            ...(until !== '' ? { until: expr(until, line, 'delay until', inCall) } : {}),
          })
          break
        }
        case 'flow': {
          // Its branches (sequences) run one after the other, in document order.
          const branches = c.children.filter((x) => !IGNORED.has(localName(x.name)))
          for (const b of branches)
            if (localName(b.name) !== 'sequence')
              invalid(b.line, `<${localName(b.name)}> inside <flow> (expected <sequence> branches)`)
          if (!notes.some((x) => x.startsWith('<flow>')))
            notes.push(
              '<flow> runs its branches one after the other, in document order, not in parallel',
            )
          out.push({ a: 'seq', line, body: body({ ...c, children: branches }, inCall, inLoop) })
          break
        }
        case 'reply':
          if (!notes.some((x) => x.startsWith('<reply>')))
            notes.push(
              '<reply> does nothing: LI Engine services acknowledge on their own (AckMode), not with the process response',
            )
          break
        case 'scope': {
          const handlers = c.children.find((x) => localName(x.name) === 'faulthandlers')
          const inner: XmlElement = {
            ...c,
            children: c.children.filter((x) => {
              const xn = localName(x.name)
              return xn !== 'faulthandlers' && xn !== 'compensationhandlers'
            }),
          }
          if (c.children.some((x) => localName(x.name) === 'compensationhandlers'))
            unsupported(
              line,
              `<compensationhandlers> is not supported: ${UNSUPPORTED.compensate ?? ''}`,
            )
          const catches: { fault: Expr; body: Act[] }[] = []
          let catchAll: Act[] | undefined
          for (const h of handlers?.children ?? []) {
            const hn = localName(h.name)
            if (hn === 'catch')
              catches.push({
                fault: expr(h.attrs.fault ?? '""', h.line, 'fault', inCall),
                body: body(h, inCall, inLoop),
              })
            else if (hn === 'catchall') catchAll = body(h, inCall, inLoop)
            else if (hn !== 'annotation') unsupported(h.line, `<${hn}> inside <faulthandlers>`)
          }
          out.push({
            a: 'scope',
            line,
            body: body(inner, inCall, inLoop),
            catches,
            ...(catchAll ? { catchAll } : {}),
          })
          break
        }
        case 'code': {
          // The simple statements of a <code> block run: `set` (one or more assignments, as
          // <assign>) and the $$$TRACE / $$$LOG* macros (as <trace>, $$$LOGALERT as <alert>).
          for (const st of simpleCodeStatements(c.text, (text, why) =>
            unsupported(
              line,
              `<code> statement "${text.slice(0, 60)}" is not supported (${why}); rewrite it with BPL activities or a DTL, or register a function`,
            ),
          )) {
            if (st.k === 'trace') {
              out.push({
                a: st.alert ? 'alert' : 'trace',
                line,
                value: expr(st.value, line, 'value', inCall),
              })
              continue
            }
            const into = lhs(st.target, line, inCall)
            const whole =
              pathOf(into) === undefined && propsOf(into) === undefined
                ? wholeRef(st.value, inCall)
                : undefined
            out.push({
              a: 'assign',
              line,
              target: into,
              value: expr(st.value, line, 'value', inCall),
              ...(whole !== undefined ? { whole } : {}),
              action: 'set',
            })
          }
          break
        }
        case 'context':
        case 'request':
        case 'response':
          if (parent === root && n === 'context') break
          return invalid(line, `<${n}> is not valid here`)
        default:
          unsupported(line, `<${n}> is not supported in BPL`)
      }
    }
    return out
  }

  const seqEl = root.children.filter((c) => localName(c.name) !== 'context')
  const main = body({ ...root, children: seqEl }, false, false)
  for (const name of synced)
    if (!trackedNames.has(name))
      invalid(
        root.line,
        `<sync calls> names "${name}", which no asynchronous <call> of this process is called`,
      )

  // Transforms and rules: resolved once (the engine's caches, else compiled here).
  const dtlCache = new Map<string, CompiledDtl>()
  const transformOf = (cls: string): CompiledTransform => {
    if (resolver?.transform) return resolver.transform(cls)
    const d = p.transforms.get(cls)
    if (!d)
      throw new EngineError('ENGINE_PROCESS_INVALID', `transform class "${cls}" was not found`)
    return compileTransform(d, p, options, dtlCache)
  }
  const ruleOf = (cls: string): CompiledGeneralRule => {
    if (resolver?.generalRule) return resolver.generalRule(cls)
    return compileGeneralRule(p.rules.get(cls) as RuleClassDefinition, p, options)
  }
  const transforms = new Map<string, CompiledTransform>()
  const rules = new Map<string, CompiledGeneralRule>()
  // Compiled now when there is no resolver, so that a DTL or rule that does not compile fails the
  // process at load; with the engine's resolver, at first use (the engine compiled them already).
  if (resolver?.transform === undefined)
    for (const t of transformNames) transforms.set(t, transformOf(t))
  if (resolver?.generalRule === undefined) for (const r of ruleNames) rules.set(r, ruleOf(r))

  const run = async (input: BplRunInput): Promise<BplRunResult> => {
    const calls: BplCall[] = []
    const milestones: string[] = []
    const now = input.now ?? new Date()
    const lookupTables = input.lookupTables ?? new Map<string, Map<string, string>>()
    let request: Hl7Doc | Record<string, unknown>
    try {
      request = hl7Request
        ? Hl7Doc.parse(input.request)
        : objectRequest(input.request, requestClass)
    } catch (e) {
      throw new EngineError(
        'ENGINE_PROCESS_FAILED',
        `business process ${def.className}: ${(e as Error).message}`,
        { cause: e },
      )
    }
    const sep = request instanceof Hl7Doc ? request.sep : undefined
    const context = new Map<string, Slot>()
    let response: Slot
    let callrequest: Slot
    let callresponse: Slot
    let syncTimedOut = 0
    /** Calls a `<sync>` waits for, by call name, until it does. */
    const outstanding = new Map<
      string,
      { reply: Promise<BplCallReply>; response: readonly Act[]; target: string }[]
    >()
    /** A call's reply: a fault unless it completed; else its `<response>` runs with it. */
    const respond = async (
      name: string,
      target: string,
      reply: BplCallReply,
      response: readonly Act[],
      depth: number,
    ): Promise<void> => {
      if (reply.outcome !== 'completed')
        throw new Error(
          `call "${name}" to ${target} ${reply.outcome === 'aborted' ? 'was aborted' : 'failed'}: ${reply.error ?? 'no reason given'}`,
        )
      const text = reply.response ?? ''
      callresponse =
        text === '' ? new Hl7Doc() : /^\s*[{[]/.test(text) ? jsonOrText(text) : Hl7Doc.parse(text)
      try {
        await exec(response, depth)
      } finally {
        callresponse = undefined
      }
    }
    const pds = new WeakMap<Hl7Doc, PathDoc>()
    const pdOf = (doc: Hl7Doc): PathDoc => {
      let pd = pds.get(doc)
      if (pd === undefined) {
        pd = pathDocFor(doc, schemas, input.docCategory)
        pds.set(doc, pd)
      }
      return pd
    }
    const varIndex = (name: string): number => {
      const v = context.get(name.startsWith('context.') ? name.slice(8) : name)
      if (typeof v !== 'string' && typeof v !== 'number')
        throw new Error(`index "${name}" is not a context property holding a number`)
      return toNum(v)
    }
    const slotOf = (base: string): Slot => {
      if (base === 'request') return request
      if (base === 'response') return response
      if (base === 'callrequest') return callrequest
      if (base === 'callresponse') return callresponse
      if (base.startsWith('context.')) return context.get(base.slice(8))
      return undefined
    }
    const docProp = (doc: Hl7Doc, prop: string): Value => {
      const pd = pdOf(doc)
      const cat = pd.schema?.version ?? ''
      const st = pd.structure?.id ?? ''
      const at = (p0: string): string => toStr(readPath(pd, parseVirtualPath(p0), varIndex))
      switch (prop) {
        case 'DocType':
          return `${cat}:${st}`
        case 'DocTypeName':
          return st
        case 'DocTypeCategory':
        case 'TypeVersion':
          return cat
        case 'Name': {
          const e = at('MSH:9.2')
          return e === '' ? at('MSH:9.1') : `${at('MSH:9.1')}_${e}`
        }
        case 'Identifier':
          return at('MSH:10')
        case 'Source':
          return input.source ?? ''
        default:
          return ''
      }
    }
    const env: EvalEnv = {
      lookupTables,
      now,
      functions,
      vpath: (base, p0) => {
        const s = slotOf(base)
        return s instanceof Hl7Doc ? readPath(pdOf(s), p0, varIndex) : ''
      },
      ref: (base, refProps) => {
        if (base === 'synctimedout') return syncTimedOut
        if (base === 'process') {
          const name = refProps[0] as string
          const set = input.settings?.[name]
          if (set !== undefined) return set
          const init = processProps.get(name)?.init
          return init === undefined ? '' : evaluate(init, env)
        }
        if (base === 'context') {
          const v = context.get(refProps[0] as string)
          if (refProps.length === 1)
            return v instanceof Hl7Doc || (typeof v === 'object' && v !== null) ? '' : (v ?? '')
          if (v instanceof Hl7Doc)
            return refProps.length === 2 ? docProp(v, refProps[1] as string) : ''
          return isObjectSlot(v) ? getProp(v, refProps.slice(1)) : ''
        }
        const s = slotOf(base)
        if (refProps.length === 0)
          return s instanceof Hl7Doc || (typeof s === 'object' && s !== null) ? '' : (s ?? '')
        if (s instanceof Hl7Doc) return docProp(s, refProps[0] as string)
        return isObjectSlot(s) ? getProp(s, refProps) : ''
      },
    }
    const ruleCtx = (): Omit<RuleContext, 'message'> => ({
      source: input.source ?? '',
      now,
      lookupTables,
      ...(input.docCategory !== undefined ? { docCategory: input.docCategory } : {}),
      ...(input.trace ? { trace: input.trace } : {}),
    })
    for (const [name, prop] of props) {
      if (isDataType(prop.type)) context.set(name, prop.init ? evaluate(prop.init, env) : '')
      else if (!isHl7(prop.type)) context.set(name, {})
    }

    const copy = (v: Slot): Slot =>
      v instanceof Hl7Doc ? v.clone() : typeof v === 'object' && v !== null ? structuredClone(v) : v
    const write = (l: Lhs, raw: Value, whole: Slot | undefined, action: WriteAction): void => {
      const value = toStr(raw)
      const lpath = pathOf(l)
      const set = (cur: Slot, put: (s: Slot) => void): void => {
        if (whole !== undefined || lpath === undefined) {
          if (action === 'clear' || action === 'remove')
            put(cur instanceof Hl7Doc ? new Hl7Doc() : '')
          else if (whole !== undefined) put(copy(whole))
          else if (action === 'append')
            put(
              toStr(cur instanceof Hl7Doc ? '' : typeof cur === 'object' ? '' : (cur ?? '')) +
                value,
            )
          else put(raw)
          return
        }
        let doc = cur
        if (!(doc instanceof Hl7Doc)) {
          doc = new Hl7Doc()
          if (sep) doc.sep = { ...sep }
          put(doc)
        }
        const pd = pdOf(doc)
        writePath(pd, lpath, varIndex, value, action, { createIfMissing: value !== '' })
        pd.invalidate()
      }
      switch (l.k) {
        case 'context': {
          const type = props.get(l.prop)?.type ?? ''
          if (
            lpath === undefined &&
            whole === undefined &&
            isHl7(type) &&
            action === 'set' &&
            value !== ''
          )
            throw new Error(
              `context.${l.prop} is an HL7 message: assign it a message (request, context.X), or set its paths`,
            )
          set(context.get(l.prop), (s) => context.set(l.prop, s))
          break
        }
        case 'contextProp': {
          const cur = context.get(l.prop)
          const obj = typeof cur === 'object' && cur !== null && !(cur instanceof Hl7Doc) ? cur : {}
          setProp(obj, l.props, value, action)
          context.set(l.prop, obj)
          break
        }
        case 'callrequest':
        case 'response': {
          const get = (): Slot => (l.k === 'callrequest' ? callrequest : response)
          const put = (s: Slot): void => {
            if (l.k === 'callrequest') callrequest = s
            else response = s
          }
          if (l.props !== undefined) {
            const cur = get()
            if (cur instanceof Hl7Doc)
              throw new Error(
                `${l.k}.${l.props.join('.')}: ${l.k} is an HL7 message; set its paths with ${l.k}.{...}`,
              )
            const obj = typeof cur === 'object' && cur !== null ? cur : {}
            setProp(obj, l.props, value, action)
            put(obj)
          } else set(get(), put)
          break
        }
      }
    }
    const exec = async (
      acts: readonly Act[],
      depth: number,
    ): Promise<typeof BREAK | typeof CONTINUE | undefined> => {
      for (const act of acts) {
        try {
          switch (act.a) {
            case 'seq': {
              const r = await exec(act.body, depth)
              if (r !== undefined) return r
              break
            }
            case 'assign':
              write(
                act.target,
                act.whole === undefined ? evaluate(act.value, env) : '',
                act.whole === undefined ? undefined : (slotOf(act.whole) ?? new Hl7Doc()),
                act.action,
              )
              break
            case 'if': {
              const r = await exec(truthy(evaluate(act.cond, env)) ? act.then : act.else, depth)
              if (r !== undefined) return r
              break
            }
            case 'switch': {
              const c = act.cases.find((x) => truthy(evaluate(x.cond, env)))
              const r = await exec(c ? c.body : act.dflt, depth)
              if (r !== undefined) return r
              break
            }
            case 'while': {
              let n = 0
              for (;;) {
                if (!act.until && !truthy(evaluate(act.cond, env))) break
                if (++n > BPL_MAX_ITERATIONS)
                  throw new Error(
                    `<${act.until ? 'until' : 'while'}> ran ${BPL_MAX_ITERATIONS} times; its condition never ends the loop`,
                  )
                const r = await exec(act.body, depth)
                if (r === BREAK) break
                if (act.until && truthy(evaluate(act.cond, env))) break
              }
              break
            }
            case 'break':
              return BREAK
            case 'continue':
              return CONTINUE
            case 'call': {
              const target =
                typeof act.target === 'string' ? act.target : toStr(evaluate(act.target, env))
              if (typeof act.target !== 'string' && !p.items.some((i) => i.name === target))
                throw new Error(
                  `call "${act.name}": target "${target}" is not an item of the production`,
                )
              callrequest = act.hl7 ? undefined : {}
              await exec(act.request, depth)
              const req = callrequest as Slot
              callrequest = undefined
              let made: BplCall
              if (req instanceof Hl7Doc) {
                if (req.segments.length === 0)
                  throw new Error(
                    `call "${act.name}": callrequest is an empty message (assign it request, a context message or paths)`,
                  )
                made = { name: act.name, target, raw: req.toString() }
              } else if (typeof req === 'object' && req !== null)
                made = { name: act.name, target, raw: JSON.stringify(req), format: 'json' }
              else throw new Error(`call "${act.name}": callrequest was never assigned a message`)
              if (!act.sync && !act.tracked) {
                calls.push(made)
                break
              }
              if (act.tracked) {
                if (input.startCall === undefined)
                  throw new Error(
                    `call "${act.name}": a <sync> waits for it, and nothing here can wait for its reply`,
                  )
                const { reply } = await input.startCall({ pending: calls.splice(0), call: made })
                // Awaited at its <sync>, if the process gets there; never an unhandled rejection.
                reply.catch(() => undefined)
                const list = outstanding.get(act.name) ?? []
                list.push({ reply, response: act.response, target })
                outstanding.set(act.name, list)
                break
              }
              if (input.callSync === undefined)
                throw new Error(
                  `call "${act.name}" is synchronous, and nothing here can wait for its reply`,
                )
              if (typeof act.target !== 'string') {
                const item = p.items.find((i) => i.name === target)
                if (item !== undefined && hostKindOf(item) !== 'operation')
                  throw new Error(
                    `call "${act.name}" is synchronous to "${target}", which is not an operation`,
                  )
              }
              const seconds =
                act.timeout === undefined ? undefined : toNum(evaluate(act.timeout, env))
              const reply = await input.callSync({
                pending: calls.splice(0),
                call: made,
                ...(seconds !== undefined && seconds > 0 ? { timeoutMs: seconds * 1000 } : {}),
              })
              await respond(act.name, target, reply, act.response, depth)
              break
            }
            case 'sync': {
              syncTimedOut = 0
              const waiting = act.calls.flatMap((name) =>
                (outstanding.get(name) ?? []).map((o) => ({ name, ...o })),
              )
              for (const name of act.calls) outstanding.delete(name)
              if (waiting.length === 0) break
              const seconds = act.timeout === undefined ? 0 : toNum(evaluate(act.timeout, env))
              let timer: NodeJS.Timeout | undefined
              const timedOut =
                seconds > 0
                  ? new Promise<'timeout'>((resolve) => {
                      timer = setTimeout(() => resolve('timeout'), seconds * 1000)
                    })
                  : undefined
              const left = new Map(
                waiting.map((w, i) => [i, w.reply.then((r) => ({ i, r }))] as const),
              )
              try {
                // Responses are handled as they arrive (IRIS order); `any` stops at the first.
                while (left.size > 0) {
                  const next = await Promise.race([
                    ...left.values(),
                    ...(timedOut ? [timedOut] : []),
                  ])
                  if (next === 'timeout') {
                    syncTimedOut = 1
                    break
                  }
                  left.delete(next.i)
                  const w = waiting[next.i] as (typeof waiting)[number]
                  await respond(w.name, w.target, next.r, w.response, depth)
                  if (act.any) break
                }
              } finally {
                if (timer !== undefined) clearTimeout(timer)
              }
              break
            }
            case 'transform': {
              const src = slotOf(act.source)
              let t = transforms.get(act.className)
              if (t === undefined) {
                t = transformOf(act.className)
                transforms.set(act.className, t)
              }
              let out: Slot
              if (isObjectSlot(src)) {
                if (!isCompiledDtl(t))
                  throw new Error(`transform ${act.className} cannot read an object`)
                const r = t.applyObject(structuredClone(src), ruleCtx())
                out = r.object ?? Hl7Doc.parse(r.text ?? '')
                write(act.target, '', out, 'set')
                break
              }
              if (!(src instanceof Hl7Doc) || src.segments.length === 0)
                throw new Error(`transform ${act.className}: source ${act.source} holds no message`)
              const text = src.toString()
              if (isCompiledDtl(t)) {
                const r = t.applyText(text, ruleCtx())
                out = r.object ?? Hl7Doc.parse(r.text ?? '')
              } else {
                const r = t.apply(parseMessage(text), ruleCtx())
                out = isRecord(r) ? r : Hl7Doc.parse(r.toString())
              }
              write(act.target, '', out, 'set')
              break
            }
            case 'rule': {
              let r = rules.get(act.className)
              if (r === undefined) {
                r = ruleOf(act.className)
                rules.set(act.className, r)
              }
              const ctxObj: Record<string, unknown> = {}
              if (act.withContext)
                for (const [k, v] of context) if (!(v instanceof Hl7Doc)) ctxObj[k] = v
              const res = r.evaluate({
                context: ctxObj,
                ...(request instanceof Hl7Doc ? { message: request.toString() } : {}),
                now,
                lookupTables,
                ...(input.docCategory !== undefined ? { docCategory: input.docCategory } : {}),
                ...(input.trace ? { trace: input.trace } : {}),
              })
              if (act.result) write(act.result, res.value, undefined, 'set')
              if (act.reason) write(act.reason, res.reason, undefined, 'set')
              break
            }
            case 'trace':
              input.trace?.(toStr(evaluate(act.value, env)))
              break
            case 'alert':
              input.alert?.(toStr(evaluate(act.value, env)))
              break
            case 'milestone':
              milestones.push(toStr(evaluate(act.value, env)))
              break
            case 'delay': {
              const ms =
                act.duration !== undefined
                  ? durationMs(toStr(evaluate(act.duration, env)))
                  : untilMs(toStr(evaluate(act.until as Expr, env)), now)
              if (ms > 0) await (input.delay ?? plainDelay)(ms)
              break
            }
            case 'throw':
              throw new BplFault(toStr(evaluate(act.fault, env)), act.line)
            case 'scope': {
              try {
                const r = await exec(act.body, depth + 1)
                if (r !== undefined) return r
              } catch (e) {
                // A stop is not a fault: the message goes back to its queue.
                if (e instanceof BplWaitEnded && e.stopped) throw e
                const fault = e instanceof BplFault ? e.fault : undefined
                const handler =
                  fault === undefined
                    ? undefined
                    : act.catches.find((c) => toStr(evaluate(c.fault, env)) === fault)
                const chosen = handler?.body ?? act.catchAll
                if (chosen === undefined) throw e
                const r = await exec(chosen, depth + 1)
                if (r !== undefined) return r
              }
              break
            }
          }
        } catch (e) {
          if (
            e instanceof BplFault ||
            e instanceof BplStepError ||
            (e instanceof BplWaitEnded && e.stopped)
          )
            throw e
          throw new BplStepError(`line ${act.line}: ${(e as Error).message}`, { cause: e })
        }
      }
      return undefined
    }
    try {
      await exec(main, 0)
    } catch (e) {
      if (e instanceof BplWaitEnded && e.stopped) throw e
      throw new EngineError(
        'ENGINE_PROCESS_FAILED',
        `business process ${def.className}${file !== undefined ? ` (${file})` : ''} failed: ${(e as Error).message}`,
        { cause: e },
      )
    }
    return { calls, milestones }
  }

  return {
    className: def.className,
    requestClass,
    responseClass,
    targets: [...targets],
    transforms: [...transformNames],
    rules: [...ruleNames],
    notes,
    run,
    synchronous: hasSyncCall(main),
  }
}

/** A plain timer, for `<delay>` outside a host. */
function plainDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Milliseconds of an XML Schema duration as BPL writes them (`PT10S`, `PT1H30M`, `P1DT2H`); a
 * plain number is seconds. Years and months are refused (their length varies).
 */
export function durationMs(text: string): number {
  const t = text.trim()
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(t)
  if (!m || t === 'P' || t.endsWith('T'))
    throw new Error(
      `<delay> duration "${text}" is not a duration such as PT30S, PT5M or P1DT2H (years and months are not supported)`,
    )
  const [, d = '0', h = '0', min = '0', sec = '0'] = m
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(sec) * 1000
}

/** Milliseconds from `now` until an ODBC time (`2026-11-28 05:00:00`, local); 0 when past. */
function untilMs(text: string, now: Date): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?/.exec(text.trim())
  if (!m) throw new Error(`<delay> until "${text}" is not a time such as 2026-11-28 05:00:00`)
  const [, y, mo, d, h, mi, se = '0'] = m
  const at = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se))
  return Math.max(0, at.getTime() - now.getTime())
}

/** Whether any activity (at any depth) is a synchronous call. */
function hasSyncCall(acts: readonly Act[]): boolean {
  return acts.some((a) => {
    if (a.a === 'call') return a.sync || a.tracked
    if (a.a === 'delay' || a.a === 'sync') return true
    if (a.a === 'seq' || a.a === 'while') return hasSyncCall(a.body)
    if (a.a === 'if') return hasSyncCall(a.then) || hasSyncCall(a.else)
    if (a.a === 'switch') return a.cases.some((c) => hasSyncCall(c.body)) || hasSyncCall(a.dflt)
    if (a.a === 'scope')
      return (
        hasSyncCall(a.body) ||
        a.catches.some((c) => hasSyncCall(c.body)) ||
        hasSyncCall(a.catchAll ?? [])
      )
    return false
  })
}

/** A reply body that looks like JSON: the object, else the text as a value. */
function jsonOrText(text: string): Slot {
  try {
    const v: unknown = JSON.parse(text)
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      return v as Record<string, unknown>
  } catch {
    // not JSON after all: kept as text
  }
  return text
}

/** A slot holding a plain object (not a message, not a value). */
function isObjectSlot(v: Slot): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !(v instanceof Hl7Doc)
}

/** The request of a process whose request class is not HL7: the JSON object the envelope carries. */
function objectRequest(text: string, requestClass: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    v = undefined
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new Error(
      `the request must be a ${requestClass} object (JSON), not ${/^\s*(MSH|FHS|BHS)/.test(text) ? 'an HL7 message' : 'this text'}`,
    )
  return v as Record<string, unknown>
}

function pathOf(l: Lhs): VirtualPath | undefined {
  return l.k === 'contextProp' ? undefined : l.path
}

function propsOf(l: Lhs): string[] | undefined {
  return l.k === 'contextProp' ? l.props : l.k === 'context' ? undefined : l.props
}

function isRecord(v: Message | Record<string, unknown>): v is Record<string, unknown> {
  return typeof (v as { segments?: unknown }).segments === 'undefined'
}
