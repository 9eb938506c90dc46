// Trust-specific schemas: a base HL7 version plus the trust's own Z-segments, data types and
// message structures, written as a plain JSON file, like an IRIS "custom schema category" that
// names a base category. The result is an ordinary `Hl7Schema` (with `base` set) that `validate`
// and the lookups use like a standard one.
//
// File format (every key but `name` and `base` optional):
//   {
//     "name": "RFH-ADT",                      // becomes Hl7Schema.version
//     "base": "2.4",                          // one of the shipped versions
//     "allowUndeclaredZSegments": false,      // default true: Z-segments allowed anywhere
//     "segments": { "ZPI": { "description": "Patient extras", "fields": [
//         { "description": "Set ID", "dataType": "SI", "optionality": "O", "maxLength": 4 },
//         { "description": "Preferred Name", "dataType": "XPN", "repeatable": true } ] } },
//     "dataTypes": { "ZNM": { "description": "…", "components": [
//         { "description": "Nickname", "dataType": "ST", "maxLength": 30 } ] } },
//     "structures": { "ADT_A01": "MSH EVN PID [PD1] [{NK1}] PV1 [PV2] [ZPI] [{OBX}]" },
//     "events": { "ADT^Z01": "ADT_A01" }
//   }
// Structures use the standard's abstract message syntax: `[x]` optional, `{x}` repeating,
// `<a|b>` choice; a bracket around several items is a group, named as IRIS names groups (first
// child + "grp"). IRIS's `~` separators are accepted in place of spaces. A segment, data type,
// structure or event of the file replaces the base's entry of the same name as a whole.
import { readFileSync } from 'node:fs'
import { Hl7SchemaError } from './errors.js'
import { HL7_VERSIONS, getSchema, isHl7Version } from './load.js'
import { dedupeGroupNames, groupName, irisName } from './names.js'
import type {
  ComponentDefinition,
  DataTypeDefinition,
  FieldDefinition,
  Hl7Schema,
  MessageStructure,
  SegmentDefinition,
  StructureNode,
} from './types.js'

/** A field in a custom schema file (`name` defaults to the IRIS name of `description`). */
export interface CustomFieldDefinition {
  description: string
  name?: string
  dataType?: string
  optionality?: string
  repeatable?: boolean
  maxRepetitions?: number
  maxLength?: number
  table?: string
}

/** The JSON shape of a custom schema file (see the module header for an example). */
export interface CustomSchemaDefinition {
  name: string
  base: string
  description?: string
  allowUndeclaredZSegments?: boolean
  segments?: Record<string, { description?: string; fields: CustomFieldDefinition[] }>
  dataTypes?: Record<string, { description?: string; components: CustomFieldDefinition[] }>
  structures?: Record<string, string | { description?: string; definition: string }>
  events?: Record<string, string>
}

function invalid(where: string, what: string): Hl7SchemaError {
  return new Hl7SchemaError('HL7_SCHEMA_INVALID', `Custom schema ${where}: ${what}`)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function optionalString(
  o: Record<string, unknown>,
  key: string,
  where: string,
): string | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw invalid(where, `"${key}" must be a string, got ${typeof v}`)
  return v
}

function optionalNumber(
  o: Record<string, unknown>,
  key: string,
  where: string,
): number | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw invalid(where, `"${key}" must be a positive integer, got ${JSON.stringify(v)}`)
  }
  return v
}

function readFields(list: unknown, where: string): FieldDefinition[] {
  if (!Array.isArray(list)) throw invalid(where, 'expected an array of fields')
  return list.map((raw: unknown, i): FieldDefinition => {
    const at = `${where}[${i + 1}]`
    if (!isRecord(raw)) throw invalid(at, 'expected an object with at least "description"')
    const description = optionalString(raw, 'description', at)
    if (description === undefined) throw invalid(at, '"description" is required')
    const repeatable = raw.repeatable
    if (repeatable !== undefined && typeof repeatable !== 'boolean') {
      throw invalid(at, '"repeatable" must be true or false')
    }
    const field: FieldDefinition = {
      index: i + 1,
      description,
      name: optionalString(raw, 'name', at) ?? irisName(description),
      dataType: optionalString(raw, 'dataType', at) ?? 'ST',
      optionality: optionalString(raw, 'optionality', at) ?? 'O',
      repeatable: repeatable ?? false,
    }
    const maxRepetitions = optionalNumber(raw, 'maxRepetitions', at)
    const maxLength = optionalNumber(raw, 'maxLength', at)
    const table = optionalString(raw, 'table', at)
    if (maxRepetitions !== undefined) field.maxRepetitions = maxRepetitions
    if (maxLength !== undefined) field.maxLength = maxLength
    if (table !== undefined) field.table = table
    return field
  })
}

/**
 * Parses a structure written in the standard's abstract message syntax, e.g.
 * `MSH EVN PID [PD1] [{NK1}] PV1 [{ OBX [{NTE}] }]`, into structure nodes with IRIS group names.
 */
export function parseStructureDefinition(definition: string, where = 'structure'): StructureNode[] {
  const tokens = definition.match(/[A-Z][A-Z0-9]{2}|[[\]{}<>|]|[^\s~]/g) ?? []
  let pos = 0
  const fail = (what: string): Hl7SchemaError =>
    invalid(where, `${what} at token ${pos + 1} of ${JSON.stringify(definition.slice(0, 80))}`)

  const sequence = (closers: string): StructureNode[] => {
    const items: StructureNode[] = []
    for (;;) {
      const t = tokens[pos]
      if (t === undefined || closers.includes(t)) return items
      pos++
      if (/^[A-Z][A-Z0-9]{2}$/.test(t)) {
        items.push({ kind: 'segment', segment: t, required: true, repeatable: false })
      } else if (t === '[' || t === '{') {
        const close = t === '[' ? ']' : '}'
        const inner = sequence(close)
        if (tokens[pos] !== close) throw fail(`expected "${close}"`)
        pos++
        if (inner.length === 0) throw fail(`empty "${t}${close}"`)
        const node: StructureNode = inner.length === 1 ? inner[0]! : group(inner, false)
        if (t === '[') node.required = false
        else node.repeatable = true
        items.push(node)
      } else if (t === '<') {
        const alternatives: StructureNode[] = []
        for (;;) {
          const alt = sequence('|>')
          if (alt.length === 0) throw fail('empty choice alternative')
          alternatives.push(alt.length === 1 ? alt[0]! : group(alt, false))
          const sep = tokens[pos]
          pos++
          if (sep === '>') break
          if (sep !== '|') throw fail('expected "|" or ">"')
        }
        items.push(group(alternatives, true))
      } else {
        throw fail(
          `unexpected ${JSON.stringify(t)} (segment IDs are three upper-case letters or digits)`,
        )
      }
    }
  }
  const group = (children: StructureNode[], choice: boolean): StructureNode => {
    dedupeGroupNames(children)
    return {
      kind: 'group',
      name: groupName(children, choice),
      ...(choice ? { choice: true } : {}),
      required: true,
      repeatable: false,
      children,
    }
  }

  const nodes = sequence('')
  if (pos < tokens.length) throw fail(`unbalanced ${JSON.stringify(tokens[pos])}`)
  if (nodes.length === 0) throw invalid(where, 'empty structure definition')
  dedupeGroupNames(nodes)
  return nodes
}

/**
 * Builds a custom schema from its JSON content (already parsed, or as text): the base version's
 * tables with the file's segments, data types, structures and events added or replaced.
 * Throws `Hl7SchemaError` (`HL7_SCHEMA_INVALID`, `HL7_SCHEMA_UNKNOWN_VERSION`) saying what is wrong and where.
 */
export function defineCustomSchema(json: unknown): Hl7Schema {
  let def: unknown = json
  if (typeof json === 'string') {
    try {
      def = JSON.parse(json)
    } catch (e) {
      throw new Hl7SchemaError(
        'HL7_SCHEMA_INVALID',
        `Custom schema is not valid JSON: ${String(e)}`,
        { cause: e },
      )
    }
  }
  if (!isRecord(def)) throw invalid('root', 'expected a JSON object with "name" and "base"')
  const name = optionalString(def, 'name', 'root')
  const base = optionalString(def, 'base', 'root')
  if (!name) throw invalid('root', '"name" is required')
  if (base === undefined || !isHl7Version(base)) {
    throw new Hl7SchemaError(
      'HL7_SCHEMA_UNKNOWN_VERSION',
      `Custom schema ${JSON.stringify(name)}: "base" must be one of ${HL7_VERSIONS.join(', ')}, got ${JSON.stringify(base)}`,
    )
  }
  const baseSchema = getSchema(base)
  const allowZ = def.allowUndeclaredZSegments
  if (allowZ !== undefined && typeof allowZ !== 'boolean') {
    throw invalid('root', '"allowUndeclaredZSegments" must be true or false')
  }

  const segments: Record<string, SegmentDefinition> = { ...baseSchema.segments }
  for (const [id, raw] of entries(def.segments, 'segments')) {
    const where = `segments.${id}`
    if (!/^[A-Z][A-Z0-9]{2}$/.test(id))
      throw invalid(where, 'a segment ID is three upper-case letters or digits')
    if (!isRecord(raw)) throw invalid(where, 'expected an object with "fields"')
    segments[id] = {
      id,
      description: optionalString(raw, 'description', where) ?? id,
      fields: readFields(raw.fields, `${where}.fields`),
    }
  }
  const dataTypes: Record<string, DataTypeDefinition> = { ...baseSchema.dataTypes }
  for (const [id, raw] of entries(def.dataTypes, 'dataTypes')) {
    const where = `dataTypes.${id}`
    if (!isRecord(raw)) throw invalid(where, 'expected an object with "components"')
    const components: ComponentDefinition[] = readFields(raw.components, `${where}.components`).map(
      (f) => ({
        index: f.index,
        description: f.description,
        name: f.name,
        dataType: f.dataType,
        optionality: f.optionality,
        ...(f.maxLength !== undefined ? { maxLength: f.maxLength } : {}),
        ...(f.table !== undefined ? { table: f.table } : {}),
      }),
    )
    dataTypes[id] = { id, description: optionalString(raw, 'description', where) ?? id, components }
  }
  const structures: Record<string, MessageStructure> = { ...baseSchema.structures }
  for (const [id, raw] of entries(def.structures, 'structures')) {
    const where = `structures.${id}`
    const text = typeof raw === 'string' ? raw : isRecord(raw) ? raw.definition : undefined
    if (typeof text !== 'string')
      throw invalid(where, 'expected a string such as "MSH EVN PID [PD1]"')
    const description = isRecord(raw) ? optionalString(raw, 'description', where) : undefined
    structures[id] = {
      id,
      ...(description !== undefined ? { description } : {}),
      children: parseStructureDefinition(text, where),
    }
  }
  const events: Record<string, string> = { ...baseSchema.events }
  for (const [event, target] of entries(def.events, 'events')) {
    if (typeof target !== 'string' || !structures[target]) {
      throw invalid(
        `events.${event}`,
        `names structure ${JSON.stringify(target)}, which neither the file nor ${base} defines`,
      )
    }
    events[event] = target
  }
  return {
    version: name,
    base,
    segments,
    dataTypes,
    structures,
    events,
    source: `custom schema ${JSON.stringify(name)} on ${base}`,
    ...(allowZ !== undefined ? { allowUndeclaredZSegments: allowZ } : {}),
  }
}

function entries(v: unknown, where: string): [string, unknown][] {
  if (v === undefined) return []
  if (!isRecord(v)) throw invalid(where, 'expected an object keyed by ID')
  return Object.entries(v)
}

/**
 * Reads a custom schema JSON file (synchronously: schemas are loaded at start-up) and builds it
 * with `defineCustomSchema`. Throws `Hl7SchemaError` (`HL7_SCHEMA_UNREADABLE` when the file cannot be read).
 */
export function loadCustomSchema(path: string): Hl7Schema {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new Hl7SchemaError(
      'HL7_SCHEMA_UNREADABLE',
      `Cannot read custom schema file ${path}: ${String(e)}`,
      { cause: e },
    )
  }
  return defineCustomSchema(text)
}
