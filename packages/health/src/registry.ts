/**
 * The health registry: named checks, each critical or not, each with a time limit.
 *
 * - `checkAll()` runs every check concurrently: any failing critical check makes the whole
 *   UNHEALTHY, a failing non-critical one DEGRADED. A check that times out or throws has failed.
 * - `checkLiveness()` says only whether the process is alive and its event loop turns. It never
 *   depends on Redis or a receiver: a dependency outage must not make Kubernetes restart pods.
 * - `checkReadiness()` is false while starting or shutting down, and while a critical check fails,
 *   so traffic goes elsewhere.
 */
import { HealthError } from './errors.js'
import { HealthStatus } from './status.js'

/** What a check may return: a boolean, a status, a detailed result, or nothing (healthy). */
export type CheckOutcome =
  | boolean
  | HealthStatus
  | { status: HealthStatus; message?: string; details?: Record<string, unknown> }
  | undefined
  | void

/** A health check. Throwing or rejecting counts as UNHEALTHY with the error's message. */
export type HealthCheck = () => CheckOutcome | Promise<CheckOutcome>

/** Options of one check. */
export interface CheckOptions {
  /** A critical failure makes the whole UNHEALTHY (and not ready); default true. */
  critical?: boolean
  /** Time limit in milliseconds; past it the check has failed. Default 5000. */
  timeoutMs?: number
}

/** The result of one check. */
export interface CheckResult {
  name: string
  status: HealthStatus
  critical: boolean
  durationMs: number
  message?: string
  details?: Record<string, unknown>
}

/** The result of a whole health report. */
export interface HealthReport {
  status: HealthStatus
  /** ISO time of the report. */
  timestamp: string
  checks: CheckResult[]
}

/** Lifecycle phase that readiness depends on. */
export type Phase = 'starting' | 'running' | 'shutting-down'

interface Registered {
  check: HealthCheck
  critical: boolean
  timeoutMs: number
}

function normalise(outcome: CheckOutcome): Pick<CheckResult, 'status' | 'message' | 'details'> {
  if (outcome === undefined || outcome === true) return { status: HealthStatus.HEALTHY }
  if (outcome === false) return { status: HealthStatus.UNHEALTHY, message: 'check returned false' }
  if (typeof outcome === 'string') return { status: outcome }
  return outcome
}

/** A set of named health checks plus the process's lifecycle phase. */
export class HealthRegistry {
  readonly #checks = new Map<string, Registered>()
  #phase: Phase = 'starting'

  /** Add a check. Names are unique: adding one twice is an error (use `removeCheck` first). */
  addCheck(name: string, check: HealthCheck, options: CheckOptions = {}): void {
    if (this.#checks.has(name)) {
      throw new HealthError(
        'HEALTH_DUPLICATE_CHECK',
        `A health check named "${name}" already exists; remove it first.`,
      )
    }
    const timeoutMs = options.timeoutMs ?? 5000
    if (!(timeoutMs > 0)) {
      throw new HealthError(
        'HEALTH_INVALID_ARGUMENT',
        `timeoutMs of check "${name}" must be > 0, got ${timeoutMs}`,
      )
    }
    this.#checks.set(name, { check, critical: options.critical ?? true, timeoutMs })
  }

  /** Remove a check; returns whether it existed. */
  removeCheck(name: string): boolean {
    return this.#checks.delete(name)
  }

  /** Names of the registered checks. */
  get checkNames(): string[] {
    return [...this.#checks.keys()]
  }

  /** The lifecycle phase. */
  get phase(): Phase {
    return this.#phase
  }

  /** Mark the process as starting (not ready). */
  markStarting(): void {
    this.#phase = 'starting'
  }

  /** Mark the process as started (ready when no critical check fails). */
  markRunning(): void {
    this.#phase = 'running'
  }

  /** Mark the process as shutting down: readiness goes false at once and stays false. */
  markShuttingDown(): void {
    this.#phase = 'shutting-down'
  }

  /** `true`: `markRunning()`; `false`: `markStarting()` unless already shutting down. */
  setReady(ready: boolean): void {
    if (this.#phase === 'shutting-down') return
    this.#phase = ready ? 'running' : 'starting'
  }

  async #run(name: string, r: Registered): Promise<CheckResult> {
    const started = performance.now()
    let timer: NodeJS.Timeout | undefined
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new HealthError('HEALTH_CHECK_TIMEOUT', `timed out after ${r.timeoutMs} ms`)),
          r.timeoutMs,
        )
      })
      const outcome = await Promise.race([Promise.resolve().then(r.check), timeout])
      return {
        name,
        critical: r.critical,
        durationMs: performance.now() - started,
        ...normalise(outcome),
      }
    } catch (e) {
      return {
        name,
        critical: r.critical,
        durationMs: performance.now() - started,
        status: HealthStatus.UNHEALTHY,
        message: e instanceof Error ? e.message : String(e),
      }
    } finally {
      clearTimeout(timer)
    }
  }

  /** Run every check and combine them. */
  async checkAll(): Promise<HealthReport> {
    const checks = await Promise.all([...this.#checks].map(([name, r]) => this.#run(name, r)))
    let status: HealthStatus = HealthStatus.HEALTHY
    for (const c of checks) {
      if (c.status === HealthStatus.HEALTHY) continue
      const failed = c.status === HealthStatus.UNHEALTHY || c.status === HealthStatus.UNKNOWN
      if (failed && c.critical) status = HealthStatus.UNHEALTHY
      else if (status === HealthStatus.HEALTHY) status = HealthStatus.DEGRADED
    }
    return { status, timestamp: new Date().toISOString(), checks }
  }

  /** Whether the process is alive: its event loop turns within `timeoutMs` (default 1000). */
  async checkLiveness(timeoutMs = 1000): Promise<HealthReport> {
    const started = performance.now()
    await new Promise<void>((resolve) => setImmediate(resolve))
    const lag = performance.now() - started
    const status = lag < timeoutMs ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY
    return {
      status,
      timestamp: new Date().toISOString(),
      checks: [{ name: 'event-loop', status, critical: true, durationMs: lag }],
    }
  }

  /** Whether to send traffic here: running, and no critical check failing. */
  async checkReadiness(): Promise<HealthReport & { ready: boolean; phase: Phase }> {
    if (this.#phase !== 'running') {
      return {
        ready: false,
        phase: this.#phase,
        status: HealthStatus.UNHEALTHY,
        timestamp: new Date().toISOString(),
        checks: [],
      }
    }
    const report = await this.checkAll()
    return { ...report, ready: report.status !== HealthStatus.UNHEALTHY, phase: this.#phase }
  }
}
