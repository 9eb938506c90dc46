/**
 * The production model: what an IRIS production export (or a native `defineProduction`) says,
 * kept whole so that `toXml()` round-trips it, plus the contract between the IRIS side (loader,
 * rules, transforms, lookup tables) and the runtime (hosts, queues, the Engine).
 *
 * Contract shared by `src/production/**` and `src/iris/**` (loader, rules, DTL) and by
 * `src/runtime/**` (hosts and Engine). Extend it; do not rename what is here.
 */
import type { SearchTableDefinition } from '../iris/search-table.js'
import type { ProcessDefinition } from '../iris/bpl.js'
import type { Hl7Schema, Message } from '@li/hl7'

/** Where a setting applies, as IRIS writes it in `<Setting Target="...">`. */
export type SettingTarget = 'Adapter' | 'Host' | 'Production'

/** One `<Setting Target Name>value</Setting>`, known or not. */
export interface ProductionSetting {
  target: SettingTarget
  name: string
  value: string
}

/** One `<Item>` of a production. */
export interface ProductionItem {
  name: string
  className: string
  category?: string
  /** IRIS default is 1. */
  poolSize: number
  enabled: boolean
  foreground?: boolean
  comment?: string
  logTraceEvents?: boolean
  schedule?: string
  /** Every attribute as read, in document order, so unknown ones round-trip too. */
  attributes: Record<string, string>
  settings: ProductionSetting[]
}

/** What kind of business host an item is, from its class (registry) or IRIS naming. */
export type HostKind = 'service' | 'process' | 'operation'

/** A whole production. */
export interface Production {
  name: string
  testingEnabled?: boolean
  logGeneralTraceEvents?: boolean
  description?: string
  actorPoolSize?: number
  /** Every production attribute as read, for round trip. */
  attributes: Record<string, string>
  /** Production-level settings (`<Setting Target="Production">` directly under `<Production>`). */
  settings: ProductionSetting[]
  items: ProductionItem[]
  /** Routing rule classes found beside the production, by class name. */
  rules: Map<string, RuleClassDefinition>
  /** DTL transform classes found beside the production, by class name. */
  transforms: Map<string, TransformDefinition>
  /** Lookup tables: table name → key → value. */
  lookupTables: Map<string, Map<string, string>>
  /** Custom schema categories read from the export (`X.HL7` documents), by category name. */
  customSchemas?: Map<string, Hl7Schema>
  /** HL7 search table classes read from the export (`XData SearchSpec`), by class name. */
  searchTables?: Map<string, SearchTableDefinition>
  /**
   * BPL business process classes read from the export (`XData BPL`), by class name: an item
   * whose ClassName is one of them runs it (`compileProcess`).
   */
  processes?: Map<string, ProcessDefinition>
}

/** A routing rule class (`XData RuleDefinition`) as loaded, before compilation. */
export interface RuleClassDefinition {
  className: string
  /** The raw XML of the rule definition, kept for the compatibility report and round trip. */
  xml: string
  /** Where it came from, for error messages: file and line. */
  origin?: { file?: string; line?: number }
  /** Class parameters (e.g. RuleAssistClass), as written. */
  parameters?: Record<string, string>
  /** Native rules (`defineProduction`); when set, `xml` is empty and these are compiled instead. */
  native?: NativeRule[]
}

/** A structured condition of the native rule form (the string form is an IRIS expression). */
export type NativeCondition =
  | string
  | { all: NativeCondition[] }
  | { any: NativeCondition[] }
  | { not: NativeCondition }
  | {
      /** An `@li/hl7` path (`PID-3[1].1`) or an IRIS one (`{PID:3(1).1}`). */
      path: string
      eq?: string
      ne?: string
      in?: string[]
      notIn?: string[]
      contains?: string
      startsWith?: string
      /** A JavaScript regular expression source. */
      matches?: string
      exists?: boolean
    }

/** One native rule: when the condition holds (and the constraints match), do the actions. */
export interface NativeRule {
  name?: string
  /** IRIS expression (`HL7.{MSH:9.1} = "ADT"`) or structured condition; absent = always. */
  when?: NativeCondition
  /** Constraint: only messages from these source items. */
  source?: string | string[]
  /** Constraint: only these doc names (`ADT_A01`) or message types. */
  docName?: string | string[]
  /** Constraint: only these schema categories (`2.5`). */
  docCategory?: string | string[]
  send?: string | string[]
  /** Transform class(es) applied in order before sending. */
  transform?: string | string[]
  delete?: boolean
  /** Stop evaluating later rules when this one fired. */
  return?: boolean
}

/** A finding of `validateProduction`: errors stop a load, warnings are reported. */
export interface ProductionIssue {
  severity: 'error' | 'warning'
  /** Item name, when the finding is about an item. */
  item?: string
  /** Setting name, when the finding is about a setting. */
  setting?: string
  message: string
  /** File and line, when known. */
  file?: string
  line?: number
}

/** A DTL transform class (`XData DTL`) as loaded, before compilation. */
export interface TransformDefinition {
  className: string
  xml: string
  origin?: { file?: string; line?: number }
  /** Class parameters (IGNOREMISSINGSOURCE, REPORTERRORS, ...), as written. */
  parameters?: Record<string, string>
}

/** What the router evaluates rules against. */
export interface RuleContext {
  /** The HL7 message being routed (absent when `document` is set). */
  message?: Message
  /**
   * A routed document that is not an HL7 message (IRIS: a message object such as the
   * `Ens.AlertRequest` an `Ens.Alert` router receives), as a plain object: rule conditions read
   * its properties as `Document.Property` (nested: `Document.A.B`).
   */
  document?: Record<string, unknown>
  /** IRIS class of `document`, for rule `msgClass` constraints (e.g. `Ens.AlertRequest`). */
  msgClass?: string
  /** Config name of the host that sent it to the router (IRIS `source` constraint). */
  source: string
  /** Evaluation time (rule set effective dates). */
  now: Date
  /** Lookup tables (rule `Lookup`, DTL `..Lookup`). */
  lookupTables: Map<string, Map<string, string>>
  /**
   * Schema category the receiving service assigned (its MessageSchemaCategory, e.g. `2.5` or a
   * custom category); defaults to MSH-12. Used by `docCategory` constraints and symbolic paths.
   */
  docCategory?: string
  /** Called by `<trace>` actions in rules and DTL. */
  trace?: (text: string) => void
  /**
   * The message as ER7 text, when the caller holds it (the router does): rules read this instead
   * of serialising `message`, so a routed message is parsed once per hop.
   */
  raw?: string
}

/** One thing the router must do with a message. */
export type RouteAction =
  | { type: 'send'; target: string; transforms: string[]; rule?: string }
  | { type: 'delete'; rule?: string }

/** The outcome of evaluating a rule class for one message. */
export interface RouteResult {
  actions: RouteAction[]
  /** Names (or 1-based positions) of the rules that fired, for the trace. */
  matchedRules: string[]
}

/** A compiled rule class: pure and synchronous. */
export interface CompiledRules {
  className: string
  evaluate(ctx: RuleContext): RouteResult
}

/** A compiled DTL transform: returns a new message (or a plain object for non-HL7 targets). */
export interface CompiledTransform {
  className: string
  apply(source: Message, ctx: Omit<RuleContext, 'message'>): Message | Record<string, unknown>
}
