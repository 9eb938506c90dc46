// Turns the compact tables in ./generated (written by scripts/generate-schemas.mjs) into
// `Hl7Schema` objects. Each version is decoded on first use and then cached: importing the package
// costs only the string constants (about 1.2 MB for all versions); decoding one version takes a
// few milliseconds and is paid once per process.
//
// Compact format (see the generator): segments `{ ID: [description, [field tuples]] }` with a field
// tuple `[description, dataType, optionality, repetitions (0 = unbounded), maxLength?, table?]`;
// data types `{ ID: [description, [component tuples]] }` with `[description, dataType,
// optionality, maxLength?, table?]`; structures `{ ID: [description, [nodes]] }` where a node is
// "PID" (required), "PID?" (optional), "PID+" (required, repeating), "PID*" (optional, repeating),
// `[GROUP_NAME, flag, [nodes]]` for a group, `["<>", flag, [nodes]]` for a choice.
import { json as v2_3 } from './generated/v2_3.js'
import { json as v2_3_1 } from './generated/v2_3_1.js'
import { json as v2_4 } from './generated/v2_4.js'
import { json as v2_5 } from './generated/v2_5.js'
import { json as v2_5_1 } from './generated/v2_5_1.js'
import { json as v2_6 } from './generated/v2_6.js'
import { json as v2_7 } from './generated/v2_7.js'
import { json as v2_7_1 } from './generated/v2_7_1.js'
import { json as v2_8 } from './generated/v2_8.js'
import { Hl7SchemaError } from './errors.js'
import { dedupeGroupNames, groupName, irisName } from './names.js'
import type {
  ComponentDefinition,
  DataTypeDefinition,
  FieldDefinition,
  Hl7Schema,
  Hl7Version,
  MessageStructure,
  SegmentDefinition,
  StructureNode,
} from './types.js'

/** Every version whose tables ship with the package, oldest first. */
export const HL7_VERSIONS: readonly Hl7Version[] = [
  '2.3',
  '2.3.1',
  '2.4',
  '2.5',
  '2.5.1',
  '2.6',
  '2.7',
  '2.7.1',
  '2.8',
]

const SOURCES: Record<Hl7Version, string> = {
  '2.3': v2_3,
  '2.3.1': v2_3_1,
  '2.4': v2_4,
  '2.5': v2_5,
  '2.5.1': v2_5_1,
  '2.6': v2_6,
  '2.7': v2_7,
  '2.7.1': v2_7_1,
  '2.8': v2_8,
}

type FieldTuple = [string, string, string, number, (number | null)?, (number | null)?]
type ComponentTuple = [string, string, string, (number | null)?, (number | null)?]
type NodeTuple = string | [string, string, NodeTuple[]]

interface CompactSchema {
  version: string
  source?: string
  derivedFrom?: Hl7Version
  segments: Record<string, [string, FieldTuple[]]>
  dataTypes: Record<string, [string, ComponentTuple[]]>
  structures: Record<string, [string, NodeTuple[]]>
  events: Record<string, string>
}

const cache = new Map<Hl7Version, Hl7Schema>()

/** Whether `version` is one whose tables ship with the package. */
export function isHl7Version(version: string): version is Hl7Version {
  return Object.hasOwn(SOURCES, version)
}

/**
 * The schema of a standard HL7 version (decoded once, then cached; treat it as read-only).
 * Throws `Hl7SchemaError` (`HL7_SCHEMA_UNKNOWN_VERSION`) for a version that does not ship.
 * @example getSchema('2.5').segments.PID?.fields[2]?.name // 'PatientIdentifierList'
 */
export function getSchema(version: string): Hl7Schema {
  if (!isHl7Version(version)) {
    throw new Hl7SchemaError(
      'HL7_SCHEMA_UNKNOWN_VERSION',
      `Unknown HL7 version ${JSON.stringify(version.slice(0, 20))}: expected one of ${HL7_VERSIONS.join(', ')}.`,
    )
  }
  let schema = cache.get(version)
  if (!schema) {
    schema = decode(version, JSON.parse(SOURCES[version]) as CompactSchema)
    cache.set(version, schema)
  }
  return schema
}

function decode(version: Hl7Version, compact: CompactSchema): Hl7Schema {
  if (compact.derivedFrom !== undefined) {
    // Same tables as the version it is derived from, under its own label (docs/schemas.md).
    const from = getSchema(compact.derivedFrom)
    return {
      ...from,
      version,
      source: `derived from ${compact.derivedFrom} (${from.source ?? ''})`,
    }
  }
  const segments: Record<string, SegmentDefinition> = {}
  for (const [id, [description, fields]] of Object.entries(compact.segments)) {
    segments[id] = { id, description, fields: fields.map(decodeField) }
  }
  const dataTypes: Record<string, DataTypeDefinition> = {}
  for (const [id, [description, components]] of Object.entries(compact.dataTypes)) {
    dataTypes[id] = { id, description, components: components.map(decodeComponent) }
  }
  const structures: Record<string, MessageStructure> = {}
  for (const [id, [description, nodes]] of Object.entries(compact.structures)) {
    structures[id] = { id, description, children: decodeNodes(nodes) }
  }
  return {
    version,
    segments,
    dataTypes,
    structures,
    events: compact.events,
    ...(compact.source !== undefined ? { source: compact.source } : {}),
  }
}

function decodeField(t: FieldTuple, i: number): FieldDefinition {
  const [description, dataType, optionality, reps, maxLength, table] = t
  const field: FieldDefinition = {
    index: i + 1,
    description,
    name: irisName(description),
    dataType,
    optionality,
    repeatable: reps !== 1,
  }
  if (reps > 1) field.maxRepetitions = reps
  if (typeof maxLength === 'number') field.maxLength = maxLength
  if (typeof table === 'number') field.table = String(table).padStart(4, '0')
  return field
}

function decodeComponent(t: ComponentTuple, i: number): ComponentDefinition {
  const [description, dataType, optionality, maxLength, table] = t
  const c: ComponentDefinition = {
    index: i + 1,
    description,
    name: irisName(description),
    dataType,
    optionality,
  }
  if (typeof maxLength === 'number') c.maxLength = maxLength
  if (typeof table === 'number') c.table = String(table).padStart(4, '0')
  return c
}

function occurrence(flag: string): { required: boolean; repeatable: boolean } {
  return { required: flag === '' || flag === '+', repeatable: flag === '+' || flag === '*' }
}

function decodeNodes(nodes: readonly NodeTuple[]): StructureNode[] {
  const out = nodes.map((n): StructureNode => {
    if (typeof n === 'string') {
      const m = /^([A-Z0-9]{3})([?*+]?)$/.exec(n)
      return { kind: 'segment', segment: m?.[1] ?? n, ...occurrence(m?.[2] ?? '') }
    }
    const [label, flag, children] = n
    const decoded = decodeNodes(children)
    const choice = label === '<>'
    return {
      kind: 'group',
      name: groupName(decoded, choice),
      ...(choice ? { choice: true } : { standardName: label }),
      ...occurrence(flag),
      children: decoded,
    }
  })
  dedupeGroupNames(out)
  return out
}
