import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { defineCustomSchema, loadCustomSchema, parseStructureDefinition } from './custom.js'
import { isHl7SchemaError } from './errors.js'
import { getSchema } from './load.js'
import { findField, findGroup, getStructure, structureForMessage } from './lookup.js'

const trust = {
  name: 'RFH-2.4',
  base: '2.4',
  segments: {
    ZPI: {
      description: 'Patient extras',
      fields: [
        { description: 'Set ID', dataType: 'SI', maxLength: 4 },
        { description: 'NHS Number Status', dataType: 'CE', optionality: 'R' },
        { description: 'Preferred Name', dataType: 'XPN', repeatable: true },
      ],
    },
  },
  structures: {
    ADT_A01: 'MSH EVN PID [ZPI] [{NK1}] PV1 [PV2] [{ OBX [{NTE}] }]',
    ADT_Z01: { description: 'Local merge', definition: 'MSH~EVN~PID~[~ZPI~]' },
  },
  events: { 'ADT^Z01': 'ADT_Z01' },
}

describe('custom schemas', () => {
  it('extends a base version with a Z-segment, structures and events', () => {
    const schema = defineCustomSchema(trust)
    expect(schema).toMatchObject({ version: 'RFH-2.4', base: '2.4' })
    expect(findField(schema, 'ZPI', 'NHSNumberStatus')).toMatchObject({
      index: 2,
      optionality: 'R',
    })
    expect(findField(schema, 'ZPI', 3)).toMatchObject({ name: 'PreferredName', repeatable: true })
    // The base's tables are still there, and the file's structure replaces the base's one.
    expect(findField(schema, 'PID', 3)?.name).toBe('PatientIdentifierList')
    expect(
      getStructure(schema, 'ADT_A01')?.children.map((n) =>
        n.kind === 'segment' ? n.segment : n.name,
      ),
    ).toEqual(['MSH', 'EVN', 'PID', 'ZPI', 'NK1', 'PV1', 'PV2', 'OBXgrp'])
    expect(findGroup(getStructure(schema, 'ADT_A01')!, 'OBXgrp')).toMatchObject({
      required: false,
      repeatable: true,
    })
    expect(structureForMessage(schema, 'ADT', 'Z01')?.description).toBe('Local merge')
    expect(structureForMessage(schema, 'ORU', 'R01')?.id).toBe('ORU_R01')
    // The standard schema is not modified.
    expect(getSchema('2.4').segments.ZPI).toBeUndefined()
  })

  it('loads the same definition from a JSON file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'li-hl7-schema-'))
    const file = join(dir, 'rfh.json')
    writeFileSync(file, JSON.stringify(trust))
    expect(loadCustomSchema(file).segments.ZPI?.fields).toHaveLength(3)
  })

  it('parses the abstract message syntax: options, repeats, groups, choices', () => {
    const nodes = parseStructureDefinition('MSH [{ PID [PD1] }] <OBR|RQD> {[NTE]}')
    expect(nodes).toMatchObject([
      { kind: 'segment', segment: 'MSH', required: true, repeatable: false },
      { kind: 'group', name: 'PIDgrp', required: false, repeatable: true },
      { kind: 'group', name: 'OBRunion', choice: true, required: true },
      { kind: 'segment', segment: 'NTE', required: false, repeatable: true },
    ])
  })

  it.each([
    [{ base: '2.4' }, /"name" is required/],
    [{ name: 'x', base: '9.1' }, /"base" must be one of/],
    [{ name: 'x', base: '2.4', structures: { A: 'MSH [PID' } }, /structures\.A: expected "\]"/],
    [{ name: 'x', base: '2.4', structures: { A: 'MSH pid' } }, /unexpected "p"/],
    [
      { name: 'x', base: '2.4', segments: { ZPI: { fields: [{}] } } },
      /segments\.ZPI\.fields\[1\]: "description" is required/,
    ],
    [
      { name: 'x', base: '2.4', events: { 'ADT^Z09': 'ADT_Z09' } },
      /events\.ADT\^Z09: names structure "ADT_Z09"/,
    ],
    ['{not json', /not valid JSON/],
  ])('rejects a malformed definition with a typed error saying where (%#)', (def, message) => {
    let caught: unknown
    try {
      defineCustomSchema(def)
    } catch (e) {
      caught = e
    }
    expect(isHl7SchemaError(caught)).toBe(true)
    expect((caught as Error).message).toMatch(message)
  })

  it('reports an unreadable file with its own code', () => {
    expect(() => loadCustomSchema('/nonexistent/li-schema.json')).toThrow(
      /Cannot read custom schema file/,
    )
  })
})
