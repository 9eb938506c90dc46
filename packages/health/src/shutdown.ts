/**
 * Graceful shutdown in four phases, each logged:
 * 1. stop accepting: readiness flips to false and every registered listener stops accepting new
 *    connections (in-flight ones finish);
 * 2. drain: registered drains run concurrently, bounded by `drainTimeout`;
 * 3. stop hosts, in reverse order of registration (services registered last stop first);
 * 4. run handlers (close the store, the WAL, the queue client...), in registration order.
 * Past `timeout` the process exits non-zero and the log names every step that did not finish.
 * A second SIGTERM/SIGINT exits at once: what was acknowledged is already in the write-ahead log.
 */
import { HealthError } from './errors.js'
import type { HealthRegistry } from './registry.js'

/** The subset of a pino logger this module uses. */
export interface ShutdownLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** Something stoppable that shutdown stops in phase 3. */
export interface StoppableHost {
  readonly name: string
  stop(): Promise<void> | void
}

/** Options of {@link GracefulShutdown}; durations in seconds. */
export interface GracefulShutdownOptions {
  /** Whole shutdown limit in seconds; default 30. */
  timeout?: number
  /** Drain phase limit in seconds; default 10. */
  drainTimeout?: number
  /** Readiness is flipped to false on this registry as the first step. */
  health?: HealthRegistry
  /** Where progress is logged; default: JSON lines on stderr. */
  logger?: ShutdownLogger
  /** How to exit the process; default `process.exit`. Replaceable in tests. */
  exit?: (code: number) => void
}

/** How a shutdown ended. */
export interface ShutdownResult {
  reason: string
  ok: boolean
  timedOut: boolean
  /** Steps that threw (name and message). */
  failed: Array<{ step: string; error: string }>
  /**
   * Every step that had not finished when the timeout struck, in the order shutdown runs them:
   * those still running and those never started (`phase:name`, e.g. `host:EPR-Out`).
   */
  unfinished: string[]
  /** The subset of `unfinished` that had started (was still running) when the timeout struck. */
  running: string[]
  durationMs: number
}

type Step = { name: string; run: () => Promise<void> | void }

const stderrLogger: ShutdownLogger = {
  info: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'info', ...obj, msg })}\n`),
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...obj, msg })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', ...obj, msg })}\n`),
}

/** Coordinates a graceful shutdown on SIGTERM/SIGINT or on demand. */
export class GracefulShutdown {
  readonly #timeoutMs: number
  readonly #drainTimeoutMs: number
  readonly #health: HealthRegistry | undefined
  readonly #log: ShutdownLogger
  readonly #exit: (code: number) => void
  readonly #listeners: Step[] = []
  readonly #drains: Step[] = []
  readonly #hosts: StoppableHost[] = []
  readonly #handlers: Step[] = []
  #started: Promise<ShutdownResult> | undefined
  #resolveStarted!: (reason: string) => void
  readonly #startedSignal: Promise<string>
  #signals: Array<[NodeJS.Signals, () => void]> = []

  constructor(options: GracefulShutdownOptions = {}) {
    const timeout = options.timeout ?? 30
    const drainTimeout = options.drainTimeout ?? 10
    if (!(timeout > 0) || !(drainTimeout >= 0)) {
      throw new HealthError(
        'HEALTH_INVALID_ARGUMENT',
        `shutdown timeout must be > 0 and drainTimeout >= 0 (seconds), got ${timeout} and ${drainTimeout}`,
      )
    }
    this.#timeoutMs = timeout * 1000
    this.#drainTimeoutMs = drainTimeout * 1000
    this.#health = options.health
    this.#log = options.logger ?? stderrLogger
    this.#exit = options.exit ?? ((code) => process.exit(code))
    this.#startedSignal = new Promise((resolve) => (this.#resolveStarted = resolve))
  }

  /** Phase 1: something that must stop accepting new work (an MLLP or HTTP listener). */
  registerListener(name: string, stopAccepting: () => Promise<void> | void): void {
    this.#listeners.push({ name, run: stopAccepting })
  }

  /** Phase 2: something to drain (a queue), bounded by `drainTimeout`. */
  registerDrain(name: string, drain: () => Promise<void> | void): void {
    this.#drains.push({ name, run: drain })
  }

  /** Phase 3: a host, stopped in reverse order of registration. */
  registerHost(host: StoppableHost): void {
    this.#hosts.push(host)
  }

  /** Phase 4: a final handler (close files, clients), run in registration order. */
  registerHandler(name: string, handler: () => Promise<void> | void): void {
    this.#handlers.push({ name, run: handler })
  }

  /** Whether a shutdown has begun. */
  get shuttingDown(): boolean {
    return this.#started !== undefined
  }

  /**
   * Shut down on SIGTERM and SIGINT, then exit 0 (or 1 if a step failed or timed out). A second
   * signal exits 1 at once.
   */
  installSignalHandlers(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): void {
    for (const signal of signals) {
      const handler = (): void => {
        if (this.#started) {
          this.#log.warn({ signal }, 'second signal during shutdown: exiting now')
          this.#exit(1)
          return
        }
        void this.shutdown(signal).then((r) => this.#exit(r.ok ? 0 : 1))
      }
      process.on(signal, handler)
      this.#signals.push([signal, handler])
    }
  }

  /** Remove the signal handlers installed by {@link installSignalHandlers}. */
  removeSignalHandlers(): void {
    for (const [signal, handler] of this.#signals) process.off(signal, handler)
    this.#signals = []
  }

  /** Resolves with the reason when a shutdown begins. */
  wait(): Promise<string> {
    return this.#startedSignal
  }

  /** Resolves when the shutdown has finished (begun by a signal or by `shutdown`). */
  async waitComplete(): Promise<ShutdownResult> {
    await this.#startedSignal
    return this.#started as Promise<ShutdownResult>
  }

  /** Begin the shutdown (idempotent: later calls return the same result). */
  shutdown(reason = 'requested'): Promise<ShutdownResult> {
    this.#started ??= this.#run(reason)
    this.#resolveStarted(reason)
    return this.#started
  }

  async #run(reason: string): Promise<ShutdownResult> {
    const t0 = performance.now()
    const failed: ShutdownResult['failed'] = []
    // Every step of this shutdown, in the order they run, so that a timeout can name those never
    // started as well as those still running. Hosts are snapshotted here, in stop order.
    const hosts = [...this.#hosts].reverse()
    type PlanEntry = { key: string; state: 'pending' | 'running' | 'done' }
    const plan: PlanEntry[] = [
      ...this.#listeners.map((s) => `listener:${s.name}`),
      ...this.#drains.map((s) => `drain:${s.name}`),
      ...hosts.map((h) => `host:${h.name}`),
      ...this.#handlers.map((s) => `handler:${s.name}`),
    ].map((key): PlanEntry => ({ key, state: 'pending' }))
    const running = new Set<string>()
    const step = async (phase: string, s: Step): Promise<void> => {
      const key = `${phase}:${s.name}`
      // The first pending entry of this key (names may repeat within a phase); a step registered
      // after the shutdown began is added as it starts.
      let entry = plan.find((p) => p.key === key && p.state === 'pending')
      if (!entry) plan.push((entry = { key, state: 'pending' }))
      entry.state = 'running'
      running.add(key)
      try {
        await s.run()
      } catch (e) {
        failed.push({ step: key, error: e instanceof Error ? e.message : String(e) })
        this.#log.error(
          { step: key, err: e instanceof Error ? e.message : String(e) },
          'shutdown step failed',
        )
      } finally {
        running.delete(key)
        entry.state = 'done'
      }
    }
    this.#log.info({ reason }, 'shutdown: stop accepting, readiness false')
    this.#health?.markShuttingDown()

    const phases = async (): Promise<void> => {
      await Promise.all(this.#listeners.map((s) => step('listener', s)))
      this.#log.info(
        { drains: this.#drains.length, drainTimeoutMs: this.#drainTimeoutMs },
        'shutdown: draining',
      )
      let drainTimer: NodeJS.Timeout | undefined
      const drained = Promise.all(this.#drains.map((s) => step('drain', s)))
      const drainLimit = new Promise<'timeout'>(
        (r) => (drainTimer = setTimeout(() => r('timeout'), this.#drainTimeoutMs)),
      )
      const outcome = await Promise.race([drained.then(() => 'done' as const), drainLimit])
      clearTimeout(drainTimer)
      if (outcome === 'timeout') {
        const left = [...running].filter((k) => k.startsWith('drain:'))
        this.#log.warn(
          { unfinished: left },
          'shutdown: drain timeout reached, stopping hosts with work queued',
        )
      }
      for (const host of hosts) {
        await step('host', { name: host.name, run: () => host.stop() })
      }
      this.#log.info({}, 'shutdown: hosts stopped, running handlers')
      for (const h of this.#handlers) await step('handler', h)
    }

    let timer: NodeJS.Timeout | undefined
    const limit = new Promise<'timeout'>(
      (r) => (timer = setTimeout(() => r('timeout'), this.#timeoutMs)),
    )
    const outcome = await Promise.race([phases().then(() => 'done' as const), limit])
    clearTimeout(timer)
    const timedOut = outcome === 'timeout'
    const unfinished = timedOut ? plan.filter((p) => p.state !== 'done').map((p) => p.key) : []
    const stillRunning = timedOut ? plan.filter((p) => p.state === 'running').map((p) => p.key) : []
    const result: ShutdownResult = {
      reason,
      ok: !timedOut && failed.length === 0,
      timedOut,
      failed,
      unfinished,
      running: stillRunning,
      durationMs: performance.now() - t0,
    }
    if (timedOut) {
      this.#log.error(
        {
          unfinished,
          running: stillRunning,
          notStarted: unfinished.filter((k) => !stillRunning.includes(k)),
          timeoutMs: this.#timeoutMs,
        },
        'shutdown timed out; these steps did not finish',
      )
    } else {
      this.#log.info(
        { durationMs: Math.round(result.durationMs), failed: failed.length },
        'shutdown complete',
      )
    }
    return result
  }
}
