/**
 * The LI Engine metric set on a prom-client registry. The names and labels are a contract with
 * dashboards and alert rules (deploy/kubernetes): do not rename them.
 *
 * Gauges that describe live state (queue depth, oldest age, WAL pending) are read at scrape time
 * through collect callbacks (`trackQueue`, `trackWal`), so a scrape never shows a stale push.
 * A source that throws or rejects (Redis down: `QUEUE_UNAVAILABLE`) costs only its own series:
 * they are left out of that scrape and a warning is logged; every other metric is still served.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { MetricsError } from './errors.js'
import { LabelLimiter, MESSAGE_TYPE_SHAPE, NAME_SHAPE } from './labels.js'

/**
 * Seconds: HL7 work spans sub-millisecond in-memory hops to tens of seconds when a receiver is slow
 * to ACK (IRIS's default ResponseTimeout is 30 s).
 */
export const PROCESSING_SECONDS_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]

/** Bytes: from a 100 B ACK to the 16 MiB MLLP frame limit. */
export const MESSAGE_SIZE_BUCKETS: readonly number[] = [
  100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
  4_000_000, 16_777_216,
]

/** Live figures of one host's queue, read at scrape time. */
export interface QueueSnapshot {
  depth: number
  oldestAgeMs: number
}

/** Where a tracked queue's figures come from. */
export type QueueSource = () => QueueSnapshot | Promise<QueueSnapshot>

/** Space on the file system that holds the data directory, read at scrape time. */
export interface DataVolumeSnapshot {
  /** Bytes an unprivileged process may still write (statfs `bavail` x block size). */
  freeBytes: number
  /** Size of the file system in bytes. */
  sizeBytes: number
}

/** Where the data volume's figures come from (`fs.promises.statfs` of the data directory). */
export type DataVolumeSource = () => DataVolumeSnapshot | Promise<DataVolumeSnapshot>

/** The subset of a pino logger that {@link LiMetrics} uses. */
export interface MetricsLogger {
  warn(obj: object, msg?: string): void
}

const stderrLogger: MetricsLogger = {
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...obj, msg })}\n`),
}

/** What a failed read of a live source is logged with (never message content). */
function errorFields(e: unknown): { err: string; code?: string } {
  if (!(e instanceof Error)) return { err: String(e) }
  const code = (e as { code?: unknown }).code
  return typeof code === 'string' ? { err: e.message, code } : { err: e.message }
}

/** Options of {@link LiMetrics}. */
export interface LiMetricsOptions {
  /** Registry to register on; a new one by default (never the global one unless you pass it). */
  registry?: Registry
  /** Register prom-client's default process metrics (CPU, memory, event loop lag). Default true. */
  collectDefaultMetrics?: boolean
  /** Most distinct values per message-derived label before `other`. Default 200. */
  maxLabelValues?: number
  /**
   * Where a failed read of a tracked source (`trackQueue`, `trackWal`) is reported, once per
   * source and scrape; default: JSON lines on stderr. Pass the engine's pino logger.
   */
  logger?: MetricsLogger
}

/** The engine's metrics: counters, histograms and gauges with bounded labels. */
export class LiMetrics {
  /** The registry that holds every metric; serve it with `metricsHandler`. */
  readonly registry: Registry
  readonly #received: Counter<'host' | 'message_type'>
  readonly #sent: Counter<'host' | 'target'>
  readonly #failed: Counter<'host' | 'error_type'>
  readonly #processing: Histogram<'host'>
  readonly #size: Histogram<'host' | 'direction'>
  readonly #connections: Gauge<'host' | 'adapter'>
  readonly #queueDepth: Gauge<'host'>
  readonly #queueOldest: Gauge<'host'>
  readonly #hostStatus: Gauge<'host' | 'type'>
  readonly #walPending: Gauge
  readonly #purgeRuns: Counter<'result'>
  readonly #purged: Counter
  readonly #purgeSeconds: Histogram
  #dataVolume: DataVolumeSource | undefined
  #lastPurgeSuccess: number | undefined
  readonly #queues = new Map<string, QueueSource>()
  #wal: (() => number | Promise<number>) | undefined
  readonly #messageTypes: LabelLimiter
  readonly #errorTypes: LabelLimiter
  readonly #names: LabelLimiter

  constructor(options: LiMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry()
    const max = options.maxLabelValues ?? 200
    if (!Number.isInteger(max) || max < 1) {
      throw new MetricsError(
        'METRICS_INVALID_ARGUMENT',
        `maxLabelValues must be a positive integer, got ${String(max)}`,
      )
    }
    this.#messageTypes = new LabelLimiter(max, MESSAGE_TYPE_SHAPE)
    this.#errorTypes = new LabelLimiter(max, NAME_SHAPE)
    this.#names = new LabelLimiter(Math.max(max, 1000), NAME_SHAPE, 128)
    const registers = [this.registry]
    this.#received = new Counter({
      name: 'li_messages_received_total',
      help: 'Messages received by a host, by HL7 message type.',
      labelNames: ['host', 'message_type'],
      registers,
    })
    this.#sent = new Counter({
      name: 'li_messages_sent_total',
      help: 'Messages a host handed on to a target (queue or remote peer).',
      labelNames: ['host', 'target'],
      registers,
    })
    this.#failed = new Counter({
      name: 'li_messages_failed_total',
      help: 'Messages that failed in a host, by error type.',
      labelNames: ['host', 'error_type'],
      registers,
    })
    this.#processing = new Histogram({
      name: 'li_message_processing_seconds',
      help: 'Time a host spent on one message.',
      labelNames: ['host'],
      buckets: [...PROCESSING_SECONDS_BUCKETS],
      registers,
    })
    this.#size = new Histogram({
      name: 'li_message_size_bytes',
      help: 'Size of messages, by direction (in or out).',
      labelNames: ['host', 'direction'],
      buckets: [...MESSAGE_SIZE_BUCKETS],
      registers,
    })
    this.#connections = new Gauge({
      name: 'li_connections_active',
      help: 'Open connections of a host, by adapter.',
      labelNames: ['host', 'adapter'],
      registers,
    })
    const log = options.logger ?? stderrLogger
    const queues = this.#queues
    const names = this.#names
    // Both queue gauges collect concurrently within one scrape (prom-client collects every metric
    // at once), so they share one read of each source: one call per source and scrape, one warning
    // per failing source. `null` marks a source that failed: its series are left out.
    type QueueReading = [host: string, snapshot: QueueSnapshot | null]
    let reading: Promise<QueueReading[]> | undefined
    const readQueues = (): Promise<QueueReading[]> => {
      reading ??= Promise.all(
        [...queues].map(async ([host, source]): Promise<QueueReading> => {
          try {
            return [names.value(host), await source()]
          } catch (e) {
            log.warn(
              {
                host,
                metrics: ['li_queue_depth', 'li_queue_oldest_age_seconds'],
                ...errorFields(e),
              },
              'metrics: queue source failed; its series are left out of this scrape',
            )
            return [names.value(host), null]
          }
        }),
      ).finally(() => (reading = undefined))
      return reading
    }
    this.#queueDepth = new Gauge({
      name: 'li_queue_depth',
      help: 'Messages waiting in a host queue (ready or delayed; not in flight).',
      labelNames: ['host'],
      registers,
      async collect() {
        for (const [host, snap] of await readQueues()) {
          if (snap) this.set({ host }, snap.depth)
          else this.remove({ host })
        }
      },
    })
    this.#queueOldest = new Gauge({
      name: 'li_queue_oldest_age_seconds',
      help: 'Age of the oldest message of a host queue not yet acked or dead-lettered (waiting or in flight).',
      labelNames: ['host'],
      registers,
      async collect() {
        for (const [host, snap] of await readQueues()) {
          if (snap) this.set({ host }, snap.oldestAgeMs / 1000)
          else this.remove({ host })
        }
      },
    })
    this.#hostStatus = new Gauge({
      name: 'li_host_status',
      help: 'Whether a host is running (1) or not (0), by host type.',
      labelNames: ['host', 'type'],
      registers,
    })
    const walSource = (): (() => number | Promise<number>) | undefined => this.#wal
    this.#walPending = new Gauge({
      name: 'li_wal_pending',
      help: 'Write-ahead log entries appended and not yet completed.',
      registers,
      async collect() {
        const source = walSource()
        if (!source) return
        try {
          this.set(await source())
        } catch (e) {
          this.remove({})
          log.warn(
            { metrics: ['li_wal_pending'], ...errorFields(e) },
            'metrics: WAL source failed; li_wal_pending is left out of this scrape',
          )
        }
      },
    })
    this.#purgeRuns = new Counter({
      name: 'li_store_purge_runs_total',
      help: 'Retention purges of the message store, by result (ok or failed).',
      labelNames: ['result'],
      registers,
    })
    this.#purged = new Counter({
      name: 'li_store_purged_messages_total',
      help: 'Messages (with their history and trace) removed by retention purges.',
      registers,
    })
    const lastSuccess = (): number | undefined => this.#lastPurgeSuccess
    new Gauge({
      name: 'li_store_purge_last_success_timestamp_seconds',
      help: 'When the last retention purge finished without error (Unix seconds); absent before the first.',
      registers,
      collect() {
        // Absent, not 0, before the first success: 0 would read as "last purged in 1970".
        const at = lastSuccess()
        if (at === undefined) this.remove({})
        else this.set(at)
      },
    })
    this.#purgeSeconds = new Histogram({
      name: 'li_store_purge_duration_seconds',
      help: 'How long one retention purge took.',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    })
    // Both volume gauges collect in the same scrape: one statfs per scrape, shared.
    let volume: Promise<DataVolumeSnapshot | null> | undefined
    const readVolume = (): Promise<DataVolumeSnapshot | null> | undefined => {
      const source = this.#dataVolume
      if (source === undefined) return undefined
      volume ??= Promise.resolve()
        .then(source)
        .catch((e: unknown) => {
          log.warn(
            {
              metrics: ['li_data_volume_free_bytes', 'li_data_volume_size_bytes'],
              ...errorFields(e),
            },
            'metrics: data volume source failed; its series are left out of this scrape',
          )
          return null
        })
        .finally(() => (volume = undefined))
      return volume
    }
    const volumeGauge = (
      name: string,
      help: string,
      pick: (v: DataVolumeSnapshot) => number,
    ): Gauge =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          // Absent, not 0, while nothing is tracked or the read failed: 0 free bytes would alert.
          const reading = readVolume()
          if (reading === undefined) {
            this.remove({})
            return
          }
          const v = await reading
          if (v === null) this.remove({})
          else this.set(pick(v))
        },
      })
    volumeGauge(
      'li_data_volume_free_bytes',
      'Bytes still free on the file system of the data directory (WAL, message store, queue spill).',
      (v) => v.freeBytes,
    )
    volumeGauge(
      'li_data_volume_size_bytes',
      'Size of the file system of the data directory, in bytes.',
      (v) => v.sizeBytes,
    )
    if (options.collectDefaultMetrics ?? true) collectDefaultMetrics({ register: this.registry })
  }

  /** Count a message received by `host`. */
  recordMessageReceived(host: string, messageType: string | undefined): void {
    this.#received.inc({
      host: this.#names.value(host),
      message_type: this.#messageTypes.value(messageType),
    })
  }

  /** Count a message that `host` handed on to `target`. */
  recordMessageSent(host: string, target: string): void {
    this.#sent.inc({ host: this.#names.value(host), target: this.#names.value(target) })
  }

  /** Count a failure in `host`; `errorType` is an error code or class name, never message text. */
  recordMessageFailed(host: string, errorType: string): void {
    this.#failed.inc({
      host: this.#names.value(host),
      error_type: this.#errorTypes.value(errorType),
    })
  }

  /** Observe the time `host` spent on one message, in seconds. */
  recordProcessingTime(host: string, seconds: number): void {
    this.#processing.observe({ host: this.#names.value(host) }, seconds)
  }

  /** Observe a message size in bytes, `in` (received) or `out` (sent). */
  recordMessageSize(host: string, direction: 'in' | 'out', bytes: number): void {
    this.#size.observe({ host: this.#names.value(host), direction }, bytes)
  }

  /** Set the open connections of `host` through `adapter` (e.g. `mllp`, `http`). */
  setConnectionsActive(host: string, adapter: string, count: number): void {
    this.#connections.set(
      { host: this.#names.value(host), adapter: this.#names.value(adapter) },
      count,
    )
  }

  /** Set a queue depth by push (prefer `trackQueue`, which reads it at scrape time). */
  setQueueDepth(host: string, depth: number): void {
    this.#queueDepth.set({ host: this.#names.value(host) }, depth)
  }

  /** Set a queue's oldest age by push, in seconds (prefer `trackQueue`). */
  setQueueOldestAge(host: string, seconds: number): void {
    this.#queueOldest.set({ host: this.#names.value(host) }, seconds)
  }

  /** Set whether `host` (of `type`: service, process, operation) is running. */
  setHostStatus(host: string, type: string, running: boolean): void {
    this.#hostStatus.set(
      { host: this.#names.value(host), type: this.#names.value(type) },
      running ? 1 : 0,
    )
  }

  /**
   * Drop `host`'s status series (of `type`), for an item removed from the running production:
   * a series left at 0 would keep an alert on stopped hosts firing for an item that is gone.
   */
  forgetHost(host: string, type: string): void {
    this.#hostStatus.remove({ host: this.#names.value(host), type: this.#names.value(type) })
  }

  /** Set the WAL pending count by push (prefer `trackWal`). */
  setWalPending(count: number): void {
    this.#walPending.set(count)
  }

  /** Read `host`'s queue depth and oldest age from `source` at every scrape. */
  trackQueue(host: string, source: QueueSource): void {
    this.#queues.set(host, source)
  }

  /** Stop reading `host`'s queue, and drop its series. */
  untrackQueue(host: string): void {
    this.#queues.delete(host)
    const label = { host: this.#names.value(host) }
    this.#queueDepth.remove(label)
    this.#queueOldest.remove(label)
  }

  /** Read the WAL pending count from `source` at every scrape. */
  trackWal(source: () => number | Promise<number>): void {
    this.#wal = source
  }

  /**
   * Count one retention purge of the message store: `ok` with the messages it removed, or
   * `failed` (then `deleted` is what it removed before the error). Sets the last-success time.
   */
  recordPurge(result: 'ok' | 'failed', deleted: number, seconds: number): void {
    this.#purgeRuns.inc({ result })
    if (deleted > 0) this.#purged.inc(deleted)
    this.#purgeSeconds.observe(seconds)
    if (result === 'ok') this.#lastPurgeSuccess = Date.now() / 1000
  }

  /** Read the data volume's free and total bytes from `source` at every scrape. */
  trackDataVolume(source: DataVolumeSource): void {
    this.#dataVolume = source
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<string> {
    return this.registry.metrics()
  }

  /** The content type of {@link render}'s output. */
  get contentType(): string {
    return this.registry.contentType
  }
}

let defaultMetrics: LiMetrics | undefined

/** The process-wide default instance used by the free helper functions (created on first use). */
export function getDefaultMetrics(): LiMetrics {
  defaultMetrics ??= new LiMetrics()
  return defaultMetrics
}

/** `getDefaultMetrics().recordMessageReceived(...)`. */
export function recordMessageReceived(host: string, messageType: string | undefined): void {
  getDefaultMetrics().recordMessageReceived(host, messageType)
}
/** `getDefaultMetrics().recordMessageSent(...)`. */
export function recordMessageSent(host: string, target: string): void {
  getDefaultMetrics().recordMessageSent(host, target)
}
/** `getDefaultMetrics().recordMessageFailed(...)`. */
export function recordMessageFailed(host: string, errorType: string): void {
  getDefaultMetrics().recordMessageFailed(host, errorType)
}
/** `getDefaultMetrics().recordProcessingTime(...)`. */
export function recordProcessingTime(host: string, seconds: number): void {
  getDefaultMetrics().recordProcessingTime(host, seconds)
}
/** `getDefaultMetrics().recordMessageSize(...)`. */
export function recordMessageSize(host: string, direction: 'in' | 'out', bytes: number): void {
  getDefaultMetrics().recordMessageSize(host, direction, bytes)
}
/** `getDefaultMetrics().setConnectionsActive(...)`. */
export function setConnectionsActive(host: string, adapter: string, count: number): void {
  getDefaultMetrics().setConnectionsActive(host, adapter, count)
}
/** `getDefaultMetrics().setQueueDepth(...)`. */
export function setQueueDepth(host: string, depth: number): void {
  getDefaultMetrics().setQueueDepth(host, depth)
}
/** `getDefaultMetrics().setHostStatus(...)`. */
export function setHostStatus(host: string, type: string, running: boolean): void {
  getDefaultMetrics().setHostStatus(host, type, running)
}
/** `getDefaultMetrics().setWalPending(...)`. */
export function setWalPending(count: number): void {
  getDefaultMetrics().setWalPending(count)
}
