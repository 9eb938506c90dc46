/**
 * A host that consumes its own queue (routers and operations): PoolSize workers, each taking one
 * message at a time. PoolSize 1 gives strict FIFO; more workers run in parallel and keep order
 * only per ordering key (set on enqueue when the target has an `OrderingKey` setting).
 *
 * Intake: one receive per host at a time, not one per worker. An idle worker starts a
 * `receiveBatch` for as many messages as there are idle workers (never more, so nothing waits
 * behind a busy worker); workers that go idle meanwhile share it. The queue wakes that one
 * receive when a message is sent (in-process) instead of it polling, and a burst costs one
 * receive per batch rather than one per message. Profiled with 8 operation workers, the former
 * receive-per-worker woke every worker on each send (and each ack), and the empty receives were
 * about 5% of the engine's CPU.
 */
import type { Logger } from 'pino'
import type { HostKind, ProductionItem } from '../production/types.js'
import type { Envelope } from './envelope.js'
import { Host, errorText } from './host.js'
import type { HostContext } from './host-context.js'
import type { QueueMessageLike } from './ports.js'

/** What a worker tells the base class to do with the queue message after `handle`. */
export type Disposition =
  { ack: true } | { ack: false; requeue: boolean; error: string; delayMs?: number }

/** Base class of queue consumers. */
export abstract class QueueHost extends Host {
  abstract override readonly kind: HostKind
  protected readonly ctx: HostContext
  #running = false
  #paused = false
  #resumeGate: (() => void) | undefined
  #pausedPromise: Promise<void> | undefined
  #workers: Promise<void>[] = []
  #abort = new AbortController()
  #busy = 0
  #receiving = 0
  /** Messages received for workers that have not taken them yet (at most the idle workers). */
  #buffer: QueueMessageLike[] = []
  #fetch: Promise<void> | undefined

  constructor(item: ProductionItem, ctx: HostContext, logger?: Logger) {
    super(item, logger ?? ctx.logger)
    this.ctx = ctx
  }

  /**
   * Workers: the item's PoolSize; PoolSize 0 (IRIS: use the shared actor pool) takes the
   * production's ActorPoolSize (default 1).
   */
  override get poolSize(): number {
    const own = super.poolSize
    return own > 0 ? own : Math.max(1, this.ctx.production.actorPoolSize ?? 1)
  }

  /** Worker loops to run: PoolSize (an MLLP operation multiplies it by its PipelineWindow). */
  protected get workers(): number {
    return this.poolSize
  }

  /** Workers currently handling a message. */
  get busy(): number {
    return this.#busy
  }

  /** Aborted when the host stops: long waits (retry intervals) end early. */
  protected get signal(): AbortSignal {
    return this.#abort.signal
  }

  /** Whether the host is stopping (workers should hand work back). */
  protected get stopping(): boolean {
    return !this.#running
  }

  /** Handle one message; return what to do with the queue message. */
  protected abstract handle(env: Envelope, message: QueueMessageLike): Promise<Disposition>

  /** Prepare before workers start (connections, compiled rules). */
  protected prepare(): Promise<void> {
    return Promise.resolve()
  }

  /** Release after workers stopped. */
  protected release(): Promise<void> {
    return Promise.resolve()
  }

  protected override async onStart(): Promise<void> {
    await this.prepare()
    this.#abort = new AbortController()
    this.#running = true
    this.#paused = false
    const n = this.workers
    this.#workers = Array.from({ length: n }, (_, i) => this.#work(i))
  }

  /** Stop taking messages now (workers finish the one they hold); `stop()` follows. */
  protected haltIntake(): void {
    this.#running = false
  }

  /** Called when stopping begins, before waiting for workers: abort in-flight I/O here. */
  protected interrupt(): void {}

  protected override async onStop(): Promise<void> {
    this.#running = false
    this.#abort.abort()
    this.#openGate()
    this.interrupt()
    await Promise.all(this.#workers)
    this.#workers = []
    await this.#fetch?.catch(() => undefined)
    await this.#giveBack('host stopping')
    await this.release()
  }

  protected override async onPause(): Promise<void> {
    this.#paused = true
    this.#pausedPromise = new Promise((r) => (this.#resumeGate = r))
    // Wait for receives already waiting on the queue (at most pollMs): once pause resolves, no
    // worker takes a new message. A message such a receive got is held until resume.
    while (this.#receiving > 0) await new Promise((r) => setTimeout(r, 5))
  }

  protected override onResume(): Promise<void> {
    this.#openGate()
    return Promise.resolve()
  }

  #openGate(): void {
    this.#paused = false
    this.#resumeGate?.()
    this.#resumeGate = undefined
    this.#pausedPromise = undefined
  }

  async #work(worker: number): Promise<void> {
    const { queue } = this.ctx
    while (this.#running) {
      if (this.#paused && this.#pausedPromise !== undefined) {
        await this.#pausedPromise
        continue
      }
      let m: QueueMessageLike | null
      this.#receiving++
      try {
        m = await this.#next()
      } catch (e) {
        this.logger.error({ err: errorText(e), worker }, 'queue receive failed')
        await sleep(this.ctx.pollMs, this.#abort.signal)
        continue
      } finally {
        this.#receiving--
      }
      if (m === null) continue
      // Paused while this receive was waiting: hold the message (it is the oldest) until resume.
      if (this.#paused && this.#pausedPromise !== undefined) await this.#pausedPromise
      if (!this.#running) {
        await queue.nack(m, { requeue: true, delayMs: 0, error: 'host stopping' })
        break
      }
      this.#busy++
      let d: Disposition
      let env: Envelope | undefined
      try {
        env = this.ctx.path.envelopeOf(m)
        d = await this.handle(env, m)
      } catch (e) {
        // Last resort: handlers settle their own branches; this one failed unexpectedly.
        this.noteError(e)
        this.logger.error({ err: errorText(e), queueMessage: m.id }, 'message handling failed')
        d = { ack: false, requeue: false, error: errorText(e) }
        if (env !== undefined) {
          const failure = { host: this.name, error: errorText(e) }
          await this.ctx.path.settle(env, 'failed', failure).catch((se: unknown) => {
            this.logger.error(
              { err: errorText(se), queueMessage: m.id },
              'could not record the failed branch; the message stays in the WAL',
            )
          })
        }
      } finally {
        this.#busy--
      }
      try {
        if (d.ack) await queue.ack(m)
        else {
          const opts: { requeue: boolean; error: string; delayMs?: number } = {
            requeue: d.requeue,
            error: d.error,
          }
          if (d.delayMs !== undefined) opts.delayMs = d.delayMs
          await queue.nack(m, opts)
        }
      } catch (e) {
        this.logger.error({ err: errorText(e), queueMessage: m.id }, 'queue ack/nack failed')
      }
    }
  }

  /** The next message for a worker: from the buffer, else from the (shared) receive; or null. */
  async #next(): Promise<QueueMessageLike | null> {
    const m = this.#buffer.shift()
    if (m !== undefined) return m
    this.#fetch ??= this.#fill().finally(() => (this.#fetch = undefined))
    await this.#fetch
    return this.#buffer.shift() ?? null
  }

  async #fill(): Promise<void> {
    const idle = Math.max(1, this.workers - this.#busy)
    this.#receiving++
    try {
      const got = await this.ctx.queue.receiveBatch(this.name, {
        max: idle,
        waitMs: this.ctx.pollMs,
      })
      this.#buffer.push(...got)
    } finally {
      this.#receiving--
    }
  }

  /** Hand messages received but never started back to the queue, in order. */
  async #giveBack(reason: string): Promise<void> {
    const left = this.#buffer
    this.#buffer = []
    for (const m of left) {
      await this.ctx.queue
        .nack(m, { requeue: true, delayMs: 0, error: reason })
        .catch((e: unknown) =>
          this.logger.error({ err: errorText(e), queueMessage: m.id }, 'queue nack failed'),
        )
    }
  }
}

/** Sleep for `ms`, ending early (without error) when `signal` or `also` aborts. */
export function sleep(ms: number, signal?: AbortSignal, also?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || also?.aborted === true) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      also?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
    also?.addEventListener('abort', done, { once: true })
  })
}
