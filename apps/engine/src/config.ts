/**
 * Configuration of `li-engine run`: command-line options first, then the environment, then the
 * embedded defaults (data dir ./data, in-process queues, SQLite store, WAL in fsync mode).
 * Unknown options and bad values are refused with a message that names the option and the value.
 */
import { isIP } from 'node:net'
import { parseArgs } from 'node:util'
import { AppError } from './errors.js'

/** WAL sync modes, as `@li/wal` names them. */
export const SYNC_MODES = ['fsync', 'async', 'none'] as const
/** A WAL sync mode. */
export type SyncMode = (typeof SYNC_MODES)[number]

/** pino levels accepted by `--log-level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
/** A pino level. */
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Everything `li-engine run` needs. */
export interface RunConfig {
  production: string
  dataDir: string
  httpHost: string
  httpPort: number
  redisUrl?: string
  /** Redis key prefix of the queues (LI_QUEUE_PREFIX; the engine's default `li:queue`). */
  queuePrefix?: string
  syncMode: SyncMode
  logLevel: LogLevel
  adminToken?: string
  /** Seconds (GracefulShutdown). */
  shutdownTimeout: number
  /** Seconds (GracefulShutdown). */
  drainTimeout: number
  /** Plugin modules to load before the production (`LI_PLUGINS`, then `--plugin`). */
  plugins?: string[]
  /** SQLite store in a worker thread (`LI_STORE_WORKER`, `1` or `0`; default on). */
  storeWorker?: boolean
  /**
   * MiB of queued message bodies the in-process queues keep in memory before spilling to
   * `<dataDir>/queue-spill` (`LI_QUEUE_MEMORY_MB`; the engine's default 64).
   */
  queueMemoryMb?: number
  /**
   * JSON file naming the TLS settings of each SSLConfig the production uses (`--tls-config`,
   * `LI_TLS_CONFIG`); read by `readTlsConfig` at start.
   */
  tlsConfig?: string
  /**
   * JSON file with the user name and password of each Credentials name the production uses
   * (`--credentials`, `LI_CREDENTIALS`); read by `readCredentialsConfig` at start.
   */
  credentials?: string
  /**
   * Days a completed message stays in the message store before the scheduled purge removes it
   * (`--retention-days`, `LI_RETENTION_DAYS`; 0 keeps everything; the engine's default 30).
   */
  retentionDays?: number
  /** Seconds between scheduled purges (`LI_PURGE_INTERVAL`; the engine's default 3600). */
  purgeInterval?: number
  /** This engine's name in cluster answers (`--instance`, `LI_INSTANCE`; unset: `os.hostname()`). */
  instance?: string
  /** The other engines asked by `scope=cluster` (`--peers`, `LI_PEERS`); unset: none. */
  peers?: PeerSpec
}

/**
 * The other engines of a cluster: fixed HTTP base URLs, or a DNS name whose A and AAAA records are
 * the engines (a Kubernetes headless Service), each reached at `http://<address>:<port>`.
 */
export type PeerSpec =
  { kind: 'urls'; urls: string[] } | { kind: 'dns'; name: string; port: number }

/** A peer URL reduced to its origin and path, without a trailing slash. */
function peerUrl(value: string, what: string): string {
  // Without a scheme, `10.1.2.3:8080` is no URL and `host:8080` one of scheme `host:`.
  if (!/^https?:\/\//i.test(value)) {
    throw bad(`${what}: "${value}" must be an http:// or https:// URL (e.g. http://10.1.2.3:8080)`)
  }
  let url: URL
  try {
    url = new URL(value)
  } catch (e) {
    throw bad(
      `${what}: "${value}" is not a URL; give http(s)://host:port of each other engine, comma separated, or dns:<name>:<port>`,
      e,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw bad(`${what}: "${value}" must be an http:// or https:// URL`)
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw bad(
      `${what}: "${value}" must not carry credentials, a query or a fragment (peers are called with this engine's admin token)`,
    )
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/**
 * Parse `--peers` / `LI_PEERS`: `http://10.1.2.3:8080,http://10.1.2.4:8080`, or
 * `dns:<name>:<port>` (resolved when needed). Throws AppError `APP_BAD_ARGUMENT` naming `what`.
 */
export function parsePeers(value: string, what: string): PeerSpec {
  const v = value.trim()
  if (v.startsWith('dns:')) {
    const m = /^dns:([^:\s]+):([^:\s]*)$/.exec(v)
    const name = m?.[1] ?? ''
    if (m === null || !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(name) || isIP(name) !== 0) {
      throw bad(
        `${what} must be dns:<name>:<port> with a DNS name (e.g. dns:li-engine-headless:8080), got "${value}"`,
      )
    }
    return { kind: 'dns', name, port: parsePort(m[2] ?? '', `${what} (port of ${name})`) }
  }
  const parts = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (parts.length === 0) {
    throw bad(
      `${what} needs http(s)://host:port of each other engine, comma separated, or dns:<name>:<port>`,
    )
  }
  const urls: string[] = []
  for (const p of parts) {
    const u = peerUrl(p, what)
    if (!urls.includes(u)) urls.push(u)
  }
  return { kind: 'urls', urls }
}

/** Parse `--instance` / `LI_INSTANCE`: 1–100 letters, digits or `._:-`. */
export function parseInstance(value: string, what: string): string {
  const v = value.trim()
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/.test(v)) {
    throw bad(
      `${what} must be 1-100 letters, digits or ._:- starting with a letter or digit (e.g. the pod name), got "${value}"`,
    )
  }
  return v
}

/** Defaults of the embedded mode. */
export const RUN_DEFAULTS = {
  dataDir: './data',
  httpHost: '0.0.0.0',
  httpPort: 8080,
  syncMode: 'fsync',
  logLevel: 'info',
  shutdownTimeout: 30,
  drainTimeout: 10,
} as const satisfies Partial<RunConfig>

function bad(message: string, cause?: unknown): AppError {
  return new AppError('APP_BAD_ARGUMENT', message, cause === undefined ? undefined : { cause })
}

/** Parse a TCP port (1–65535), naming `what` in the error. */
export function parsePort(value: string, what: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw bad(`${what} must be a port number from 1 to 65535, got "${value}"`)
  }
  return n
}

function parseSeconds(value: string, what: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw bad(`${what} must be a positive number of seconds, got "${value}"`)
  }
  return n
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw bad(`${what} must be one of ${allowed.join(', ')}, got "${value}"`)
  }
  return value as T
}

function redis(value: string, what: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch (e) {
    throw bad(`${what} must be a redis:// or rediss:// URL, got "${value}"`, e)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw bad(`${what} must be a redis:// or rediss:// URL, got "${value}"`)
  }
  return value
}

/** Run `node:util` parseArgs strictly, turning its errors into AppError with the same text. */
export function strictParse<
  O extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>,
>(
  args: string[],
  options: O,
  allowPositionals = true,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>
> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals })
  } catch (e) {
    throw bad(`${e instanceof Error ? e.message : String(e)}. See --help.`, e)
  }
}

/** Options of `li-engine run`. */
export const RUN_OPTIONS = {
  'data-dir': { type: 'string' },
  'http-host': { type: 'string' },
  'http-port': { type: 'string' },
  'redis-url': { type: 'string' },
  sync: { type: 'string' },
  'log-level': { type: 'string' },
  plugin: { type: 'string', multiple: true },
  'tls-config': { type: 'string' },
  credentials: { type: 'string' },
  'retention-days': { type: 'string' },
  peers: { type: 'string' },
  instance: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Options of `li-engine check`. */
export const CHECK_OPTIONS = {
  plugin: { type: 'string', multiple: true },
  'tls-config': { type: 'string' },
  credentials: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** The plugin names of `LI_PLUGINS` (comma-separated) followed by `--plugin` options, without repeats. */
export function pluginNames(
  options: readonly string[] | undefined,
  env: NodeJS.ProcessEnv,
): string[] {
  const fromEnv = (env.LI_PLUGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  const out: string[] = []
  for (const n of [...fromEnv, ...(options ?? [])]) {
    const t = n.trim()
    if (t === '') throw bad('--plugin needs a module path or package name')
    if (!out.includes(t)) out.push(t)
  }
  return out
}

/** Build the run configuration from `args` (after `run`) and `env`. */
export function parseRunConfig(args: string[], env: NodeJS.ProcessEnv): RunConfig {
  const { values, positionals } = strictParse(args, RUN_OPTIONS)
  if (positionals.length > 1) {
    throw bad(`run takes one production file, got ${positionals.length}: ${positionals.join(' ')}`)
  }
  const production = positionals[0] ?? env.LI_PRODUCTION
  if (!production) {
    throw bad('run needs a production file: li-engine run <production.xml> (or set LI_PRODUCTION)')
  }
  const pick = (opt: string | undefined, envName: string): [string | undefined, string] =>
    opt !== undefined
      ? [opt, `--${envName.slice(3).toLowerCase().replace(/_/g, '-')}`]
      : [env[envName], envName]
  const [dataDir] = pick(values['data-dir'], 'LI_DATA_DIR')
  const [httpHost] = pick(values['http-host'], 'LI_HTTP_HOST')
  const [httpPort, httpPortName] = pick(values['http-port'], 'LI_HTTP_PORT')
  const [redisUrl, redisName] = pick(values['redis-url'], 'LI_REDIS_URL')
  const [sync, syncName] =
    values.sync !== undefined ? [values.sync, '--sync'] : [env.LI_SYNC_MODE, 'LI_SYNC_MODE']
  const [logLevel, logName] = pick(values['log-level'], 'LI_LOG_LEVEL')
  const [tlsConfig] = pick(values['tls-config'], 'LI_TLS_CONFIG')
  const [credentials] = pick(values.credentials, 'LI_CREDENTIALS')
  const [retention, retentionName] = pick(values['retention-days'], 'LI_RETENTION_DAYS')
  const [peers, peersName] = pick(values.peers, 'LI_PEERS')
  const [instance, instanceName] = pick(values.instance, 'LI_INSTANCE')
  const config: RunConfig = {
    production,
    dataDir: dataDir || RUN_DEFAULTS.dataDir,
    httpHost: httpHost || RUN_DEFAULTS.httpHost,
    httpPort: httpPort ? parsePort(httpPort, httpPortName) : RUN_DEFAULTS.httpPort,
    syncMode: sync ? oneOf(sync, SYNC_MODES, syncName) : RUN_DEFAULTS.syncMode,
    logLevel: logLevel ? oneOf(logLevel, LOG_LEVELS, logName) : RUN_DEFAULTS.logLevel,
    shutdownTimeout: env.LI_SHUTDOWN_TIMEOUT
      ? parseSeconds(env.LI_SHUTDOWN_TIMEOUT, 'LI_SHUTDOWN_TIMEOUT')
      : RUN_DEFAULTS.shutdownTimeout,
    drainTimeout: env.LI_DRAIN_TIMEOUT
      ? parseSeconds(env.LI_DRAIN_TIMEOUT, 'LI_DRAIN_TIMEOUT')
      : RUN_DEFAULTS.drainTimeout,
  }
  if (instance !== undefined && instance !== '') {
    config.instance = parseInstance(instance, instanceName)
  }
  if (peers !== undefined && peers !== '') config.peers = parsePeers(peers, peersName)
  const plugins = pluginNames(values.plugin, env)
  if (plugins.length > 0) config.plugins = plugins
  if (redisUrl) config.redisUrl = redis(redisUrl, redisName)
  if (env.LI_ADMIN_TOKEN) config.adminToken = env.LI_ADMIN_TOKEN
  if (tlsConfig) config.tlsConfig = tlsConfig
  if (credentials) config.credentials = credentials
  if (retention !== undefined && retention !== '') {
    const days = Number(retention)
    if (!/^\d+(\.\d+)?$/.test(retention.trim()) || !Number.isFinite(days) || days > 36_500) {
      throw bad(
        `${retentionName} must be a number of days from 0 to 36500 (0 keeps every message), got "${retention}"`,
      )
    }
    config.retentionDays = days
  }
  if (env.LI_PURGE_INTERVAL) {
    config.purgeInterval = parseSeconds(env.LI_PURGE_INTERVAL, 'LI_PURGE_INTERVAL')
  }
  if (env.LI_STORE_WORKER) {
    config.storeWorker = oneOf(env.LI_STORE_WORKER, ['0', '1'], 'LI_STORE_WORKER') === '1'
  }
  if (env.LI_QUEUE_MEMORY_MB) {
    const mb = Number(env.LI_QUEUE_MEMORY_MB)
    if (!Number.isInteger(mb) || mb < 0 || mb > 1_048_576) {
      throw bad(
        `LI_QUEUE_MEMORY_MB must be a whole number of MiB from 0 to 1048576, got "${env.LI_QUEUE_MEMORY_MB}"`,
      )
    }
    config.queueMemoryMb = mb
  }
  if (env.LI_QUEUE_PREFIX) {
    if (!/^[A-Za-z0-9:_.-]{1,100}$/.test(env.LI_QUEUE_PREFIX)) {
      throw bad(
        `LI_QUEUE_PREFIX must be 1-100 letters, digits or :_.-, got "${env.LI_QUEUE_PREFIX}"`,
      )
    }
    config.queuePrefix = env.LI_QUEUE_PREFIX
  }
  return config
}
