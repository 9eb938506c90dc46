/**
 * How LI Engine treats each IRIS item setting, for `checkProduction`: honoured (the runtime acts
 * on it as IRIS does), accepted with a difference (kept, with a note saying what differs), or not
 * supported (kept for round trip, but the runtime does not act on it, so the production would
 * behave differently: the report says so and the check exits 1).
 *
 * Empty values, and values equal to the IRIS default of a setting LI does not act on, are
 * honoured trivially (nothing to emulate). Values are checked where a bad one would fail the
 * item at start (Framing, BatchHandling, NackErrorCode, DefCharEncoding, Charset, Schedule).
 * This module only classifies; the hosts read the settings themselves.
 */
import { EngineError } from '../errors.js'
import { parseSchedule } from '../runtime/schedule.js'
import { isMllpFraming, knownEncoding, parseBatchHandling } from '../runtime/settings.js'
import type { HostKind, ProductionItem, ProductionSetting } from './types.js'

/** The verdict on one setting. */
export type SettingSupport =
  | { status: 'supported' }
  | { status: 'differences'; note: string }
  | { status: 'unsupported'; note: string }

/** The settings of IRIS's EnsLib.EMail.OutboundAdapter that LI reads (besides SSLConfig and Credentials). */
export const EMAIL_ADAPTER_SETTINGS: readonly string[] = [
  'SMTPServer',
  'SMTPPort',
  'Recipient',
  'Cc',
  'Bcc',
  'From',
  'ContinueAfterBadSend',
]

/** The host settings of IRIS's EnsLib.EMail.AlertOperation that LI reads. */
const EMAIL_ALERT_SETTINGS: readonly string[] = [
  'SubjectPrefix',
  'IncludeDetails',
  'IncludeNodeinSubject',
]

/** Settings the runtime acts on as IRIS does (see docs/configuration.md for each). */
export const HONOURED_SETTINGS: ReadonlySet<string> = new Set([
  // Connections and addressing
  'Port',
  'IPAddress',
  'SSLConfig',
  'ConnectTimeout',
  'ResponseTimeout',
  'ReadTimeout',
  'StayConnected',
  'HTTPServer',
  'HTTPPort',
  'URL',
  // Routing and documents
  'TargetConfigNames',
  'BusinessRuleName',
  'BadMessageHandler',
  'MessageSchemaCategory',
  'Validation',
  'AlertOnBadMessage',
  // ACKs
  'AckMode',
  'ReplyCodeActions',
  'AddNackERR',
  'LocalFacilityApplication',
  'UseAckCommitCodes',
  'IgnoreInboundAck',
  // Retries, alerts, queues
  'RetryInterval',
  'FailureTimeout',
  'AlertOnError',
  'QueueCountAlert',
  'QueueWaitAlert',
  // Files
  'FilePath',
  'FileSpec',
  'ArchivePath',
  'WorkPath',
  'Filename',
  'Overwrite',
  'CallInterval',
  'AppendTimestamp',
  'AutoBatchParentSegs',
  // Credentials (from the engine's credentials config) and e-mail alerts
  'Credentials',
  ...EMAIL_ADAPTER_SETTINGS,
  ...EMAIL_ALERT_SETTINGS,
  // LI settings (not IRIS)
  'PipelineWindow',
  'OrderingKey',
  'AppAckTimeout',
  'AlertFile',
  'DuplicateWindow',
  'ThrottleSeconds',
])

const INBOUND_HL7 = [
  'Port',
  'IPAddress',
  'SSLConfig',
  'TargetConfigNames',
  'MessageSchemaCategory',
  'Validation',
  'BadMessageHandler',
  'AckMode',
  'AppAckTimeout',
  'DefCharEncoding',
  'AlertOnError',
  'NackErrorCode',
  'AddNackERR',
  'LocalFacilityApplication',
  'UseAckCommitCodes',
  'IgnoreInboundAck',
  'DuplicateWindow',
]
const OPERATION = ['RetryInterval', 'FailureTimeout', 'ReplyCodeActions', 'AlertOnError']
const ROUTER = [
  'BusinessRuleName',
  'BadMessageHandler',
  'MessageSchemaCategory',
  'Validation',
  'AlertOnBadMessage',
  'AlertOnError',
  'LocalFacilityApplication',
]

/**
 * The settings each built-in host class reads (besides those the Engine reads for every item:
 * TargetConfigNames, QueueCountAlert, QueueWaitAlert, OrderingKey). A setting LI honours on some
 * class but that this class never reads is reported as not supported on it (for example
 * ReadTimeout, an inbound TCP setting, on a TCPOperation). Classes not listed here (registered by
 * the user) are judged by the setting's name alone.
 */
export const CLASS_SETTINGS: Readonly<Record<string, ReadonlySet<string>>> = {
  'EnsLib.HL7.Service.TCPService': new Set([
    ...INBOUND_HL7,
    'ReadTimeout',
    'StayConnected',
    'Framing',
  ]),
  'EnsLib.HL7.Service.HTTPService': new Set(INBOUND_HL7),
  'EnsLib.HL7.Service.FileService': new Set([
    'FilePath',
    'FileSpec',
    'ArchivePath',
    'WorkPath',
    'AppendTimestamp',
    'CallInterval',
    'ConfirmComplete',
    'BatchHandling',
    'Framing',
    'Charset',
    'DefCharEncoding',
    'MessageSchemaCategory',
    'AlertOnError',
    // No ACK leaves a file service (IRIS sends it to ReplyTargetConfigNames, refused when set):
    // the ACK settings change nothing.
    'AckMode',
    'NackErrorCode',
    'AddNackERR',
    'LocalFacilityApplication',
    'UseAckCommitCodes',
    'IgnoreInboundAck',
  ]),
  'EnsLib.HL7.Operation.TCPOperation': new Set([
    ...OPERATION,
    'IPAddress',
    'Port',
    'SSLConfig',
    'ConnectTimeout',
    'ResponseTimeout',
    'StayConnected',
    'Framing',
    'DefCharEncoding',
    'PipelineWindow',
  ]),
  'EnsLib.HL7.Operation.HTTPOperation': new Set([
    ...OPERATION,
    'HTTPServer',
    'HTTPPort',
    'URL',
    'SSLConfig',
    'ConnectTimeout',
    'ResponseTimeout',
    'DefCharEncoding',
    'Credentials',
  ]),
  'EnsLib.HL7.Operation.FileOperation': new Set([
    ...OPERATION,
    'FilePath',
    'Filename',
    'Overwrite',
    'Charset',
    'DefCharEncoding',
    'Framing',
    'Separators',
    'AutoBatchParentSegs',
  ]),
  'EnsLib.EMail.AlertOperation': new Set([
    ...OPERATION,
    ...EMAIL_ADAPTER_SETTINGS,
    ...EMAIL_ALERT_SETTINGS,
    'SSLConfig',
    'Credentials',
    'AlertFile',
    'ThrottleSeconds',
  ]),
  'EnsLib.HL7.MsgRouter.RoutingEngine': new Set(ROUTER),
  'EnsLib.MsgRouter.RoutingEngine': new Set(ROUTER),
}

/** Read by the Engine for every item, whatever its class. */
const EVERY_ITEM: ReadonlySet<string> = new Set([
  'TargetConfigNames',
  'QueueCountAlert',
  'QueueWaitAlert',
  'OrderingKey',
])

/** Settings some built-in class reads with a value check (see the switch below). */
const CHECKED: ReadonlySet<string> = new Set([
  'Framing',
  'BatchHandling',
  'NackErrorCode',
  'DefCharEncoding',
  'Charset',
  'Separators',
  'ConfirmComplete',
])

/**
 * Settings that tune IRIS logging, archiving or monitoring. ArchiveIO and LogTraceEvents map to
 * the engine's logger (Engine: ArchiveIO logs each message in and out at info with its size and
 * ids, LogTraceEvents logs the host's trace events at debug, never a body); the others need
 * nothing here.
 */
const LOGGING_ONLY: ReadonlySet<string> = new Set([
  'ArchiveIO',
  'LogTraceEvents',
  'Foreground',
  'Category',
  'Comment',
  'TraceOperations',
  'InactivityTimeout',
  'FileAccessTimeout',
  'OpenTimeout',
])

/** IRIS defaults of settings LI does not act on: a production that leaves them so is fine. */
const IRIS_DEFAULTS: Readonly<Record<string, readonly string[]>> = {
  AlertGracePeriod: ['0'],
  AlertRetryGracePeriod: ['0'],
  PreACKTCPClear: ['0'],
  ThrottleDelay: ['0'],
  SendSuperSession: ['0'],
  NoFailWhileDisconnected: ['0'],
  ActOnValidationError: ['0', 'false'],
  DocTypeResolution: ['Standard'],
  SaveReplies: ['IndexNotOKs'],
  ForceCharset: ['0'],
  ReplyTargetConfigNames: [''],
  AckTargetConfigNames: [''],
  JobPerConnection: ['1'],
  DeleteFromServer: ['1'],
  Retry: ['0'],
}

/** Accepted, with what differs. */
const DIFFERENCES: Readonly<Record<string, string>> = {
  AlertGracePeriod: 'alerts are raised at once, without the grace period',
  AlertRetryGracePeriod: 'alerts are raised at once, without the grace period',
  JobPerConnection:
    'connections are served concurrently (one message at a time per connection), as with JobPerConnection=1',
  AckType:
    "the router's ACK settings are not used: the service builds the App ACK from the outcome",
  NackCode:
    "the router's ACK settings are not used: the service builds the App ACK from the outcome",
  ActOnValidationError:
    "a message that fails the router's Validation always goes to the BadMessageHandler (or fails)",
}

/** Classify one setting of an item. */
export function settingSupport(
  item: ProductionItem,
  s: ProductionSetting,
  kind: HostKind,
): SettingSupport {
  const value = s.value.trim()
  const name = s.name
  const ok: SettingSupport = { status: 'supported' }
  if (value === '' || LOGGING_ONLY.has(name)) return ok
  const bad = (why: string): SettingSupport => ({ status: 'unsupported', note: why })
  const reads = CLASS_SETTINGS[item.className]
  if (
    reads !== undefined &&
    (HONOURED_SETTINGS.has(name) || CHECKED.has(name)) &&
    !reads.has(name) &&
    !EVERY_ITEM.has(name)
  ) {
    return bad(
      `setting ${name} (${s.target}) is not read by ${item.className}: LI Engine keeps it but this item does not act on it, so it would behave differently from IRIS; remove it`,
    )
  }
  try {
    switch (name) {
      // Indexed in the message store (search-table.ts); `checkProduction` compiles the class.
      case 'SearchTableClass':
        return ok
      case 'Framing':
        return framingSupport(item, value)
      case 'BatchHandling':
        parseBatchHandling(item, value)
        return ok
      case 'NackErrorCode':
        return ['contente', 'contentr', 'alle', 'allr'].includes(value.toLowerCase())
          ? ok
          : bad(`NackErrorCode="${value}" is not one of ContentE, ContentR, AllE, AllR`)
      case 'DefCharEncoding':
      case 'Charset':
        if (value.startsWith('@'))
          return bad(`${name}="${value}": IRIS translation tables are not supported`)
        return knownEncoding(value) !== undefined
          ? ok
          : bad(
              `${name}="${value}" is not a known encoding (Latin1, UTF-8, Unicode, ASCII, Default, Binary; a leading ! forces it)`,
            )
      case 'Schedule':
        if (value.startsWith('@'))
          return {
            status: 'differences',
            note: `Schedule "${value}" names a schedule spec: define it in the engine's schedules config`,
          }
        parseSchedule(value, `setting Schedule`)
        return ok
      case 'Separators':
        return value.slice(0, 5) === '|^~\\&'
          ? ok
          : {
              status: 'differences',
              note: `Separators "${value.slice(0, 5)}": messages are written with their own delimiters (only the segment terminator after the fifth character is applied)`,
            }
      case 'ConfirmComplete':
        return value === '0' || value === '1'
          ? ok
          : {
              status: 'differences',
              note: `ConfirmComplete=${value} is served as 1 (Size: the file's size and time must not change between two polls)`,
            }
      case 'Validation':
        return value.toLowerCase() === 'none'
          ? ok
          : {
              status: 'differences',
              note: `Validation="${value}": any value other than empty or none runs the full structural check against the schema (the IRIS per-letter flags are not told apart)`,
            }
      // Operations wait for it before AlertOnError alerts on a retried message (one alert per
      // message); other hosts raise their alerts at once (IRIS_DEFAULTS/DIFFERENCES below).
      case 'AlertRetryGracePeriod':
        if (kind === 'operation') return ok
        break
      case 'LocalFacilityApplication':
        return kind === 'process'
          ? {
              status: 'differences',
              note: "the router's ACK settings are not used: the service builds the App ACK from the outcome",
            }
          : ok
      default:
        break
    }
  } catch (e) {
    return bad(e instanceof EngineError ? e.message : String(e))
  }
  if (HONOURED_SETTINGS.has(name)) return ok
  const defaults = IRIS_DEFAULTS[name]
  if (defaults?.some((d) => d.toLowerCase() === value.toLowerCase()) === true) return ok
  const note = DIFFERENCES[name]
  if (note !== undefined) return { status: 'differences', note }
  return bad(
    `setting ${name} (${s.target}) is not supported: LI Engine keeps it but does not act on it, so the item would behave differently from IRIS; remove it, or register a host class that handles it`,
  )
}

function framingSupport(item: ProductionItem, value: string): SettingSupport {
  const file = /\.File(Service|Operation)$/.test(item.className)
  const v = value.toLowerCase()
  if (file) {
    return ['none', 'flexible', 'asciilf', 'asciicr'].includes(v) || isMllpFraming(v)
      ? { status: 'supported' }
      : {
          status: 'unsupported',
          note: `Framing="${value}" is not supported on a file host (None, Flexible, AsciiLF, AsciiCR, MLLP)`,
        }
  }
  if (!isMllpFraming(v)) {
    return {
      status: 'unsupported',
      note: `Framing="${value}" is not supported: LI Engine speaks MLLP only (Framing MLLP or Flexible)`,
    }
  }
  return v === 'flexible'
    ? { status: 'differences', note: 'Framing Flexible is served as MLLP (no framing detection)' }
    : { status: 'supported' }
}
