/**
 * `EnsLib.HL7.MsgRouter.RoutingEngine` and `EnsLib.MsgRouter.RoutingEngine`: a business process
 * that evaluates the rule class named by BusinessRuleName for each message and sends the result
 * (after the rule's DTL transforms) to the targets the rules name.
 *
 * Settings: BusinessRuleName (required), BadMessageHandler (messages that fail to parse, to
 * transform, or match a rule error go there instead of failing), AlertOnBadMessage (an alert for
 * each such message), Validation (as on services; failures go to the BadMessageHandler),
 * AlertOnError, PoolSize,
 * MessageSchemaCategory (the doc category when the sending service set none).
 * A message no rule sends anywhere is completed and traced as `discarded`.
 *
 * Rules and transforms see `docCategory` (the receiving service's MessageSchemaCategory, else the
 * router's own, else MSH-12 inside the evaluator) and `trace` (`<trace>` texts: logged at debug,
 * since they may hold patient data, and kept in the session trace). The text is not serialised
 * again between the parser, the rules and the transforms (`applyText` takes the ER7 text).
 * A DTL with a non-HL7 target returns a plain object: it goes on as JSON text (envelope format
 * `json`) to HTTP and file operations; sending it to an MLLP operation or a router fails the
 * message (BadMessageHandler if set), naming the target. In a chain (`transform="A,B"`) that
 * object goes on to the next transform when its source class is not HL7 either.
 * A DTL with create="existing" changes the routed message itself: the actions after it in the
 * same routing see the changed message (the stored inbound message is kept as received).
 *
 * Object documents: an envelope with format `json` and a `msgClass` (the `Ens.AlertRequest` the
 * Engine sends an `Ens.Alert` router for every alert) is routed as an object: rules read
 * `Document.Property` and match `msgClass` constraints; a send without transform forwards the
 * JSON as is, a transform whose source class is not HL7 gets the object (each send its own copy)
 * and may produce an object (JSON) or an HL7 message. JSON goes to HTTP, file and alert
 * operations, never over MLLP.
 */
import { parseMessage, validate } from '@li/hl7'
import type { Message } from '@li/hl7'
import type {
  CompiledRules,
  CompiledTransform,
  ProductionItem,
  RuleContext,
} from '../production/types.js'
import { EngineError } from '../errors.js'
import { isCompiledDtl } from '../iris/dtl.js'
import type { Envelope } from '../runtime/envelope.js'
import { parseBatchText } from './batch.js'
import type { BatchText } from './batch.js'
import { errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import type { ForwardOutput } from '../runtime/message-path.js'
import { QueueHost } from '../runtime/queue-host.js'
import { completeProcessed } from './process-hop.js'
import type { Disposition } from '../runtime/queue-host.js'
import { ItemSettings } from '../runtime/settings.js'

/** Classes that can only carry HL7 v2 text (a JSON body is refused for them). */
const HL7_ONLY = /(^|\.)(TCPOperation|RoutingEngine)$/

/** What rules see for a batch document that has no MSH of its own: every MSH field empty. */
const EMPTY_DOCUMENT = 'MSH|^~\\&\r'

/** The HL7 routing engine (business process). */
export class RoutingEngineHost extends QueueHost {
  readonly kind = 'process' as const
  readonly #settings: ItemSettings
  #rules: CompiledRules | undefined
  readonly #transforms = new Map<string, CompiledTransform>()
  readonly #category: string | undefined
  readonly #validation: string
  /** `#docCategory` by source host, for envelopes that carry none. */
  readonly #sourceCategory = new Map<string, string | undefined>()

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    this.#settings = new ItemSettings(item)
    this.#category = this.#settings.string('MessageSchemaCategory')
    this.#validation = this.#settings.string('Validation', '')
  }

  protected override prepare(): Promise<void> {
    const name = this.#settings.string('BusinessRuleName')
    if (name === undefined) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${this.name}": BusinessRuleName is not set`,
      )
    }
    this.#rules = this.ctx.compileRules(name)
    this.#transforms.clear()
    this.#sourceCategory.clear()
    return Promise.resolve()
  }

  /**
   * The doc category of a message: its service's MessageSchemaCategory, else the router's. The
   * answer per source is kept (the production does not change while the router runs); looking
   * the item up and reading its settings again was a search and an allocation per message.
   */
  #docCategory(env: Envelope): string | undefined {
    if (env.docCategory !== undefined && env.docCategory !== '') return env.docCategory
    if (this.#sourceCategory.has(env.source)) return this.#sourceCategory.get(env.source)
    const source = this.ctx.production.items.find((i) => i.name === env.source)
    const own = source === undefined ? undefined : new ItemSettings(source)
    const category = own?.string('MessageSchemaCategory') ?? this.#category
    this.#sourceCategory.set(env.source, category)
    return category
  }

  protected override async handle(env: Envelope): Promise<Disposition> {
    if (env.format === 'json') return this.#handleObject(env)
    const started = performance.now()
    // No separate `processing` hop: routing is synchronous, so it would be microseconds before
    // the `completed`/`discarded`/`failed` hop (`#finish`, `#bad`) and cost one store write per
    // message.
    let outputs: ForwardOutput[]
    let matched: string[]
    const traces: string[] = []
    try {
      const rules = this.#rules
      if (rules === undefined)
        throw new EngineError('ENGINE_INVALID_STATE', `router "${this.name}" has no rules`)
      const base = this.#ruleBase(env, traces)
      const docCategory = this.#docCategory(env)
      if (docCategory !== undefined) base.docCategory = docCategory
      // Parsed up front: a message the parser rejects goes to the BadMessageHandler. The parse is
      // lazy (about 2 µs for 3.3 KB); IRIS rules read `raw` rather than re-serialising it.
      // A batch document: with BatchHandling Whole the rules see its first message; the parent
      // that follows its children (1Session, Batch) has no MSH of its own, so, as in IRIS, rules
      // see empty MSH fields (only rules without field conditions or doc constraints send it).
      // A send forwards the whole batch (transforms applied to each message).
      const batch = env.batch?.role === 'parent' ? parseBatchText(env.raw) : undefined
      const evalRaw =
        batch === undefined
          ? env.raw
          : env.batch?.mode === 'Whole'
            ? (batch.messages[0] ?? EMPTY_DOCUMENT)
            : EMPTY_DOCUMENT
      const parsed = parseMessage(evalRaw)
      if (batch === undefined) this.#validate(parsed, docCategory)
      const result = rules.evaluate({ ...base, raw: evalRaw, message: parsed })
      matched = result.matchedRules
      outputs = []
      if (batch !== undefined) {
        for (const action of result.actions) {
          if (action.type === 'delete') continue
          outputs.push({
            target: action.target,
            raw:
              action.transforms.length === 0
                ? env.raw
                : this.#transformBatch(action.transforms, batch, base),
          })
        }
      }
      const actions = batch === undefined ? result.actions : []
      // The routed message: a create="existing" transform changes it for the actions after it.
      let current = env.raw
      for (const action of actions) {
        if (action.type === 'delete') continue
        const raw = current
        const message = (): Message => (raw === env.raw ? parsed : parseMessage(raw))
        const out = this.#run(action.transforms, raw, message, base, (changed) => {
          current = changed
        })
        if (typeof out !== 'string') {
          this.#checkJsonTarget(action.target, action.transforms)
          outputs.push({ target: action.target, raw: JSON.stringify(out), format: 'json' })
        } else outputs.push({ target: action.target, raw: out })
      }
    } catch (e) {
      return this.#bad(env, e, traces)
    }
    return this.#finish(env, outputs, matched, traces, started)
  }

  /**
   * `handle` for an object document: route it (`#routeObject`), then forward, trace and settle as
   * `handle` does for HL7 (kept apart so that the HL7 path stays as it is).
   */
  async #handleObject(env: Envelope): Promise<Disposition> {
    const started = performance.now()
    const traces: string[] = []
    let routed: { outputs: ForwardOutput[]; matched: string[] }
    try {
      const rules = this.#rules
      if (rules === undefined)
        throw new EngineError('ENGINE_INVALID_STATE', `router "${this.name}" has no rules`)
      routed = this.#routeObject(env, rules, this.#ruleBase(env, traces))
    } catch (e) {
      return this.#bad(env, e, traces)
    }
    return this.#finish(env, routed.outputs, routed.matched, traces, started)
  }

  /** What rules see besides the message: source, clock, lookup tables and a `<trace>` sink. */
  #ruleBase(env: Envelope, traces: string[]): Omit<RuleContext, 'message'> {
    return {
      source: env.source,
      now: new Date(),
      lookupTables: this.ctx.production.lookupTables,
      trace: (text) => {
        traces.push(text)
        this.logger.debug({ sessionId: env.sessionId, trace: text }, 'trace')
      },
    }
  }

  /** Forwards the outputs, records the router's hop and processing time, and settles `env`. */
  async #finish(
    env: Envelope,
    outputs: ForwardOutput[],
    matched: string[],
    traces: string[],
    started: number,
  ): Promise<Disposition> {
    return completeProcessed(
      this.ctx,
      this.name,
      env,
      outputs,
      outputs.length > 0,
      matched.length > 0 ? `rules ${matched.join(', ')}` : 'no rule matched',
      traces,
      started,
    )
  }

  /**
   * Routes an object document (JSON text with its IRIS class in `env.msgClass`, such as the
   * Ens.AlertRequest of an alert): rules read its properties; sends forward the JSON, or what the
   * send's transforms make of it.
   */
  #routeObject(
    env: Envelope,
    rules: CompiledRules,
    base: Omit<RuleContext, 'message'>,
  ): { outputs: ForwardOutput[]; matched: string[] } {
    const msgClass = env.msgClass ?? ''
    let doc: unknown
    try {
      doc = JSON.parse(env.raw)
    } catch {
      doc = undefined
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new EngineError(
        'ENGINE_TRANSFORM_FAILED',
        `router "${this.name}" got a JSON document from ${env.source} that is not an object${msgClass === '' ? '' : ` (${msgClass})`}`,
      )
    }
    const document = doc as Record<string, unknown>
    const result = rules.evaluate({ ...base, document, msgClass })
    const outputs: ForwardOutput[] = []
    for (const action of result.actions) {
      if (action.type === 'delete') continue
      const out =
        action.transforms.length === 0
          ? document
          : this.#runOnObject(action.transforms, structuredClone(document), msgClass, base)
      if (typeof out === 'string') outputs.push({ target: action.target, raw: out })
      else {
        this.#checkJsonTarget(action.target, action.transforms, msgClass)
        outputs.push({
          target: action.target,
          raw: out === document ? env.raw : JSON.stringify(out),
          format: 'json',
        })
      }
    }
    return { outputs, matched: result.matchedRules }
  }

  /**
   * Runs a send's transforms on an object document: each transform whose source class is not HL7
   * gets the object; once one has made an HL7 message, the rest run on that text.
   */
  #runOnObject(
    classes: readonly string[],
    object: Record<string, unknown>,
    msgClass: string,
    ctx: Omit<RuleContext, 'message'>,
  ): string | Record<string, unknown> {
    let current = object
    for (const [i, cls] of classes.entries()) {
      const t = this.#transform(cls)
      if (!isCompiledDtl(t) || t.header.hl7Source) {
        throw new EngineError(
          'ENGINE_TRANSFORM_FAILED',
          `transform ${cls} reads HL7 messages, but the routed document is a ${msgClass || 'non-HL7'} object: its sourceClass must be ${msgClass || 'that class'}`,
        )
      }
      const out = t.applyObject(current, ctx)
      if (out.object !== undefined) {
        current = out.object
        continue
      }
      const text = out.text ?? ''
      const rest = classes.slice(i + 1)
      if (rest.length === 0) return text
      const r = this.#run(
        rest,
        text,
        () => parseMessage(text),
        ctx,
        () => undefined,
      )
      return r
    }
    return current
  }

  /**
   * Runs a send action's transforms in order on ER7 text: the result as text, or the plain
   * object a transform with a non-HL7 target returned (it ends the chain).
   */
  #run(
    classes: readonly string[],
    raw: string,
    message: () => Message,
    ctx: Omit<RuleContext, 'message'>,
    inPlace: (changed: string) => void,
  ): string | Record<string, unknown> {
    let text = raw
    let model: Message | undefined
    let object: Record<string, unknown> | undefined
    for (const [i, cls] of classes.entries()) {
      const t = this.#transform(cls)
      let r: Message | Record<string, unknown> | string
      if (object !== undefined && isCompiledDtl(t)) {
        const out = t.applyObject(object, ctx)
        r = out.object ?? out.text ?? ''
      } else if (isCompiledDtl(t)) {
        const out = t.applyText(text, ctx)
        r = out.object ?? out.text ?? ''
        if (i === 0 && t.header.create === 'existing' && out.text !== undefined) inPlace(out.text)
      } else {
        const input = model ?? (text === raw ? message() : parseMessage(text))
        r = t.apply(input, ctx)
      }
      model = undefined
      object = undefined
      const next =
        classes[i + 1] === undefined ? undefined : this.#transform(classes[i + 1] as string)
      if (typeof r === 'string') text = r
      else if (isMessage(r)) {
        model = r
        text = r.toString()
      } else if (next === undefined) return r
      else if (isCompiledDtl(next) && !next.header.hl7Source) object = r
      else {
        throw new EngineError(
          'ENGINE_TRANSFORM_FAILED',
          `transform ${cls} returned a non-HL7 object, but ${classes[classes.indexOf(cls) + 1]} follows it and needs HL7`,
        )
      }
    }
    return text
  }

  /**
   * Validation (as on services: empty or `none` = off; any other value validates against the
   * schema of the doc category, IRIS's per-letter flags not distinguished). A message that fails
   * goes to the BadMessageHandler (or fails), as IRIS routers do.
   */
  #validate(message: Message, docCategory: string | undefined): void {
    const flags = this.#validation
    if (flags === '' || flags.toLowerCase() === 'none') return
    const version =
      docCategory !== undefined && /^2\.\d/.test(docCategory) ? docCategory : undefined
    const errors = validate(message, version === undefined ? {} : { version }).filter(
      (i) => i.severity === 'error',
    )
    if (errors.length === 0) return
    throw new EngineError(
      'ENGINE_VALIDATION_FAILED',
      `validation (${flags}) failed: ` +
        errors
          .slice(0, 5)
          .map((i) => `${i.path}: ${i.message}`)
          .join('; '),
    )
  }

  /** Apply a send action's transforms to every message of a batch; headers and trailers kept. */
  #transformBatch(
    classes: readonly string[],
    batch: BatchText,
    ctx: Omit<RuleContext, 'message'>,
  ): string {
    let out = batch.header
    for (const raw of batch.messages) {
      const r = this.#run(
        classes,
        raw,
        () => parseMessage(raw),
        ctx,
        () => undefined,
      )
      if (typeof r !== 'string') {
        throw new EngineError(
          'ENGINE_TRANSFORM_FAILED',
          `transform ${classes[classes.length - 1] ?? ''} returned a non-HL7 object for a message of a batch; batches carry HL7 v2 only`,
        )
      }
      out += r.endsWith('\r') ? r : r + '\r'
    }
    return out + batch.trailer
  }

  /** A JSON body can go to HTTP, file and custom operations, never over MLLP or to a router. */
  #checkJsonTarget(target: string, transforms: readonly string[], msgClass?: string): void {
    const item = this.ctx.production.items.find((i) => i.name === target)
    if (item !== undefined && HL7_ONLY.test(item.className)) {
      const what =
        transforms.length === 0
          ? `the routed ${msgClass || 'JSON'} object`
          : `transform ${transforms[transforms.length - 1] ?? ''} returned a non-HL7 object (JSON), which`
      throw new EngineError(
        'ENGINE_TRANSFORM_FAILED',
        `${what} cannot be sent to "${target}" (${item.className}): it carries HL7 v2 only; send it to an HTTP or file operation${transforms.length === 0 ? ', or transform it into an HL7 message' : ''}`,
      )
    }
  }

  #transform(className: string): CompiledTransform {
    let t = this.#transforms.get(className)
    if (t === undefined) {
      t = this.ctx.compileTransform(className)
      this.#transforms.set(className, t)
    }
    return t
  }

  async #bad(env: Envelope, e: unknown, traces: readonly string[]): Promise<Disposition> {
    const { path } = this.ctx
    const text = errorText(e) + (traces.length > 0 ? `; trace: ${traces.join(' | ')}` : '')
    this.noteError(e)
    this.ctx.metrics?.recordMessageFailed(this.name, 'routing')
    this.logger.warn({ err: text, sessionId: env.sessionId }, 'routing failed')
    const bad = this.#settings.string('BadMessageHandler')
    if (this.#settings.boolean('AlertOnBadMessage', false))
      this.ctx.alert(
        this.name,
        `bad message (session ${env.sessionId}): ${errorText(e)}`,
        env.sessionId,
      )
    if (bad !== undefined) {
      await path.forward(env, this.name, [
        {
          target: bad,
          raw: env.raw,
          ...(env.format === 'json' ? { format: 'json' as const } : {}),
        },
      ])
      path.hopLater(
        env.sessionId,
        env.storeId,
        env.source,
        this.name,
        'failed',
        `to BadMessageHandler: ${text}`,
      )
      await path.settle(env, 'completed')
      return { ack: true }
    }
    if (this.#settings.boolean('AlertOnError', false))
      this.ctx.alert(this.name, `routing failed: ${text}`, env.sessionId)
    path.hopLater(env.sessionId, env.storeId, env.source, this.name, 'failed', text)
    await path.settle(env, 'failed', { host: this.name, error: text })
    return { ack: false, requeue: false, error: text }
  }
}

function isMessage(v: Message | Record<string, unknown>): v is Message {
  return (
    typeof (v as { toString?: unknown }).toString === 'function' &&
    typeof (v as { segments?: unknown }).segments !== 'undefined'
  )
}
