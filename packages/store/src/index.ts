export { StoreError, isStoreError } from './errors.js'
export type { StoreErrorCode } from './errors.js'
export {
  MessageStore,
  DEFAULT_DATABASE_FILE,
  MAX_QUERY_LIMIT,
  MAX_SEARCH_VALUES,
  MAX_SEARCH_VALUE_LENGTH,
} from './message-store.js'
export type { MessageStoreOptions, MessageStoreEvents, FailedQuery } from './message-store.js'
export { SqliteBackend } from './sqlite-backend.js'
export type { SqliteBackendOptions } from './sqlite-backend.js'
export { WorkerSqliteBackend } from './worker-backend.js'
export { SQLITE_SCHEMA_VERSION } from './sqlite-migrations.js'
export type {
  StoreBackend,
  WriteOp,
  WriteOutcome,
  PurgeChunkRequest,
  PurgeChunkResult,
} from './backend.js'
export { MESSAGE_STATES, HOP_STATES, CONTAINS_SCAN_LIMIT } from './types.js'
export type {
  MessageState,
  HopState,
  MessageDirection,
  MessageMetadata,
  StoreMessageInput,
  SearchValue,
  SearchQuery,
  MessageRecord,
  StateChange,
  MessageDetail,
  HopInput,
  Hop,
  MessageQuery,
  QueryResult,
  PurgeOptions,
  SupersedeInput,
} from './types.js'
