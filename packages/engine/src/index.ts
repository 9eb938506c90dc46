// Hand-written export list (no `export *`). Each section is owned by one area of the package.

// --- errors -------------------------------------------------------------------------------
export { EngineError, isEngineError } from './errors.js'
export type { EngineErrorCode } from './errors.js'

// --- production model and contracts ------------------------------------------------------
export type {
  SettingTarget,
  ProductionSetting,
  ProductionItem,
  HostKind,
  Production,
  RuleClassDefinition,
  TransformDefinition,
  RuleContext,
  RouteAction,
  RouteResult,
  CompiledRules,
  CompiledTransform,
} from './production/types.js'

// --- IRIS: production loader, rules, DTL, lookup tables, compatibility report (section: iris)
export type { NativeRule, NativeCondition, ProductionIssue } from './production/types.js'
export {
  itemSetting,
  productionSetting,
  splitList,
  hostKindOf,
  startOrder,
  stopOrder,
} from './production/model.js'
export type { HostKindResolver } from './production/model.js'
export { originOf } from './production/origin.js'
export type { Origin } from './production/origin.js'
export { validateProduction } from './production/validate.js'
export type { ValidateOptions } from './production/validate.js'
export { defineProduction, ITEM_TYPES, ADAPTER_SETTINGS } from './production/define.js'
export type {
  NativeProduction,
  NativeItem,
  ItemType,
  SettingValue,
  DefineProductionOptions,
} from './production/define.js'
export {
  loadProduction,
  loadProductionFile,
  readIrisSource,
  createIrisBundle,
  productionFromBundle,
  compileReferenced,
} from './iris/loader.js'
export type {
  ProductionSource,
  LoadProductionOptions,
  IrisBundle,
  OtherClass,
} from './iris/loader.js'
export { toXml } from './iris/to-xml.js'
export type { ToXmlOptions } from './iris/to-xml.js'
export {
  parseReplyCodeActions,
  ackActionFor,
  DEFAULT_REPLY_CODE_ACTIONS,
} from './iris/reply-code-actions.js'
export type {
  ReplyCodeAction,
  ReplyDecision,
  ReplyContext,
  ReplyOutcome,
  ReplyActionLetter,
} from './iris/reply-code-actions.js'
export {
  ALERT_REQUEST_PROPERTIES,
  compileRules,
  compileGeneralRule,
  routerCategories,
} from './iris/rules.js'
export type {
  CompiledRuleClass,
  CompiledGeneralRule,
  GeneralRuleInput,
  GeneralRuleResult,
} from './iris/rules.js'
export { customSchemaDefinition } from './iris/custom-schema.js'
export type { CompileOptions } from './iris/schemas.js'
export { compileProcess, BPL_MAX_ITERATIONS } from './iris/bpl.js'
export type {
  ProcessDefinition,
  CompiledProcess,
  ProcessResolver,
  BplCall,
  BplRunInput,
  BplRunResult,
} from './iris/bpl.js'
export { compileTransform } from './iris/dtl.js'
export type { CompiledDtl, DtlHeader, TransformOutput } from './iris/dtl.js'
export { intersects, registerIrisFunction, setInFileRecheckInterval } from './iris/expression.js'
export type { IrisFunction, Value as IrisValue } from './iris/expression.js'
export { irisPathToHl7 } from './iris/virtual-path.js'
export type { SchemaProvider } from './iris/virtual-path.js'
export { LookupTables } from './iris/lookup-tables.js'
export type { LookupTableSummary } from './iris/lookup-tables.js'
export { checkProduction, checkBundle, formatCompatibilityReport } from './iris/check.js'
export type {
  CompatibilityReport,
  CompatibilityEntry,
  SupportStatus,
  CheckOptions,
} from './iris/check.js'
// (end iris)

// --- runtime: hosts, adapters, Engine (section: runtime) ----------------------------------
export {
  ALERT_ITEM,
  ALERT_REQUEST_CLASS,
  Engine,
  TESTING_SERVICE,
  alertRequest,
  orderingKey,
  resolveSchedule,
} from './runtime/engine.js'
export type {
  EngineConfig,
  EngineEvents,
  RulesReload,
  EngineItemStatus,
  EngineState,
  EngineStatus,
  EngineTlsConfig,
  EngineCredentials,
} from './runtime/engine.js'
export { DEFAULT_PURGE_INTERVAL, DEFAULT_RETENTION_DAYS } from './runtime/retention.js'
export {
  HL7_SEARCH_TABLE_CLASS,
  HL7_SEARCH_TABLE_ITEMS,
  compileSearchTable,
  normaliseSearchValue,
  searchTableItems,
} from './iris/search-table.js'
export type {
  CompiledSearchTable,
  SearchTableDefinition,
  SearchTableItem,
  SearchValue,
} from './iris/search-table.js'
export type { PurgeRequest, RetentionRun, RetentionStatus } from './runtime/retention.js'
export { Host, errorText } from './runtime/host.js'
export type { HostState, HostStatus } from './runtime/host.js'
export type { EngineAlert, HostContext } from './runtime/host-context.js'
export { HostRegistry, defaultHostRegistry, registerHostClass } from './runtime/host-registry.js'
export type { HostClass, HostFactory } from './runtime/host-registry.js'
export { BUILTIN_HOST_CLASSES, registerBuiltinHosts } from './runtime/builtin-hosts.js'
export { QueueHost, sleep } from './runtime/queue-host.js'
export type { Disposition } from './runtime/queue-host.js'
export { OperationHost } from './runtime/operation-host.js'
export type {
  AbortOutcome,
  Delivery,
  HeldMessage,
  OperationTiming,
} from './runtime/operation-host.js'
export { MAX_ABORT_ALL, MAX_QUEUE_PAGE } from './runtime/queue-view.js'
export type {
  AbortAllResult,
  AbortResult,
  QueueContents,
  QueueEntry,
} from './runtime/queue-view.js'
export { MessagePath } from './runtime/message-path.js'
export type {
  AcceptInput,
  Accepted,
  Admitted,
  ForwardOutput,
  MessagePathOptions,
  PathOutcome,
  WalCompletion,
} from './runtime/message-path.js'
export type { StoreBatcherOptions } from './runtime/store-batcher.js'
export { InboundCore } from './runtime/inbound.js'
export type { AckDecision } from './runtime/inbound.js'
export {
  DEFAULT_HL7_ENCODING,
  ItemSettings,
  checkMllpFraming,
  isMllpFraming,
  knownEncoding,
  nodeEncoding,
  parseAckMode,
  parseBatchHandling,
} from './runtime/settings.js'
export type { AckMode, BatchHandling } from './runtime/settings.js'
export {
  nextScheduleEvent,
  parseSchedule,
  scheduleStateAt,
  systemClock,
} from './runtime/schedule.js'
export type { Schedule, ScheduleClock, ScheduleEvent } from './runtime/schedule.js'
export { decodeEnvelope, encodeEnvelope } from './runtime/envelope.js'
export type { BatchRef, Envelope } from './runtime/envelope.js'
export { peekHeader } from './runtime/hl7-peek.js'
export type { HeaderPeek } from './runtime/hl7-peek.js'
export { defaultProductionTools } from './runtime/production-tools.js'
export type { ProductionTools } from './runtime/production-tools.js'
export type {
  HopStateLike,
  MetricsPort,
  QueueMessageLike,
  QueuePort,
  StorePort,
  StoredMessageLike,
  WalEntryLike,
  WalPort,
} from './runtime/ports.js'
export { TcpServiceHost } from './hosts/tcp-service.js'
export { TcpOperationHost } from './hosts/tcp-operation.js'
export { FileServiceHost, matchesFileSpec, splitHl7File } from './hosts/file-service.js'
export { FileOperationHost, fileFraming, segmentTerminator } from './hosts/file-operation.js'
export type { FileFraming } from './hosts/file-operation.js'
export { batchTrailer, parseBatchText } from './hosts/batch.js'
export type { BatchText } from './hosts/batch.js'
export { AlertOperationHost } from './hosts/alert-operation.js'
export { HONOURED_SETTINGS, settingSupport } from './production/setting-support.js'
export type { SettingSupport } from './production/setting-support.js'
export { AckShaper, isInboundAck } from './hosts/inbound-receipt.js'
export type { NackErrorCode } from './hosts/inbound-receipt.js'
export { encodingForCharset, inboundEncoding, msh18Of, outboundEncoding } from './hosts/charset.js'
export { HttpServiceHost } from './hosts/http-service.js'
export { HttpOperationHost } from './hosts/http-operation.js'
export { RoutingEngineHost } from './hosts/routing-engine.js'
export { BplProcessHost } from './hosts/bpl-process.js'
export { counterValue, formatFilename } from './hosts/filename-pattern.js'
export type { FilenameCandidates, FilenameContext } from './hosts/filename-pattern.js'
// (end runtime)
