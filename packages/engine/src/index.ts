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
// (end iris)

// --- runtime: hosts, adapters, Engine (section: runtime) ----------------------------------
// (end runtime)
