/**
 * `EnsLib.HL7.MsgRouter.RoutingEngine` and `EnsLib.MsgRouter.RoutingEngine`: a business process
 * that evaluates the rule class named by BusinessRuleName for each message and sends the result
 * (after the rule's DTL transforms) to the targets the rules name.
 *
 * Settings: BusinessRuleName (required), BadMessageHandler (messages that fail to parse, to
 * transform, or match a rule error go there instead of failing), AlertOnError, PoolSize.
 * A message no rule sends anywhere is completed and traced as `discarded`.
 */
import { parseMessage } from '@li/hl7'
import type { Message } from '@li/hl7'
import type { CompiledRules, CompiledTransform, ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { Envelope } from '../runtime/envelope.js'
import { errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import { QueueHost } from '../runtime/queue-host.js'
import type { Disposition } from '../runtime/queue-host.js'
import { ItemSettings } from '../runtime/settings.js'

/** The HL7 routing engine (business process). */
export class RoutingEngineHost extends QueueHost {
  readonly kind = 'process' as const
  readonly #settings: ItemSettings
  #rules: CompiledRules | undefined
  readonly #transforms = new Map<string, CompiledTransform>()

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    this.#settings = new ItemSettings(item)
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
    return Promise.resolve()
  }

  protected override async handle(env: Envelope): Promise<Disposition> {
    const { path } = this.ctx
    const started = performance.now()
    void path.hop(env.sessionId, env.storeId, env.source, this.name, 'processing')
    let outputs: { target: string; raw: string }[]
    let matched: string[]
    try {
      const rules = this.#rules
      if (rules === undefined)
        throw new EngineError('ENGINE_INVALID_STATE', `router "${this.name}" has no rules`)
      const message = parseMessage(env.raw)
      const base = {
        source: env.source,
        now: new Date(),
        lookupTables: this.ctx.production.lookupTables,
      }
      const result = rules.evaluate({ ...base, message })
      matched = result.matchedRules
      outputs = []
      for (const action of result.actions) {
        if (action.type === 'delete') continue
        let out: Message = message
        for (const cls of action.transforms) {
          const t = this.#transform(cls)
          const r = t.apply(out, base)
          if (!isMessage(r)) {
            throw new EngineError(
              'ENGINE_TRANSFORM_FAILED',
              `transform ${cls} did not return an HL7 message`,
            )
          }
          out = r
        }
        outputs.push({ target: action.target, raw: out === message ? env.raw : out.toString() })
      }
    } catch (e) {
      return this.#bad(env, e)
    }
    await path.forward(env, this.name, outputs)
    const detail = matched.length > 0 ? `rules ${matched.join(', ')}` : 'no rule matched'
    void path.hop(
      env.sessionId,
      env.storeId,
      env.source,
      this.name,
      outputs.length > 0 ? 'completed' : 'discarded',
      detail,
    )
    this.ctx.metrics?.recordProcessingTime(this.name, (performance.now() - started) / 1000)
    await path.settle(env, 'completed')
    return { ack: true }
  }

  #transform(className: string): CompiledTransform {
    let t = this.#transforms.get(className)
    if (t === undefined) {
      t = this.ctx.compileTransform(className)
      this.#transforms.set(className, t)
    }
    return t
  }

  async #bad(env: Envelope, e: unknown): Promise<Disposition> {
    const { path } = this.ctx
    const text = errorText(e)
    this.noteError(e)
    this.ctx.metrics?.recordMessageFailed(this.name, 'routing')
    this.logger.warn({ err: text, sessionId: env.sessionId }, 'routing failed')
    const bad = this.#settings.string('BadMessageHandler')
    if (bad !== undefined) {
      await path.forward(env, this.name, [{ target: bad, raw: env.raw }])
      void path.hop(
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
      this.ctx.alert(this.name, `routing failed: ${text}`)
    void path.hop(env.sessionId, env.storeId, env.source, this.name, 'failed', text)
    await path.settle(env, 'failed')
    return { ack: false, requeue: false, error: text }
  }
}

function isMessage(v: Message | Record<string, unknown>): v is Message {
  return (
    typeof (v as { toString?: unknown }).toString === 'function' &&
    typeof (v as { segments?: unknown }).segments !== 'undefined'
  )
}
