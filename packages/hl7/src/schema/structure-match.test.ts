// Structure matching only: the messages here are lists of segment IDs with no fields (a stand-in
// for the message model, which has its own tests), so only SEGMENT_* findings are looked at.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { defineCustomSchema } from './custom.js'
import { getSchema } from './load.js'
import { validate } from './validate.js'
import type { ValidatableMessage, ValidateOptions } from './validate.js'

function shell(ids: string): ValidatableMessage {
  const segs = ids.split(/\s+/).map((name) => ({
    name,
    fieldCount: 0,
    get: (): string | undefined => undefined,
    getAll: (): string[] => [],
  }))
  return { segments: () => segs, version: '2.5' }
}

function segmentIssues(ids: string, options: ValidateOptions): string[] {
  return validate(shell(ids), options)
    .filter((i) => i.code.startsWith('SEGMENT_'))
    .map((i) => `${i.code} ${i.path}`)
}

describe('structure matching', () => {
  const adt = { structure: 'ADT_A01' }
  const oru = { structure: 'ORU_R01' }

  it('accepts a conforming ADT_A01 with repeats, a group and Z-segments anywhere', () => {
    expect(
      segmentIssues('MSH EVN PID ZPI NK1 NK1 PV1 PV2 OBX OBX AL1 PR1 ROL PR1 IN1 IN2 ZXX', adt),
    ).toEqual([])
  })

  it('reports a missing required segment once and goes on matching', () => {
    expect(segmentIssues('MSH EVN PID NK1 AL1', adt)).toEqual(['SEGMENT_MISSING PV1'])
    expect(segmentIssues('MSH PID PV1', adt)).toEqual(['SEGMENT_MISSING EVN'])
  })

  it('reports a stray segment as one finding, not a cascade', () => {
    expect(segmentIssues('MSH EVN PID ORC PV1 AL1', adt)).toEqual(['SEGMENT_UNEXPECTED ORC'])
    expect(segmentIssues('MSH EVN PID PV1 XYZ AL1', adt)).toEqual(['SEGMENT_UNKNOWN XYZ'])
  })

  it('reports a repeated non-repeating segment with its occurrence path', () => {
    expect(segmentIssues('MSH EVN PID PV1 PV1 AL1', adt)).toEqual(['SEGMENT_TOO_MANY PV1[2]'])
  })

  it('reports segments out of order', () => {
    expect(segmentIssues('MSH EVN PV1 PID', adt)).toEqual([
      'SEGMENT_MISSING PID',
      'SEGMENT_UNEXPECTED PID',
    ])
  })

  it('matches ORU_R01 groups: several patients, orders and observations', () => {
    const msg = 'MSH PID PV1 ORC OBR NTE OBX NTE OBX OBR OBX PID OBR OBX NTE'
    expect(segmentIssues(msg, oru)).toEqual([])
  })

  it('reports a group missing its required first segment inside ORU_R01', () => {
    expect(segmentIssues('MSH PID', oru)).toEqual(['SEGMENT_MISSING PIDgrpgrp.ORCgrp.OBR'])
    expect(segmentIssues('MSH', oru)).toEqual(['SEGMENT_MISSING PIDgrpgrp.ORCgrp.OBR'])
  })

  it('matches one alternative of a choice (2.3 ORM_O01 <OBR|RQD|RQ1|RXO|ODS|ODT>)', () => {
    const orm = { schema: getSchema('2.3'), structure: 'ORM_O01' }
    expect(segmentIssues('MSH PID ORC RXO NTE OBX NTE ORC OBR', orm)).toEqual([])
    expect(segmentIssues('MSH PID ORC ODS BLG CTI', orm)).toEqual(['SEGMENT_UNEXPECTED CTI'])
    expect(segmentIssues('MSH PID OBR', orm)).toEqual(['SEGMENT_MISSING ORCgrp.ORC'])
  })

  it('respects allowUndeclaredZSegments: false in a custom schema', () => {
    const schema = defineCustomSchema({
      name: 'strict',
      base: '2.5',
      allowUndeclaredZSegments: false,
      structures: { ADT_A01: 'MSH EVN PID [ZPI] PV1' },
    })
    expect(segmentIssues('MSH EVN PID ZPI PV1', { schema, structure: 'ADT_A01' })).toEqual([])
    expect(segmentIssues('MSH EVN PID PV1 ZPI', { schema, structure: 'ADT_A01' })).toEqual([
      'SEGMENT_UNEXPECTED ZPI',
    ])
  })

  it('reports an unknown version or structure instead of throwing', () => {
    expect(validate({ ...shell('MSH'), version: '9.9' })).toMatchObject([
      { code: 'VERSION_UNKNOWN' },
    ])
    expect(validate(shell('MSH'), { structure: 'NOPE_X01' })[0]).toMatchObject({
      code: 'STRUCTURE_UNKNOWN',
      severity: 'warning',
    })
    const throwing: ValidatableMessage = {
      segments: () => {
        throw new Error('broken')
      },
      version: '2.5',
    }
    expect(() => validate(throwing)).not.toThrow()
  })

  it('uses the schema given instead of the message version', () => {
    expect(
      segmentIssues('MSH EVN PID PV1', { schema: getSchema('2.3'), structure: 'ADT_A01' }),
    ).toEqual([])
  })

  it('terminates without throwing on any sequence of segments (property)', () => {
    const pool = [
      'MSH',
      'EVN',
      'PID',
      'PV1',
      'ORC',
      'OBR',
      'OBX',
      'NTE',
      'RXO',
      'ZXX',
      'XYZ',
      'IN1',
    ]
    const structures = ['ADT_A01', 'ORU_R01', 'ORM_O01', 'ACK']
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 40 }),
        fc.constantFrom(...structures),
        (ids, structure) => {
          const issues = validate(shell(ids.join(' ')), { structure })
          for (const i of issues) expect(i.path).not.toBe('')
        },
      ),
      { numRuns: 300, seed: 42 },
    )
  })
})
