/**
 * The IRIS side the runtime calls: the production loader and the rule/DTL compilers (owned by
 * `src/iris`). Kept behind one interface so the Engine can be given others (tests, custom forms).
 */
import { compileTransform } from '../iris/dtl.js'
import { loadProduction } from '../iris/loader.js'
import type { ProductionSource } from '../iris/loader.js'
import { compileRules } from '../iris/rules.js'
import type {
  CompiledRules,
  CompiledTransform,
  Production,
  RuleClassDefinition,
  TransformDefinition,
} from '../production/types.js'

/** Loader and compilers used by the Engine. */
export interface ProductionTools {
  loadProduction(source: ProductionSource): Promise<Production>
  compileRules(def: RuleClassDefinition, p: Production): CompiledRules
  compileTransform(def: TransformDefinition, p: Production): CompiledTransform
}

/** The IRIS loader and compilers of this package. */
export const defaultProductionTools: ProductionTools = {
  loadProduction: (source) => loadProduction(source),
  compileRules: (def, p) => compileRules(def, p),
  compileTransform: (def, p) => compileTransform(def, p),
}
