import { describe, expect, it } from 'vitest'
import { parseMessage } from '../parse/parse-message.js'
import { defineCustomSchema } from './custom.js'
import { validate } from './validate.js'
import type { ValidationIssue } from './types.js'

const MSH = 'MSH|^~\\&|PAS|RFH|EPR|RFH|20260101120000||ADT^A01^ADT_A01|MSG0001|P|2.5'
const EVN = 'EVN|A01|20260101120000'
const PID = 'PID|1||9434765919^^^NHS^NH~12345^^^RFH^MR||SMITH^JOHN^^^MR||19700101|M'
const PV1 = 'PV1|1|I|WARD1^BED2'

function msg(...segments: string[]): ReturnType<typeof parseMessage> {
  return parseMessage(segments.join('\r'))
}

function brief(issues: ValidationIssue[]): string[] {
  return issues.map((i) => `${i.severity} ${i.code} ${i.path}`)
}

describe('validate', () => {
  it('finds nothing wrong in a conforming ADT^A01 (with a Z-segment)', () => {
    expect(validate(msg(MSH, EVN, PID, 'ZPI|1|anything', PV1))).toEqual([])
  })

  it('reports every problem of a bad message, each with its path', () => {
    const issues = validate(
      msg(
        MSH,
        EVN,
        // PID-3 (required) empty, and a field 43 where 2.5 defines 39.
        'PID|1||||SMITH^JOHN|||M' + '|'.repeat(35) + 'X',
        'PID|2||42^^^RFH^MR||JONES',
        'NK1|1|SMITH^MARY|' + 'X'.repeat(300),
        'OBR|1',
      ),
    )
    expect(brief(issues)).toEqual([
      'error SEGMENT_TOO_MANY PID[2]',
      'error SEGMENT_UNEXPECTED OBR',
      'error SEGMENT_MISSING PV1',
      'error FIELD_REQUIRED PID-3',
      'warning FIELD_UNEXPECTED PID-43',
      'error FIELD_TOO_LONG NK1-3.1',
      'error FIELD_REQUIRED OBR-4',
    ])
    const missing = issues.find((i) => i.code === 'SEGMENT_MISSING')
    expect(missing?.message).toBe('Required segment PV1 is missing at the end (structure ADT_A01)')
  })

  it('reports too many repetitions and lengths of primitive fields', () => {
    const issues = validate(
      msg(MSH, 'EVN|A01|20260101120000||01~02', PID, 'PV1|1|' + 'I'.repeat(2)),
    )
    expect(brief(issues)).toEqual([
      'error FIELD_TOO_MANY_REPETITIONS EVN-4',
      'error FIELD_TOO_LONG PV1-2',
    ])
  })

  it('finds the structure from the event map when MSH-9.3 is absent, and honours options', () => {
    const a04 = MSH.replace('ADT^A01^ADT_A01', 'ADT^A04')
    expect(validate(msg(a04, EVN, PID, PV1))).toEqual([])
    // Checked as 2.3 instead of the message's 2.5: PID-5 is still required there.
    expect(brief(validate(msg(a04, EVN, 'PID|1||42'), { version: '2.3' }))).toEqual([
      'error SEGMENT_MISSING PV1',
      'error FIELD_REQUIRED PID-5',
    ])
    expect(brief(validate(msg(MSH, EVN, PID, PV1), { structure: 'ADT_A02' }))).toEqual([])
  })

  it('validates ORU^R01 groups', () => {
    const oru = MSH.replace('ADT^A01^ADT_A01', 'ORU^R01^ORU_R01')
    const obr = 'OBR|1|||CBC^Full blood count'
    const obx = 'OBX|1|NM|HB^Haemoglobin||135|g/L|||||F'
    expect(validate(msg(oru, PID, obr, obx, 'NTE|1||ok', obx, obr, obx))).toEqual([])
    // The observation is matched inside the order group whose OBR is missing: one finding.
    expect(brief(validate(msg(oru, PID, obx)))).toEqual([
      'error SEGMENT_MISSING PIDgrpgrp.ORCgrp.OBR',
    ])
  })

  it('checks Z-segment fields of a custom schema', () => {
    const schema = defineCustomSchema({
      name: 'RFH',
      base: '2.5',
      segments: {
        ZPI: {
          fields: [
            { description: 'Set ID', dataType: 'SI' },
            { description: 'NHS Number Status', dataType: 'ST', optionality: 'R', maxLength: 2 },
          ],
        },
      },
      structures: { ADT_A01: 'MSH EVN PID ZPI PV1' },
    })
    expect(validate(msg(MSH, EVN, PID, 'ZPI|1|01', PV1), { schema })).toEqual([])
    expect(brief(validate(msg(MSH, EVN, PID, 'ZPI|1|VERIFIED', PV1), { schema }))).toEqual([
      'error FIELD_TOO_LONG ZPI-2',
    ])
    expect(brief(validate(msg(MSH, EVN, PID, PV1), { schema }))).toEqual([
      'error SEGMENT_MISSING ZPI',
    ])
  })

  it('reports an unsupported version and checks nothing else', () => {
    expect(brief(validate(msg(MSH.replace('|2.5', '|2.2'), EVN)))).toEqual([
      'error VERSION_UNKNOWN MSH-12',
    ])
  })
})
