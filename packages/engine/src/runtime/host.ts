/**
 * The business host base class: the life cycle every service, process and operation shares.
 *
 * States: CREATED → STARTING → RUNNING ⇄ PAUSED → STOPPING → STOPPED, and ERROR when start fails
 * or the host gives up (for example ReplyCodeActions `D`). Subclasses implement `onStart`/`onStop`
 * (and optionally `onPause`/`onResume`); the base class keeps the state honest and serialises
 * life-cycle calls so that a `stop()` during a `start()` waits for it.
 */
import type { Logger } from 'pino'
import type { HostKind, ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'

/** The states a host goes through (IRIS shows the same on the production monitor). */
export type HostState =
  'CREATED' | 'STARTING' | 'RUNNING' | 'PAUSED' | 'STOPPING' | 'STOPPED' | 'ERROR'

/** What a host reports about itself for `Engine.getStatus()`. */
export interface HostStatus {
  name: string
  className: string
  kind: HostKind
  state: HostState
  enabled: boolean
  poolSize: number
  /** The last error that put the host in ERROR (or that a message failed with), if any. */
  lastError?: string
}

/** A running business host: a service, a process (router) or an operation. */
export abstract class Host {
  /** Config name (IRIS item Name); also the name of the host's queue. */
  readonly name: string
  /** The production item the host was built from. */
  readonly item: ProductionItem
  /** Service, process or operation. */
  abstract readonly kind: HostKind
  protected readonly logger: Logger
  #state: HostState = 'CREATED'
  #enabled: boolean
  #lastError: string | undefined
  #chain: Promise<unknown> = Promise.resolve()
  /** Called on every state change (the Engine uses it for metrics). */
  onStateChange: ((host: Host, state: HostState) => void) | undefined

  constructor(item: ProductionItem, logger: Logger) {
    this.name = item.name
    this.item = item
    this.#enabled = item.enabled
    this.logger = logger.child({ host: item.name })
  }

  /** The current state. */
  get state(): HostState {
    return this.#state
  }

  /** Whether the item is enabled (a disabled host is never started). */
  get enabled(): boolean {
    return this.#enabled
  }

  /** The IRIS class name of the item. */
  get className(): string {
    return this.item.className
  }

  /** Parallel workers (IRIS PoolSize; 1 keeps strict FIFO). */
  get poolSize(): number {
    return Math.max(this.item.poolSize, 0)
  }

  /** The last error recorded against the host. */
  get lastError(): string | undefined {
    return this.#lastError
  }

  /** A snapshot for status pages. */
  status(): HostStatus {
    const s: HostStatus = {
      name: this.name,
      className: this.className,
      kind: this.kind,
      state: this.#state,
      enabled: this.#enabled,
      poolSize: this.poolSize,
    }
    if (this.#lastError !== undefined) s.lastError = this.#lastError
    return s
  }

  /** Start the host (no-op when running, or when disabled). */
  start(): Promise<void> {
    return this.#serial(async () => {
      if (!this.#enabled) return
      if (this.#state === 'RUNNING' || this.#state === 'PAUSED') return
      this.#set('STARTING')
      try {
        await this.onStart()
        this.#lastError = undefined
        this.#set('RUNNING')
      } catch (e) {
        this.#lastError = errorText(e)
        this.#set('ERROR')
        this.logger.error({ err: e }, 'host failed to start')
        try {
          await this.onStop()
        } catch {
          // best effort: the start already failed
        }
        throw new EngineError(
          'ENGINE_HOST_START_FAILED',
          `host "${this.name}" (${this.className}) failed to start: ${errorText(e)}`,
          { cause: e },
        )
      }
    })
  }

  /** Stop the host; in-flight work finishes or is handed back to its queue. */
  stop(): Promise<void> {
    return this.#serial(async () => {
      if (this.#state === 'CREATED' || this.#state === 'STOPPED') return
      this.#set('STOPPING')
      try {
        await this.onStop()
      } finally {
        this.#set('STOPPED')
      }
    })
  }

  /** Stop taking new work without releasing resources; `resume()` continues. */
  pause(): Promise<void> {
    return this.#serial(async () => {
      if (this.#state !== 'RUNNING') return
      await this.onPause()
      this.#set('PAUSED')
    })
  }

  /** Continue after `pause()`. */
  resume(): Promise<void> {
    return this.#serial(async () => {
      if (this.#state !== 'PAUSED') return
      await this.onResume()
      this.#set('RUNNING')
    })
  }

  /** Stop, then start again. */
  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  /** Enable the item and start it. */
  async enable(): Promise<void> {
    this.#enabled = true
    await this.start()
  }

  /** Stop the item and keep it from starting until enabled again. */
  async disable(): Promise<void> {
    this.#enabled = false
    await this.stop()
  }

  /** Record an error and move to ERROR (used when a host gives up on its own). */
  protected fail(error: unknown): void {
    this.#lastError = errorText(error)
    this.#set('ERROR')
  }

  /** Remember the last error without changing state (a message failed, the host goes on). */
  protected noteError(error: unknown): void {
    this.#lastError = errorText(error)
  }

  /** Acquire resources and begin work. */
  protected abstract onStart(): Promise<void>
  /** Finish or hand back work and release resources. */
  protected abstract onStop(): Promise<void>
  /** Stop taking new work (default: nothing). */
  protected onPause(): Promise<void> {
    return Promise.resolve()
  }
  /** Take new work again (default: nothing). */
  protected onResume(): Promise<void> {
    return Promise.resolve()
  }

  #set(state: HostState): void {
    this.#state = state
    this.logger.debug({ state }, 'host state')
    this.onStateChange?.(this, state)
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn)
    this.#chain = next.catch(() => undefined)
    return next
  }
}

/** The text of an error, for logs and the store. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}
