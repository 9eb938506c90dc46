// Golden fixtures: real-looking .hl7 files parsed and written back byte for byte, and spot reads.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseBatch, parseMessage } from '../src/index.js'

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url))

describe('golden fixtures round-trip byte for byte', () => {
  for (const name of [
    'adt-a01.hl7',
    'oru-r01.hl7',
    'custom-delimiters.hl7',
    'v27-truncation.hl7',
  ]) {
    it(`${name} from bytes and from text`, () => {
      const bytes = fixture(name)
      expect(Buffer.from(parseMessage(bytes).toString(), 'utf8').equals(bytes)).toBe(true)
      expect(parseMessage(bytes.toString('utf8')).toString()).toBe(bytes.toString('utf8'))
    })
  }

  it('latin1.hl7 is decoded by MSH-18 8859/1 and re-encodes to the same bytes', () => {
    const bytes = fixture('latin1.hl7')
    const msg = parseMessage(bytes)
    expect(msg.get('PID-5.2')).toBe('Zoë')
    expect(msg.get('PID-5.3')).toBe('Hélène')
    expect(msg.get('ZFN-1')).toBe('Coût: £12.50')
    expect(Buffer.from(msg.toString(), 'latin1').equals(bytes)).toBe(true)
  })

  it('batch.hl7 round-trips through parseBatch', () => {
    const bytes = fixture('batch.hl7')
    const batch = parseBatch(bytes)
    expect(batch.toString()).toBe(bytes.toString('utf8'))
    expect(batch.messages.map((m) => m.controlId)).toEqual(['PAS0000200001', 'PAS0000200002'])
  })
})

describe('golden fixture reads', () => {
  it('adt-a01.hl7', () => {
    const msg = parseMessage(fixture('adt-a01.hl7'))
    expect([msg.messageType, msg.triggerEvent, msg.messageStructure]).toEqual([
      'ADT',
      'A01',
      'ADT_A01',
    ])
    expect(msg.controlId).toBe('PAS0000123456')
    expect(msg.version).toBe('2.5.1')
    expect(msg.getAll('PID-3.1')).toEqual(['9434765919', 'RXH1234567'])
    expect(msg.get('PID-3[2].4')).toBe('RXH')
    expect(msg.get('PID-5.1')).toBe("O'Brien")
    expect(msg.get('PID-5.2')).toBe('Siobhán')
    expect(msg.get('PV1-3.9')).toBe('Ward 7 & Day Unit')
    expect(msg.get('AL1[2]-3.2')).toBe('Peanuts')
    expect(msg.get('ZPD-3.2')).toBe('Gaelic')
    expect(msg.get('ZPV-2')).toBe('""')
    expect(msg.segments().map((s) => s.name)).toEqual([
      'MSH',
      'EVN',
      'PID',
      'PD1',
      'NK1',
      'PV1',
      'PV2',
      'AL1',
      'AL1',
      'ZPD',
      'ZPV',
    ])
  })

  it('oru-r01.hl7: many OBX, escapes, formatting commands, explicit null', () => {
    const msg = parseMessage(fixture('oru-r01.hl7'))
    const obx = msg.segments('OBX')
    expect(obx).toHaveLength(27)
    expect(obx[0]!.get('3.2')).toBe('Haemoglobin')
    expect(msg.get('OBX[25]-5')).toBe(
      "Sample slightly haemolysed & lipaemic.\\.br\\Result checked by ^BMS^ J. O'Neill.\\.br\\Ratio 3|4 \\ limit",
    )
    expect(msg.get('OBX[25]-5[2]')).toBe('Second line of comment')
    expect(msg.get('OBX[26]-5')).toBe(
      '\\H\\Impression:\\N\\ No acute abnormality.\\.sp2\\Hex: Hello and é',
    )
    expect(msg.get('OBX[27]-5')).toBe('""')
    expect(msg.get('OBR-15.1.2')).toBe('Blood')
    expect(msg.getAll('OBR-4.2')).toEqual(['Full blood count', 'Urea and electrolytes'])
  })

  it('custom-delimiters.hl7 uses its own MSH-1/MSH-2', () => {
    const msg = parseMessage(fixture('custom-delimiters.hl7'))
    expect(msg.encoding).toMatchObject({
      field: '!',
      component: '@',
      repetition: '%',
      escape: '?',
      subcomponent: '$',
    })
    expect(msg.get('MSH-1')).toBe('!')
    expect(msg.get('MSH-2')).toBe('@%?$')
    expect(msg.messageType).toBe('ORM')
    expect(msg.getAll('PID-3.1')).toEqual(['9434765919', 'RXH7654321'])
    expect(msg.get('OBR-4.2')).toBe('Chest X-ray@PA')
    // A composite read whole stays encoded; its subcomponents are decoded.
    expect(msg.get('NTE-3')).toBe(
      'Query fracture ?F? pain on inspiration?E?expiration; uses sub$components',
    )
    expect(msg.get('NTE-3.1.1')).toBe('Query fracture ! pain on inspiration?expiration; uses sub')
  })

  it('v27-truncation.hl7 has the truncation character and no final CR', () => {
    const msg = parseMessage(fixture('v27-truncation.hl7'))
    expect(msg.encoding.truncation).toBe('#')
    expect(msg.get('MSH-2')).toBe('^~\\&#')
    expect(msg.get('NTE-3')).toBe('Bring previous films # 2 & reports#')
    expect(msg.toString().endsWith('\r')).toBe(false)
  })
})
