/**
 * Helpers over the production model: settings look-up, host kinds, start and stop order.
 */
import type { HostKind, Production, ProductionItem, SettingTarget } from './types.js'

/**
 * The value of a setting of an item (the last one written wins, as in IRIS), or undefined.
 * With `target`, only settings for that target (`Adapter`, `Host`) are considered.
 * @example itemSetting(item, 'Port', 'Adapter') // '2575'
 */
export function itemSetting(
  item: ProductionItem,
  name: string,
  target?: SettingTarget,
): string | undefined {
  let found: string | undefined
  for (const s of item.settings) {
    if (s.name === name && (target === undefined || s.target === target)) found = s.value
  }
  return found
}

/** The value of a production-level setting, or undefined. */
export function productionSetting(p: Production, name: string): string | undefined {
  let found: string | undefined
  for (const s of p.settings) if (s.name === name) found = s.value
  return found
}

/** Splits an IRIS comma-separated list (TargetConfigNames, constraint values), trimming blanks. */
export function splitList(value: string | undefined): string[] {
  if (value === undefined) return []
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/** Resolves a class name to a host kind; return undefined to fall back to IRIS naming. */
export type HostKindResolver = (className: string) => HostKind | undefined

/**
 * What kind of business host an item is: the resolver (the host registry) first, then IRIS
 * naming: `.Service.`/`Service` → service, `.Operation.`/`Operation` → operation, else process.
 * @example hostKindOf({ className: 'EnsLib.HL7.Service.TCPService', ... }) // 'service'
 */
export function hostKindOf(
  item: Pick<ProductionItem, 'className'>,
  resolver?: HostKindResolver,
): HostKind {
  const fromRegistry = resolver?.(item.className)
  if (fromRegistry) return fromRegistry
  const c = item.className
  if (/\.(Service|Services)\./.test(c) || /Service$/.test(c)) return 'service'
  if (/\.(Operation|Operations)\./.test(c) || /Operation$/.test(c)) return 'operation'
  return 'process'
}

const KIND_RANK: Record<HostKind, number> = { operation: 0, process: 1, service: 2 }

/**
 * Items in start order: operations, then processes, then services (so nothing accepts a
 * message before its targets run); document order within a kind.
 */
export function startOrder(p: Production, resolver?: HostKindResolver): ProductionItem[] {
  return p.items
    .map((item, i) => ({ item, i, rank: KIND_RANK[hostKindOf(item, resolver)] }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((x) => x.item)
}

/** Items in stop order: the reverse of `startOrder` (services first). */
export function stopOrder(p: Production, resolver?: HostKindResolver): ProductionItem[] {
  return startOrder(p, resolver).reverse()
}

/** Parses an IRIS boolean attribute (`true`/`false`/`1`/`0`); undefined when absent or invalid. */
export function parseIrisBoolean(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined
  const t = v.trim().toLowerCase()
  if (t === 'true' || t === '1') return true
  if (t === 'false' || t === '0' || t === '') return false
  return undefined
}
