/**
 * `li-engine run`: config → Engine (data dir, WAL sync mode, Redis, timeouts, pino) → load the
 * production → start → HTTP (hono on @hono/node-server) → graceful shutdown on SIGTERM/SIGINT.
 *
 * Shutdown, in the phases of `GracefulShutdown`: readiness goes false and the services stop
 * accepting (their listeners close; in-flight messages finish); the engine's in-flight messages
 * drain for up to the drain timeout; routers and operations stop in reverse start order (an
 * operation in the middle of a retry hands its message back; the WAL still holds it); then the
 * data layer and the HTTP server close and the process exits 0. A second signal exits at once:
 * everything acknowledged is already in the write-ahead log and is resumed on the next start.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { serve } from '@hono/node-server'
import { Engine, HttpServiceHost, LookupTables } from '@li/engine'
import type { Host } from '@li/engine'
import { GracefulShutdown } from '@li/health'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { ensureAdminToken } from './admin-token.js'
import { createApp } from './app.js'
import type { RunConfig } from './config.js'
import { AppError } from './errors.js'
import { loadPlugins } from './plugins.js'
import { readTlsConfig } from './tls-config.js'
import { readCredentialsConfig } from './credentials-config.js'
import { EventLog } from './event-log.js'

/** File under the data dir that keeps lookup tables edited through the API. */
export const LOOKUP_TABLES_FILE = 'lookup-tables.xml'

/** A running engine with its HTTP server. */
export interface RunningEngine {
  engine: Engine
  logger: Logger
  /** The HTTP port actually bound. */
  httpPort: number
  shutdown: GracefulShutdown
}

/** Options of {@link runEngine} (tests and the load test replace the defaults). */
export interface RunEngineOptions {
  /** Logger; default pino on stdout at `config.logLevel`. */
  logger?: Logger
  /** Install SIGTERM/SIGINT handlers that exit the process (default true). */
  signals?: boolean
  /**
   * The event log served by `GET /api/events`; default a new one fed by the default logger (with
   * `logger` given, the caller feeds it).
   */
  events?: EventLog
}

interface WithAddress {
  address(): AddressInfo | undefined
}

function hasAddress(h: Host): h is Host & WithAddress {
  return typeof (h as Partial<WithAddress>).address === 'function'
}

async function loadSavedTables(dataDir: string, engine: Engine, logger: Logger): Promise<void> {
  const file = path.join(dataDir, LOOKUP_TABLES_FILE)
  let xml: string
  try {
    xml = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw e
  }
  const saved = LookupTables.fromXml(xml, file)
  for (const [name, table] of saved.tables) engine.lookupTables.set(name, table)
  logger.info({ file, tables: saved.tables.size }, 'lookup tables edited through the API loaded')
}

async function saveTables(dataDir: string, tables: LookupTables): Promise<void> {
  const file = path.join(dataDir, LOOKUP_TABLES_FILE)
  const tmp = `${file}.tmp`
  await writeFile(tmp, tables.toXml(), { mode: 0o600 })
  await rename(tmp, file)
}

/**
 * Starts a production and its HTTP server. Throws AppError `APP_STARTUP_FAILED` with a message
 * that says what failed (unreadable production, port in use...).
 */
export async function runEngine(
  config: RunConfig,
  options: RunEngineOptions = {},
): Promise<RunningEngine> {
  // stdout, and from warn up the in-memory event log that GET /api/events serves.
  const events = options.events ?? new EventLog()
  const logger =
    options.logger ??
    pino(
      { level: config.logLevel, base: { app: 'li-engine' } },
      pino.multistream([
        { level: config.logLevel, stream: pino.destination(1) },
        { level: 'warn', stream: events },
      ]),
    )
  // Plugins register functions and host classes the production may need: before loading it.
  if (config.plugins !== undefined && config.plugins.length > 0) {
    await loadPlugins(config.plugins)
    logger.info({ plugins: config.plugins }, 'plugins loaded')
  }
  const dataDir = path.resolve(config.dataDir)
  await mkdir(dataDir, { recursive: true })
  const token = await ensureAdminToken(dataDir, config.adminToken)
  if (token.source === 'env') logger.info({}, 'admin API token from LI_ADMIN_TOKEN')
  else
    logger.info(
      { file: token.file, created: token.created },
      'admin API token file (Authorization: Bearer <contents>)',
    )

  const tls = config.tlsConfig === undefined ? undefined : await readTlsConfig(config.tlsConfig)
  if (tls !== undefined)
    logger.info({ file: config.tlsConfig, sslConfigs: Object.keys(tls) }, 'TLS config loaded')
  const credentials =
    config.credentials === undefined ? undefined : await readCredentialsConfig(config.credentials)
  if (credentials !== undefined)
    logger.info(
      { file: config.credentials, credentials: Object.keys(credentials) },
      'credentials loaded',
    )
  const engine = new Engine({
    dataDir,
    ...(tls === undefined ? {} : { tls }),
    ...(credentials === undefined ? {} : { credentials }),
    syncMode: config.syncMode,
    ...(config.redisUrl === undefined ? {} : { redisUrl: config.redisUrl }),
    ...(config.queuePrefix === undefined ? {} : { queuePrefix: config.queuePrefix }),
    shutdownTimeout: config.shutdownTimeout,
    // The SQLite store runs in a worker thread unless LI_STORE_WORKER=0 (for comparisons).
    storeWorker: config.storeWorker ?? process.env.LI_STORE_WORKER !== '0',
    ...(config.queueMemoryMb === undefined
      ? {}
      : { queueMemoryBytes: config.queueMemoryMb * 1024 * 1024 }),
    ...(config.retentionDays === undefined ? {} : { retentionDays: config.retentionDays }),
    ...(config.purgeInterval === undefined ? {} : { purgeInterval: config.purgeInterval }),
    // The drain is done by GracefulShutdown below; Engine.stop() then only tears down.
    drainTimeout: 0.001,
    logger,
  })
  try {
    await engine.load({ path: config.production })
  } catch (e) {
    throw new AppError(
      'APP_STARTUP_FAILED',
      `cannot load production ${config.production}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    )
  }
  await loadSavedTables(dataDir, engine, logger)

  // Critical checks: without the WAL or the store nothing can be accepted safely, so readiness
  // goes false. Hosts and queues (registered by the engine) are non-critical: a receiver that is
  // down degrades /health without taking the instance out of service. Before the engine runs,
  // readiness is false anyway (the registry is still starting), so these only look once it does.
  engine.health.addCheck(
    'wal',
    () => engine.state !== 'RUNNING' || engine.wal.stats().pending >= 0,
    { critical: true, timeoutMs: 2000 },
  )
  engine.health.addCheck(
    'store',
    async () => {
      if (engine.state === 'RUNNING') await engine.store.query({ limit: 1 })
      return true
    },
    { critical: true, timeoutMs: 2000 },
  )

  const app = createApp({
    engine,
    adminToken: token.token,
    logger,
    onLookupTablesChanged: (tables) => saveTables(dataDir, tables),
    instance: config.instance ?? os.hostname(),
    peers: config.peers,
    events,
  })
  // HTTP first: /health/live, /metrics and GET /api/production answer while the engine starts,
  // which can take minutes when many WAL entries of the previous run are resumed; readiness
  // stays false until the production runs. (Served only after start(), a large backlog outlived
  // the Kubernetes startup probe and the pod was restarted before it could ever finish.)
  let httpPort: number
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      { fetch: app.fetch, port: config.httpPort, hostname: config.httpHost },
      (info) => {
        httpPort = info.port
        resolve(s)
      },
    )
    s.once('error', reject)
  }).catch((e: unknown) => {
    throw new AppError(
      'APP_STARTUP_FAILED',
      `cannot listen on http ${config.httpHost}:${config.httpPort}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    )
  })
  const closeHttp = (): Promise<void> => {
    const s = server as { closeAllConnections?: () => void; close: (cb: () => void) => void }
    s.closeAllConnections?.()
    return new Promise<void>((r) => s.close(() => r()))
  }
  logger.info({ protocol: 'http', port: httpPort!, address: config.httpHost }, 'listening')

  // A signal while the production starts (a long WAL resume after an outage): stop the start at a
  // safe point, close everything and exit 0; WAL entries not resumed yet stay in the WAL for the
  // next start. Without this, the default signal action killed the process mid-resume. A second
  // signal exits at once (1): everything acknowledged is in the WAL.
  let earlyStop: Promise<void> | undefined
  const onEarlySignal = (signal: NodeJS.Signals): void => {
    if (earlyStop !== undefined) {
      logger.warn({ signal }, 'second signal during start-up: exiting now')
      process.exit(1)
    }
    logger.info({ signal }, 'signal during start-up: stopping the start')
    earlyStop = engine.stop()
  }
  const earlySignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']
  if (options.signals !== false) for (const s of earlySignals) process.on(s, onEarlySignal)
  const removeEarly = (): void => {
    for (const s of earlySignals) process.off(s, onEarlySignal)
  }
  try {
    await engine.start()
    removeEarly()
  } catch (e) {
    if (earlyStop !== undefined) {
      await earlyStop
      await closeHttp()
      removeEarly()
      logger.info(
        {},
        'stopped during start-up; WAL entries not resumed yet are resumed at the next start',
      )
      throw new AppError('APP_STOPPED_WHILE_STARTING', 'stopped by a signal while starting', {
        cause: e,
      })
    }
    removeEarly()
    await closeHttp()
    throw new AppError(
      'APP_STARTUP_FAILED',
      `engine failed to start: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    )
  }

  const shutdown = new GracefulShutdown({
    timeout: config.shutdownTimeout,
    drainTimeout: config.drainTimeout,
    health: engine.health,
    logger,
  })
  const hosts = engine.getHosts()
  shutdown.registerListener('services', async () => {
    // Looked up now: POST /api/production/reload may have replaced a host since the start.
    for (const h of [...engine.getHosts()].reverse()) if (h.kind === 'service') await h.stop()
  })
  shutdown.registerDrain('in-flight messages', async () => {
    for (;;) {
      const s = await engine.getStatus()
      const queued = s.items.reduce((n, i) => n + (i.queueDepth ?? 0), 0)
      if (s.inFlight === 0 && queued === 0) return
      await new Promise((r) => setTimeout(r, 50))
    }
  })
  // Stopped in reverse order of registration: register in start order (operations first).
  for (const h of hosts) {
    const name = h.name
    if (h.kind !== 'service')
      shutdown.registerHost({ name, stop: () => engine.getHost(name)?.stop() })
  }
  shutdown.registerHandler('engine', () => engine.stop())
  shutdown.registerHandler('http', closeHttp)
  if (options.signals !== false) shutdown.installSignalHandlers()

  for (const h of hosts) {
    if (hasAddress(h)) {
      const a = h.address()
      if (a !== undefined)
        logger.info(
          {
            host: h.name,
            // HTTPService shares the listener base with the MLLP TCPService.
            protocol: h instanceof HttpServiceHost ? 'http' : 'mllp',
            port: a.port,
            address: a.address,
          },
          'listening',
        )
    }
  }
  const status = await engine.getStatus()
  logger.info(
    {
      production: status.production,
      items: status.items.map((i) => ({
        name: i.name,
        className: i.className,
        kind: i.kind,
        state: i.state,
        enabled: i.enabled,
      })),
      dataDir,
      syncMode: config.syncMode,
      queues: config.redisUrl === undefined ? 'memory' : 'redis',
      instance: config.instance ?? os.hostname(),
      peers:
        config.peers === undefined
          ? 'none'
          : config.peers.kind === 'dns'
            ? `dns:${config.peers.name}:${config.peers.port}`
            : config.peers.urls,
      // 0: scheduled purges are off and the message store grows until the disk is full.
      retentionDays: status.retention.days,
    },
    'production started',
  )
  return { engine, logger, httpPort: httpPort!, shutdown }
}
