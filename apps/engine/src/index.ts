// Hand-written export list of the app (the `li-engine` bin is dist/cli.js).
export { AppError, isAppError } from './errors.js'
export type { AppErrorCode } from './errors.js'
export { createApp, HOST_ACTIONS, SCOPES, tokensEqual } from './app.js'
export {
  Cluster,
  PeerHttpError,
  PEER_TIMEOUT_MS,
  PEER_CACHE_MS,
  encodeClusterCursor,
  decodeClusterCursor,
} from './cluster.js'
export type { ClusterOptions, ClusterCursor, EngineOutcome, NamedPeer } from './cluster.js'
export type { AppDeps } from './app.js'
export { runEngine, LOOKUP_TABLES_FILE } from './main.js'
export type { RunningEngine, RunEngineOptions } from './main.js'
export {
  parseRunConfig,
  parsePort,
  RUN_DEFAULTS,
  RUN_OPTIONS,
  SYNC_MODES,
  LOG_LEVELS,
  CHECK_OPTIONS,
  pluginNames,
  parsePeers,
  parseInstance,
} from './config.js'
export type { RunConfig, SyncMode, LogLevel, PeerSpec } from './config.js'
export { ensureAdminToken, ADMIN_TOKEN_FILE } from './admin-token.js'
export type { AdminToken } from './admin-token.js'
export { loadPlugins, PLUGIN_API } from './plugins.js'
export { readTlsConfig } from './tls-config.js'
export { readCredentialsConfig } from './credentials-config.js'
export { EventLog } from './event-log.js'
export type { EventEntry, EventFilter } from './event-log.js'
export type { PluginApi } from './plugins.js'
export { checkProductionFile, formatCheckReport, CheckInputError } from './check.js'
export {
  parseSendConfig,
  readMessages,
  sendMessages,
  formatSendSummary,
  SEND_OPTIONS,
} from './send.js'
export type { SendConfig, SendSummary } from './send.js'
export { appVersion } from './version.js'
