/**
 * Where the IRIS evaluators get HL7 schema data: the caller's provider (custom schema
 * categories), else `getSchema` from `@li/hl7` for the standard versions.
 */
import { getSchema } from '@li/hl7'
import type { Hl7Schema } from '@li/hl7'
import type { Production } from '../production/types.js'
import type { IrisFunction } from './expression.js'
import type { SchemaProvider } from './virtual-path.js'

/** Options shared by the rule and DTL compilers. */
export interface CompileOptions {
  /** Schema by category (`2.5`, or a custom category name); defaults to `@li/hl7`'s `getSchema`. */
  schemas?: SchemaProvider
  /** Extra functions for rules and DTL by IRIS name (win over built-ins and registered ones). */
  functions?: Record<string, IrisFunction>
}

/** The default schema provider: `@li/hl7`'s `getSchema(version)`; unknown categories give undefined. */
export function defaultSchemaProvider(): SchemaProvider {
  const cache = new Map<string, Hl7Schema | undefined>()
  return (category: string) => {
    if (cache.has(category)) return cache.get(category)
    let s: Hl7Schema | undefined
    try {
      s = getSchema(category)
    } catch {
      s = undefined
    }
    cache.set(category, s)
    return s
  }
}

/**
 * The provider to use: `options.schemas` if given, else the production's custom categories
 * (read from its export), then `@li/hl7`'s standard versions.
 */
export function schemaProviderFor(
  options: CompileOptions | undefined,
  p?: Pick<Production, 'customSchemas'>,
): SchemaProvider {
  if (options?.schemas) return options.schemas
  const standard = defaultSchemaProvider()
  const custom = p?.customSchemas
  if (!custom || custom.size === 0) return standard
  return (category: string) => custom.get(category) ?? standard(category)
}
