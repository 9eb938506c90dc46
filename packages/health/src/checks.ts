/** Ready-made checks for engine hosts and queues. */
import type { HealthCheck } from './registry.js'
import { HealthStatus } from './status.js'

/** What a host check needs to see of a host. */
export interface HostLike {
  readonly name: string
  /** CREATED, STARTING, RUNNING, PAUSED, STOPPING, STOPPED or ERROR. */
  readonly state: string
  /** A disabled host is expected to be stopped. Default true. */
  readonly enabled?: boolean
}

/**
 * A check for one host: RUNNING is healthy; a disabled host is healthy whatever its state;
 * ERROR is unhealthy; any other state of an enabled host (paused, stopped, starting) is degraded.
 */
export function createHostHealthCheck(host: HostLike): HealthCheck {
  return () => {
    const state = host.state
    if (host.enabled === false)
      return { status: HealthStatus.HEALTHY, message: `disabled (${state})` }
    if (state === 'RUNNING') return { status: HealthStatus.HEALTHY, message: state }
    if (state === 'ERROR')
      return { status: HealthStatus.UNHEALTHY, message: `host ${host.name} is in ERROR` }
    return { status: HealthStatus.DEGRADED, message: `host ${host.name} is ${state}` }
  }
}

/** What a queue check needs to read of a queue. */
export interface QueueLike {
  depth(queue: string): Promise<number> | number
  oldestAgeMs(queue: string): Promise<number> | number
}

/** Thresholds of a queue check (IRIS QueueCountAlert / QueueWaitAlert). */
export interface QueueCheckOptions {
  /** Past this many waiting messages the queue is DEGRADED. */
  maxDepth?: number
  /**
   * Past this age (ms) of the queue's oldest message the queue is DEGRADED. With `@li/queue` that
   * is the oldest message not yet acked, waiting or in flight, so a stuck consumer trips it too.
   */
  maxAgeMs?: number
}

/**
 * A check for one queue: DEGRADED past `maxDepth` or `maxAgeMs`, UNHEALTHY when it cannot be read
 * (Redis down: the check throws and the registry records it).
 */
export function createQueueHealthCheck(
  queue: QueueLike,
  name: string,
  options: QueueCheckOptions = {},
): HealthCheck {
  return async () => {
    const [depth, oldestAgeMs] = await Promise.all([queue.depth(name), queue.oldestAgeMs(name)])
    const details = { depth, oldestAgeMs }
    const problems: string[] = []
    if (options.maxDepth !== undefined && depth > options.maxDepth) {
      problems.push(`depth ${depth} > ${options.maxDepth}`)
    }
    if (options.maxAgeMs !== undefined && oldestAgeMs > options.maxAgeMs) {
      problems.push(`oldest message ${Math.round(oldestAgeMs)} ms > ${options.maxAgeMs} ms`)
    }
    if (problems.length > 0) {
      return {
        status: HealthStatus.DEGRADED,
        message: `queue ${name}: ${problems.join(', ')}`,
        details,
      }
    }
    return { status: HealthStatus.HEALTHY, details }
  }
}
