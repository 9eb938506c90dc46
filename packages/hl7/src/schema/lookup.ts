// Lookups over an `Hl7Schema`, for the validator and for `@li/engine`'s IRIS path resolver
// (`PID:PatientIdentifierList(1).IDNumber` → PID-3[1].1). They return `undefined` for what the
// schema does not define; they never throw.
import type {
  ComponentDefinition,
  FieldDefinition,
  Hl7Schema,
  MessageStructure,
  StructureNode,
} from './types.js'

function byNameOrIndex<T extends { index: number; name: string; description: string }>(
  items: readonly T[],
  nameOrIndex: string | number,
): T | undefined {
  const asNumber = typeof nameOrIndex === 'number' ? nameOrIndex : Number(nameOrIndex)
  if (Number.isInteger(asNumber) && String(nameOrIndex).trim() !== '') {
    return items.find((i) => i.index === asNumber)
  }
  const key = String(nameOrIndex)
  const lower = key.toLowerCase()
  return (
    items.find((i) => i.name === key) ??
    items.find((i) => i.name.toLowerCase() === lower) ??
    items.find((i) => i.description.toLowerCase() === lower)
  )
}

/**
 * A field of a segment by 1-based number or IRIS name (exact, then case-insensitive, then the
 * standard's description).
 * @example findField(getSchema('2.5'), 'PID', 'PatientIdentifierList')?.index // 3
 */
export function findField(
  schema: Hl7Schema,
  segmentId: string,
  nameOrIndex: string | number,
): FieldDefinition | undefined {
  const segment = schema.segments[segmentId]
  return segment ? byNameOrIndex(segment.fields, nameOrIndex) : undefined
}

/**
 * A component of a composite data type by 1-based number or IRIS name.
 * @example findComponent(getSchema('2.5'), 'CX', 'IDNumber')?.index // 1
 */
export function findComponent(
  schema: Hl7Schema,
  dataType: string,
  nameOrIndex: string | number,
): ComponentDefinition | undefined {
  const type = schema.dataTypes[dataType]
  return type ? byNameOrIndex(type.components, nameOrIndex) : undefined
}

/** A message structure by ID, e.g. "ADT_A01". */
export function getStructure(schema: Hl7Schema, id: string): MessageStructure | undefined {
  return Object.hasOwn(schema.structures, id) ? schema.structures[id] : undefined
}

/**
 * The structure of a message: MSH-9.3 when the schema knows it, else the event map
 * (`ADT^A04` → ADT_A01), else `<type>_<trigger>`, else `ACK` for any acknowledgement.
 * @example structureForMessage(getSchema('2.5'), 'ADT', 'A04')?.id // 'ADT_A01'
 */
export function structureForMessage(
  schema: Hl7Schema,
  messageType: string,
  trigger: string | undefined,
  msh93?: string,
): MessageStructure | undefined {
  if (msh93) {
    const s = getStructure(schema, msh93)
    if (s) return s
  }
  if (trigger) {
    const event = schema.events[`${messageType}^${trigger}`]
    const s =
      (event && getStructure(schema, event)) || getStructure(schema, `${messageType}_${trigger}`)
    if (s) return s
  }
  return getStructure(schema, schema.events[messageType] ?? messageType)
}

/** Finds a group by IRIS name in a structure (depth-first, first match), e.g. "OBXgrp". */
export function findGroup(
  structure: MessageStructure,
  name: string,
): Extract<StructureNode, { kind: 'group' }> | undefined {
  const walk = (
    nodes: readonly StructureNode[],
  ): Extract<StructureNode, { kind: 'group' }> | undefined => {
    for (const n of nodes) {
      if (n.kind !== 'group') continue
      if (n.name === name) return n
      const inner = walk(n.children)
      if (inner) return inner
    }
    return undefined
  }
  return walk(structure.children)
}
