/**
 * `Engine`: loads a production, builds its hosts, wires them to the WAL, the message store, the
 * queues, metrics and health, and runs them.
 *
 * Data layout: `<dataDir>/wal` (write-ahead log), `<dataDir>/messages.db` (SQLite store). Queues
 * are in-process unless `redisUrl` is set. Start order: WAL recovery, store, queue; operations,
 * then processes; then every WAL entry left pending by the previous run is resumed; then services
 * (so nothing is accepted before its targets run). Stop is the reverse: services first, a bounded
 * drain, then processes and operations, then queue, store and WAL.
 */
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdir, statfs } from 'node:fs/promises'
import path from 'node:path'
import type { SecureContextOptions } from 'node:tls'
import {
  GracefulShutdown,
  HealthRegistry,
  HealthStatus,
  createHostHealthCheck,
  createQueueHealthCheck,
} from '@li/health'
import { LiMetrics } from '@li/metrics'
import { MessageQueue } from '@li/queue'
import { MessageStore } from '@li/store'
import { Wal } from '@li/wal'
import type { WalSyncMode } from '@li/wal'
import { DEFAULT_MAX_SIZE, parseMessage } from '@li/hl7'
import { pino } from 'pino'
import type { Logger } from 'pino'
import type {
  CompiledRules,
  CompiledTransform,
  HostKind,
  Production,
  ProductionItem,
} from '../production/types.js'
import { EngineError } from '../errors.js'
import { hostKindOf } from '../production/model.js'
import { registerBuiltinHosts } from './builtin-hosts.js'
import { Host, errorText } from './host.js'
import type { HostState, HostStatus } from './host.js'
import type { EngineAlert, HostContext, ReceivedMessage, SharedAccepted } from './host-context.js'
import { defaultHostRegistry } from './host-registry.js'
import type { HostRegistry } from './host-registry.js'
import { MessagePath, newSessionId } from './message-path.js'
import type { Accepted } from './message-path.js'
import { defaultProductionTools } from './production-tools.js'
import type { ProductionTools } from './production-tools.js'
import type { ProductionSource } from '../iris/loader.js'
import type { QueuePort } from './ports.js'
import { QueueHost } from './queue-host.js'
import { OperationHost } from './operation-host.js'
import type { HeldMessage } from './operation-host.js'
import { QueueView } from './queue-view.js'
import type { AbortAllResult, AbortResult, QueueContents } from './queue-view.js'
import { RoutingEngineHost } from '../hosts/routing-engine.js'
import { BplProcessHost } from '../hosts/bpl-process.js'
import { CallReplies, SHARED_REPLY_TTL_MS } from './call-replies.js'
import { compileGeneralRule, generalRuleKind } from '../iris/rules.js'
import type { CompiledGeneralRule } from '../iris/rules.js'
import { compileProcess } from '../iris/bpl.js'
import type { ProcessDefinition } from '../iris/bpl.js'
import { nextScheduleEvent, parseSchedule, scheduleStateAt, systemClock } from './schedule.js'
import type { Schedule, ScheduleClock } from './schedule.js'
import { ItemSettings } from './settings.js'
import {
  compileSearchTable,
  normaliseSearchValue,
  searchTableItems,
  type CompiledSearchTable,
} from '../iris/search-table.js'
import {
  DEFAULT_PURGE_INTERVAL,
  DEFAULT_RETENTION_DAYS,
  Retention,
  checkRetentionSettings,
} from './retention.js'
import type { PurgeRequest, RetentionRun, RetentionStatus } from './retention.js'

/** The config name IRIS routes alerts to when a production has an item of that name. */
export const ALERT_ITEM = 'Ens.Alert'

/** The queue namespace whose Redis markers carry synchronous call replies between engines. */
const CALL_REPLIES = '_call-replies'

/** The IRIS message class alerts travel as. */
export const ALERT_REQUEST_CLASS = 'Ens.AlertRequest'

/**
 * An alert as IRIS's `Ens.AlertRequest`: SourceConfigName, AlertText, AlertTime (an
 * `Ens.DataType.UTC` value, `YYYY-MM-DD HH:MM:SS.sss` in UTC), SessionId (the session of the
 * message the alert is about, '' when none) and AlertDestination ('': no LI host sets one).
 */
export function alertRequest(alert: EngineAlert): Record<string, string> {
  return {
    SourceConfigName: alert.host,
    AlertText: alert.text,
    AlertTime: alert.time.toISOString().replace('T', ' ').replace('Z', ''),
    SessionId: alert.sessionId ?? '',
    AlertDestination: '',
  }
}

/** TLS material of one IRIS SSLConfig name: file paths, read when a host starts. */
export interface EngineTlsConfig {
  /** PEM private key file. */
  key?: string
  /** PEM certificate (chain) file. */
  cert?: string
  /** PEM CA file(s) to verify the peer. */
  ca?: string | string[]
  passphrase?: string
  /** Servers: ask clients for a certificate (mutual TLS). */
  requestCert?: boolean
  /** Reject peers whose certificate does not verify; default true. */
  rejectUnauthorized?: boolean
  /** Clients: the name to verify the server certificate against. */
  servername?: string
}

/**
 * One entry of the engine's `credentials` config: what an item's Credentials setting names (IRIS
 * keeps these in its credentials store, which an export does not carry).
 */
export interface EngineCredentials {
  username: string
  password: string
}

/** Configuration of an Engine. Durations in seconds unless the name says ms. */
export interface EngineConfig {
  /** Data directory: WAL in `<dataDir>/wal`, store in `<dataDir>/messages.db`. */
  dataDir: string
  /** WAL durability (`fsync` default: an ACK means the message is on disk). */
  syncMode?: WalSyncMode
  /** Use the Redis queue (shared by several engines) instead of in-process queues. */
  redisUrl?: string
  /** Redis key prefix of the queues; default `li:queue`. */
  queuePrefix?: string
  /** Seconds a received queue message stays invisible; default 300 (Redis) or a year (memory). */
  queueVisibilityTimeout?: number
  /** Whole shutdown limit (waitForShutdown), seconds; default 30. */
  shutdownTimeout?: number
  /** How long stop() waits for in-flight messages to finish, seconds; default 10. */
  drainTimeout?: number
  /** Start items whose Enabled is false too. */
  startDisabledItems?: boolean
  /** Structured logger; default silent. */
  logger?: Logger
  /** TLS material by SSLConfig name. */
  tls?: Record<string, EngineTlsConfig>
  /** User names and passwords by Credentials name (the e-mail alert operation's SMTP login). */
  credentials?: Record<string, EngineCredentials>
  /** Host classes; default the shared registry with the built-in EnsLib hosts. */
  registry?: HostRegistry
  /** Metrics; default a new LiMetrics on its own registry. */
  metrics?: LiMetrics
  /** Health registry; default a new one. */
  health?: HealthRegistry
  /** Milliseconds a consumer waits on an empty queue between stop checks; default 250. */
  pollMs?: number
  /** How often QueueCountAlert/QueueWaitAlert are checked, ms; default 10 000. */
  alertIntervalMs?: number
  /** Seconds before an uncompleted WAL entry expires; default 0 (never: nothing is dropped). */
  walEntryTtl?: number
  /**
   * Run the SQLite message store in a worker thread (default true), so its commits do not hold
   * the event loop that serves the sockets; false keeps it on the main thread.
   */
  storeWorker?: boolean
  /**
   * In-process queues only: bytes of queued message bodies kept in memory, across all queues;
   * beyond it bodies wait in spill files under `<dataDir>/queue-spill` (not durable: the WAL
   * is). Default 64 MiB. Together with `localEnvelopeBytes` and the WAL, which keeps pending
   * payloads on disk, a backlog behind a stopped receiver costs about 0.5 KB of memory per
   * message instead of every body.
   */
  queueMemoryBytes?: number
  /**
   * In-process queues only: bytes of bodies also held as objects for the consumer in this
   * process (saves decoding the queue payload); default 32 MiB. Past it consumers decode.
   */
  localEnvelopeBytes?: number
  /** Replace the production loader and rule/transform compilers. */
  tools?: Partial<ProductionTools>
  /**
   * Named schedule specs for item `Schedule="@Name"` values (IRIS keeps them in its Schedule
   * Specs table, outside the production export), e.g. `{ Office: 'START:WEEK-*-T08:00:00,...' }`.
   */
  schedules?: Record<string, string>
  /** The clock item schedules run on; default the system clock (tests pass a manual one). */
  clock?: ScheduleClock
  /**
   * Hand-offs that failed after their ACK (store or queue refused) and wait to be retried,
   * beyond which the `hand-off` health check is UNHEALTHY (not ready); default 1000.
   */
  handOffBacklogLimit?: number
  /**
   * Seconds hand-offs may keep failing before the `hand-off` health check is UNHEALTHY (not
   * ready), whatever the backlog; default 60. Below both limits it is DEGRADED (still ready).
   */
  handOffUnreadyAfter?: number
  /** Wait between hand-off retries, ms: `min` after progress, doubling up to `max`; 1000–5000. */
  handOffRetryMs?: { min: number; max: number }
  /**
   * Failed hand-offs waiting to be retried at which services stop accepting messages (they NAK
   * with an AR/CR system error, so senders resend later, and nothing unbounded piles up in
   * memory); default 10,000. Below it, services keep ACKing: the WAL holds the messages.
   */
  handOffRefuseAt?: number
  /**
   * Days a completed message (its body, history and trace) stays in the message store before a
   * scheduled purge removes it; only messages whose whole session is completed go (IRIS
   * KeepIntegrity). Default 30; 0 turns scheduled purges off (the store then grows until its
   * disk is full). See `purge()`.
   */
  retentionDays?: number
  /** Seconds between scheduled purges; default 3600 (the first runs a minute after start). */
  purgeInterval?: number
}

/** One item in `getStatus()`. */
export interface EngineItemStatus extends HostStatus {
  /** Messages waiting in the host's queue (routers and operations). */
  queueDepth?: number
  /** Age of the oldest message not yet completed (waiting or in flight), ms. */
  oldestQueuedAgeMs?: number
  /**
   * Operations: the messages this engine holds between retries (a receiver down, or rejecting a
   * message): queue id, attempts, since when and why. Empty when none is being retried.
   */
  retrying?: HeldMessage[]
}

/** The Engine's own state. */
export type EngineState = 'CREATED' | 'LOADED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED'

/** What `getStatus()` returns. */
export interface EngineStatus {
  production: string | undefined
  state: EngineState
  /** WAL entries not yet completed. */
  walPending: number
  /** Messages in the WAL whose hand-off (store record, enqueue) failed and is being retried. */
  handOffBacklog: number
  /** Messages whose branches are still running in this process. */
  inFlight: number
  /**
   * While `start()` resumes the WAL entries of the previous run: how many there are and how many
   * were handed off again so far (services start accepting once all were). Absent otherwise.
   */
  resuming?: { total: number; done: number }
  items: EngineItemStatus[]
  /** Message store retention: days kept, the next and the last purge. */
  retention: RetentionStatus
}

/** Events of the Engine. */
export interface EngineEvents {
  alert: [alert: EngineAlert]
  hostState: [info: { host: string; state: HostState }]
}

const KIND_RANK: Record<HostKind, number> = { operation: 0, process: 1, service: 2 }

/** WAL entries handed off at once while resuming them at start-up (see `#resume`). */
const RESUME_WINDOW = 256

/** A host whose item could not be built (bad settings, unknown class): shown in ERROR. */
class BrokenHost extends Host {
  readonly kind: HostKind
  readonly #error: unknown
  constructor(item: ProductionItem, logger: Logger, kind: HostKind, error: unknown) {
    super(item, logger)
    this.kind = kind
    this.#error = error
  }
  protected override onStart(): Promise<void> {
    return Promise.reject(
      this.#error instanceof Error ? this.#error : new Error(String(this.#error)),
    )
  }
  protected override onStop(): Promise<void> {
    return Promise.resolve()
  }
}

/**
 * Runs one production.
 * @example
 * const engine = new Engine({ dataDir: '/var/lib/li' })
 * await engine.load({ path: 'production.xml' })
 * await engine.start()
 */
export class Engine extends EventEmitter<EngineEvents> {
  readonly config: EngineConfig
  readonly logger: Logger
  readonly metrics: LiMetrics
  readonly health: HealthRegistry
  readonly registry: HostRegistry
  readonly #tools: ProductionTools
  #state: EngineState = 'CREATED'
  /** Settles when the running `start()` has returned or thrown. */
  #startDone: Promise<void> | undefined
  /** Progress of `#resume` while it runs. */
  #resuming: { total: number; done: number } | undefined
  #production: Production | undefined
  #wal: Wal | undefined
  #store: MessageStore | undefined
  #queue: MessageQueue | undefined
  #path: MessagePath | undefined
  readonly #hosts = new Map<string, Host>()
  #alertTimer: NodeJS.Timeout | undefined
  readonly #alerted = new Set<string>()
  /** Parsed item schedules by item name, and the timers that apply them. */
  readonly #schedules = new Map<string, Schedule>()
  readonly #scheduleTimers = new Map<string, () => void>()
  #alertRouteWarned = false
  /** Sessions of the alerts routed to Ens.Alert (recent ones): alerts about them are not routed. */
  readonly #alertSessions = new Set<string>()
  readonly #tlsCache = new Map<string, SecureContextOptions>()
  /** Where the production was loaded from (for `reloadRules`); undefined for an object. */
  #source: ProductionSource | undefined
  readonly #rulesCache = new Map<string, CompiledRules>()
  readonly #generalRuleCache = new Map<string, CompiledGeneralRule>()
  /** Replies to synchronous calls of BPL processes (while running). */
  #callReplies: CallReplies | undefined
  readonly #transformCache = new Map<string, CompiledTransform>()
  #shutdown: GracefulShutdown | undefined
  /** Loggers of items with trace events on (debug level), by item name. */
  #hostLoggers = new Map<string, Logger>()
  /** The per-item trace loggers the message path was given (a reload adds items to it). */
  #traceLoggers = new Map<string, Logger>()
  /** OrderingKey virtual paths by item name (the message path reads it; a reload adds items). */
  readonly #orderingPaths = new Map<string, string>()
  readonly #retention: Retention

  constructor(config: EngineConfig) {
    super()
    if (typeof config.dataDir !== 'string' || config.dataDir === '') {
      throw new EngineError(
        'ENGINE_INVALID_ARGUMENT',
        'Engine: config.dataDir is required (a directory path)',
      )
    }
    this.config = config
    this.logger = config.logger ?? pino({ level: 'silent' })
    this.metrics = config.metrics ?? new LiMetrics()
    this.health = config.health ?? new HealthRegistry()
    this.registry = config.registry ?? registerBuiltinHosts(defaultHostRegistry)
    if (config.registry !== undefined) registerBuiltinHosts(config.registry)
    this.#tools = { ...defaultProductionTools, ...config.tools }
    const days = config.retentionDays ?? DEFAULT_RETENTION_DAYS
    const interval = config.purgeInterval ?? DEFAULT_PURGE_INTERVAL
    checkRetentionSettings(days, interval)
    this.#retention = new Retention({
      store: () => (this.#state === 'RUNNING' ? this.#store : undefined),
      metrics: this.metrics,
      logger: this.logger,
      days,
      intervalSeconds: interval,
    })
  }

  /** The Engine's state. */
  get state(): EngineState {
    return this.#state
  }

  /** The loaded production. */
  get production(): Production | undefined {
    return this.#production
  }

  /** The message store (queries, traces, purge); available after `start()`. */
  get store(): MessageStore {
    return this.#need(this.#store, 'store')
  }

  /** The queue (depths, dead letters, redrive); available after `start()`. */
  get queue(): MessageQueue {
    return this.#need(this.#queue, 'queue')
  }

  /** The write-ahead log (stats); available after `start()`. */
  get wal(): Wal {
    return this.#need(this.#wal, 'wal')
  }

  /** Lookup tables of the loaded production. */
  get lookupTables(): Map<string, Map<string, string>> {
    return this.#production?.lookupTables ?? new Map()
  }

  /** Load a production (IRIS XML, class export, file path, or a Production object). Not while running. */
  async load(source: ProductionSource | Production): Promise<Production> {
    if (this.#state === 'STARTING' || this.#state === 'RUNNING' || this.#state === 'STOPPING') {
      throw new EngineError(
        'ENGINE_INVALID_STATE',
        'Engine.load: stop the engine before loading another production',
      )
    }
    const p = isProduction(source) ? source : await this.#tools.loadProduction(source)
    this.#source = isProduction(source) ? undefined : source
    this.#production = p
    this.#rulesCache.clear()
    this.#generalRuleCache.clear()
    this.#transformCache.clear()
    this.#state = 'LOADED'
    return p
  }

  /** Start the data layer and every enabled host. Resumes WAL entries left by the last run. */
  async start(): Promise<void> {
    const production = this.#production
    if (production === undefined) {
      throw new EngineError(
        'ENGINE_INVALID_STATE',
        'Engine.start: load a production first (engine.load(source))',
      )
    }
    if (this.#state === 'RUNNING' || this.#state === 'STARTING') return
    this.#state = 'STARTING'
    this.health.markStarting()
    const c = this.config
    let finish: () => void = () => undefined
    this.#startDone = new Promise<void>((r) => (finish = r))
    try {
      await mkdir(c.dataDir, { recursive: true })
      const wal = new Wal({
        directory: path.join(c.dataDir, 'wal'),
        syncMode: c.syncMode ?? 'fsync',
        entryTtl: c.walEntryTtl ?? 0,
      })
      // A corrupt record found by recovery (the entries after it are still recovered) and a
      // fault of the writer (a sync or checkpoint that failed, a bug) are never silent.
      wal.on('corrupt', (e) => {
        this.logger.error(
          { code: e.code, err: e.message },
          'WAL: a corrupt record was found during recovery; the entries after it were recovered',
        )
      })
      wal.on('fault', (e) => {
        this.logger.error({ code: e.code, err: e.message }, 'WAL fault')
      })
      const recovery = await wal.start()
      this.#wal = wal
      const damaged = recovery.corruptRecords > 0 || recovery.truncatedBytes > 0
      this.logger[damaged ? 'warn' : 'info'](
        {
          pending: recovery.pending,
          durationMs: recovery.durationMs,
          corruptRecords: recovery.corruptRecords,
          truncatedBytes: recovery.truncatedBytes,
        },
        'wal recovered',
      )
      const store = new MessageStore({ dataDir: c.dataDir, worker: c.storeWorker ?? true })
      await store.start()
      this.#store = store
      const redis = c.redisUrl !== undefined && c.redisUrl !== ''
      const queue = new MessageQueue({
        backend: redis ? 'redis' : 'memory',
        ...(redis ? { redisUrl: c.redisUrl } : {}),
        ...(c.queuePrefix === undefined ? {} : { queuePrefix: c.queuePrefix }),
        visibilityTimeout: this.#visibilityTimeout(),
        deadLetterEnabled: true,
        // In-process queues keep bodies within a memory budget and spill the rest to disk.
        ...(redis
          ? {}
          : {
              spillDirectory: path.join(c.dataDir, 'queue-spill'),
              ...(c.queueMemoryBytes === undefined ? {} : { memoryLimitBytes: c.queueMemoryBytes }),
            }),
        // Operations retry in place (RetryInterval/FailureTimeout); a requeue happens only on
        // stop or disable and must never dead-letter a message.
        maxRetries: 1_000_000,
      })
      // A spill file that cannot be written keeps bodies in memory (nothing is lost); one that
      // cannot be read dead-letters its message with the reason. Either way ops must know.
      queue.on('spillError', (e) => {
        this.logger.error({ code: e.code, err: e.message }, 'queue spill file error')
      })
      await queue.start()
      this.#queue = queue
      this.#callReplies = new CallReplies(
        this.logger,
        this.config.redisUrl !== undefined && this.config.redisUrl !== ''
          ? {
              get: (token) => queue.getMarker(CALL_REPLIES, `reply:${token}`),
              set: (token, value) =>
                queue.setMarker(CALL_REPLIES, `reply:${token}`, value, {
                  ttlMs: SHARED_REPLY_TTL_MS,
                }),
            }
          : undefined,
      )
      const orderingPaths = this.#orderingPaths
      orderingPaths.clear()
      for (const item of production.items) {
        const key = new ItemSettings(item).string('OrderingKey')
        if (key !== undefined) orderingPaths.set(item.name, key)
      }
      const searchTables = this.#compileSearchTables(production)
      const io = this.#ioLoggers(production)
      this.#hostLoggers = io.hosts
      this.#traceLoggers = io.trace
      this.#path = new MessagePath({
        wal,
        store,
        queue,
        metrics: this.metrics,
        logger: this.logger,
        walCompletion: redis ? 'enqueue' : 'branches',
        inProcessQueue: !redis,
        ...(c.localEnvelopeBytes === undefined ? {} : { localEnvelopeBytes: c.localEnvelopeBytes }),
        retryMs: c.handOffRetryMs,
        ...(c.handOffRefuseAt === undefined ? {} : { maxHandOffBacklog: c.handOffRefuseAt }),
        trace: io.trace.size > 0 ? io.trace : undefined,
        archiveIO: io.archiveIO.size > 0 ? io.archiveIO : undefined,
        ...(searchTables.size === 0
          ? {}
          : {
              searchValuesFor: (host: string, raw: string, docCategory?: string) =>
                searchTables.get(host)?.(raw, docCategory),
            }),
        orderingKeyFor: (target, raw) => {
          const p = orderingPaths.get(target)
          return p === undefined ? undefined : orderingKey(raw, p)
        },
      })
      this.metrics.trackWal(() => wal.stats().pending)
      const dataDir = path.resolve(c.dataDir)
      this.metrics.trackDataVolume(async () => {
        const fs = await statfs(dataDir)
        return { freeBytes: fs.bavail * fs.bsize, sizeBytes: fs.blocks * fs.bsize }
      })
      this.#addHandOffCheck()
      this.#buildHosts(production)
      this.#readSchedules(production)
      const ordered = this.#ordered()
      for (const host of ordered.filter((h) => h.kind !== 'service')) await this.#startOne(host)
      await this.#resume()
      const stopped = (): EngineError =>
        new EngineError(
          'ENGINE_INVALID_STATE',
          'Engine.start: stop() was called while starting; WAL entries not resumed yet stay in the WAL for the next start',
        )
      if (this.#stopRequested()) throw stopped()
      for (const host of ordered.filter((h) => h.kind === 'service')) await this.#startOne(host)
      if (this.#stopRequested()) throw stopped()
      this.#startAlerts()
      for (const name of this.#schedules.keys()) this.#armSchedule(name)
      this.#state = 'RUNNING'
      this.health.markRunning()
      this.#retention.start()
      this.logger.info({ production: production.name, hosts: this.#hosts.size }, 'engine running')
    } catch (e) {
      // stop() during the start does the rest of the shutdown once this returns.
      if (this.#stopRequested()) throw e
      this.logger.error({ err: errorText(e) }, 'engine failed to start')
      await this.#teardown().catch((te: unknown) => {
        this.logger.error({ err: errorText(te) }, 'cleanup after the failed start also failed')
      })
      this.#state = 'STOPPED'
      throw e
    } finally {
      finish()
    }
  }

  /** Whether stop() was called while `start()` runs (read after awaits; not narrowed by TS). */
  #stopRequested(): boolean {
    return this.#state === 'STOPPING' || this.#state === 'STOPPED'
  }

  /** Stop every host (services first), drain in-flight messages for up to drainTimeout, close the data layer. */
  async stop(): Promise<void> {
    if (this.#state !== 'RUNNING' && this.#state !== 'STARTING') return
    const starting = this.#state === 'STARTING'
    this.#state = 'STOPPING'
    this.#retention.stop()
    this.health.markShuttingDown()
    if (starting) {
      // Let start() reach a safe point: the resume stops handing off (the rest stays in the
      // WAL), services are not started, and start() rejects with ENGINE_INVALID_STATE.
      this.logger.info({}, 'stop requested while starting; waiting for the start to stop')
      await this.#startDone
    }
    if (this.#alertTimer !== undefined) clearInterval(this.#alertTimer)
    this.#alertTimer = undefined
    for (const cancel of this.#scheduleTimers.values()) cancel()
    this.#scheduleTimers.clear()
    const reverse = this.#ordered().reverse()
    for (const h of reverse.filter((x) => x.kind === 'service')) await this.#stopOne(h)
    const deadline = Date.now() + (this.config.drainTimeout ?? 10) * 1000
    while ((this.#path?.inFlight ?? 0) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    // Failed hand-offs stop being retried: they stay in the WAL for the next start.
    this.#path?.close()
    for (const h of reverse.filter((x) => x.kind !== 'service')) await this.#stopOne(h)
    // Hand-offs and WAL completions still running reach the WAL and the store before they close.
    await this.#path?.idle()
    await this.#teardown()
    this.#state = 'STOPPED'
    this.logger.info({}, 'engine stopped')
  }

  /** Install SIGTERM/SIGINT handlers and resolve once the engine has shut down. */
  async waitForShutdown(): Promise<void> {
    if (this.#shutdown === undefined) {
      const gs = new GracefulShutdown({
        timeout: this.config.shutdownTimeout ?? 30,
        drainTimeout: this.config.drainTimeout ?? 10,
        health: this.health,
        logger: this.logger,
      })
      gs.registerHandler('engine', () => this.stop())
      gs.installSignalHandlers()
      this.#shutdown = gs
    }
    await this.#shutdown.waitComplete()
    this.#shutdown.removeSignalHandlers()
  }

  /** Begin a shutdown as a signal would (for `waitForShutdown` callers). */
  async shutdown(reason = 'requested'): Promise<void> {
    if (this.#shutdown !== undefined) await this.#shutdown.shutdown(reason)
    else await this.stop()
  }

  /** Status of the engine and every item. */
  async getStatus(): Promise<EngineStatus> {
    const items: EngineItemStatus[] = []
    for (const host of this.#hosts.values()) {
      const s: EngineItemStatus = host.status()
      if (host instanceof QueueHost && this.#queue !== undefined) {
        try {
          s.queueDepth = await this.#queue.depth(host.name)
          s.oldestQueuedAgeMs = await this.#queue.oldestAgeMs(host.name)
        } catch (e) {
          s.lastError ??= `queue unreadable: ${errorText(e)}`
        }
      }
      if (host instanceof OperationHost) {
        s.retrying = host.held().filter((m) => m.phase === 'retrying')
      }
      items.push(s)
    }
    return {
      production: this.#production?.name,
      state: this.#state,
      walPending: this.#wal?.stats().pending ?? 0,
      handOffBacklog: this.#path?.handOffBacklog.messages ?? 0,
      inFlight: this.#path?.inFlight ?? 0,
      ...(this.#resuming === undefined ? {} : { resuming: { ...this.#resuming } }),
      items,
      retention: this.#retention.status(),
    }
  }

  /**
   * The search properties (IRIS search tables) the production's items index, with how their
   * values are stored: `caseSensitive` false means values are lower-cased (search with
   * `searchValue`). Empty when no item has a SearchTableClass.
   */
  searchProperties(): { name: string; caseSensitive: boolean }[] {
    const out = new Map<string, boolean>()
    for (const item of this.#production?.items ?? []) {
      const cls = new ItemSettings(item).string('SearchTableClass')
      if (cls === undefined || cls === '') continue
      for (const it of searchTableItems(cls, this.#production?.searchTables ?? new Map())) {
        const sensitive = normaliseSearchValue('A', it.propType) === 'A'
        out.set(it.propName, (out.get(it.propName) ?? true) && sensitive)
      }
    }
    return [...out].map(([name, caseSensitive]) => ({ name, caseSensitive }))
  }

  /**
   * A value to search for under `property`, stored the way the search table stores it (`|` as
   * `+`, lower case unless the property is case-sensitive), for `store.query({ search })`.
   */
  searchValue(property: string, value: string): string {
    const p = this.searchProperties().find((x) => x.name === property)
    return normaliseSearchValue(
      value,
      p?.caseSensitive === true ? 'String:CaseSensitive' : undefined,
    )
  }

  /** The compiled search table of each item with a SearchTableClass (compiled at load too). */
  #compileSearchTables(production: Production): Map<string, CompiledSearchTable> {
    const out = new Map<string, CompiledSearchTable>()
    const byClass = new Map<string, CompiledSearchTable>()
    for (const item of production.items) {
      const cls = new ItemSettings(item).string('SearchTableClass')
      if (cls === undefined || cls === '') continue
      let fn = byClass.get(cls)
      if (fn === undefined) {
        fn = compileSearchTable(cls, production.searchTables ?? new Map())
        byClass.set(cls, fn)
      }
      out.set(item.name, fn)
    }
    return out
  }

  /**
   * Purge the message store now: messages created before `olderThan` (default: `retentionDays`
   * ago) whose whole session is completed, with their history and trace, in bounded chunks while
   * messages keep flowing. One purge runs at a time (ENGINE_PURGE_RUNNING otherwise, scheduled
   * ones included); needs a RUNNING engine (ENGINE_INVALID_STATE). `keepIncomplete: false` also
   * removes unfinished and failed messages.
   * @example const run = await engine.purge({ olderThan: new Date(Date.now() - 7 * 86_400_000) })
   */
  purge(request: PurgeRequest = {}): Promise<RetentionRun> {
    return this.#retention.purge(request, 'request')
  }

  /** The host of an item, or undefined. */
  getHost(name: string): Host | undefined {
    return this.#hosts.get(name)
  }

  /** Every host, in start order. */
  getHosts(): Host[] {
    return this.#ordered()
  }

  /** Start one item. */
  async startHost(name: string): Promise<void> {
    await this.#host(name).start()
  }

  /** Stop one item. */
  async stopHost(name: string): Promise<void> {
    await this.#host(name).stop()
  }

  /** Stop and start one item. */
  async restartHost(name: string): Promise<void> {
    await this.#host(name).restart()
  }

  /** Pause one item (services stop listening, consumers stop taking messages). */
  async pauseHost(name: string): Promise<void> {
    await this.#host(name).pause()
  }

  /** Resume a paused item. */
  async resumeHost(name: string): Promise<void> {
    await this.#host(name).resume()
  }

  /** Enable and start one item. */
  async enableHost(name: string): Promise<void> {
    await this.#host(name).enable()
  }

  /** Stop one item and mark it disabled. */
  async disableHost(name: string): Promise<void> {
    await this.#host(name).disable()
  }

  /**
   * Send a stored message again, as a new session: to `target`, or (for a message a service
   * received) to that service's TargetConfigNames. It is written to the WAL first, like any
   * inbound message. Returns the new session.
   *
   * `options.raw` resends an edited copy instead (IRIS: Edit and Resend, to fix a message a
   * receiver rejected): it must parse as an HL7 v2 message (ENGINE_INVALID_ARGUMENT otherwise,
   * saying why); the stored original is left as it was, and the new record's metadata says
   * `edited: true` and which message it came from.
   */
  async resend(
    messageId: string,
    target?: string,
    options: { raw?: string | undefined } = {},
  ): Promise<Accepted> {
    const store = this.store
    const path = this.#need(this.#path, 'message path')
    const edited =
      options.raw === undefined ? undefined : editedMessage(options.raw, 'the edited message')
    const rec = await store.get(messageId)
    if (rec === undefined || rec === null) {
      throw new EngineError(
        'ENGINE_MESSAGE_NOT_FOUND',
        `resend: no stored message with id ${messageId}`,
      )
    }
    let targets: string[]
    if (target !== undefined) {
      this.#host(target)
      targets = [target]
    } else {
      const source = this.#hosts.get(rec.hostName)
      targets =
        source !== undefined && source.kind === 'service'
          ? new ItemSettings(source.item).list('TargetConfigNames')
          : []
      if (targets.length === 0) {
        throw new EngineError(
          'ENGINE_INVALID_ARGUMENT',
          `resend: message ${messageId} was stored by ${rec.hostName}, which has no TargetConfigNames; name a target`,
        )
      }
    }
    if (edited !== undefined) {
      // Who changed what is the operator's business; the log says that it happened, not the body.
      this.logger.info(
        { resentFrom: messageId, host: rec.hostName, targets, bytes: Buffer.byteLength(edited) },
        'edited message resent',
      )
    }
    return path.accept({
      source: rec.hostName,
      raw: edited ?? rec.payload,
      targets,
      metadata:
        edited === undefined ? { resentFrom: messageId } : { resentFrom: messageId, edited: true },
    })
  }

  /**
   * Send a message to a router or operation as the IRIS Testing Service does: a new session
   * whose source is `EnsLib.Testing.Service`, WAL first like any inbound message. Only when the
   * production has TestingEnabled="true" (ENGINE_TESTING_DISABLED otherwise), and the text must
   * be one HL7 v2 message (`\n` line ends become `\r`). The log names the target, never the body.
   *
   * @example await engine.sendTestMessage('EPR.Out', 'MSH|^~\\&|...\rPID|1||123\r')
   */
  async sendTestMessage(target: string, raw: string): Promise<Accepted> {
    const path = this.#need(this.#path, 'message path')
    if (this.#production?.testingEnabled !== true) {
      throw new EngineError(
        'ENGINE_TESTING_DISABLED',
        `the production ${this.#production?.name ?? ''} does not have TestingEnabled="true": test messages are refused (set it in the production to allow them, as in IRIS)`,
      )
    }
    const host = this.#host(target)
    if (!(host instanceof QueueHost)) {
      throw new EngineError(
        'ENGINE_INVALID_ARGUMENT',
        `${target} is a ${host.kind}: test messages go to a router or an operation`,
      )
    }
    const text = editedMessage(raw, 'test message')
    this.logger.info({ target, bytes: Buffer.byteLength(text) }, 'test message sent')
    return path.accept({
      source: TESTING_SERVICE,
      raw: text,
      targets: [target],
      metadata: { test: true },
    })
  }

  /**
   * Apply an edited production to the running engine without a restart, as IRIS applies a saved
   * rule to the next message and an item's changed settings when you press Apply: reads the
   * production again from where `load` read it (or from `source`), compiles every rule class and
   * DTL and builds the changed items' hosts first, and only then swaps them in: each changed item
   * is stopped (its queued messages wait; a message it was delivering goes back to its queue) and
   * started again with its new settings, and the routers that use a changed rule (every running
   * router when a DTL changed) restart. Nothing else stops. Refused, with the running production
   * left as it was (ENGINE_RELOAD_REFUSED, saying what), when it does not load or compile, or
   * when an item changed class, or something the message path is built from at start changed
   * (OrderingKey, SearchTableClass, ArchiveIO, LogTraceEvents, Schedule, production settings,
   * schemas, search tables): restart for those. Items added to the file are built and started
   * (services last) and items removed are stopped and forgotten, as IRIS does on Apply; a new
   * item cannot have SearchTableClass, ArchiveIO or LogTraceEvents (restart for those), and a
   * router or operation is removed only once its queue is empty (no message waiting, in flight
   * or dead-lettered), else the reload is refused saying so. A rule that still sends to a removed
   * item does not compile, which refuses the reload too.
   * Lookup tables are not touched (they have their own API).
   *
   * @example const r = await engine.reloadRules() // { rules: ['Trust.Rules'], items: [], added: ['GP.Out'], removed: [], restarted: ['Router'], ... }
   */
  async reloadRules(source?: ProductionSource): Promise<RulesReload> {
    const current = this.#production
    if (this.#state !== 'RUNNING' || current === undefined) {
      throw new EngineError('ENGINE_INVALID_STATE', 'reloadRules: the engine is not running')
    }
    const from = source ?? this.#source
    if (from === undefined) {
      throw new EngineError(
        'ENGINE_RELOAD_REFUSED',
        'reloadRules: the production was given as an object, not a file or text: pass the source to read',
      )
    }
    let next: Production
    try {
      next = await this.#tools.loadProduction(from)
    } catch (e) {
      throw new EngineError(
        'ENGINE_RELOAD_REFUSED',
        `reloadRules: the production does not load (${errorText(e)}); the running one is unchanged`,
        { cause: e },
      )
    }
    const others = structuralChanges(current, next)
    const { refused, changed, added, removed } = itemChanges(current, next)
    others.push(...refused)
    if (others.length > 0) {
      throw new EngineError(
        'ENGINE_RELOAD_REFUSED',
        `reload cannot apply this without a restart: ${others.join('; ')} (the running production is unchanged)`,
      )
    }
    const rules = changedKeys(
      current.rules,
      next.rules,
      (d) => d.xml + JSON.stringify(d.native ?? null),
    )
    const transforms = changedKeys(current.transforms, next.transforms, (d) =>
      JSON.stringify({ ...d, origin: undefined }),
    )
    const processes = changedKeys(
      current.processes ?? new Map<string, ProcessDefinition>(),
      next.processes ?? new Map<string, ProcessDefinition>(),
      (d) => d.xml,
    )
    const order = (p: Production): string => p.items.map((i) => i.name).join('\u0000')
    if (
      rules.length === 0 &&
      transforms.length === 0 &&
      processes.length === 0 &&
      changed.length === 0 &&
      added.length === 0 &&
      removed.length === 0 &&
      order(current) === order(next)
    ) {
      return {
        rules,
        transforms,
        processes,
        items: [],
        added,
        removed,
        kept: [],
        restarted: [],
      }
    }
    // Compile and build everything first, against the production as it will be (its items too:
    // a rule that still sends to a removed item does not compile): a rule or DTL that does not
    // compile, an item that does not build, or a removed item whose queue is not empty refuses
    // the reload before anything is swapped.
    const trial: Production = {
      ...current,
      items: next.items,
      rules: next.rules,
      transforms: next.transforms,
      ...(next.processes !== undefined ? { processes: next.processes } : {}),
    }
    const problems: string[] = []
    // The BPL classes items run (with the transforms and general rules they use).
    for (const [name, def] of next.processes ?? []) {
      if (!next.items.some((i) => i.className === name)) continue
      try {
        compileProcess(def, trial)
      } catch (e) {
        problems.push(`business process ${name}: ${errorText(e)}`)
      }
    }
    for (const def of next.rules.values()) {
      try {
        // A general business rule (a BPL <rule>) returns a value; it is not a routing rule.
        if (generalRuleKind(def) !== undefined) compileGeneralRule(def, trial)
        else this.#tools.compileRules(def, trial)
      } catch (e) {
        problems.push(`rule class ${def.className}: ${errorText(e)}`)
      }
    }
    for (const [name, def] of next.transforms) {
      try {
        this.#tools.compileTransform(def, trial)
      } catch (e) {
        problems.push(`DTL ${name}: ${errorText(e)}`)
      }
    }
    const queue = this.#need(this.#queue, 'queue')
    for (const name of removed) {
      const left = await this.#queueHolds(queue, name)
      if (left !== undefined) problems.push(`item ${name} cannot be removed: ${left}`)
    }
    const schedules = new Map<string, Schedule>()
    const itemOf = (name: string): ProductionItem =>
      next.items.find((i) => i.name === name) as ProductionItem
    for (const name of added) {
      try {
        const text = resolveSchedule(itemOf(name), this.config.schedules)
        if (text !== undefined) schedules.set(name, parseSchedule(text, `item "${name}": Schedule`))
      } catch (e) {
        problems.push(`item ${name}: ${errorText(e)}`)
      }
    }
    const ctx0 = this.#context(current)
    // New items get the loggers a start would give them (LogGeneralTraceEvents).
    const io = this.#ioLoggers(next)
    const fresh = new Map<string, Host>()
    for (const name of [...changed, ...added]) {
      try {
        const traced = added.includes(name) ? io.hosts.get(name) : undefined
        const ctx = traced === undefined ? ctx0 : { ...ctx0, logger: traced }
        fresh.set(name, this.#createHost(itemOf(name), ctx))
      } catch (e) {
        problems.push(`item ${name}: ${errorText(e)}`)
      }
    }
    if (problems.length > 0) {
      throw new EngineError(
        'ENGINE_RELOAD_REFUSED',
        `reload: ${problems.join('; ')}; the running production is unchanged`,
      )
    }
    // Swapped in place: the hosts' context reads these maps and items of the running production.
    current.rules.clear()
    for (const [k, v] of next.rules) current.rules.set(k, v)
    current.transforms.clear()
    for (const [k, v] of next.transforms) current.transforms.set(k, v)
    if (next.processes !== undefined) current.processes = new Map(next.processes)
    else delete current.processes
    this.#rulesCache.clear()
    this.#generalRuleCache.clear()
    this.#transformCache.clear()
    current.items.splice(0, current.items.length, ...next.items)
    for (const name of added) {
      const key = new ItemSettings(itemOf(name)).string('OrderingKey')
      if (key !== undefined) this.#orderingPaths.set(name, key)
      const traced = io.hosts.get(name)
      if (traced !== undefined) this.#hostLoggers.set(name, traced)
      const trace = io.trace.get(name)
      if (trace !== undefined) this.#traceLoggers.set(name, trace)
    }
    // New items first, services last (once their targets run), so that a router restarted with
    // a rule that sends to one finds it running.
    const byKind = (hosts: Host[]): Host[] =>
      hosts.sort((a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind])
    for (const host of byKind(added.map((n) => fresh.get(n) as Host))) {
      this.#installHost(host, queue)
      const schedule = schedules.get(host.name)
      if (schedule !== undefined) this.#schedules.set(host.name, schedule)
      await this.#startOne(host)
      if (schedule !== undefined) this.#armSchedule(host.name)
    }
    const restarted: string[] = []
    for (const name of changed) {
      const host = fresh.get(name) as Host
      await this.#hosts.get(name)?.stop()
      this.#installHost(host, queue)
      await this.#startOne(host)
      restarted.push(name)
    }
    for (const host of this.#hosts.values()) {
      if (fresh.has(host.name) || removed.includes(host.name)) continue
      if (host instanceof BplProcessHost && host.state === 'RUNNING') {
        // A process compiles its BPL, DTLs and general rules at start.
        if (
          processes.includes(host.item.className) ||
          transforms.length > 0 ||
          rules.some((r) => host.process?.rules.includes(r) === true)
        ) {
          await host.restart()
          restarted.push(host.name)
        }
        continue
      }
      if (!(host instanceof RoutingEngineHost) || host.state !== 'RUNNING') continue
      const ruleName = new ItemSettings(host.item).string('BusinessRuleName')
      if (transforms.length === 0 && (ruleName === undefined || !rules.includes(ruleName))) continue
      await host.restart()
      restarted.push(host.name)
    }
    // Removed items last, services first: once every router runs the new rules nothing sends to
    // them. One that the old rule sent a message to while the routers were being replaced keeps
    // running (`kept`) until a later reload finds its queue empty.
    const gone: string[] = []
    const kept: string[] = []
    const leaving = byKind(
      removed.map((n) => this.#hosts.get(n)).filter((h): h is Host => h !== undefined),
    )
    for (const host of leaving) {
      const left = await this.#queueHolds(queue, host.name)
      if (left !== undefined) {
        kept.push(host.name)
        current.items.push(host.item)
        this.logger.warn({ host: host.name, left }, 'reload: a removed item keeps running')
        continue
      }
      await this.#stopOne(host)
      this.#uninstallHost(host)
      gone.push(host.name)
    }
    const items = changed
    const result = { rules, transforms, processes, items, added, removed: gone, kept, restarted }
    this.logger.info(result, 'production reloaded')
    return result
  }

  /**
   * What the queue of item `name` still holds (waiting, in flight, dead letters), said for an
   * operator; undefined when it is empty or the item has no queue (a service).
   */
  async #queueHolds(queue: MessageQueue, name: string): Promise<string | undefined> {
    if (!(this.#hosts.get(name) instanceof QueueHost)) return undefined
    const [depth, inFlight, dead] = await Promise.all([
      queue.depth(name),
      queue.inFlight(name),
      queue.deadLetterCount(name),
    ])
    if (depth + inFlight + dead === 0) return undefined
    return `its queue holds ${depth + inFlight} message(s) and ${dead} dead letter(s): let it deliver them or abort them (POST /api/queues/${name}/abort), then reload again`
  }

  /** Forget a removed item: its host, schedule, loggers, health checks and metrics. */
  #uninstallHost(host: Host): void {
    const name = host.name
    this.#hosts.delete(name)
    this.#scheduleTimers.get(name)?.()
    this.#scheduleTimers.delete(name)
    this.#schedules.delete(name)
    this.#orderingPaths.delete(name)
    this.#hostLoggers.delete(name)
    this.#traceLoggers.delete(name)
    this.health.removeCheck(`host:${name}`)
    this.health.removeCheck(`queue:${name}`)
    this.metrics.untrackQueue(name)
    this.metrics.forgetHost(name, host.kind)
  }

  /**
   * One page of a router's or operation's queue (IRIS: the Queues page): each message's session,
   * MSH-10 and type, how often the queue delivered it, and, for a message this engine's operation
   * holds, its delivery attempts and why it is being retried. Never a message body.
   *
   * @example const page = await engine.queueContents('EPR.Out', { limit: 50 })
   */
  async queueContents(
    host: string,
    options: { limit?: number | undefined; cursor?: string | null | undefined } = {},
  ): Promise<QueueContents> {
    return this.#queueView().contents(host, options)
  }

  /**
   * Take one message off `host`'s queue (IRIS Abort): a waiting one at once; one this engine's
   * operation is delivering or retrying once its current attempt ends (unless that attempt
   * delivered it); a dead letter too. The message's branch is recorded as failed with
   * "aborted by operator: reason" and it can still be resent. Throws
   * ENGINE_QUEUE_MESSAGE_NOT_FOUND for an id the queue does not hold.
   */
  async abortQueued(host: string, id: string, reason = 'no reason given'): Promise<AbortResult> {
    return this.#queueView().abort(host, id, reason)
  }

  /** Take every waiting message off `host`'s queue (IRIS Abort All); see `abortQueued`. */
  async abortQueue(host: string, reason = 'no reason given'): Promise<AbortAllResult> {
    return this.#queueView().abortAll(host, reason)
  }

  #queueView(): QueueView {
    return new QueueView({
      queue: this.#need(this.#queue, 'queue'),
      path: this.#need(this.#path, 'message path'),
      host: (name) => this.#host(name),
      logger: this.logger,
      metrics: this.metrics,
    })
  }

  #need<T>(v: T | undefined, what: string): T {
    if (v === undefined)
      throw new EngineError(
        'ENGINE_INVALID_STATE',
        `Engine: ${what} is not available before start()`,
      )
    return v
  }

  #host(name: string): Host {
    const h = this.#hosts.get(name)
    if (h === undefined)
      throw new EngineError(
        'ENGINE_UNKNOWN_HOST',
        `no item named "${name}" in the running production`,
      )
    return h
  }

  /** Seconds a received queue message stays invisible (operations extend it while they hold one). */
  #visibilityTimeout(): number {
    const redis = this.config.redisUrl !== undefined && this.config.redisUrl !== ''
    return this.config.queueVisibilityTimeout ?? (redis ? 300 : 365 * 86_400)
  }

  #ordered(): Host[] {
    return [...this.#hosts.values()].sort((a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind])
  }

  #context(production: Production): HostContext {
    return {
      production,
      path: this.#need(this.#path, 'message path'),
      queue: this.#need(this.#queue, 'queue'),
      logger: this.logger,
      metrics: this.metrics,
      pollMs: this.config.pollMs ?? 250,
      queueVisibilityMs: this.#visibilityTimeout() * 1000,
      tls: (name) => this.#tls(name),
      credentials: (name) => this.#credentials(name),
      receivedSince: (host, since) => this.#receivedSince(host, since),
      ...(this.#callReplies !== undefined ? { callReplies: this.#callReplies } : {}),
      ...(this.config.redisUrl !== undefined && this.config.redisUrl !== ''
        ? { sharedAccepted: this.#sharedAccepted() }
        : {}),
      compileRules: (className) =>
        compiled(this.#rulesCache, production.rules, className, 'rule class', (def) =>
          this.#tools.compileRules(def, production),
        ),
      compileTransform: (className) =>
        compiled(this.#transformCache, production.transforms, className, 'transform class', (def) =>
          this.#tools.compileTransform(def, production),
        ),
      compileGeneralRule: (className) =>
        compiled(this.#generalRuleCache, production.rules, className, 'rule class', (def) =>
          compileGeneralRule(def, production),
        ),
      alert: (host, text, sessionId) => this.#alert(host, text, sessionId),
    }
  }

  /**
   * IRIS logging settings mapped to the engine logger. LogTraceEvents=1 on an item, or
   * LogGeneralTraceEvents=1 on the production, gives that host a logger at debug level (its own
   * debug lines, plus a `trace:` line per message received and per hop: ids, message type,
   * hosts, state; never a body). ArchiveIO=1 logs each message a service receives at info, and
   * each message an operation delivers (size and ids; never a body). A silent engine logger
   * stays silent, and one already at debug or trace is left as it is.
   */
  #ioLoggers(production: Production): {
    hosts: Map<string, Logger>
    trace: Map<string, Logger>
    archiveIO: Map<string, Logger>
  } {
    const hosts = new Map<string, Logger>()
    const trace = new Map<string, Logger>()
    const archiveIO = new Map<string, Logger>()
    const root = this.logger
    if (root.level === 'silent') return { hosts, trace, archiveIO }
    const general = production.logGeneralTraceEvents === true
    for (const item of production.items) {
      if (general || item.logTraceEvents === true) {
        const base = root.isLevelEnabled('debug') ? root : root.child({}, { level: 'debug' })
        hosts.set(item.name, base)
        trace.set(item.name, base.child({ host: item.name }))
      }
      if (new ItemSettings(item).boolean('ArchiveIO', false)) {
        archiveIO.set(item.name, (hosts.get(item.name) ?? root).child({ host: item.name }))
      }
    }
    return { hosts, trace, archiveIO }
  }

  #buildHosts(production: Production): void {
    this.#hosts.clear()
    const ctx0 = this.#context(production)
    for (const item0 of production.items) {
      let host: Host
      try {
        host = this.#createHost(item0, ctx0)
      } catch (e) {
        const kind = hostKindOf(item0)
        host = new BrokenHost(item0, this.logger, kind, e)
        this.logger.error({ host: item0.name, err: errorText(e) }, 'item could not be built')
      }
      this.#installHost(host, ctx0.queue)
    }
  }

  /** A host for `item0` (throws when its class or settings do not build). */
  #createHost(item0: ProductionItem, ctx0: HostContext): Host {
    const item = this.config.startDisabledItems === true ? { ...item0, enabled: true } : item0
    const traced = this.#hostLoggers.get(item.name)
    const ctx = traced === undefined ? ctx0 : { ...ctx0, logger: traced }
    // An IRIS BPL class of the export runs as a business process, unless a host class of that
    // name was registered (a TypeScript port of it).
    if (!this.registry.has(item.className) && ctx.production.processes?.has(item.className))
      return new BplProcessHost(item, ctx)
    return this.registry.create(item, ctx)
  }

  /** Make `host` the engine's host of its item: state metrics, health checks, queue metrics. */
  #installHost(host: Host, queue: QueuePort): void {
    const name = host.name
    host.onStateChange = (h, state) => {
      this.metrics.setHostStatus(h.name, h.kind, state === 'RUNNING')
      this.emit('hostState', { host: h.name, state })
    }
    this.#hosts.set(name, host)
    this.health.removeCheck(`host:${name}`)
    this.health.addCheck(`host:${name}`, createHostHealthCheck(host), { critical: false })
    this.health.removeCheck(`queue:${name}`)
    if (host instanceof QueueHost) {
      this.metrics.trackQueue(name, async () => ({
        depth: await queue.depth(name),
        oldestAgeMs: await queue.oldestAgeMs(name),
      }))
      const s = new ItemSettings(host.item)
      const maxDepth = s.number('QueueCountAlert', 0)
      const maxAge = s.number('QueueWaitAlert', 0)
      this.health.addCheck(
        `queue:${name}`,
        createQueueHealthCheck(queue, name, {
          ...(maxDepth > 0 ? { maxDepth } : {}),
          ...(maxAge > 0 ? { maxAgeMs: maxAge * 1000 } : {}),
        }),
        { critical: false },
      )
    }
  }

  async #startOne(host: Host): Promise<void> {
    if (!host.enabled) {
      this.metrics.setHostStatus(host.name, host.kind, false)
      return
    }
    if (host.item.foreground === true) {
      // IRIS Foreground runs the job in a terminal window for debugging; here every host runs in
      // the engine process, and its log lines are the equivalent.
      this.logger.info({ host: host.name }, 'Foreground=true: the host runs in the engine process')
    }
    const schedule = this.#schedules.get(host.name)
    if (schedule !== undefined && scheduleStateAt(schedule, this.#clock().now()) === 'STOP') {
      this.logger.info(
        { host: host.name, schedule: schedule.text },
        'outside its Schedule: not started',
      )
      this.metrics.setHostStatus(host.name, host.kind, false)
      return
    }
    try {
      await host.start()
    } catch (e) {
      this.#alert(host.name, `failed to start: ${errorText(e)}`)
    }
  }

  async #stopOne(host: Host): Promise<void> {
    try {
      await host.stop()
    } catch (e) {
      this.logger.error({ host: host.name, err: errorText(e) }, 'host failed to stop')
    }
  }

  /**
   * Re-enqueue every WAL entry the previous run did not complete (at-least-once), before the
   * services accept new messages. Up to RESUME_WINDOW entries are handed off at once: the message
   * path keeps their enqueues in WAL order, and their store records commit in large batches.
   * One at a time, each waited for its own store commit: 20,000 entries took 70 s, longer than a
   * Kubernetes startup probe allows, so a large backlog would have restarted the pod for ever.
   */
  async #resume(): Promise<void> {
    const wal = this.#need(this.#wal, 'wal')
    const path = this.#need(this.#path, 'message path')
    const pending = wal.pending()
    if (pending.length === 0) return
    this.logger.warn({ entries: pending.length }, 'resuming WAL entries from the previous run')
    const progress = { total: pending.length, done: 0 }
    this.#resuming = progress
    const started = Date.now()
    let logged = started
    // A counter and one waiter, not Promise.race over the window: a race attaches a reaction to
    // every promise still running on every call, 256 per entry.
    let running = 0
    let wake: (() => void) | undefined
    const settled = (): void => {
      running--
      progress.done++
      const w = wake
      wake = undefined
      w?.()
    }
    try {
      for (const entry of pending) {
        // stop() during the resume: what is not handed off yet stays in the WAL for next time.
        if (this.#state !== 'STARTING') break
        const md = (entry.metadata ?? {}) as Record<string, unknown>
        const targets =
          typeof md.targets === 'string' ? md.targets.split(',').filter((t) => t !== '') : []
        const unknown = targets.filter((t) => !this.#hosts.has(t))
        if (unknown.length > 0) {
          // Never enqueue into a queue nobody reads: keep the entry in the WAL until the item is back.
          this.#alert(
            entry.hostName,
            `WAL entry ${entry.id} (MSH-10 ${entry.messageId}) targets ${unknown.join(', ')}, not in this production; it stays in the WAL`,
          )
          progress.done++
          continue
        }
        // The store or queue is failing (each failed hand-off waits in memory with its body):
        // leave the rest on disk in the WAL until the backlog shrinks, as services would refuse.
        while (path.handOffBacklogFull && this.#state === 'STARTING') {
          if (Date.now() - logged >= 10_000) {
            logged = Date.now()
            this.logger.warn(
              { ...progress, handOffBacklog: path.handOffBacklog.messages },
              'resume paused: hand-offs are failing',
            )
          }
          await new Promise((r) => setTimeout(r, 500))
        }
        running++
        path.resume(entry).then(settled, (e: unknown) => {
          // Not lost: the entry is in the hand-off retry backlog (see the `hand-off` health check).
          this.logger.warn(
            { walId: entry.id, err: errorText(e) },
            'could not resume WAL entry yet; it is retried',
          )
          settled()
        })
        while (running >= RESUME_WINDOW) await new Promise<void>((r) => (wake = r))
        if (Date.now() - logged >= 10_000) {
          logged = Date.now()
          this.logger.info({ ...progress }, 'resuming WAL entries')
        }
      }
      while (running > 0) await new Promise<void>((r) => (wake = r))
    } finally {
      this.#resuming = undefined
    }
    this.logger.info(
      { entries: progress.total, durationMs: Date.now() - started },
      'resumed WAL entries',
    )
  }

  /**
   * The `hand-off` health check: HEALTHY with no failed hand-off waiting; DEGRADED while some
   * wait to be retried (messages ACKed and in the WAL, not yet stored or enqueued: Redis or the
   * store is failing); UNHEALTHY, so not ready, once more than `handOffBacklogLimit` wait or they
   * have kept failing for `handOffUnreadyAfter` seconds. Liveness does not depend on it.
   */
  #addHandOffCheck(): void {
    const limit = this.config.handOffBacklogLimit ?? 1000
    const unreadyAfterMs = (this.config.handOffUnreadyAfter ?? 60) * 1000
    this.health.removeCheck('hand-off')
    this.health.addCheck(
      'hand-off',
      () => {
        const b = this.#path?.handOffBacklog
        if (b === undefined || b.messages === 0) return HealthStatus.HEALTHY
        const details = { ...b }
        if (b.messages > limit || b.failingForMs > unreadyAfterMs) {
          return {
            status: HealthStatus.UNHEALTHY,
            message: `${b.messages} message(s) in the WAL wait for their hand-off (failing for ${Math.round(b.failingForMs / 1000)} s)`,
            details,
          }
        }
        return {
          status: HealthStatus.DEGRADED,
          message: `${b.messages} message(s) in the WAL wait for their hand-off; retrying`,
          details,
        }
      },
      { critical: true },
    )
  }

  #startAlerts(): void {
    const every = this.config.alertIntervalMs ?? 10_000
    this.#alertTimer = setInterval(() => {
      this.#checkQueueAlerts().catch((e: unknown) =>
        this.logger.warn({ err: errorText(e) }, 'queue alert check failed'),
      )
    }, every)
    this.#alertTimer.unref()
  }

  async #checkQueueAlerts(): Promise<void> {
    const queue = this.#queue
    if (queue === undefined) return
    for (const host of this.#hosts.values()) {
      if (!(host instanceof QueueHost)) continue
      const s = new ItemSettings(host.item)
      const maxDepth = s.number('QueueCountAlert', 0)
      const maxAge = s.number('QueueWaitAlert', 0)
      if (maxDepth > 0) {
        const depth = await queue.depth(host.name)
        this.#edge(
          `${host.name}:count`,
          depth > maxDepth,
          host.name,
          `queue depth ${depth} exceeds QueueCountAlert ${maxDepth}`,
        )
      }
      if (maxAge > 0) {
        const age = (await queue.oldestAgeMs(host.name)) / 1000
        this.#edge(
          `${host.name}:wait`,
          age > maxAge,
          host.name,
          `oldest message waited ${Math.round(age)} s, over QueueWaitAlert ${maxAge} s`,
        )
      }
    }
  }

  /** Alert once when a condition becomes true; re-arm when it clears (no alert floods). */
  #edge(key: string, active: boolean, host: string, text: string): void {
    if (active && !this.#alerted.has(key)) {
      this.#alerted.add(key)
      this.#alert(host, text)
    } else if (!active) this.#alerted.delete(key)
  }

  #alert(host: string, text: string, sessionId?: string): void {
    const alert: EngineAlert = { host, text, time: new Date() }
    if (sessionId !== undefined) alert.sessionId = sessionId
    this.logger.warn({ host, alert: text }, 'alert')
    this.emit('alert', alert)
    this.#routeAlert(alert)
  }

  /**
   * IRIS sends every alert to the item named `Ens.Alert` when the production has one. Here the
   * alert goes there as a message: an `Ens.AlertRequest` as a JSON object (`alertRequest`),
   * WAL-durable and stored like any message, in a session of its own. Ens.Alert may be an
   * operation (for example the built-in `EnsLib.EMail.AlertOperation`) or a routing engine,
   * whose rules read the alert's properties (`Document.SourceConfigName`, ...) and send it on.
   * Another kind of process named Ens.Alert gets nothing (said once in the log). An alert raised
   * while delivering an alert (its session is one of these) is logged and emitted, not routed
   * again, so that a failing alert target cannot feed itself.
   */
  #routeAlert(alert: EngineAlert): void {
    const target = this.#hosts.get(ALERT_ITEM)
    const path = this.#path
    if (target === undefined || path === undefined || alert.host === ALERT_ITEM) return
    if (
      target.kind !== 'operation' &&
      !(target instanceof RoutingEngineHost) &&
      !(target instanceof BplProcessHost)
    ) {
      if (!this.#alertRouteWarned) {
        this.#alertRouteWarned = true
        this.logger.warn(
          { host: ALERT_ITEM, className: target.className },
          'Ens.Alert is neither an operation, a routing engine nor a BPL process: alerts are logged and emitted, not routed to it',
        )
      }
      return
    }
    if (alert.sessionId !== undefined && this.#alertSessions.has(alert.sessionId)) {
      this.logger.warn(
        { host: alert.host, sessionId: alert.sessionId },
        'alert about delivering an alert: logged, not routed to Ens.Alert again',
      )
      return
    }
    const sessionId = newSessionId()
    this.#alertSessions.add(sessionId)
    // Bounded: the oldest alert sessions are forgotten first (a Set iterates in insertion order).
    if (this.#alertSessions.size > 1000) {
      const oldest = this.#alertSessions.values().next().value
      if (oldest !== undefined) this.#alertSessions.delete(oldest)
    }
    path
      .accept({
        source: alert.host,
        raw: JSON.stringify(alertRequest(alert)),
        targets: [ALERT_ITEM],
        metadata: { alert: true },
        sessionId,
        format: 'json',
        msgClass: ALERT_REQUEST_CLASS,
        header: {
          controlId: '',
          messageType: ALERT_REQUEST_CLASS,
          version: '',
          acceptAckType: '',
          appAckType: '',
          hasMsh: false,
        },
      })
      .catch((e: unknown) =>
        this.logger.error(
          { err: errorText(e), host: alert.host },
          'could not route the alert to Ens.Alert',
        ),
      )
  }

  #clock(): ScheduleClock {
    return this.config.clock ?? systemClock
  }

  /** Parse every item's Schedule (named specs from `config.schedules`); bad ones fail the item. */
  #readSchedules(production: Production): void {
    this.#schedules.clear()
    for (const item of production.items) {
      try {
        const text = resolveSchedule(item, this.config.schedules)
        if (text === undefined) continue
        this.#schedules.set(item.name, parseSchedule(text, `item "${item.name}": Schedule`))
      } catch (e) {
        const host = this.#hosts.get(item.name)
        if (host !== undefined)
          this.#hosts.set(item.name, new BrokenHost(item, this.logger, host.kind, e))
        this.logger.error({ host: item.name, err: errorText(e) }, 'bad Schedule')
      }
    }
  }

  /** Apply an item's schedule now and set a timer for its next event. */
  #armSchedule(name: string): void {
    const schedule = this.#schedules.get(name)
    if (schedule === undefined) return
    this.#scheduleTimers.get(name)?.()
    const clock = this.#clock()
    const now = clock.now()
    const next = nextScheduleEvent(schedule, now)
    if (next === undefined) return
    const cancel = clock.setTimer(() => {
      this.#scheduleTimers.delete(name)
      void this.#applySchedule(name).finally(() => {
        if (this.#state === 'RUNNING' || this.#state === 'STARTING') this.#armSchedule(name)
      })
    }, next.at.getTime() - now.getTime())
    this.#scheduleTimers.set(name, cancel)
  }

  /** Start or stop a host as its schedule says for the clock's current time. */
  async #applySchedule(name: string): Promise<void> {
    const schedule = this.#schedules.get(name)
    const host = this.#hosts.get(name)
    if (schedule === undefined || host === undefined || this.#state !== 'RUNNING') return
    const want = scheduleStateAt(schedule, this.#clock().now())
    try {
      if (want === 'START' && host.enabled && host.state !== 'RUNNING' && host.state !== 'PAUSED') {
        this.logger.info({ host: name, schedule: schedule.text }, 'Schedule: starting')
        await host.start()
      } else if (want === 'STOP' && (host.state === 'RUNNING' || host.state === 'PAUSED')) {
        this.logger.info({ host: name, schedule: schedule.text }, 'Schedule: stopping')
        await host.stop()
      }
    } catch (e) {
      this.#alert(name, `Schedule ${want.toLowerCase()} failed: ${errorText(e)}`)
    }
  }

  async *#receivedSince(host: string, since: Date): AsyncIterable<ReceivedMessage> {
    const store = this.#need(this.#store, 'store')
    let cursor: string | undefined
    do {
      const page = await store.query({ hostName: host, since, limit: 1000, cursor })
      for (const r of page.records) {
        if (r.direction === 'outbound') continue
        yield { payload: r.payload, sessionId: r.sessionId, state: r.state, createdAt: r.createdAt }
      }
      cursor = page.nextCursor
    } while (cursor !== undefined)
  }

  /** DuplicateWindow's accepted messages as Redis markers of the service's queue namespace. */
  #sharedAccepted(): SharedAccepted {
    const queue = this.#need(this.#queue, 'queue')
    return {
      get: (service, key) => queue.getMarker(service, `accepted:${key}`),
      set: (service, key, sessionId, ttlMs) =>
        queue.setMarker(service, `accepted:${key}`, sessionId, { ttlMs }),
    }
  }

  #credentials(name: string): EngineCredentials {
    const c = this.config.credentials?.[name]
    if (c === undefined || typeof c.username !== 'string' || c.username === '') {
      throw new EngineError(
        'ENGINE_CREDENTIALS',
        `Credentials "${name}" is not defined in the engine's credentials config (a username and password for that name; li-engine run --credentials FILE)`,
      )
    }
    return { username: c.username, password: typeof c.password === 'string' ? c.password : '' }
  }

  #tls(name: string): SecureContextOptions {
    const cached = this.#tlsCache.get(name)
    if (cached !== undefined) return cached
    const cfg = this.config.tls?.[name]
    if (cfg === undefined) {
      throw new EngineError(
        'ENGINE_TLS_CONFIG',
        `SSLConfig "${name}" is not defined in the engine's tls config (key, cert, ca file paths)`,
      )
    }
    const read = (f: string): Buffer => {
      try {
        return readFileSync(f)
      } catch (e) {
        throw new EngineError(
          'ENGINE_TLS_CONFIG',
          `SSLConfig "${name}": cannot read ${f}: ${errorText(e)}`,
          { cause: e },
        )
      }
    }
    const opts: SecureContextOptions & {
      requestCert?: boolean
      rejectUnauthorized?: boolean
      servername?: string
    } = {}
    if (cfg.key !== undefined) opts.key = read(cfg.key)
    if (cfg.cert !== undefined) opts.cert = read(cfg.cert)
    if (cfg.ca !== undefined) opts.ca = (Array.isArray(cfg.ca) ? cfg.ca : [cfg.ca]).map(read)
    if (cfg.passphrase !== undefined) opts.passphrase = cfg.passphrase
    if (cfg.requestCert !== undefined) opts.requestCert = cfg.requestCert
    opts.rejectUnauthorized = cfg.rejectUnauthorized ?? true
    if (cfg.servername !== undefined) opts.servername = cfg.servername
    this.#tlsCache.set(name, opts)
    return opts
  }

  async #teardown(): Promise<void> {
    for (const name of this.#hosts.keys()) {
      this.metrics.untrackQueue(name)
      this.health.removeCheck(`host:${name}`)
      this.health.removeCheck(`queue:${name}`)
    }
    this.health.removeCheck('hand-off')
    const queue = this.#queue
    const store = this.#store
    const wal = this.#wal
    this.#queue = undefined
    this.#store = undefined
    this.#wal = undefined
    this.#path = undefined
    this.#callReplies = undefined
    this.#tlsCache.clear()
    await queue
      ?.stop()
      .catch((e: unknown) => this.logger.warn({ err: errorText(e) }, 'queue stop failed'))
    await store
      ?.stop()
      .catch((e: unknown) => this.logger.warn({ err: errorText(e) }, 'store stop failed'))
    await wal
      ?.stop()
      .catch((e: unknown) => this.logger.warn({ err: errorText(e) }, 'wal stop failed'))
  }
}

/**
 * The schedule string of an item: its Schedule attribute (or a `Schedule` setting), with a
 * `@Name` resolved from `schedules`; undefined when the item has none.
 */
export function resolveSchedule(
  item: ProductionItem,
  schedules: Record<string, string> | undefined,
): string | undefined {
  const raw = (item.schedule ?? new ItemSettings(item).string('Schedule') ?? '').trim()
  if (raw === '') return undefined
  if (!raw.startsWith('@')) return raw
  const name = raw.slice(1)
  const spec = schedules?.[name]
  if (spec === undefined) {
    throw new EngineError(
      'ENGINE_INVALID_SETTING',
      `item "${item.name}": Schedule "${raw}" names a schedule spec that is not in the engine's schedules config`,
    )
  }
  return spec
}

function isProduction(v: ProductionSource | Production): v is Production {
  return typeof v === 'object' && 'items' in v && Array.isArray(v.items) && 'rules' in v
}

/** The ordering key of a message: the value at an HL7 path like `PID:3.1` or `PID-3.1`. */
export function orderingKey(raw: string, hl7Path: string): string | undefined {
  const m = /^([A-Z0-9]{3})[:-](\d+)(?:\.(\d+))?$/.exec(hl7Path.trim())
  if (m === null) return undefined
  const [, seg, field, comp] = m
  const msh = raw.indexOf('MSH')
  const fs = msh >= 0 ? (raw[msh + 3] ?? '|') : '|'
  const line = raw.split(/\r\n|\r|\n/).find((s) => s.startsWith(`${seg}${fs}`))
  if (line === undefined) return undefined
  const parts = line.split(fs)
  const fieldIndex = seg === 'MSH' ? Number(field) - 1 : Number(field)
  const value = parts[fieldIndex] ?? ''
  const first = value.split('~')[0] ?? ''
  return comp === undefined ? first : first.split('^')[Number(comp) - 1]
}

/**
 * The compiled form of class `className` from `cache`, else compiled from its definition in
 * `defs` and kept; throws ENGINE_INVALID_SETTING when the production has no such class.
 */
function compiled<D, C>(
  cache: Map<string, C>,
  defs: ReadonlyMap<string, D>,
  className: string,
  what: string,
  compile: (def: D) => C,
): C {
  let c = cache.get(className)
  if (c === undefined) {
    const def = defs.get(className)
    if (def === undefined) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `${what} ${className} was not found beside the production`,
      )
    }
    c = compile(def)
    cache.set(className, c)
  }
  return c
}

/** What `reloadRules` changed. */
export interface RulesReload {
  /** Rule classes added, changed or removed. */
  rules: string[]
  /** DTL classes added, changed or removed. */
  transforms: string[]
  /** BPL business process classes added, changed or removed. */
  processes: string[]
  /** Items whose settings changed, restarted with them. */
  items: string[]
  /** Items added to the production, started (when enabled) without restarting the others. */
  added: string[]
  /** Items removed from the production, stopped and forgotten (their queues were empty). */
  removed: string[]
  /**
   * Items removed from the file but kept running: the old rule sent them a message while the
   * routers were being restarted. Reload again once their queues are empty.
   */
  kept: string[]
  /**
   * The hosts restarted: those items, the routers that use a changed rule or DTL, and the
   * business processes whose BPL changed (or that use a changed DTL or rule).
   */
  restarted: string[]
}

/** Keys of `a` and `b` whose values differ (by `key`), or that only one of them has. */
function changedKeys<T>(a: Map<string, T>, b: Map<string, T>, key: (v: T) => string): string[] {
  const out: string[] = []
  for (const [k, v] of b) {
    const old = a.get(k)
    if (old === undefined || key(old) !== key(v)) out.push(k)
  }
  for (const k of a.keys()) if (!b.has(k)) out.push(k)
  return out.sort()
}

/**
 * Item settings and attributes that the message path, the schedules or the loggers are built
 * from at start: a change to them needs a restart.
 */
const RESTART_SETTINGS = ['OrderingKey', 'SearchTableClass', 'ArchiveIO'] as const

/**
 * How the items of `b` differ from those of `a`: items whose settings changed, items added and
 * removed (by name: a renamed item is one removed and one added), and what cannot be applied
 * without a restart.
 */
function itemChanges(
  a: Production,
  b: Production,
): { refused: string[]; changed: string[]; added: string[]; removed: string[] } {
  const refused: string[] = []
  const changed: string[] = []
  const added: string[] = []
  const before = new Map(a.items.map((i) => [i.name, i]))
  const names = new Set(b.items.map((i) => i.name))
  const removed = a.items.filter((i) => !names.has(i.name)).map((i) => i.name)
  for (const next of b.items) {
    const old = before.get(next.name)
    if (old === undefined) {
      // What the message path is built with at start cannot be given to a new item.
      const s = new ItemSettings(next)
      const why: string[] = []
      if (s.string('SearchTableClass') !== undefined) why.push('SearchTableClass')
      if (s.boolean('ArchiveIO', false)) why.push('ArchiveIO')
      if (next.logTraceEvents === true && b.logGeneralTraceEvents !== true)
        why.push('LogTraceEvents')
      if (why.length > 0) refused.push(`new item ${next.name}: ${why.join(', ')}`)
      else added.push(next.name)
      continue
    }
    if (JSON.stringify(old) === JSON.stringify(next)) continue
    const why: string[] = []
    if (old.className !== next.className) why.push('its class')
    for (const name of RESTART_SETTINGS) {
      const value = (i: ProductionItem): string | undefined => new ItemSettings(i).string(name)
      if (value(old) !== value(next)) why.push(name)
    }
    if ((old.schedule ?? '') !== (next.schedule ?? '')) why.push('Schedule')
    if ((old.logTraceEvents ?? false) !== (next.logTraceEvents ?? false)) why.push('LogTraceEvents')
    if (why.length > 0) refused.push(`item ${next.name}: ${why.join(', ')}`)
    else changed.push(next.name)
  }
  return { refused, changed, added, removed }
}

/** What differs between two productions besides items, rule classes, DTLs and lookup tables. */
function structuralChanges(a: Production, b: Production): string[] {
  const out: string[] = []
  const rest = (p: Production): string =>
    JSON.stringify([p.name, p.attributes, p.settings, p.actorPoolSize, p.testingEnabled])
  if (rest(a) !== rest(b)) out.push('the production attributes or settings')
  const maps = (m: Map<string, unknown> | undefined): string =>
    JSON.stringify([...(m ?? new Map<string, unknown>()).entries()])
  if (maps(a.customSchemas) !== maps(b.customSchemas)) out.push('the custom schemas')
  if (maps(a.searchTables) !== maps(b.searchTables)) out.push('the search tables')
  return out
}

/** The source of test messages (`sendTestMessage`), as IRIS names its testing service. */
export const TESTING_SERVICE = 'EnsLib.Testing.Service'

/** Most characters of an edited message (`resend` with `raw`): the parser's own limit. */
const MAX_EDITED_CHARS = DEFAULT_MAX_SIZE

/**
 * An edited message as it is resent: line ends (\n or \r\n, as pasted into a JSON body) become
 * the segment terminator \r, with no empty segment at the end. Refused, saying why, when it is not
 * one HL7 v2 message.
 */
function editedMessage(text: string, what: string): string {
  if (typeof text !== 'string' || text.trim().length === 0 || text.length > MAX_EDITED_CHARS) {
    throw new EngineError(
      'ENGINE_INVALID_ARGUMENT',
      `${what} must be 1 to ${MAX_EDITED_CHARS} characters of HL7 v2 text`,
    )
  }
  const raw = text.replace(/\r\n|\n/g, '\r').replace(/\r+$/, '') + '\r'
  try {
    parseMessage(raw)
  } catch (e) {
    throw new EngineError(
      'ENGINE_INVALID_ARGUMENT',
      `${what} is not a valid HL7 v2 message (${errorText(e)}); segments end with a carriage return and the first is MSH`,
      { cause: e },
    )
  }
  return raw
}
