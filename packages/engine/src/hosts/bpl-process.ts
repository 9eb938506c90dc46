/**
 * An IRIS BPL business process (an item whose ClassName is a class of the export with an
 * `XData BPL`, extending `Ens.BusinessProcessBPL`), run by `compileProcess` (`iris/bpl.ts`).
 *
 * For each message of its queue the process runs from the start to the end without waiting;
 * the calls it made are then handed to their targets in one step (as a router's sends are), the
 * process hop is recorded (`completed`, or `discarded` when it made no call; the detail lists the
 * calls and the `<trace>` texts) and the message leaves the queue. A process that fails (an
 * uncaught `<throw>`, a transform error, a call without a message) sends nothing: its hop is
 * `failed` with the reason, the session fails, and the message can be resent once the cause is
 * fixed. `<alert>` raises an engine alert (to Ens.Alert when the production has one); AlertOnError
 * alerts on each failure.
 *
 * Settings: PoolSize (as every queue host; 1 keeps FIFO), AlertOnError, MessageSchemaCategory
 * (paths' schema when the sending service set none), and the class's own properties
 * (`Parameter SETTINGS`), which the process reads as `process.Name`.
 */
import { EngineError } from '../errors.js'
import type { CompiledProcess } from '../iris/bpl.js'
import { compileProcess } from '../iris/bpl.js'
import type { ProductionItem } from '../production/types.js'
import type { Envelope } from '../runtime/envelope.js'
import { errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import type { ForwardOutput } from '../runtime/message-path.js'
import { QueueHost } from '../runtime/queue-host.js'
import type { Disposition } from '../runtime/queue-host.js'
import { ItemSettings } from '../runtime/settings.js'

/** The host of a BPL business process item. */
export class BplProcessHost extends QueueHost {
  readonly kind = 'process' as const
  readonly #settings: ItemSettings
  /** The item's host settings, which the process reads as `process.Name`. */
  readonly #hostSettings: Record<string, string>
  #process: CompiledProcess | undefined

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    this.#settings = new ItemSettings(item)
    this.#hostSettings = Object.fromEntries(
      item.settings.filter((s) => s.target === 'Host').map((s) => [s.name, s.value]),
    )
  }

  /** The compiled process (after start). */
  get process(): CompiledProcess | undefined {
    return this.#process
  }

  protected override prepare(): Promise<void> {
    const def = this.ctx.production.processes?.get(this.item.className)
    if (def === undefined) {
      throw new EngineError(
        'ENGINE_UNKNOWN_HOST_CLASS',
        `item "${this.name}": the business process class ${this.item.className} was not found beside the production`,
      )
    }
    const { ctx } = this
    this.#process = compileProcess(def, ctx.production, {
      transform: (className) => ctx.compileTransform(className),
      ...(ctx.compileGeneralRule !== undefined
        ? { generalRule: ctx.compileGeneralRule.bind(ctx) }
        : {}),
    })
    return Promise.resolve()
  }

  protected override async handle(env: Envelope): Promise<Disposition> {
    const started = performance.now()
    const traces: string[] = []
    const { path } = this.ctx
    let outputs: ForwardOutput[]
    let callNames: string[]
    try {
      const process = this.#process
      if (process === undefined)
        throw new EngineError('ENGINE_INVALID_STATE', `process "${this.name}" is not compiled`)
      const wantsHl7 = process.requestClass === 'EnsLib.HL7.Message'
      if (env.batch?.role === 'parent' || (wantsHl7 && env.format === 'json'))
        throw new EngineError(
          'ENGINE_PROCESS_FAILED',
          `process "${this.name}" got ${env.format === 'json' ? `a JSON document${env.msgClass !== undefined ? ` (${env.msgClass})` : ''}` : 'a whole batch'} from ${env.source}; its request class is ${process.requestClass}, so it takes one HL7 message`,
        )
      const category = env.docCategory ?? this.#settings.string('MessageSchemaCategory')
      const result = process.run({
        request: env.raw,
        source: env.source,
        now: new Date(),
        lookupTables: this.ctx.production.lookupTables,
        settings: this.#hostSettings,
        ...(category !== undefined && category !== '' ? { docCategory: category } : {}),
        trace: (text) => {
          traces.push(text)
          this.logger.debug({ sessionId: env.sessionId, trace: text }, 'trace')
        },
        alert: (text) => this.ctx.alert(this.name, text, env.sessionId),
      })
      outputs = result.calls.map((c) => ({
        target: c.target,
        raw: c.raw,
        ...(c.format !== undefined ? { format: c.format } : {}),
      }))
      callNames = result.calls.map((c) =>
        c.name === c.target ? c.target : `${c.name} -> ${c.target}`,
      )
    } catch (e) {
      return this.#failed(env, e, traces)
    }
    await path.forward(env, this.name, outputs)
    let detail = callNames.length > 0 ? `calls ${callNames.join(', ')}` : 'no call made'
    if (traces.length > 0) detail += `; trace: ${traces.join(' | ')}`
    path.hopLater(
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

  async #failed(env: Envelope, e: unknown, traces: readonly string[]): Promise<Disposition> {
    const { path } = this.ctx
    const text = errorText(e) + (traces.length > 0 ? `; trace: ${traces.join(' | ')}` : '')
    this.noteError(e)
    this.ctx.metrics?.recordMessageFailed(this.name, 'process')
    this.logger.warn({ err: errorText(e), sessionId: env.sessionId }, 'business process failed')
    if (this.#settings.boolean('AlertOnError', false))
      this.ctx.alert(this.name, `business process failed: ${errorText(e)}`, env.sessionId)
    path.hopLater(env.sessionId, env.storeId, env.source, this.name, 'failed', text)
    await path.settle(env, 'failed', { host: this.name, error: text })
    return { ack: false, requeue: false, error: text }
  }
}
