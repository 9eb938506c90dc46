/**
 * An IRIS BPL business process (an item whose ClassName is a class of the export with an
 * `XData BPL`, extending `Ens.BusinessProcessBPL`), run by `compileProcess` (`iris/bpl.ts`).
 *
 * For each message of its queue the process runs from the start to the end; the asynchronous
 * calls it made are handed to their targets in one step at the end (as a router's sends are), the
 * process hop is recorded (`completed`, or `discarded` when it made no call; the detail lists the
 * calls and the `<trace>` texts) and the message leaves the queue. A synchronous call
 * (`async="0"`, to an operation) hands over the calls made before it and its own message, whose
 * envelope carries a reply token; the worker waits (keeping the queue message invisible) until
 * the operation ends that message (`CallReplies`), then goes on with its response. A process
 * that fails (an uncaught `<throw>` or failed call, a transform error, a call without a message)
 * sends nothing more: its hop is `failed` with the reason (and the calls already made), the
 * session fails, and the message can be resent once the cause is fixed. Stopped while waiting,
 * the message goes back to its queue and runs again from the start. `<alert>` raises an engine alert (to Ens.Alert when the production has one); AlertOnError
 * alerts on each failure.
 *
 * Settings: PoolSize (as every queue host; 1 keeps FIFO), AlertOnError, MessageSchemaCategory
 * (paths' schema when the sending service set none), and the class's own properties
 * (`Parameter SETTINGS`), which the process reads as `process.Name`.
 */
import { randomUUID } from 'node:crypto'
import { EngineError } from '../errors.js'
import type { BplCall, BplCallReply, BplSyncCall, CompiledProcess } from '../iris/bpl.js'
import { compileProcess } from '../iris/bpl.js'
import type { ProductionItem } from '../production/types.js'
import type { Envelope } from '../runtime/envelope.js'
import { errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import type { ForwardOutput } from '../runtime/message-path.js'
import { QueueHost, sleep } from '../runtime/queue-host.js'
import type { Disposition } from '../runtime/queue-host.js'
import { ItemSettings } from '../runtime/settings.js'
import { CallWaitEnded } from '../runtime/call-replies.js'
import { completeProcessed } from './process-hop.js'
import type { QueueMessageLike } from '../runtime/ports.js'
import { VisibilityKeeper } from '../runtime/visibility.js'

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

  protected override async handle(env: Envelope, m?: QueueMessageLike): Promise<Disposition> {
    const started = performance.now()
    const traces: string[] = []
    const { path } = this.ctx
    let outputs: ForwardOutput[]
    /** Calls already handed over (before and with each synchronous call), for the hop. */
    const handed: string[] = []
    let callNames: string[]
    // While a synchronous call waits, the queue message stays invisible to other consumers.
    const hold = new VisibilityKeeper(this.ctx.queue, m, this.ctx.queueVisibilityMs, this.logger)
    const label = (c: BplCall): string =>
      c.name === c.target ? c.target : `${c.name} -> ${c.target}`
    const output = (c: BplCall): ForwardOutput => ({
      target: c.target,
      raw: c.raw,
      ...(c.format !== undefined ? { format: c.format } : {}),
    })
    let holding = false
    /** From the first wait on, the queue message stays invisible until the process ends. */
    const holdWhileWaiting = (): void => {
      if (holding) return
      holding = true
      hold.start()
    }
    /** Hands over the calls before `s.call`, then `s.call` with a reply token; its reply. */
    const startCall = async (s: BplSyncCall): Promise<{ reply: Promise<BplCallReply> }> => {
      const replies = this.ctx.callReplies
      if (replies === undefined)
        throw new EngineError(
          'ENGINE_PROCESS_FAILED',
          `call "${s.call.name}" waits for a reply, and this engine cannot wait for call replies`,
        )
      if (s.pending.length > 0) {
        await path.forward(env, this.name, s.pending.map(output))
        handed.push(...s.pending.map(label))
      }
      const token = randomUUID()
      // Registered before the message goes: a fast reply is not missed.
      const reply = replies.wait(token, {
        signal: this.signal,
        ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      })
      try {
        await path.forward(env, this.name, [{ ...output(s.call), replyTo: token }])
      } catch (e) {
        reply.catch(() => undefined)
        replies.cancel(token, 'the call could not be handed over')
        throw e
      }
      handed.push(`${label(s.call)} (waited)`)
      holdWhileWaiting()
      return { reply }
    }
    const callSync = async (s: BplSyncCall): Promise<BplCallReply> => {
      const { reply } = await startCall(s)
      return reply
    }
    // `<delay>`: waits here, the queue message kept invisible; a stop ends it (and requeues).
    const delay = async (ms: number): Promise<void> => {
      holdWhileWaiting()
      await sleep(ms, this.signal)
      if (this.stopping) throw new CallWaitEnded('the host stopped during a <delay>', true)
    }
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
      const result = await process.run({
        callSync,
        startCall,
        delay,
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
      callNames = [...handed, ...result.calls.map(label)]
    } catch (e) {
      // Stopped while a synchronous call waited: the message goes back to the queue and runs
      // again from the start after the restart (the calls already handed over go again).
      if (e instanceof CallWaitEnded && e.stopped)
        return { ack: false, requeue: true, delayMs: 0, error: e.message }
      if (handed.length > 0) traces.push(`calls made before the failure: ${handed.join(', ')}`)
      return this.#failed(env, e, traces)
    } finally {
      hold.stop()
    }
    return completeProcessed(
      this.ctx,
      this.name,
      env,
      outputs,
      callNames.length > 0,
      callNames.length > 0 ? `calls ${callNames.join(', ')}` : 'no call made',
      traces,
      started,
    )
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
