/**
 * The IRIS side the runtime calls: the production loader and the rule/DTL compilers (owned by
 * `src/iris`). Kept behind one interface so the Engine can be given others (tests, custom forms).
 */
import { compileTransform } from '../iris/dtl.js'
import { loadProduction, loadProductionFile } from '../iris/loader.js'
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
  /** `{ path }` loads the file and the rule/DTL/lookup files next to it. */
  loadProduction(source: ProductionSource): Promise<Production>
  compileRules(def: RuleClassDefinition, p: Production): CompiledRules
  compileTransform(def: TransformDefinition, p: Production): CompiledTransform
}

/** The IRIS loader and compilers of this package. */
export const defaultProductionTools: ProductionTools = {
  // `{ path }` also reads rule, DTL and lookup-table files next to the production.
  loadProduction: (source) =>
    typeof source === 'object' && 'path' in source
      ? loadProductionFile(source.path)
      : loadProduction(source),
  compileRules: (def, p) => compileRules(def, p),
  compileTransform: (def, p) => compileTransform(def, p),
}
