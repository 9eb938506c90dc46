/**
 * IRIS HL7 search tables (`SearchTableClass` on a business host): the values a message is found
 * by in the message store besides its control id, type, host, state and time, for example every
 * patient identifier in it. `EnsLib.HL7.SearchTable` indexes MSHTypeName, MSHControlID,
 * PatientID (PID-2.1, each PID-3.1, each PID-4.1), PatientName (each PID-5) and PatientAcct
 * (PID-18.1); a subclass exported from IRIS adds the `<Item>`s of its `XData SearchSpec`.
 *
 * What it does: compiles the items once (`compileSearchTable`), then reads each message's values:
 * `{path}` virtual property paths (a numeric segment position such as `{1:10}` or a path through
 * the message structure), `[SEG:path]` for every segment of that name wherever it is, `"literal"`
 * text, and `_` concatenation of those. `()` on a repeating field gives one value per repetition.
 * As IRIS stores them: empty values are left out (unless StoreNulls is 1), `|` becomes `+`,
 * `String:CaseInsensitive` (the default PropType) values are lower-cased, and an item applies
 * only to messages of its DocType (`category:structure`, either part empty for any).
 *
 * What it does not do: ObjectScript in an item (`$PIECE(...)`, method calls) is refused at load,
 * naming the class and item, so `check` reports it; values are strings whatever the PropType
 * (Integer or DateTime items are compared as text); messages stored before a host had its
 * SearchTableClass are not indexed afterwards (IRIS's `BuildIndex()` has no equivalent here).
 */
// The store's limits: longer values are cut, and a message with thousands of repetitions gives
// only the first values, so that it never fails the store's checks.
import { MAX_SEARCH_VALUE_LENGTH, MAX_SEARCH_VALUES } from '@li/store'
import { EngineError } from '../errors.js'
import { Hl7Doc, getSegmentValue } from './hl7-doc.js'
import {
  type SchemaProvider,
  type VirtualPath,
  parseVirtualPath,
  pathDocFor,
  readPathValues,
} from './virtual-path.js'

/** The built-in HL7 search table class. */
export const HL7_SEARCH_TABLE_CLASS = 'EnsLib.HL7.SearchTable'

/** One `<Item>` of an `XData SearchSpec`. */
export interface SearchTableItem {
  /** `category:structure`; an empty part (or `''`) matches any. */
  docType: string
  /** The property the value is found by (several items may share one). */
  propName: string
  /** `String:CaseInsensitive` (default), `String:CaseSensitive`, `Integer`, ... */
  propType: string
  /** Keep empty values too (IRIS StoreNulls; default false). */
  storeNulls: boolean
  /** The expression: `{path}`, `[SEG:path]`, `"text"`, joined with `_`. */
  expression: string
}

/** A search table class read from an export (`XData SearchSpec`), with where it came from. */
export interface SearchTableDefinition {
  className: string
  /** The class it extends; items of a known search table superclass are inherited. */
  superClass?: string
  items: SearchTableItem[]
  origin?: { file?: string | undefined; line?: number | undefined }
}

const ci = 'String:CaseInsensitive'

/** The items of `EnsLib.HL7.SearchTable`. */
export const HL7_SEARCH_TABLE_ITEMS: readonly SearchTableItem[] = [
  item('MSHTypeName', '{1:9.1}_"_"_{1:9.2}'),
  item('MSHControlID', '{1:10}', 'String:CaseSensitive'),
  item('PatientID', '[PID:2.1]'),
  item('PatientID', '[PID:3().1]'),
  item('PatientID', '[PID:4().1]'),
  item('PatientName', '[PID:5()]'),
  item('PatientAcct', '[PID:18.1]'),
]

function item(propName: string, expression: string, propType = ci): SearchTableItem {
  return { docType: '', propName, propType, storeNulls: false, expression }
}

/** One value a message is found by. */
export interface SearchValue {
  name: string
  value: string
}

/** Normalise a value the way it is stored and searched: `|` → `+`, case folded unless case-sensitive. */
export function normaliseSearchValue(value: string, propType: string = ci): string {
  const v = value.replace(/\|/g, '+').slice(0, MAX_SEARCH_VALUE_LENGTH)
  return /CaseSensitive$/i.test(propType) && !/CaseInsensitive$/i.test(propType)
    ? v
    : v.toLowerCase()
}

type Term =
  | { kind: 'text'; text: string }
  | { kind: 'path'; path: VirtualPath; anywhere: boolean; raw: string }

interface CompiledItem {
  item: SearchTableItem
  category: string
  structure: string
  terms: Term[]
}

/** Reads a message's search values; built once per search table class. */
export type CompiledSearchTable = (raw: string, docCategory?: string) => SearchValue[]

function unsupported(where: string, what: string): EngineError {
  return new EngineError(
    'ENGINE_RULE_UNSUPPORTED',
    `${where}: ${what}; search table items may use {path}, [SEG:path], "text" and _ only`,
  )
}

/** Parses one item expression into terms; throws ENGINE_RULE_UNSUPPORTED naming what is not supported. */
function parseExpression(expression: string, where: string): Term[] {
  const terms: Term[] = []
  let i = 0
  const s = expression.trim()
  const skipSpace = (): void => {
    while (i < s.length && /\s/.test(s.charAt(i))) i++
  }
  for (;;) {
    skipSpace()
    const c = s.charAt(i)
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']'
      const end = s.indexOf(close, i + 1)
      if (end < 0) throw unsupported(where, `"${c}" without "${close}" in ${s}`)
      const inner = s.slice(i + 1, end)
      let path: VirtualPath
      try {
        path = parseVirtualPath(inner)
      } catch (e) {
        throw unsupported(where, `path ${c}${inner}${close}: ${(e as Error).message}`)
      }
      if (c === '[' && path.steps.length === 0) {
        throw unsupported(where, `[${inner}] names no segment`)
      }
      terms.push({ kind: 'path', path, anywhere: c === '[', raw: `${c}${inner}${close}` })
      i = end + 1
    } else if (c === '"') {
      let text = ''
      let j = i + 1
      for (;;) {
        if (j >= s.length) throw unsupported(where, `unterminated string in ${s}`)
        if (s.charAt(j) === '"') {
          if (s.charAt(j + 1) === '"') {
            text += '"'
            j += 2
            continue
          }
          break
        }
        text += s.charAt(j)
        j++
      }
      terms.push({ kind: 'text', text })
      i = j + 1
    } else {
      throw unsupported(where, `"${s.slice(i, i + 20)}" is ObjectScript or not an expression`)
    }
    skipSpace()
    if (i >= s.length) break
    if (s.charAt(i) !== '_') throw unsupported(where, `"${s.slice(i, i + 20)}" after a term`)
    i++
  }
  if (terms.length === 0) throw unsupported(where, 'an empty expression')
  return terms
}

/** The items of a class, with those it inherits from a known search table superclass. */
export function searchTableItems(
  className: string,
  classes: ReadonlyMap<string, SearchTableDefinition>,
): SearchTableItem[] {
  const seen = new Set<string>()
  const out: SearchTableItem[] = []
  let name: string | undefined = className
  const chain: SearchTableItem[][] = []
  while (name !== undefined && !seen.has(name)) {
    seen.add(name)
    if (name === HL7_SEARCH_TABLE_CLASS) {
      chain.push([...HL7_SEARCH_TABLE_ITEMS])
      break
    }
    const def = classes.get(name)
    if (def === undefined) {
      throw new EngineError(
        'ENGINE_RULE_UNSUPPORTED',
        `search table class ${name} is not ${HL7_SEARCH_TABLE_CLASS} and not in the export (export the class with its XData SearchSpec next to the production)`,
      )
    }
    chain.push(def.items)
    name = def.superClass
  }
  for (const items of chain.reverse()) out.push(...items)
  return out
}

/**
 * Compiles a search table class (`EnsLib.HL7.SearchTable` or one of `classes`) into a function
 * that reads a message's values. Throws ENGINE_RULE_UNSUPPORTED naming the class and item for a
 * construct it cannot run, or for an unknown class.
 */
export function compileSearchTable(
  className: string,
  classes: ReadonlyMap<string, SearchTableDefinition> = new Map(),
  schemas?: SchemaProvider,
): CompiledSearchTable {
  const compiled: CompiledItem[] = searchTableItems(className, classes).map((it) => {
    const where = `search table ${className}, item ${it.propName} (${it.expression})`
    if (!/^[\w%.]+$/.test(it.propName)) throw unsupported(where, 'PropName must be a single word')
    const i = it.docType.indexOf(':')
    return {
      item: it,
      category: i < 0 ? it.docType.trim() : it.docType.slice(0, i).trim(),
      structure: i < 0 ? '' : it.docType.slice(i + 1).trim(),
      terms: parseExpression(it.expression, where),
    }
  })
  const needsStructure = compiled.some((c) =>
    c.terms.some(
      (t) => t.kind === 'path' && !t.anywhere && !/^\d+$/.test(t.path.steps[0]?.name ?? ''),
    ),
  )
  return (raw, docCategory) => {
    const doc = Hl7Doc.parse(raw)
    const msh = doc.first('MSH')
    const category = docCategory ?? (msh ? getSegmentValue(doc, msh, { field: 12, comp: 1 }) : '')
    const structure = msh ? structureOf(doc, msh) : ''
    const pd = pathDocFor(doc, needsStructure ? schemas : undefined, docCategory)
    const out: SearchValue[] = []
    const seen = new Set<string>()
    for (const c of compiled) {
      if (c.category !== '' && c.category !== category) continue
      if (c.structure !== '' && c.structure !== structure) continue
      let values = ['']
      for (const t of c.terms) {
        const next =
          t.kind === 'text'
            ? [t.text]
            : readPathValues(pd, t.path, () => 1, { anywhere: t.anywhere })
        if (next.length === 0) {
          values = []
          break
        }
        values = values.flatMap((v) => next.map((n) => v + n)).slice(0, MAX_SEARCH_VALUES)
      }
      for (const v of values) {
        if (v === '' && !c.item.storeNulls) continue
        const value = normaliseSearchValue(v, c.item.propType)
        const key = `${c.item.propName}\u0000${value}`
        if (seen.has(key)) continue
        seen.add(key)
        out.push({ name: c.item.propName, value })
        if (out.length >= MAX_SEARCH_VALUES) return out
      }
    }
    return out
  }
}

/** MSH-9.3, or MSH-9.1 `_` MSH-9.2. */
function structureOf(doc: Hl7Doc, msh: ReturnType<Hl7Doc['first']> & object): string {
  const s3 = getSegmentValue(doc, msh, { field: 9, comp: 3 })
  if (s3 !== '') return s3
  const t = getSegmentValue(doc, msh, { field: 9, comp: 1 })
  const e = getSegmentValue(doc, msh, { field: 9, comp: 2 })
  return e === '' ? t : `${t}_${e}`
}

/**
 * Reads the `<Item>`s of an `XData SearchSpec` body. Throws ENGINE_PRODUCTION_PARSE naming `where`
 * for an item without PropName.
 */
export function readSearchSpec(
  items: { attrs: Record<string, string>; text: string; line: number }[],
  where: string,
): SearchTableItem[] {
  return items.map((el) => {
    const propName = el.attrs.PropName
    if (propName === undefined || propName.trim() === '') {
      throw new EngineError(
        'ENGINE_PRODUCTION_PARSE',
        `${where} line ${el.line}: search table <Item> needs a PropName`,
      )
    }
    return {
      docType: el.attrs.DocType ?? '',
      propName: propName.trim(),
      propType: el.attrs.PropType?.trim() || ci,
      storeNulls: /^(1|true)$/i.test(el.attrs.StoreNulls ?? ''),
      expression: el.text.trim(),
    }
  })
}
