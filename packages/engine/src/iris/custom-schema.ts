/**
 * IRIS custom schema categories (`<Document name="X.HL7"><Category name base>` in an export):
 * converted to the `@li/hl7` custom schema form (`defineCustomSchema`), so symbolic paths, group
 * names and validation work with a trust's own Z-segments and structures.
 *
 * Read: `SegmentStructure`/`SegmentSubStructure` (fields), `DataType`/`DataSubType`
 * (components), `MessageStructure` (definition in IRIS's `base:MSH~[~base:PD1~]` syntax) and
 * `MessageType` (event → structure). A category based on another custom category, and
 * `CodeTable`s, are not read.
 */
import { defineCustomSchema, type CustomSchemaDefinition, type Hl7Schema } from '@li/hl7'
import { EngineError } from '../errors.js'
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

/**
 * Builds the schema of an IRIS custom category. Throws `ENGINE_PRODUCTION_PARSE` naming the
 * document and line when the category cannot be used (for example its base is not a shipped
 * HL7 version).
 */
export function customSchemaFromIris(category: XmlElement, where: string): Hl7Schema {
  try {
    return defineCustomSchema(customSchemaDefinition(category))
  } catch (e) {
    throw new EngineError(
      'ENGINE_PRODUCTION_PARSE',
      `${where} line ${category.line}: custom schema category "${category.attrs.name ?? ''}" cannot be read: ${(e as Error).message}`,
      { cause: e },
    )
  }
}
