// The 2.8 tables are generated from scripts/sources/hl7apy-v2.8.txt (facts from hl7apy's v2.8
// tables) rather than relabelled 2.7. These tests pin facts of the standard that distinguish them.
import { describe, expect, it } from 'vitest'
import { parseMessage } from '../parse/parse-message.js'
import { getSchema } from './load.js'
import { findComponent, findField, findGroup, getStructure, structureForMessage } from './lookup.js'
import { validate } from './validate.js'
import type { StructureNode, ValidationIssue } from './types.js'

const v27 = getSchema('2.7')
const v28 = getSchema('2.8')

function brief(issues: ValidationIssue[]): string[] {
  return issues.map((i) => `${i.severity} ${i.code} ${i.path}`)
}

function group(nodes: readonly StructureNode[], standardName: string) {
  const g = nodes.find((n) => n.kind === 'group' && n.standardName === standardName)
  if (!g || g.kind !== 'group') throw new Error(`no group ${standardName}`)
  return g
}

const MSH =
  'MSH|^~\\&|PAS|GENHOSP|EPR|GENHOSP|20260301083000+0100||ADT^A01^ADT_A01|MSG20260301-0001|P|2.8'
const EVN = 'EVN||20260301083000+0100||ADM|4711^NURSE^ANNA^^^^^^GENHOSP'
const PID =
  'PID|1||555123^^^GENHOSP^MR~9434765919^^^NHS^NH||DOE^JANE^MARIE^^MS^^L||19800214|F|||' +
  '12 HIGH STREET^^LEEDS^^LS1 4AB^GBR^H||||EN^English^ISO6391|M^Married^HL70002'
const ADT = [
  MSH,
  EVN,
  PID,
  'PD1|||GENERAL PRACTICE^^G81234',
  'NK1|1|DOE^JOHN|SPO^Spouse^HL70063',
  'PV1|1|I|WARD7^12^A^GENHOSP|R|||1234^SMITH^ROBERT^^^DR|||MED||||1|||1234^SMITH^ROBERT^^^DR|||||||||||||||||||||||||20260301083000+0100',
  'PV2|||CHEST PAIN',
  'ROL|1|AD|AT^Attending^HL70443|1234^SMITH^ROBERT^^^DR',
  'AL1|1|DA^Drug allergy^HL70127|PEN^Penicillin^L|SV^Severe^HL70128',
  'DG1|1||I20.0^Unstable angina^I10||20260301|A^Admitting^HL70052',
  'PR1|1||0DJ08ZZ^Inspection^I10P||20260301090000',
  'IN1|1|PLAN1^Standard plan^L|INS01^^^GENHOSP|NATIONAL INSURER',
].join('\r')

describe('HL7 v2.8 schema (from hl7apy facts)', () => {
  it('is its own table set, labelled with its source; 2.7.1 stays derived from 2.7', () => {
    expect(v28.version).toBe('2.8')
    expect(v28.source).toMatch(/^hl7apy v2_8 /)
    expect(getSchema('2.7.1').source).toMatch(/^derived from 2\.7/)
    expect(Object.keys(v28.segments).length).toBe(180)
    expect(Object.keys(v28.structures).length).toBeGreaterThan(200)
  })

  it('has the segments 2.8 added, which 2.7 lacks', () => {
    // BUI Blood Unit Information, CDO Cumulative Dosage, DON Donation, RXV Pharmacy/Treatment
    // Infusion, SGH/SGT Segment Group Header/Trailer.
    for (const id of ['BUI', 'CDO', 'DON', 'RXV', 'SGH', 'SGT']) {
      expect(v28.segments[id], id).toBeDefined()
      expect(v27.segments[id], id).toBeUndefined()
    }
    expect(v28.segments.SGH?.fields.map((f) => f.name)).toEqual(['SetIDSGH', 'SegmentGroupName'])
  })

  it('OBX and ORC grew fields in 2.8, and ORC-4 became EIP', () => {
    expect(v27.segments.OBX?.fields).toHaveLength(26)
    expect(v28.segments.OBX?.fields).toHaveLength(28)
    expect(findField(v28, 'OBX', 28)).toMatchObject({
      name: 'LocalProcessControl',
      dataType: 'CWE',
      repeatable: true,
      table: '0915',
    })
    expect(v28.segments.ORC?.fields).toHaveLength(34)
    expect(findField(v27, 'ORC', 4)?.dataType).toBe('EI')
    expect(findField(v28, 'ORC', 4)).toMatchObject({ name: 'PlacerGroupNumber', dataType: 'EIP' })
  })

  it('marks the fields 2.8 withdrew as W (PID-2, PID-4, ORC-7, DG1-2)', () => {
    expect(findField(v27, 'PID', 2)?.optionality).toBe('B')
    for (const [seg, n] of [
      ['PID', 2],
      ['PID', 4],
      ['ORC', 7],
      ['DG1', 2],
      ['EVN', 1],
    ] as const) {
      expect(findField(v28, seg, n)?.optionality, `${seg}-${n}`).toBe('W')
    }
  })

  it('field data types, optionality, repetition, tables and lengths', () => {
    expect(findField(v28, 'PID', 'PatientIdentifierList')).toMatchObject({
      index: 3,
      dataType: 'CX',
      optionality: 'R',
      repeatable: true,
    })
    expect(findField(v28, 'PID', 5)).toMatchObject({ dataType: 'XPN', table: '0200' })
    expect(findField(v28, 'PID', 8)).toMatchObject({ dataType: 'CWE', table: '0001' })
    expect(findField(v28, 'PV1', 2)).toMatchObject({
      name: 'PatientClass',
      dataType: 'CWE',
      optionality: 'R',
      table: '0004',
    })
    expect(findField(v28, 'EVN', 2)).toMatchObject({ dataType: 'DTM', optionality: 'R' })
    // Bounded repetition, as the source gives it: ORC-14 Call Back Phone Number at most twice.
    expect(findField(v28, 'ORC', 14)).toMatchObject({ dataType: 'XTN', maxRepetitions: 2 })
    // PID-35 was renamed in 2.8.
    expect(findField(v28, 'PID', 35)?.name).toBe('TaxonomicClassificationCode')
    // Lengths: the source has none; where name and type are unchanged the 2.7 length is kept.
    expect(findField(v28, 'MSH', 10)?.maxLength).toBe(199)
    expect(findField(v28, 'PID', 1)?.maxLength).toBe(4)
    // OBX-2 and OBX-4 are conditional (the generator corrects the source's R, see there).
    expect(findField(v28, 'OBX', 2)?.optionality).toBe('C')
    expect(findField(v28, 'OBX', 4)?.optionality).toBe('C')
  })

  it('composite data types: XTN-1 withdrawn, XTN-3 required, XTN-5..8 of type SNM', () => {
    const xtn = v28.dataTypes.XTN!
    expect(xtn.components).toHaveLength(18)
    expect(xtn.components[0]?.optionality).toBe('W')
    expect(xtn.components[2]).toMatchObject({
      name: 'TelecommunicationEquipmentType',
      optionality: 'R',
    })
    expect(xtn.components.slice(4, 8).map((c) => c.dataType)).toEqual(['SNM', 'SNM', 'SNM', 'SNM'])
    expect(v28.dataTypes.SNM?.components).toEqual([])
    expect(findComponent(v28, 'CWE', 'NameofCodingSystem')).toMatchObject({
      index: 3,
      table: '0396',
    })
  })

  it('ADT_A01: the structure, and a real-looking ADT^A01 2.8 message validates clean', () => {
    const s = getStructure(v28, 'ADT_A01')!
    const top = s.children.map((n) => (n.kind === 'segment' ? n.segment : n.standardName))
    // prettier-ignore
    expect(top).toEqual([
      'MSH', 'SFT', 'UAC', 'EVN', 'PID', 'PD1', 'ARV', 'ROL', 'NK1', 'PV1', 'PV2', 'ARV', 'ROL',
      'DB1', 'OBX', 'AL1', 'DG1', 'DRG', 'PROCEDURE', 'GT1', 'INSURANCE', 'ACC', 'UB1', 'UB2', 'PDA',
    ])
    const insurance = group(s.children, 'INSURANCE')
    expect(insurance.children.map((n) => (n.kind === 'segment' ? n.segment : ''))).toEqual([
      'IN1',
      'IN2',
      'IN3',
      'ROL',
      'AUT',
      'RF1',
    ])
    expect(insurance.name).toBe('IN1grp')
    expect(structureForMessage(v28, 'ADT', 'A04')?.id).toBe('ADT_A01')
    expect(validate(parseMessage(ADT))).toEqual([])
  })

  it('ADT_A01: order, required segments and required fields are checked against 2.8', () => {
    const broken = ADT.replace(EVN, 'EVN|A01')
      .split('\r')
      .filter((s) => !s.startsWith('PV1|'))
      .join('\r')
    expect(brief(validate(parseMessage(broken)))).toEqual([
      'error SEGMENT_MISSING PV1',
      'error FIELD_REQUIRED EVN-2',
    ])
  })

  it('ORU_R01: PATIENT_RESULT / ORDER_OBSERVATION / OBSERVATION groups with IRIS names', () => {
    const oru = getStructure(v28, 'ORU_R01')!
    const result = group(oru.children, 'PATIENT_RESULT')
    expect(result).toMatchObject({ name: 'PIDgrpgrp', required: true, repeatable: true })
    expect(group(result.children, 'PATIENT')).toMatchObject({ name: 'PIDgrp', required: false })
    const order = group(result.children, 'ORDER_OBSERVATION')
    // 2.8 opens ORDER_OBSERVATION with the optional COMMON_ORDER group {ORC, PRT, ORDER_DOCUMENT}.
    expect(order).toMatchObject({ name: 'ORCgrpgrp', required: true, repeatable: true })
    expect(group(order.children, 'COMMON_ORDER')).toMatchObject({ name: 'ORCgrp', required: false })
    expect(group(order.children, 'OBSERVATION')).toMatchObject({
      name: 'OBXgrp',
      required: false,
      repeatable: true,
    })
    expect(findGroup(oru, 'SPMgrp')?.standardName).toBe('SPECIMEN')
    const message = [
      'MSH|^~\\&|LAB|GENHOSP|EPR|GENHOSP|20260301101500||ORU^R01^ORU_R01|LAB0001|P|2.8',
      'PID|1||555123^^^GENHOSP^MR||DOE^JANE',
      'ORC|RE|ORD1|FIL1',
      'OBR|1|ORD1|FIL1|24331-1^Lipid panel^LN',
      'OBX|1|NM|2093-3^Cholesterol^LN||5.2|mmol/L|<5.0|H|||F',
      'OBX|2|NM|2571-8^Triglyceride^LN||1.4|mmol/L|<1.7|N|||F',
    ].join('\r')
    expect(validate(parseMessage(message))).toEqual([])
  })

  it('choices of single segments stay choices; choice-labelled sequences are sequences', () => {
    const ccr = getStructure(v28, 'CCR_I16')!
    const detail = findGroup(ccr, 'OBRuniongrp')
    expect(detail?.standardName).toBe('CLINICAL_ORDER_DETAIL')
    expect(detail?.children[0]).toMatchObject({ kind: 'group', name: 'OBRunion', choice: true })
    const qbp = getStructure(v28, 'QBP_E03')!
    expect(group(qbp.children, 'QUERY_INFORMATION')).toMatchObject({
      name: 'QPDgrp',
      required: true,
    })
    expect(group(qbp.children, 'QUERY_INFORMATION').choice).toBeUndefined()
  })
})
