/**
 * Reads what an IRIS user has on disk into the production model: a bare `<Production>` XML, a
 * UDL `.cls` class with `XData ProductionDefinition`, or an IRIS/Studio XML export (`<Export>`
 * with `<Class>` elements, XData inside `<Data><![CDATA[...]]></Data>`, including CDATA split as
 * `]]]]><![CDATA[>`), plus routing rule classes (`XData RuleDefinition`), DTL classes
 * (`XData DTL`) and lookup tables (`<lookupTable>`, `<Document name="X.LUT">`) from the same
 * text or from files next to the production.
 *
 * XML goes through fast-xml-parser (`xml.ts`). UDL is not XML: its class header, parameters and
 * XData blocks are found by line structure, and the XData bodies are then parsed as XML.
 *
 * It does not read ObjectScript (methods, BPL, custom host classes): such classes are listed in
 * `otherClasses` so that `checkProduction` can report them.
 */
import { readFile, readdir } from 'node:fs/promises'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { EngineError } from '../errors.js'
import { itemSetting, parseIrisBoolean } from '../production/model.js'
import { setOrigin } from '../production/origin.js'
import type {
  Production,
  ProductionItem,
  ProductionSetting,
  RuleClassDefinition,
  TransformDefinition,
} from '../production/types.js'
import { validateProduction } from '../production/validate.js'
import { childNamed, childrenNamed, localName, parseXml, type XmlElement } from './xml.js'
import { compileRules, type CompileOptions } from './rules.js'
import { compileTransform, type CompiledDtl } from './dtl.js'
import { compileProcess, type ClassProperty, type ProcessDefinition } from './bpl.js'
import {
  customSchemaDefinition,
  resolveCustomSchemas,
  type CustomCategorySource,
} from './custom-schema.js'
import type { Hl7Schema } from '@li/hl7'
import { compileSearchTable, readSearchSpec, type SearchTableDefinition } from './search-table.js'

/** A class found in a source that is neither a production, a rule nor a DTL. */
export interface OtherClass {
  className: string
  superClass?: string
  file?: string
  line?: number
}

/** Everything read from one or more IRIS sources. */
export interface IrisBundle {
  productions: Production[]
  rules: Map<string, RuleClassDefinition>
  transforms: Map<string, TransformDefinition>
  lookupTables: Map<string, Map<string, string>>
  /** HL7 search table classes (`XData SearchSpec`), by class name. */
  searchTables: Map<string, SearchTableDefinition>
  /** BPL business process classes (`XData BPL`), by class name. */
  processes: Map<string, ProcessDefinition>
  otherClasses: OtherClass[]
  /** Custom schema categories (`X.HL7` documents), by category name, base chains resolved. */
  schemas: Map<string, Hl7Schema>
  /** The custom categories as read (before resolving `base` chains), by category name. */
  schemaSources: Map<string, CustomCategorySource>
  /** Each custom category's chain of bases down to a shipped version (`RGH-ICU -> RGH2.5 -> 2.5`). */
  schemaChains: Map<string, string[]>
  /**
   * Other `<Document>` entries of an export, and custom schemas that could not be read (`error`;
   * `category` names the custom category).
   */
  otherDocuments: {
    name: string
    file?: string
    line?: number
    error?: string
    category?: string
  }[]
}

/** An empty bundle. */
export function createIrisBundle(): IrisBundle {
  return {
    productions: [],
    rules: new Map(),
    transforms: new Map(),
    lookupTables: new Map(),
    searchTables: new Map(),
    processes: new Map(),
    otherClasses: [],
    schemas: new Map(),
    schemaSources: new Map(),
    schemaChains: new Map(),
    otherDocuments: [],
  }
}

/**
 * Reads one source text (any of the supported forms) into `bundle` (a new one by default).
 * Throws `ENGINE_PRODUCTION_PARSE` naming the file and line of malformed input.
 */
export function readIrisSource(
  text: string,
  file?: string,
  bundle = createIrisBundle(),
): IrisBundle {
  const where = file ?? '<input>'
  const categories = new Set(bundle.schemaSources.values())
  const trimmed = text.replace(/^\uFEFF/, '').trimStart()
  if (trimmed.startsWith('<')) {
    const xml = text.replace(/^\uFEFF/, '')
    readXmlRoot(parseXml(xml, where), file, bundle, xml)
  } else {
    readUdl(text, file, bundle)
  }
  // Only when this text added categories: a base may have arrived after a category using it.
  if ([...bundle.schemaSources.values()].some((c) => !categories.has(c)))
    resolveBundleSchemas(bundle)
  return bundle
}

/** Rebuilds the custom schemas from their sources (a base may come from a later file). */
function resolveBundleSchemas(bundle: IrisBundle): void {
  const r = resolveCustomSchemas(bundle.schemaSources)
  bundle.schemas = r.schemas
  bundle.schemaChains = r.chains
  bundle.otherDocuments = bundle.otherDocuments.filter((d) => d.category === undefined)
  for (const [name, error] of r.errors) {
    const src = bundle.schemaSources.get(name) as CustomCategorySource
    bundle.otherDocuments.push({
      name: src.document,
      category: name,
      error,
      ...(src.file !== undefined ? { file: src.file } : {}),
      ...(src.line !== undefined ? { line: src.line } : {}),
    })
  }
}

function readXmlRoot(
  root: XmlElement,
  file: string | undefined,
  bundle: IrisBundle,
  text: string,
): void {
  const name = localName(root.name)
  switch (name) {
    case 'Export':
      for (const el of root.children) {
        const n = localName(el.name)
        if (n === 'Class') readExportClass(el, file, bundle)
        else if (n === 'Document') readExportDocument(el, file, bundle)
        else if (n === 'lookupTable') readLookupTable(el, undefined, file, bundle)
      }
      return
    case 'Production':
      bundle.productions.push(productionFromElement(root, file))
      return
    case 'lookupTable':
      readLookupTable(root, undefined, file, bundle)
      return
    case 'RuleDefinition':
    case 'ruleDefinition': {
      const className = file ? basename(file, extname(file)) : 'Rules'
      bundle.rules.set(className, {
        className,
        xml: text,
        origin: { file, line: 1 },
      })
      return
    }
    case 'transform': {
      const className = file ? basename(file, extname(file)) : 'Transform'
      bundle.transforms.set(className, {
        className,
        xml: text,
        origin: { file, line: 1 },
      })
      return
    }
    default:
      throw new EngineError(
        'ENGINE_PRODUCTION_PARSE',
        `${file ?? '<input>'} line ${root.line}: unexpected root element <${root.name}>; expected <Export>, <Production>, <lookupTable>, <ruleDefinition> or <transform>`,
      )
  }
}

function readExportClass(el: XmlElement, file: string | undefined, bundle: IrisBundle): void {
  const className = el.attrs.name ?? ''
  const superClass = childNamed(el, 'Super')?.text.trim()
  const parameters: Record<string, string> = {}
  for (const p of childrenNamed(el, 'Parameter')) {
    const pname = p.attrs.name
    if (pname !== undefined) parameters[pname] = unquote(childNamed(p, 'Default')?.text ?? '')
  }
  const properties: Record<string, ClassProperty> = {}
  for (const p of childrenNamed(el, 'Property')) {
    const pname = p.attrs.name
    if (pname === undefined) continue
    const init = childNamed(p, 'InitialExpression')?.text.trim()
    properties[pname] = {
      type: childNamed(p, 'Type')?.text.trim() ?? '%String',
      ...(init !== undefined && init !== '' ? { initial: init } : {}),
    }
  }
  let used = false
  for (const x of childrenNamed(el, 'XData')) {
    const data = childNamed(x, 'Data')
    if (!data) continue
    const body = data.text
    const offset = data.line - 1
    used =
      handleXData(
        x.attrs.name ?? '',
        body,
        className,
        parameters,
        file,
        offset,
        bundle,
        superClass,
      ) || used
  }
  if (!used)
    bundle.otherClasses.push({
      className,
      ...(superClass ? { superClass } : {}),
      file,
      line: el.line,
    })
  attachClassMembers(bundle, className, parameters, properties)
}

/**
 * A BPL class's own properties and SETTINGS parameter (IRIS: `Property Target As %String [
 * InitialExpression = "..." ]` listed in `Parameter SETTINGS`), which its expressions read as
 * `process.Target` and items set as host settings.
 */
function attachClassMembers(
  bundle: IrisBundle,
  className: string,
  parameters: Record<string, string>,
  properties: Record<string, ClassProperty>,
): void {
  const def = bundle.processes.get(className)
  if (def === undefined) return
  if (Object.keys(properties).length > 0) def.properties = properties
  const settings = parameters.SETTINGS
  if (settings !== undefined && settings.trim() !== '')
    def.settings = settings
      .split(',')
      .map((x) => (x.split(':')[0] ?? '').trim().replace(/^-/, ''))
      .filter((x) => x !== '')
}

function readExportDocument(el: XmlElement, file: string | undefined, bundle: IrisBundle): void {
  const name = el.attrs.name ?? ''
  const lut = childNamed(el, 'lookupTable')
  if (name.toUpperCase().endsWith('.LUT') && lut) {
    readLookupTable(lut, name.slice(0, -4), file, bundle)
    return
  }
  const category = childNamed(el, 'Category')
  if (name.toUpperCase().endsWith('.HL7') && category) {
    const definition = customSchemaDefinition(category)
    bundle.schemaSources.set(definition.name, {
      definition,
      document: name,
      ...(file !== undefined ? { file } : {}),
      line: category.line,
    })
    return
  }
  bundle.otherDocuments.push({ name, file, line: el.line })
}

/**
 * Where a bundle's lookup-table entries were read from, for the message of a conflict: the file
 * that created the table, plus the keys that other files added to it (a table exported in parts).
 * One record per table map, nothing per key for a table read from one file; held per bundle, so
 * it goes with the bundle once the production is built.
 */
interface TableOrigin {
  file: string | undefined
  others?: Map<string, string | undefined>
}

const tableOrigins = new WeakMap<IrisBundle, WeakMap<Map<string, string>, TableOrigin>>()

function originsOf(bundle: IrisBundle): WeakMap<Map<string, string>, TableOrigin> {
  let o = tableOrigins.get(bundle)
  if (!o) {
    o = new WeakMap()
    tableOrigins.set(bundle, o)
  }
  return o
}

/** Records that `file` added `key` to `table` (nothing when the file created the table). */
function noteEntryOrigin(
  bundle: IrisBundle,
  table: Map<string, string>,
  key: string,
  file: string | undefined,
): void {
  const origins = originsOf(bundle)
  const o = origins.get(table)
  if (o === undefined) origins.set(table, { file })
  else if (o.file !== file) (o.others ??= new Map()).set(key, file)
}

/** The file an entry of a bundle's table was read from. */
function entryOrigin(bundle: IrisBundle, table: Map<string, string>, key: string): string {
  const o = tableOrigins.get(bundle)?.get(table)
  if (o === undefined) return '<input>'
  const file = o.others?.has(key) === true ? o.others.get(key) : o.file
  return file ?? '<input>'
}

function readLookupTable(
  el: XmlElement,
  defaultTable: string | undefined,
  file: string | undefined,
  bundle: IrisBundle,
): void {
  for (const entry of childrenNamed(el, 'entry')) {
    const table = entry.attrs.table ?? defaultTable
    const key = entry.attrs.key
    if (table === undefined || key === undefined) {
      throw new EngineError(
        'ENGINE_LOOKUP_TABLE',
        `${file ?? '<input>'} line ${entry.line}: lookup table <entry> needs table and key attributes`,
      )
    }
    let t = bundle.lookupTables.get(table)
    if (!t) {
      t = new Map()
      bundle.lookupTables.set(table, t)
    }
    // A key repeated within one text: the last entry wins, as it always has. IRIS's documentation
    // of Ens.Util.LookupTable states no rule for it, and one file has one author; only two files
    // disagreeing is refused (`readSiblingSource`).
    t.set(key, entry.text)
    noteEntryOrigin(bundle, t, key, file)
  }
}

/** Returns whether the XData block was one we use. */
function handleXData(
  xdataName: string,
  body: string,
  className: string,
  parameters: Record<string, string>,
  file: string | undefined,
  lineOffset: number,
  bundle: IrisBundle,
  superClass?: string,
): boolean {
  const where = `${file ?? '<input>'} (class ${className}, XData ${xdataName})`
  if (xdataName === 'SearchSpec') {
    const root = parseXml(
      body.trim() === '' ? '<Items/>' : trimLeadingBlankLines(body),
      where,
      lineOffset + leadingLines(body),
    )
    const def: SearchTableDefinition = {
      className,
      items: readSearchSpec(childrenNamed(root, 'Item'), where),
      origin: { file, line: lineOffset + 1 },
    }
    // A UDL "Extends (A, B)" names the primary superclass first.
    const sup = superClass?.split(',')[0]?.trim()
    if (sup !== undefined && sup !== '') def.superClass = sup
    bundle.searchTables.set(className, def)
    return true
  }
  if (xdataName === 'ProductionDefinition') {
    const root = parseXml(
      body.trim() === '' ? '<Production/>' : trimLeadingBlankLines(body),
      where,
      lineOffset + leadingLines(body),
    )
    if (localName(root.name) !== 'Production') {
      throw new EngineError(
        'ENGINE_PRODUCTION_PARSE',
        `${where} line ${root.line}: expected <Production>, found <${root.name}>`,
      )
    }
    const p = productionFromElement(root, file)
    if (p.name === '') p.name = className
    bundle.productions.push(p)
    return true
  }
  if (xdataName === 'RuleDefinition') {
    bundle.rules.set(className, {
      className,
      xml: body,
      origin: { file, line: lineOffset + 1 },
      parameters,
    })
    return true
  }
  if (xdataName === 'BPL') {
    const sup = superClass?.split(',')[0]?.trim()
    bundle.processes.set(className, {
      className,
      xml: body,
      origin: { file, line: lineOffset + 1 },
      ...(sup !== undefined && sup !== '' ? { superClass: sup } : {}),
    })
    return true
  }
  if (xdataName === 'DTL') {
    bundle.transforms.set(className, {
      className,
      xml: body,
      origin: { file, line: lineOffset + 1 },
      parameters,
    })
    return true
  }
  return false
}

function leadingLines(s: string): number {
  const m = /^\s*/.exec(s)
  return (m?.[0].match(/\n/g) ?? []).length
}

function trimLeadingBlankLines(s: string): string {
  return s.replace(/^\s*/, '')
}

function unquote(v: string): string {
  const t = v.trim()
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"'))
    return t.slice(1, -1).replace(/""/g, '"')
  return t
}

/** Reads a UDL class: `Class X Extends Y { Parameter ...; XData Name { ... } }`. */
function readUdl(text: string, file: string | undefined, bundle: IrisBundle): void {
  const lines = text.split(/\r\n|\r|\n/)
  let className: string | undefined
  let superClass: string | undefined
  const parameters: Record<string, string> = {}
  const properties: Record<string, ClassProperty> = {}
  let used = false
  let headerLine = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const cls = /^\s*Class\s+([\w.%]+)(?:\s+Extends\s+\(?([\w.%, ]+)\)?)?/.exec(line)
    if (cls && className === undefined) {
      className = cls[1]
      superClass = cls[2]?.trim()
      headerLine = i + 1
      continue
    }
    const par =
      /^\s*Parameter\s+(\w+)(?:\s+As\s+[\w.%]+(?:\s*\([^)]*\))?)?\s*(?:=\s*(.*?))?\s*;\s*$/.exec(
        line,
      )
    if (par?.[1] !== undefined) {
      parameters[par[1]] = unquote(par[2] ?? '')
      continue
    }
    const prop =
      /^\s*Property\s+(%?\w+)\s+As\s+([\w.%]+)(?:\s*\([^)]*\))?\s*(?:\[(.*)\])?\s*;\s*$/.exec(line)
    if (prop?.[1] !== undefined) {
      const init = /InitialExpression\s*=\s*("(?:[^"]|"")*"|[^,\]]+)/i.exec(prop[3] ?? '')?.[1]
      properties[prop[1]] = {
        type: prop[2] ?? '%String',
        ...(init !== undefined ? { initial: init.trim() } : {}),
      }
      continue
    }
    const xd = /^\s*XData\s+(\w+)(\s*\[.*\])?\s*(\{)?\s*$/.exec(line)
    if (xd?.[1] !== undefined) {
      let j = i + 1
      if (xd[3] === undefined) {
        while (j < lines.length && (lines[j] ?? '').trim() === '') j++
        if ((lines[j] ?? '').trim() !== '{') {
          throw new EngineError(
            'ENGINE_PRODUCTION_PARSE',
            `${file ?? '<input>'} line ${j + 1}: expected "{" to open XData ${xd[1]}`,
          )
        }
        j++
      }
      const start = j
      while (j < lines.length && (lines[j] ?? '').trimEnd() !== '}') j++
      if (j >= lines.length) {
        throw new EngineError(
          'ENGINE_PRODUCTION_PARSE',
          `${file ?? '<input>'} line ${i + 1}: XData ${xd[1]} is not closed by a line holding only "}"`,
        )
      }
      const body = lines.slice(start, j).join('\n')
      used =
        handleXData(
          xd[1],
          body,
          className ?? 'Unknown',
          parameters,
          file,
          start,
          bundle,
          superClass,
        ) || used
      i = j
    }
  }
  if (className === undefined) {
    throw new EngineError(
      'ENGINE_PRODUCTION_PARSE',
      `${file ?? '<input>'}: neither XML nor a UDL class ("Class Name Extends Super {"); cannot read it`,
    )
  }
  if (!used)
    bundle.otherClasses.push({
      className,
      ...(superClass ? { superClass } : {}),
      file,
      line: headerLine,
    })
  attachClassMembers(bundle, className, parameters, properties)
}

function settingsOf(el: XmlElement, file: string | undefined, where: string): ProductionSetting[] {
  const out: ProductionSetting[] = []
  for (const s of childrenNamed(el, 'Setting')) {
    const target = s.attrs.Target ?? 'Host'
    if (target !== 'Adapter' && target !== 'Host' && target !== 'Production') {
      throw new EngineError(
        'ENGINE_PRODUCTION_PARSE',
        `${file ?? '<input>'} line ${s.line}: ${where}: <Setting Name="${s.attrs.Name ?? ''}"> has Target="${target}"; expected Adapter, Host or Production`,
      )
    }
    const setting: ProductionSetting = { target, name: s.attrs.Name ?? '', value: s.text }
    setOrigin(setting, { file, line: s.line })
    out.push(setting)
  }
  return out
}

/** Builds the production model from a `<Production>` element. */
export function productionFromElement(el: XmlElement, file?: string): Production {
  const a = el.attrs
  const items: ProductionItem[] = []
  for (const it of childrenNamed(el, 'Item')) {
    const ia = it.attrs
    const name = ia.Name ?? ''
    const pool = ia.PoolSize
    const item: ProductionItem = {
      name,
      className: ia.ClassName ?? '',
      poolSize: pool === undefined || pool.trim() === '' ? 1 : Number(pool),
      enabled: parseIrisBoolean(ia.Enabled) ?? true,
      attributes: { ...ia },
      settings: settingsOf(it, file, `item "${name}"`),
    }
    if (ia.Category !== undefined) item.category = ia.Category
    const fg = parseIrisBoolean(ia.Foreground)
    if (fg !== undefined) item.foreground = fg
    if (ia.Comment !== undefined) item.comment = ia.Comment
    const lte = parseIrisBoolean(ia.LogTraceEvents)
    if (lte !== undefined) item.logTraceEvents = lte
    if (ia.Schedule !== undefined) item.schedule = ia.Schedule
    setOrigin(item, { file, line: it.line })
    items.push(item)
  }
  const p: Production = {
    name: a.Name ?? '',
    attributes: { ...a },
    settings: settingsOf(el, file, `production "${a.Name ?? ''}"`),
    items,
    rules: new Map(),
    transforms: new Map(),
    lookupTables: new Map(),
  }
  const te = parseIrisBoolean(a.TestingEnabled)
  if (te !== undefined) p.testingEnabled = te
  const lg = parseIrisBoolean(a.LogGeneralTraceEvents)
  if (lg !== undefined) p.logGeneralTraceEvents = lg
  const desc = childNamed(el, 'Description')
  if (desc) p.description = desc.text
  const aps = childNamed(el, 'ActorPoolSize')
  if (aps) p.actorPoolSize = Number(aps.text.trim())
  setOrigin(p, { file, line: el.line })
  return p
}

/** Where to read a production from: text, `{ xml }`, or a file `{ path }` (a string without `<` or newline is a path). */
export type ProductionSource = string | { path: string } | { xml: string }

/** Options of `loadProduction`. */
export interface LoadProductionOptions extends CompileOptions {
  /** Which production to take when the source holds several (class or production name). */
  production?: string
  /** Run `validateProduction` and throw on errors (default true). */
  validate?: boolean
  /** Compile the rule classes items use, and their DTLs, so unsupported constructs fail the load (default true). */
  compile?: boolean
  /**
   * Extra sources (rule/DTL/lookup files) to read into the same bundle, after the files next to
   * the production and under the same rule: a rule class, DTL or lookup-table key they define
   * differently fails the load (ENGINE_PRODUCTION_INVALID).
   */
  extraSources?: { text: string; file?: string }[]
}

function looksLikePath(s: string): boolean {
  return !s.includes('<') && !s.includes('\n') && !s.includes('{')
}

/**
 * Loads a production from any of the three IRIS forms, with the rules, DTLs and lookup tables
 * found in the same source (and, for a file path, in the files next to it: `loadProductionFile`). Validates it (throws `ENGINE_PRODUCTION_INVALID` listing every
 * error, naming item and setting) and compiles its rules and transforms (throws
 * `ENGINE_RULE_UNSUPPORTED` / `ENGINE_TRANSFORM_UNSUPPORTED` naming class, line and construct).
 * @example const p = await loadProduction({ path: 'Demo.Production.cls' })
 */
export async function loadProduction(
  source: ProductionSource,
  options: LoadProductionOptions = {},
): Promise<Production> {
  if (typeof source === 'string' && looksLikePath(source))
    return loadProductionFile(source, options)
  if (typeof source !== 'string' && 'path' in source)
    return loadProductionFile(source.path, options)
  const text = typeof source === 'string' ? source : source.xml
  const bundle = readIrisSource(text)
  for (const extra of options.extraSources ?? [])
    readCheckedSource(bundle, extra.text, extra.file, true)
  return productionFromBundle(bundle, options)
}

/**
 * Loads a production file and every `*.cls`/`*.xml`/`*.lut` file next to it that holds rule
 * classes, DTL classes or lookup tables (other files are left alone).
 */
export async function loadProductionFile(
  path: string,
  options: LoadProductionOptions = {},
): Promise<Production> {
  const full = resolve(path)
  const text = await readFile(full, 'utf8')
  const bundle = readIrisSource(text, path)
  const dir = dirname(full)
  const names = (await readdir(dir)).sort()
  for (const n of names) {
    const f = join(dir, n)
    if (f === full || !/\.(cls|xml|lut)$/i.test(n)) continue
    const t = await readFile(f, 'utf8')
    if (holdsIrisDefinitions(t)) readSiblingSource(bundle, t, join(dirname(path), n))
  }
  for (const extra of options.extraSources ?? [])
    readCheckedSource(bundle, extra.text, extra.file, true)
  return productionFromBundle(bundle, options, path)
}

/** Whether a file next to a production holds a rule class, a DTL, a lookup table or a schema category. */
export function holdsIrisDefinitions(text: string): boolean {
  return /RuleDefinition|XData\s+(DTL|BPL)|name="(DTL|BPL)"|<lookupTable|<transform\b|<Category\b/.test(
    text,
  )
}

/**
 * Reads a file next to the production into `bundle`: its rule classes, DTLs, lookup tables and
 * schema categories, never a production. Throws what `readIrisSource` throws, or
 * ENGINE_PRODUCTION_INVALID for a rule class or DTL defined differently before (see
 * `keepOneDefinition`) or a lookup-table key given a different value before (see
 * `mergeLookupTables`); after a throw the bundle's rule classes, DTLs and lookup tables are as
 * they were before the call.
 */
export function readSiblingSource(bundle: IrisBundle, text: string, file: string): void {
  readCheckedSource(bundle, text, file, false)
}

/**
 * `readSiblingSource`, also for `options.extraSources` (which may hold a production: kept when
 * `keepProductions`).
 */
function readCheckedSource(
  bundle: IrisBundle,
  text: string,
  file: string | undefined,
  keepProductions: boolean,
): void {
  const before = bundle.productions.length
  const rules = new Map(bundle.rules)
  const transforms = new Map(bundle.transforms)
  const processes = new Map(bundle.processes)
  // This text's lookup tables are read apart, checked against those read before, and only then
  // merged: a refused file leaves nothing to roll back, and no table is copied.
  const tables = bundle.lookupTables
  bundle.lookupTables = new Map()
  let read = false
  try {
    readIrisSource(text, file, bundle)
    keepOneDefinition('rule class', rules, bundle.rules)
    keepOneDefinition('transform', transforms, bundle.transforms)
    keepOneDefinition('business process', processes, bundle.processes)
    mergeLookupTables(bundle, tables, bundle.lookupTables, file)
    read = true
  } catch (e) {
    bundle.rules = rules
    bundle.transforms = transforms
    bundle.processes = processes
    throw e
  } finally {
    bundle.lookupTables = tables
    // Productions come from the production file only (and from extra sources).
    if (!read || !keepProductions) bundle.productions.length = before
  }
}

/**
 * Merges the lookup tables one file defines (`from`) into those read before (`into`). A table
 * in several files is merged key by key (a table exported in parts); a key with the same value
 * again is kept as first read; a key with a different value fails the load, naming table, key
 * and both files, before anything is merged, instead of the later file silently changing what
 * `Lookup()` returns.
 */
function mergeLookupTables(
  bundle: IrisBundle,
  into: Map<string, Map<string, string>>,
  from: ReadonlyMap<string, Map<string, string>>,
  file: string | undefined,
): void {
  let first: string | undefined
  let more = 0
  for (const [name, incoming] of from) {
    const t = into.get(name)
    if (t === undefined) continue
    for (const [key, value] of incoming) {
      const was = t.get(key)
      if (was === undefined || was === value) continue
      if (first === undefined)
        first = `lookup table ${name} key "${key}" is defined differently in ${entryOrigin(bundle, t, key)} (${quoteValue(was)}) and in ${file ?? '<input>'} (${quoteValue(value)})`
      else more++
    }
  }
  if (first !== undefined) {
    throw new EngineError(
      'ENGINE_PRODUCTION_INVALID',
      `${first}${more > 0 ? `, and ${more} more ${more === 1 ? 'key differs' : 'keys differ'} in ${file ?? '<input>'}` : ''} (the engine reads rule, DTL and lookup files next to the production): keep one definition of each entry, remove or correct the other file`,
    )
  }
  for (const [name, incoming] of from) {
    const t = into.get(name)
    if (t === undefined) {
      into.set(name, incoming) // its origin record goes with the map
      continue
    }
    for (const [key, value] of incoming) {
      if (t.has(key)) continue // the same value: kept as first read
      t.set(key, value)
      noteEntryOrigin(bundle, t, key, file)
    }
  }
}

/** A lookup value for a message: quoted, at most 40 characters. */
function quoteValue(v: string): string {
  return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)
}

/**
 * After a sibling file was read: a class it defines that was already defined (in the production
 * file or an earlier sibling) must be the same class. The same text is kept as first read; a
 * different one fails the load, naming both files, instead of the later file silently replacing
 * the routing rules (two exports of one rule class, an old and a new, in one folder).
 */
function keepOneDefinition<T extends { xml: string; origin?: { file?: string | undefined } }>(
  what: string,
  before: ReadonlyMap<string, T>,
  now: Map<string, T>,
): void {
  for (const [name, first] of before) {
    const later = now.get(name)
    if (later === undefined || later === first) continue
    if (later.xml.trim() === first.xml.trim()) {
      now.set(name, first)
      continue
    }
    throw new EngineError(
      'ENGINE_PRODUCTION_INVALID',
      `${what} ${name} is defined differently in ${first.origin?.file ?? '<input>'} and in ${later.origin?.file ?? '<input>'} (the engine reads rule, DTL and lookup files next to the production): keep one definition, remove or rename the other file`,
    )
  }
}

/** Picks the production from a bundle, attaches rules/DTLs/tables, validates and compiles. */
export function productionFromBundle(
  bundle: IrisBundle,
  options: LoadProductionOptions = {},
  file?: string,
): Production {
  const want = options.production
  const candidates =
    want === undefined ? bundle.productions : bundle.productions.filter((p) => p.name === want)
  if (candidates.length === 0) {
    throw new EngineError(
      'ENGINE_PRODUCTION_PARSE',
      want === undefined
        ? `${file ?? '<input>'}: no production found (expected <Production> or a class with XData ProductionDefinition)`
        : `${file ?? '<input>'}: no production named "${want}"; found ${bundle.productions.map((p) => p.name).join(', ') || 'none'}`,
    )
  }
  if (candidates.length > 1) {
    throw new EngineError(
      'ENGINE_PRODUCTION_PARSE',
      `${file ?? '<input>'}: several productions (${candidates.map((p) => p.name).join(', ')}); pass options.production to choose`,
    )
  }
  const p = candidates[0] as Production
  p.rules = new Map(bundle.rules)
  p.transforms = new Map(bundle.transforms)
  p.lookupTables = new Map(bundle.lookupTables)
  if (bundle.searchTables.size > 0) p.searchTables = new Map(bundle.searchTables)
  if (bundle.processes.size > 0) p.processes = new Map(bundle.processes)
  if (bundle.schemas.size > 0) p.customSchemas = new Map(bundle.schemas)
  if (options.validate !== false) {
    const errors = validateProduction(p).filter((i) => i.severity === 'error')
    if (errors.length > 0) {
      throw new EngineError(
        'ENGINE_PRODUCTION_INVALID',
        `production "${p.name}" is invalid:\n` +
          errors
            .map(
              (e) =>
                `  - ${e.line !== undefined ? `${e.file ?? file ?? ''} line ${e.line}: ` : ''}${e.message}`,
            )
            .join('\n'),
      )
    }
  }
  if (options.compile !== false) compileReferenced(p, options)
  return p
}

/**
 * Compiles the rule classes the production's items name (BusinessRuleName) and the transforms
 * their sends use, so unsupported constructs fail the load. Other classes found beside the
 * production are kept but not compiled (`checkProduction` reports on all of them).
 */
export function compileReferenced(p: Production, options: CompileOptions = {}): void {
  const cache = new Map<string, CompiledDtl>()
  for (const item of p.items) {
    const searchTable = itemSetting(item, 'SearchTableClass')?.trim()
    if (searchTable !== undefined && searchTable !== '') {
      try {
        compileSearchTable(searchTable, p.searchTables ?? new Map())
      } catch (e) {
        throw new EngineError(
          'ENGINE_RULE_UNSUPPORTED',
          `item "${item.name}" setting SearchTableClass: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        )
      }
    }
    const bpl = p.processes?.get(item.className)
    if (bpl) compileProcess(bpl, p, undefined, options)
    const ruleName = itemSetting(item, 'BusinessRuleName')?.trim()
    const def = ruleName !== undefined && ruleName !== '' ? p.rules.get(ruleName) : undefined
    if (!def) continue
    const compiled = compileRules(def, p, options)
    for (const t of compiled.transforms) {
      const tdef = p.transforms.get(t)
      if (tdef) compileTransform(tdef, p, options, cache)
    }
  }
}
