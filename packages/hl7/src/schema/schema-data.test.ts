import { describe, expect, it } from 'vitest'
import { HL7_VERSIONS, getSchema } from './load.js'
import { findComponent, findField, findGroup, getStructure, structureForMessage } from './lookup.js'
import { isHl7SchemaError } from './errors.js'
import type { MessageStructure, StructureNode } from './types.js'

/** The structure in the standard's abstract syntax, with IRIS group names: "MSH [{SFT}] PIDgrp(…)". */
function outline(nodes: readonly StructureNode[]): string {
  return nodes
    .map((n) => {
      const inner = n.kind === 'segment' ? n.segment : `${n.name}(${outline(n.children)})`
      const rep = n.repeatable ? `{${inner}}` : inner
      return n.required ? rep : `[${rep}]`
    })
    .join(' ')
}

function segmentsOf(s: MessageStructure | undefined): string[] {
  const out: string[] = []
  const walk = (ns: readonly StructureNode[]): void => {
    for (const n of ns) {
      if (n.kind === 'segment') out.push(n.segment)
      else walk(n.children)
    }
  }
  walk(s?.children ?? [])
  return out
}

describe('schema data', () => {
  it.each(HL7_VERSIONS)('%s: has MSH, PID, ADT_A01 and the A04 → ADT_A01 event', (v) => {
    const schema = getSchema(v)
    expect(schema.version).toBe(v)
    expect(schema.segments.MSH?.fields[0]?.name).toBe('FieldSeparator')
    // 2.3 calls PID-3 "Patient ID (Internal ID)"; IRIS's 2.3 category has PatientIDInternalID.
    const pid3 = v === '2.3' ? 'PatientIDInternalID' : 'PatientIdentifierList'
    expect(findField(schema, 'PID', 3)?.name).toBe(pid3)
    expect(findField(schema, 'PID', pid3)?.dataType).toBe('CX')
    expect(findField(schema, 'PID', 3)?.repeatable).toBe(true)
    expect(findField(schema, 'PID', 5)?.optionality).toBe('R')
    // CX.1 is "ID" up to 2.4 and "ID Number" from 2.5, so IRIS names it ID, then IDNumber.
    const cx1 = v === '2.3' || v === '2.3.1' || v === '2.4' ? 'ID' : 'IDNumber'
    expect(findComponent(schema, 'CX', cx1)?.index).toBe(1)
    expect(findComponent(schema, 'HD', 1)?.name).toBe('NamespaceID')
    const a01 = getStructure(schema, 'ADT_A01')
    expect(segmentsOf(a01).slice(0, 1)).toEqual(['MSH'])
    expect(a01?.children.find((n) => n.kind === 'segment' && n.segment === 'PV1')).toMatchObject({
      required: true,
      repeatable: false,
    })
    expect(structureForMessage(schema, 'ADT', 'A04')?.id).toBe('ADT_A01')
  })

  it('ADT_A01 in 2.5 matches the standard, including the second ROL and the PR1/IN1 groups', () => {
    expect(outline(getStructure(getSchema('2.5'), 'ADT_A01')!.children)).toBe(
      'MSH [{SFT}] EVN PID [PD1] [{ROL}] [{NK1}] PV1 [PV2] [{ROL}] [{DB1}] [{OBX}] [{AL1}] [{DG1}] [DRG] ' +
        '[{PR1grp(PR1 [{ROL}])}] [{GT1}] [{IN1grp(IN1 [IN2] [{IN3}] [{ROL}])}] [ACC] [UB1] [UB2] [PDA]',
    )
  })

  it('PID field counts and types change across versions as in the standard', () => {
    const count = (v: string): number => getSchema(v).segments.PID?.fields.length ?? 0
    expect(count('2.3')).toBe(30)
    expect(count('2.4')).toBe(38)
    expect(count('2.5')).toBe(39)
    expect(count('2.7')).toBe(40)
    expect(findField(getSchema('2.3'), 'PID', 7)?.dataType).toBe('TS')
    expect(findField(getSchema('2.5'), 'PID', 8)).toMatchObject({
      name: 'AdministrativeSex',
      dataType: 'IS',
    })
    expect(findField(getSchema('2.7'), 'PID', 8)?.dataType).toBe('CWE')
    expect(findField(getSchema('2.5'), 'PID', 3)?.maxLength).toBe(250)
    expect(findField(getSchema('2.5'), 'PID', 8)?.table).toBe('0001')
  })

  it('ORU_R01 groups get their IRIS names (PIDgrpgrp, PIDgrp, ORCgrp, OBXgrp)', () => {
    for (const v of ['2.4', '2.5', '2.5.1', '2.6']) {
      const oru = getStructure(getSchema(v), 'ORU_R01')!
      const top = oru.children.find((n) => n.kind === 'group')
      expect(top).toMatchObject({
        name: 'PIDgrpgrp',
        standardName: 'PATIENT_RESULT',
        required: true,
        repeatable: true,
      })
      expect(findGroup(oru, 'PIDgrp')).toMatchObject({ standardName: 'PATIENT', required: false })
      expect(findGroup(oru, 'ORCgrp')).toMatchObject({
        standardName: 'ORDER_OBSERVATION',
        repeatable: true,
      })
      expect(findGroup(oru, 'OBXgrp')).toMatchObject({
        standardName: 'OBSERVATION',
        repeatable: true,
      })
    }
  })

  it('the 2.3 ORM_O01 choice is OBRunion inside OBRuniongrp, as IRIS names it', () => {
    const orm = getStructure(getSchema('2.3'), 'ORM_O01')!
    const detail = findGroup(orm, 'OBRuniongrp')
    expect(detail?.children[0]).toMatchObject({ kind: 'group', name: 'OBRunion', choice: true })
    expect(findGroup(orm, 'OBXgrp')).toBeDefined()
  })

  it('MSH-9.3 wins over the event map; unknown events give undefined', () => {
    const s = getSchema('2.5')
    expect(structureForMessage(s, 'ADT', 'A08', 'ADT_A01')?.id).toBe('ADT_A01')
    expect(structureForMessage(s, 'ADT', 'A31')?.id).toBe('ADT_A05')
    expect(structureForMessage(s, 'ACK', 'A01')?.id).toBe('ACK')
    expect(structureForMessage(s, 'ZZZ', 'Z99')).toBeUndefined()
  })

  it('2.7.1 is derived from 2.7 and says so; 2.8 has tables of its own', () => {
    expect(getSchema('2.7.1').source).toMatch(/derived from 2\.7/)
    expect(getSchema('2.7.1').segments.PID).toBe(getSchema('2.7').segments.PID)
    expect(getSchema('2.8').source).toMatch(/^hl7apy /)
    expect(getSchema('2.8').segments.PID).not.toBe(getSchema('2.7').segments.PID)
  })

  it('throws a typed error for an unknown version', () => {
    expect(() => getSchema('2.9')).toThrow(/Unknown HL7 version "2.9"/)
    let caught: unknown
    try {
      getSchema('3')
    } catch (e) {
      caught = e
    }
    expect(isHl7SchemaError(caught)).toBe(true)
    expect((caught as { code: string }).code).toBe('HL7_SCHEMA_UNKNOWN_VERSION')
  })
})
