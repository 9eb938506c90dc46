/**
 * `defineProduction`: the production model in plain TypeScript/JSON for users who do not come
 * from IRIS. Items take an IRIS `className` or a short `type`; settings are plain objects (each
 * name goes to the adapter or the host as IRIS would place it); routers take native rules that
 * compile to the same evaluator as IRIS rule classes.
 */
import { EngineError } from '../errors.js'
import { compileReferenced } from '../iris/loader.js'
import type { CompileOptions } from '../iris/schemas.js'
import type {
  NativeRule,
  Production,
  ProductionItem,
  ProductionSetting,
  SettingTarget,
  TransformDefinition,
} from './types.js'
import { EMAIL_ADAPTER_SETTINGS } from './setting-support.js'
import { validateProduction } from './validate.js'

/** Short item types and the IRIS classes they stand for. */
export const ITEM_TYPES = {
  'mllp-in': 'EnsLib.HL7.Service.TCPService',
  'mllp-out': 'EnsLib.HL7.Operation.TCPOperation',
  'file-in': 'EnsLib.HL7.Service.FileService',
  'file-out': 'EnsLib.HL7.Operation.FileOperation',
  'http-in': 'EnsLib.HL7.Service.HTTPService',
  'http-out': 'EnsLib.HL7.Operation.HTTPOperation',
  router: 'EnsLib.HL7.MsgRouter.RoutingEngine',
} as const

/** A short item type (`mllp-in`, `router`, ...). */
export type ItemType = keyof typeof ITEM_TYPES

/** Setting names that IRIS places on the adapter (`Target="Adapter"`); all others go to the host. */
export const ADAPTER_SETTINGS: ReadonlySet<string> = new Set([
  'Port',
  'IPAddress',
  'SSLConfig',
  'LocalInterface',
  'AllowedIPAddresses',
  'QSize',
  'JobPerConnection',
  'ConnectTimeout',
  'StayConnected',
  'ReadTimeout',
  'ResponseTimeout',
  'ReconnectRetry',
  'Credentials',
  'FilePath',
  'FileSpec',
  'ArchivePath',
  'WorkPath',
  'SubdirectoryLevels',
  'ConfirmComplete',
  'FileAccessTimeout',
  'Overwrite',
  'DeleteFromServer',
  'CallInterval',
  'Charset',
  'URL',
  'HTTPServer',
  'HTTPPort',
  'ProxyServer',
  'ProxyPort',
  ...EMAIL_ADAPTER_SETTINGS,
])

/** A plain setting value. */
export type SettingValue = string | number | boolean

/** One item of a native production. */
export interface NativeItem {
  name: string
  /** IRIS class name; or give `type`. */
  className?: string
  type?: ItemType
  enabled?: boolean
  poolSize?: number
  category?: string
  comment?: string
  /** Settings placed by name (see `ADAPTER_SETTINGS`). */
  settings?: Record<string, SettingValue>
  /** Settings forced onto the adapter or the host. */
  adapter?: Record<string, SettingValue>
  host?: Record<string, SettingValue>
  /** Shorthand for the TargetConfigNames setting. */
  targets?: string | string[]
  /** Router only: native rules, compiled as rule class `<name>.Rules` (BusinessRuleName). */
  rules?: NativeRule[]
}

/** A native production definition. */
export interface NativeProduction {
  name: string
  description?: string
  testingEnabled?: boolean
  logGeneralTraceEvents?: boolean
  actorPoolSize?: number
  /** Production-level settings. */
  settings?: Record<string, SettingValue>
  items: NativeItem[]
  /** Named native rule classes (for BusinessRuleName settings written by hand). */
  rules?: Record<string, NativeRule[]>
  /** DTL classes by class name: their `XData DTL` XML (or full definitions). */
  transforms?: Record<string, string | TransformDefinition>
  lookupTables?: Record<string, Record<string, string>>
}

/** Options of `defineProduction`. */
export interface DefineProductionOptions extends CompileOptions {
  /** Throw on validation errors and compile rules and transforms (default true). */
  validate?: boolean
}

function str(v: SettingValue): string {
  return typeof v === 'boolean' ? (v ? '1' : '0') : String(v)
}

/**
 * Builds a production from the native form; validates it and compiles its rules (throws
 * `ENGINE_PRODUCTION_INVALID` / rule and transform errors like `loadProduction`).
 * @example defineProduction({ name: 'Demo', items: [{ name: 'In', type: 'mllp-in', settings: { Port: 2575 }, targets: 'Router' }, ...] })
 */
export function defineProduction(
  def: NativeProduction,
  options: DefineProductionOptions = {},
): Production {
  const p: Production = {
    name: def.name,
    attributes: { Name: def.name },
    settings: Object.entries(def.settings ?? {}).map(([name, v]) => ({
      target: 'Production',
      name,
      value: str(v),
    })),
    items: [],
    rules: new Map(),
    transforms: new Map(),
    lookupTables: new Map(),
  }
  if (def.testingEnabled !== undefined) {
    p.testingEnabled = def.testingEnabled
    p.attributes.TestingEnabled = String(def.testingEnabled)
  }
  if (def.logGeneralTraceEvents !== undefined) {
    p.logGeneralTraceEvents = def.logGeneralTraceEvents
    p.attributes.LogGeneralTraceEvents = String(def.logGeneralTraceEvents)
  }
  if (def.description !== undefined) p.description = def.description
  if (def.actorPoolSize !== undefined) p.actorPoolSize = def.actorPoolSize
  for (const [className, rules] of Object.entries(def.rules ?? {})) {
    p.rules.set(className, { className, xml: '', native: rules })
  }
  for (const n of def.items) {
    const className = n.className ?? (n.type !== undefined ? ITEM_TYPES[n.type] : undefined)
    if (className === undefined) {
      throw new EngineError(
        'ENGINE_PRODUCTION_INVALID',
        `item "${n.name}": give className or type (${Object.keys(ITEM_TYPES).join(', ')})`,
      )
    }
    const settings: ProductionSetting[] = []
    const add = (target: SettingTarget, name: string, v: SettingValue): void => {
      settings.push({ target, name, value: str(v) })
    }
    for (const [k, v] of Object.entries(n.settings ?? {}))
      add(ADAPTER_SETTINGS.has(k) ? 'Adapter' : 'Host', k, v)
    for (const [k, v] of Object.entries(n.adapter ?? {})) add('Adapter', k, v)
    for (const [k, v] of Object.entries(n.host ?? {})) add('Host', k, v)
    if (n.targets !== undefined)
      add('Host', 'TargetConfigNames', Array.isArray(n.targets) ? n.targets.join(',') : n.targets)
    if (n.rules !== undefined) {
      const ruleClass = `${n.name}.Rules`
      p.rules.set(ruleClass, { className: ruleClass, xml: '', native: n.rules })
      add('Host', 'BusinessRuleName', ruleClass)
    }
    const item: ProductionItem = {
      name: n.name,
      className,
      poolSize: n.poolSize ?? 1,
      enabled: n.enabled ?? true,
      attributes: {
        Name: n.name,
        Category: n.category ?? '',
        ClassName: className,
        PoolSize: String(n.poolSize ?? 1),
        Enabled: String(n.enabled ?? true),
        Foreground: 'false',
        Comment: n.comment ?? '',
        LogTraceEvents: 'false',
        Schedule: '',
      },
      category: n.category ?? '',
      foreground: false,
      comment: n.comment ?? '',
      logTraceEvents: false,
      schedule: '',
      settings,
    }
    p.items.push(item)
  }
  for (const [className, t] of Object.entries(def.transforms ?? {})) {
    p.transforms.set(className, typeof t === 'string' ? { className, xml: t } : { ...t, className })
  }
  for (const [name, entries] of Object.entries(def.lookupTables ?? {})) {
    p.lookupTables.set(name, new Map(Object.entries(entries)))
  }
  if (options.validate !== false) {
    const errors = validateProduction(p).filter((i) => i.severity === 'error')
    if (errors.length > 0) {
      throw new EngineError(
        'ENGINE_PRODUCTION_INVALID',
        `production "${p.name}" is invalid:\n` + errors.map((e) => `  - ${e.message}`).join('\n'),
      )
    }
    compileReferenced(p, options)
  }
  return p
}
