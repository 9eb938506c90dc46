/**
 * IRIS custom schema categories (`<Document name="X.HL7"><Category name base>` in an export):
 * converted to the `@li/hl7` custom schema form (`defineCustomSchema`), so symbolic paths, group
 * names and validation work with a trust's own Z-segments and structures.
 *
 * Read: `SegmentStructure`/`SegmentSubStructure` (fields), `DataType`/`DataSubType`
 * (components), `MessageStructure` (definition in IRIS's `base:MSH~[~base:PD1~]` syntax) and
 * `MessageType` (event → structure). A category may be based on another custom category
 * (`base="RGH2.5"`), itself based on another, down to a shipped HL7 version: the chain is merged
 * from the version up, each category's segments, data types, structures and events replacing
 * its base's entries of the same name (`resolveCustomSchemas`). A cycle or a base that is
 * neither a shipped version nor a category of the export is an error naming the chain.
 * `CodeTable`s are not read.
 */
import {
  defineCustomSchema,
  isHl7Version,
  type CustomSchemaDefinition,
  type Hl7Schema,
} from '@li/hl7'
import { childrenNamed, type XmlElement } from './xml.js'

/** Drops a category prefix (`base:ST` → `ST`, `RGH2.5:ZPI` → `ZPI`). */
function local(name: string | undefined): string {
  const v = name ?? ''
  const i = v.lastIndexOf(':')
  return i < 0 ? v : v.slice(i + 1)
}

function positive(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined
  const n = Number(v)
  return n >= 1 ? n : undefined
}

type Field = NonNullable<CustomSchemaDefinition['segments']>[string]['fields'][number]

function fieldsOf(el: XmlElement, childName: string): Field[] {
  const byPiece = new Map<number, Field>()
  for (const s of childrenNamed(el, childName)) {
    const piece = positive(s.attrs.piece)
    if (piece === undefined) continue
    const f: Field = { description: s.attrs.description ?? `Field ${piece}` }
    if (s.attrs.datatype) f.dataType = local(s.attrs.datatype)
    if (s.attrs.required) f.optionality = s.attrs.required
    if (s.attrs.ifrepeating !== undefined) f.repeatable = s.attrs.ifrepeating === '1'
    const len = positive(s.attrs.max_length)
    if (len !== undefined) f.maxLength = len
    const reps = positive(s.attrs.repeat_count)
    if (reps !== undefined) f.maxRepetitions = reps
    if (s.attrs.codetable) f.table = local(s.attrs.codetable)
    byPiece.set(piece, f)
  }
  const max = Math.max(0, ...byPiece.keys())
  const out: Field[] = []
  for (let i = 1; i <= max; i++) out.push(byPiece.get(i) ?? { description: `Field ${i}` })
  return out
}

/** Converts an IRIS `<Category>` element to the `@li/hl7` custom schema definition. */
export function customSchemaDefinition(category: XmlElement): CustomSchemaDefinition {
  const def: CustomSchemaDefinition = {
    name: category.attrs.name ?? '',
    base: category.attrs.base ?? '',
    segments: {},
    dataTypes: {},
    structures: {},
    events: {},
  }
  if (category.attrs.description) def.description = category.attrs.description
  for (const s of childrenNamed(category, 'SegmentStructure')) {
    const name = local(s.attrs.name)
    def.segments![name] = {
      description: s.attrs.description ?? name,
      fields: fieldsOf(s, 'SegmentSubStructure'),
    }
  }
  for (const d of childrenNamed(category, 'DataType')) {
    const name = local(d.attrs.name)
    def.dataTypes![name] = {
      description: d.attrs.description ?? name,
      components: fieldsOf(d, 'DataSubType'),
    }
  }
  for (const m of childrenNamed(category, 'MessageStructure')) {
    const definition = (m.attrs.definition ?? '').replace(/[\w.%-]+:/g, '')
    def.structures![local(m.attrs.name)] = m.attrs.description
      ? { description: m.attrs.description, definition }
      : definition
  }
  for (const t of childrenNamed(category, 'MessageType')) {
    const name = local(t.attrs.name)
    const structure = local(t.attrs.structure)
    const i = name.indexOf('_')
    if (i > 0 && structure !== '')
      def.events![`${name.slice(0, i)}^${name.slice(i + 1)}`] = structure
  }
  return def
}

/** A custom category as read, before its base chain is resolved. */
export interface CustomCategorySource {
  definition: CustomSchemaDefinition
  /** Export document name (`RGH2.5.HL7`). */
  document: string
  file?: string
  line?: number
}

/** What `resolveCustomSchemas` produced: schemas by name, errors by name, chains by name. */
export interface ResolvedCustomSchemas {
  schemas: Map<string, Hl7Schema>
  errors: Map<string, string>
  /** The categories from each one down to its shipped version (`['RGH-ICU', 'RGH2.5', '2.5']`). */
  chains: Map<string, string[]>
}

function merge(base: CustomSchemaDefinition, own: CustomSchemaDefinition): CustomSchemaDefinition {
  return {
    ...own,
    base: base.base,
    segments: { ...base.segments, ...own.segments },
    dataTypes: { ...base.dataTypes, ...own.dataTypes },
    structures: { ...base.structures, ...own.structures },
    events: { ...base.events, ...own.events },
  }
}

/**
 * Builds the schema of every custom category, following `base` chains through other custom
 * categories down to a shipped HL7 version (see the module header). Categories that cannot be
 * built get an error naming the document, line and chain instead.
 */
export function resolveCustomSchemas(
  sources: Map<string, CustomCategorySource>,
): ResolvedCustomSchemas {
  const out: ResolvedCustomSchemas = { schemas: new Map(), errors: new Map(), chains: new Map() }
  const flat = new Map<string, CustomSchemaDefinition>()
  const resolve = (name: string, path: string[]): CustomSchemaDefinition => {
    const done = flat.get(name)
    if (done) return done
    const src = sources.get(name) as CustomCategorySource
    const base = src.definition.base
    if (path.includes(name)) {
      throw new Error(
        `custom schema categories form a cycle: ${[...path.slice(path.indexOf(name)), name].join(' -> ')}`,
      )
    }
    let def: CustomSchemaDefinition
    let chain: string[]
    if (isHl7Version(base)) {
      def = src.definition
      chain = [name, base]
    } else if (sources.has(base)) {
      def = merge(resolve(base, [...path, name]), src.definition)
      chain = [name, ...(out.chains.get(base) ?? [base])]
    } else {
      throw new Error(
        `base "${base}" of category "${name}" is neither a shipped HL7 version nor a custom category in the export${path.length > 0 ? ` (chain ${[...path, name].join(' -> ')})` : ''}`,
      )
    }
    flat.set(name, def)
    out.chains.set(name, chain)
    return def
  }
  for (const [name, src] of sources) {
    const where = `${src.file ?? '<input>'}${src.line !== undefined ? ` line ${src.line}` : ''}`
    try {
      out.schemas.set(name, defineCustomSchema(resolve(name, [])))
    } catch (e) {
      out.errors.set(
        name,
        `${where}: custom schema category "${name}" (${src.document}) cannot be read: ${(e as Error).message}`,
      )
    }
  }
  return out
}
