/**
 * `checkProduction`: the compatibility report a trust runs first. It reads a whole export (or a
 * production file and the files next to it) and says, per item, rule class, transform, lookup
 * table and other class or document: supported, supported with differences (which), or not
 * supported (what), with counts and an exit code (0 unless something is not supported).
 *
 * It compiles every rule class and DTL it finds (not only those the production uses), so it
 * reports everything a full load would reject, without stopping at the first problem.
 */
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { isEngineError } from '../errors.js'
import { hostKindOf, itemSetting } from '../production/model.js'
import { originOf } from '../production/origin.js'
import { settingSupport } from '../production/setting-support.js'
import type { Production } from '../production/types.js'
import { validateProduction } from '../production/validate.js'
import { BUILTIN_HOST_CLASSES } from '../runtime/builtin-hosts.js'
import { compileSearchTable, searchTableItems } from './search-table.js'
import { compileTransform, type CompiledDtl } from './dtl.js'
import { compileProcess } from './bpl.js'
import {
  createIrisBundle,
  holdsIrisDefinitions,
  productionFromBundle,
  readIrisSource,
  readSiblingSource,
  type IrisBundle,
  type ProductionSource,
} from './loader.js'
import { compileGeneralRule, compileRules, generalRuleKind } from './rules.js'
import type { CompileOptions } from './schemas.js'

/** How well LI Engine runs one part of an IRIS production. */
export type SupportStatus = 'supported' | 'differences' | 'unsupported'

/** One line of the report. */
export interface CompatibilityEntry {
  kind:
    | 'production'
    | 'item'
    | 'rule'
    | 'transform'
    | 'lookup-table'
    /** An HL7 search table class (`XData SearchSpec`). */
    | 'search-table'
    | 'class'
    | 'document'
    /** A file next to the production that could not be read or parsed. */
    | 'file'
  name: string
  status: SupportStatus
  /** What differs, or what is not supported. */
  notes: string[]
  file?: string
  line?: number
}

/** The whole report. */
export interface CompatibilityReport {
  production?: string
  entries: CompatibilityEntry[]
  counts: Record<SupportStatus, number>
  /** 0 when everything is supported (with or without differences), 1 otherwise: for the CLI. */
  exitCode: 0 | 1
}

/** Options of `checkProduction`. */
export interface CheckOptions extends CompileOptions {
  /** Host classes the engine runs (the host registry's names); defaults to the built-in EnsLib ones. */
  hostClasses?: Iterable<string>
  /** Which production to check when the source holds several. */
  production?: string
}

/**
 * Reads a production source and reports what runs as is, what runs with differences and what
 * does not run. A path also reads the rule/DTL/lookup files next to it; one that cannot be read
 * or parsed is reported as a NOT SUPPORTED `file` entry with the reason (the production file
 * itself unreadable or unparsable still throws).
 * @example const r = await checkProduction({ path: 'export.xml' }); console.log(formatCompatibilityReport(r)); process.exitCode = r.exitCode
 */
export async function checkProduction(
  source: ProductionSource,
  options: CheckOptions = {},
): Promise<CompatibilityReport> {
  const bundle = createIrisBundle()
  let path: string | undefined
  let text: string | undefined
  if (typeof source === 'string') {
    if (/[<\n{]/.test(source)) text = source
    else path = source
  } else if ('path' in source) path = source.path
  else text = source.xml
  const unread: CompatibilityEntry[] = []
  if (path !== undefined) {
    readIrisSource(await readFile(path, 'utf8'), path, bundle)
    const dir = dirname(resolve(path))
    for (const n of (await readdir(dir)).sort()) {
      const f = join(dir, n)
      if (f === resolve(path) || !/\.(cls|xml|lut)$/i.test(n)) continue
      const shown = join(dirname(path), n)
      const unsupported = (note: string): void => {
        unread.push({
          kind: 'file',
          name: shown,
          status: 'unsupported',
          notes: [note],
          file: shown,
        })
      }
      const skipped = (what: string, e: unknown): void =>
        unsupported(
          `${what}: ${e instanceof Error ? e.message : String(e)}; the rule classes, transforms and lookup tables in it are not checked`,
        )
      let t: string
      try {
        t = await readFile(f, 'utf8')
      } catch (e) {
        skipped('could not be read', e)
        continue
      }
      if (!holdsIrisDefinitions(t)) continue
      try {
        readSiblingSource(bundle, t, shown)
      } catch (e) {
        // A class, or a lookup-table key, defined differently here than in the production or an
        // earlier file: `run` refuses to load it. Its rule classes, DTLs and lookup tables are dropped
        // (readSiblingSource restores them); the check goes on with the first definitions.
        if (isEngineError(e) && e.code === 'ENGINE_PRODUCTION_INVALID')
          unsupported(`${e.message}; li-engine run refuses to load it`)
        else skipped('could not be parsed', e)
      }
    }
  } else {
    readIrisSource(text ?? '', undefined, bundle)
  }
  const report = checkBundle(bundle, options)
  if (unread.length === 0) return report
  const entries = [...report.entries, ...unread]
  const c = counts(entries)
  return { ...report, entries, counts: c, exitCode: c.unsupported > 0 ? 1 : 0 }
}

function counts(entries: CompatibilityEntry[]): Record<SupportStatus, number> {
  const c: Record<SupportStatus, number> = { supported: 0, differences: 0, unsupported: 0 }
  for (const e of entries) c[e.status]++
  return c
}

function statusOf(unsupported: string[], differences: string[]): SupportStatus {
  return unsupported.length > 0
    ? 'unsupported'
    : differences.length > 0
      ? 'differences'
      : 'supported'
}

/** Reports on an already-read bundle (see `checkProduction`). */
export function checkBundle(bundle: IrisBundle, options: CheckOptions = {}): CompatibilityReport {
  const entries: CompatibilityEntry[] = []
  /** Items with a BusinessRuleName: their status also reflects the rule's and its transforms'. */
  const itemRules: { entry: CompatibilityEntry; rule: string }[] = []
  const ruleStatus = new Map<string, { status: SupportStatus; transforms: readonly string[] }>()
  const transformStatus = new Map<string, SupportStatus>()
  const hostClasses = new Set(options.hostClasses ?? BUILTIN_HOST_CLASSES)
  let p: Production | undefined
  try {
    p = productionFromBundle(bundle, {
      validate: false,
      compile: false,
      ...(options.production !== undefined ? { production: options.production } : {}),
    })
  } catch (e) {
    entries.push({
      kind: 'production',
      name: options.production ?? '(none)',
      status: 'unsupported',
      notes: [(e as Error).message],
    })
  }
  if (p) {
    const issues = validateProduction(p)
    const prodIssues = issues.filter((i) => i.item === undefined).map((i) => i.message)
    const o = originOf(p)
    entries.push({
      kind: 'production',
      name: p.name,
      status: statusOf(prodIssues, []),
      notes: prodIssues,
      ...where(o),
    })
    for (const item of p.items) {
      const unsupported: string[] = []
      const differences: string[] = []
      const bpl = hostClasses.has(item.className) ? undefined : bundle.processes.get(item.className)
      if (bpl !== undefined) {
        try {
          const compiled = compileProcess(bpl, p, undefined, options)
          differences.push(
            compiled.synchronous
              ? `business process ${bpl.className} (BPL): its asynchronous calls are queued together before each synchronous call and at its end; a synchronous call or <delay> holds a worker while it waits`
              : `business process ${bpl.className} (BPL): runs each message without waiting; its calls are queued together once it ends without an error`,
            ...compiled.notes,
          )
        } catch (e) {
          const what = `business process ${bpl.className}: ${isEngineError(e) ? e.message : String(e)}`
          if (item.enabled) unsupported.push(what)
          else differences.push(`disabled; enabling it will fail: ${what}`)
        }
      } else if (!hostClasses.has(item.className)) {
        const other = bundle.otherClasses.find((c) => c.className === item.className)
        const what = other
          ? `class ${item.className} is ObjectScript in the export (extends ${other.superClass ?? '?'}); LI Engine cannot run it: register a host class for it`
          : `class ${item.className} has no LI Engine host; register one with registerHostClass`
        // A disabled item is not started, so it does not stop the production from running.
        if (item.enabled) unsupported.push(what)
        else differences.push(`disabled; enabling it will fail: ${what}`)
      }
      for (const i of issues.filter((x) => x.item === item.name)) unsupported.push(i.message)
      const searchTable = itemSetting(item, 'SearchTableClass')?.trim()
      if (searchTable !== undefined && searchTable !== '') {
        try {
          compileSearchTable(searchTable, bundle.searchTables)
          if (hostKindOf(item) === 'operation')
            differences.push(
              'setting SearchTableClass: an operation indexes nothing (the message it sends is the one its service or router stored): set SearchTableClass on the service',
            )
        } catch (e) {
          unsupported.push(
            `setting SearchTableClass: ${e instanceof Error ? e.message : String(e)}`,
          )
        }
      }
      const seen = new Set<string>()
      for (const s of item.settings) {
        if (seen.has(s.name)) continue
        seen.add(s.name)
        // A BPL class's own property (process.Name): the process reads it.
        if (bpl?.properties?.[s.name] !== undefined && s.target === 'Host') continue
        const v = settingSupport(item, s, hostKindOf(item))
        if (v.status === 'unsupported') unsupported.push(v.note)
        else if (v.status === 'differences') differences.push(`setting ${s.name}: ${v.note}`)
      }
      if (item.schedule !== undefined && item.schedule.trim() !== '') {
        const v = settingSupport(
          item,
          { target: 'Host', name: 'Schedule', value: item.schedule },
          'service',
        )
        if (v.status === 'unsupported') unsupported.push(v.note)
        else if (v.status === 'differences') differences.push(v.note)
      }
      if (item.poolSize > 1 && hostKindOf(item) === 'service')
        differences.push(
          'PoolSize > 1 on a service: connections are served concurrently, order is kept per connection',
        )
      const category = itemSetting(item, 'MessageSchemaCategory')
      if (
        category !== undefined &&
        category !== '' &&
        !/^2\.\d(\.\d)?$/.test(category) &&
        !bundle.schemas.has(category)
      ) {
        differences.push(
          `MessageSchemaCategory "${category}" is a custom category: it is not in the export: define it with @li/hl7 defineCustomSchema and pass it as a schema`,
        )
      }
      const entry: CompatibilityEntry = {
        kind: 'item',
        name: item.name,
        status: statusOf(unsupported, differences),
        notes: [...unsupported, ...differences],
        ...where(originOf(item)),
      }
      entries.push(entry)
      const rule = itemSetting(item, 'BusinessRuleName')
      if (rule !== undefined && rule !== '') itemRules.push({ entry, rule })
    }
  }
  const prod = p ?? {
    name: '',
    attributes: {},
    settings: [],
    items: [],
    rules: bundle.rules,
    transforms: bundle.transforms,
    lookupTables: bundle.lookupTables,
  }
  const cache = new Map<string, CompiledDtl>()
  for (const def of bundle.processes.values()) {
    if (p?.items.some((i) => i.className === def.className) === true) continue
    const notes: string[] = []
    let status: SupportStatus = 'differences'
    try {
      notes.push(...compileProcess(def, prod, undefined, options).notes)
      if (p) notes.push('business process (BPL) not used by any item of the production')
    } catch (e) {
      status = 'unsupported'
      notes.push(isEngineError(e) ? e.message : String(e))
    }
    entries.push({ kind: 'class', name: def.className, status, notes, ...where(def.origin) })
  }
  for (const def of bundle.rules.values()) {
    const notes: string[] = []
    let status: SupportStatus = 'supported'
    let transforms: readonly string[] = []
    try {
      const used =
        p?.items.some((i) => itemSetting(i, 'BusinessRuleName') === def.className) ?? false
      const general = generalRuleKind(def)
      if (general !== undefined && !used) {
        // Not routable, but it runs where a value is wanted (compileGeneralRule).
        compileGeneralRule(def, prod, options)
        const quoted = def.className.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        const callers = [...bundle.processes.values()]
          .filter((d) => new RegExp(`\\brule\\s*=\\s*["']${quoted}["']`).test(d.xml))
          .map((d) => d.className)
        notes.push(
          callers.length > 0
            ? `general business rule (${general}): returns a value to the <rule> of business process ${callers.join(', ')}`
            : `general business rule (${general}): returns a value; a BPL <rule> or compileGeneralRule evaluates it (no business process of the export uses it)`,
        )
      } else {
        const compiled = compileRules(def, prod, options)
        notes.push(...compiled.notes)
        transforms = compiled.transforms
      }
      if (/InFile\s*\(/.test(def.xml))
        notes.push('InFile reads files on the LI Engine host: the paths must exist there')
      if (p && !used && general === undefined) notes.push('not used by any item of the production')
      if (notes.length > 0) status = 'differences'
    } catch (e) {
      status = 'unsupported'
      notes.push(isEngineError(e) ? e.message : String(e))
    }
    ruleStatus.set(def.className, { status, transforms })
    entries.push({ kind: 'rule', name: def.className, status, notes, ...where(def.origin) })
  }
  for (const def of bundle.transforms.values()) {
    const notes: string[] = []
    let status: SupportStatus = 'supported'
    try {
      const dtl = compileTransform(def, prod, options, cache)
      const h = dtl.header
      if (!h.hl7Target)
        notes.push(
          `target class ${h.targetClass} is not an HL7 message: the transform produces a plain JSON object with the same property paths`,
        )
      if (!h.hl7Source)
        notes.push(
          `source class ${h.sourceClass} is not an HL7 message: the transform reads a plain object with the same property paths; a router hands it one only after a transform with a non-HL7 target in the same send chain ("A,B")`,
        )
      if (h.create === 'existing')
        notes.push(
          'create="existing" changes the routed message in place (later sends of the same routing see the changes), but the message as received is kept unchanged in the store',
        )
      if (!h.reportErrors)
        notes.push(
          'REPORTERRORS = 0: action errors are returned with the result and logged, not thrown',
        )
      if (/<code>/.test(def.xml))
        notes.push('<code> blocks run their set statements and $$$TRACE/$$$LOG macros (as traces)')
      notes.push(...dtl.notes)
      if (notes.length > 0) status = 'differences'
    } catch (e) {
      status = 'unsupported'
      notes.push(isEngineError(e) ? e.message : String(e))
    }
    transformStatus.set(def.className, status)
    entries.push({ kind: 'transform', name: def.className, status, notes, ...where(def.origin) })
  }
  for (const { entry, rule } of itemRules) reflectRule(entry, rule, ruleStatus, transformStatus)
  for (const [name, table] of bundle.lookupTables) {
    entries.push({
      kind: 'lookup-table',
      name,
      status: 'supported',
      notes: [`${table.size} entries`],
    })
  }
  for (const def of bundle.searchTables.values()) {
    let status: SupportStatus = 'supported'
    let notes: string[]
    try {
      compileSearchTable(def.className, bundle.searchTables)
      notes = [`${searchTableItems(def.className, bundle.searchTables).length} items`]
    } catch (e) {
      status = 'unsupported'
      notes = [e instanceof Error ? e.message : String(e)]
    }
    entries.push({ kind: 'search-table', name: def.className, status, notes, ...where(def.origin) })
  }
  const usedClasses = new Set(p?.items.map((i) => i.className) ?? [])
  for (const c of bundle.otherClasses) {
    if (usedClasses.has(c.className)) continue
    entries.push({
      kind: 'class',
      name: c.className,
      status: 'differences',
      notes: [
        `ObjectScript class${c.superClass ? ` (extends ${c.superClass})` : ''} not used by the production's items: ignored`,
      ],
      ...where(c),
    })
  }
  const categories = new Set(
    p?.items.map((i) => itemSetting(i, 'MessageSchemaCategory') ?? '') ?? [],
  )
  for (const [name, schema] of bundle.schemas) {
    const chain = bundle.schemaChains.get(name)
    entries.push({
      kind: 'document',
      name: bundle.schemaSources.get(name)?.document ?? `${name}.HL7`,
      status: 'supported',
      notes: [
        `custom schema category ${name} (base ${chain ? chain.slice(1).join(' -> ') : (schema.base ?? '?')}) read from the export`,
      ],
    })
  }
  for (const d of bundle.otherDocuments) {
    const custom = d.name.toUpperCase().endsWith('.HL7')
    const used = custom && categories.has(d.name.slice(0, -4))
    entries.push({
      kind: 'document',
      name: d.name,
      status: used ? 'unsupported' : 'differences',
      notes: [d.error ?? (custom ? 'custom HL7 schema category: not read' : 'document ignored')],
      ...where(d),
    })
  }
  const c = counts(entries)
  return {
    ...(p ? { production: p.name } : {}),
    entries,
    counts: c,
    exitCode: c.unsupported > 0 ? 1 : 0,
  }
}

/** An item does not run when its BusinessRuleName rule class, or a transform that uses, does not. */
function reflectRule(
  entry: CompatibilityEntry,
  rule: string,
  ruleStatus: ReadonlyMap<string, { status: SupportStatus; transforms: readonly string[] }>,
  transformStatus: ReadonlyMap<string, SupportStatus>,
): void {
  const r = ruleStatus.get(rule)
  if (r === undefined) return // a missing rule class is a validation issue, already on the item
  // Differences stay on the rule's and transform's own entries; what does not run stops the item.
  const unsupported = (note: string): void => {
    entry.notes.unshift(note)
    entry.status = 'unsupported'
  }
  const notes: string[] = []
  if (r.status === 'unsupported')
    notes.push(`BusinessRuleName ${rule}: the rule class is NOT SUPPORTED (see its entry)`)
  for (const t of r.transforms) {
    if (transformStatus.get(t) === 'unsupported')
      notes.push(`rule ${rule} uses transform ${t}: NOT SUPPORTED (see its entry)`)
  }
  for (const n of notes.reverse()) unsupported(n)
}

function where(o: { file?: string; line?: number } | undefined): { file?: string; line?: number } {
  return {
    ...(o?.file !== undefined ? { file: o.file } : {}),
    ...(o?.line !== undefined ? { line: o.line } : {}),
  }
}

const LABEL: Record<SupportStatus, string> = {
  supported: 'supported',
  differences: 'supported with differences',
  unsupported: 'NOT SUPPORTED',
}

/**
 * Formats a report as plain text: one block per entry, then the counts and the exit code.
 * @example formatCompatibilityReport(report) // "item  PAS ADT In  supported\n..."
 */
export function formatCompatibilityReport(r: CompatibilityReport): string {
  const out: string[] = [
    `Compatibility report${r.production !== undefined ? ` for production ${r.production}` : ''}`,
    '',
  ]
  for (const e of r.entries) {
    const loc =
      e.file !== undefined ? ` (${e.file}${e.line !== undefined ? `:${e.line}` : ''})` : ''
    out.push(`${e.kind.padEnd(12)} ${e.name}: ${LABEL[e.status]}${loc}`)
    for (const n of e.notes)
      out.push(`${' '.repeat(13)}- ${n.replace(/\n\s*/g, '\n' + ' '.repeat(15))}`)
  }
  out.push('')
  out.push(
    `${r.counts.supported} supported, ${r.counts.differences} supported with differences, ${r.counts.unsupported} not supported`,
  )
  out.push(`exit code ${r.exitCode}`)
  return out.join('\n') + '\n'
}
