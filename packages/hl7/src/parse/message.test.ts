import { describe, expect, it } from 'vitest'
import { Hl7ParseError } from '../errors.js'
import { parseMessage } from './parse-message.js'

const TEXT =
  [
    'MSH|^~\\&|LAB|RXH|EPR|RXH|20260101120000||ORU^R01^ORU_R01|CTRL1|P|2.5.1',
    'PID|1||111^^^NHS^NH~222^^^RXH^MR&sub1&sub2~~333||Smith^John^^^Mr||||||""|',
    'OBX|1|NM|A^Alpha||1.5|',
    'OBX|2|TX|B^Beta||a\\T\\b\\F\\c|',
    'OBX|3|ST|C^Gamma||x^y|',
    'ZZZ',
    'ZAB|1|||trailing|||',
  ].join('\r') + '\r'

describe('Message.get', () => {
  const msg = parseMessage(TEXT)

  it('reads the convenience getters', () => {
    expect(msg.messageType).toBe('ORU')
    expect(msg.triggerEvent).toBe('R01')
    expect(msg.messageStructure).toBe('ORU_R01')
    expect(msg.controlId).toBe('CTRL1')
    expect(msg.version).toBe('2.5.1')
    expect(msg.delimiters).toBe(msg.encoding)
    expect(msg.segmentCount).toBe(7)
  })

  it('numbers MSH from the field separator: MSH-1 is "|", MSH-2 the encoding characters', () => {
    expect(msg.get('MSH-1')).toBe('|')
    expect(msg.get('MSH-2')).toBe('^~\\&')
    expect(msg.get('MSH-3')).toBe('LAB')
    expect(msg.get('MSH-9.2')).toBe('R01')
    expect(msg.get('MSH-2.2')).toBeUndefined()
  })

  it('reads fields, repetitions, components and subcomponents', () => {
    expect(msg.get('PID-1')).toBe('1')
    expect(msg.get('PID-3.1')).toBe('111')
    expect(msg.get('PID-3[1].1')).toBe('111')
    expect(msg.get('PID-3[2].1')).toBe('222')
    expect(msg.get('PID-3[2].5')).toBe('MR&sub1&sub2')
    expect(msg.get('PID-3[2].5.1')).toBe('MR')
    expect(msg.get('PID-3[2].5.3')).toBe('sub2')
    expect(msg.get('PID-3[4].1')).toBe('333')
    expect(msg.get('PID-5.2')).toBe('John')
    expect(msg.get('PID-5.5')).toBe('Mr')
  })

  it('returns undefined for absent or empty elements and "" for an explicit null', () => {
    expect(msg.get('PID-2')).toBeUndefined()
    expect(msg.get('PID-3[3]')).toBeUndefined()
    expect(msg.get('PID-3[9]')).toBeUndefined()
    expect(msg.get('PID-5.3')).toBeUndefined()
    expect(msg.get('PID-5.9')).toBeUndefined()
    expect(msg.get('PID-99')).toBeUndefined()
    expect(msg.get('PID-12')).toBeUndefined()
    expect(msg.get('PID-11')).toBe('""')
    expect(msg.get('PV1-1')).toBeUndefined()
    expect(msg.get('ZZZ-1')).toBeUndefined()
    expect(msg.get('OBX[9]-1')).toBeUndefined()
  })

  it('addresses the nth segment with SEG[n]', () => {
    expect(msg.get('OBX-3.2')).toBe('Alpha')
    expect(msg.get('OBX[2]-3.2')).toBe('Beta')
    expect(msg.get('OBX[3]-3.2')).toBe('Gamma')
  })

  it('unescapes leaf values and returns composites read whole in their encoded form', () => {
    expect(msg.get('OBX[2]-5')).toBe('a&b|c')
    expect(msg.get('OBX[3]-5')).toBe('x^y')
    expect(msg.get('OBX[3]-5.2')).toBe('y')
    expect(msg.get('PID-5')).toBe('Smith^John^^^Mr')
    expect(msg.get('PID-3')).toBe('111^^^NHS^NH')
  })

  it('keeps trailing delimiters and empty segments', () => {
    expect(msg.get('ZAB-4')).toBe('trailing')
    expect(msg.toString()).toBe(TEXT)
  })

  it('getAll returns every repetition, across every segment unless one is picked', () => {
    expect(msg.getAll('PID-3.1')).toEqual(['111', '222', '', '333'])
    expect(msg.getAll('PID-3[2].1')).toEqual(['222'])
    expect(msg.getAll('OBX-3.2')).toEqual(['Alpha', 'Beta', 'Gamma'])
    expect(msg.getAll('OBX[2]-3.2')).toEqual(['Beta'])
    expect(msg.getAll('PID-2')).toEqual([])
    expect(msg.getAll('NTE-1')).toEqual([])
    expect(msg.getAll('MSH-1')).toEqual(['|'])
  })

  it('segments(name) returns segment objects with their own get', () => {
    const obx = msg.segments('OBX')
    expect(obx.map((s) => s.get('1'))).toEqual(['1', '2', '3'])
    expect(obx[1]!.get('OBX-5')).toBe('a&b|c')
    expect(obx[0]!.fieldCount).toBe(6)
    expect(msg.segments('MSH')[0]!.fieldCount).toBe(12)
    expect(msg.segments()).toHaveLength(7)
    expect(msg.segmentNames()).toEqual(['MSH', 'PID', 'OBX', 'OBX', 'OBX', 'ZZZ', 'ZAB'])
    expect(obx[0]!.getAll('3')).toEqual(['A^Alpha'])
    expect(() => obx[0]!.get('PID-3')).toThrow(expect.objectContaining({ code: 'HL7_BAD_PATH' }))
  })

  it('rejects bad paths with HL7_BAD_PATH', () => {
    for (const bad of ['PID', 'pid-3', 'PID-0', 'PID-3[0]', '5.1', 'PID-3..1', 'PID-3.1.1.1']) {
      expect(() => msg.get(bad)).toThrow(Hl7ParseError)
    }
  })
})

describe('Message.set', () => {
  it('writes an escaped value and re-serialises only the touched segment', () => {
    const msg = parseMessage(TEXT)
    expect(msg.modified).toBe(false)
    msg.set('PID-5.1', "O'Brien & Sons|^~\\")
    expect(msg.modified).toBe(true)
    expect(msg.get('PID-5.1')).toBe("O'Brien & Sons|^~\\")
    expect(msg.toString()).toBe(
      TEXT.replace('Smith^John', "O'Brien \\T\\ Sons\\F\\\\S\\\\R\\\\E\\^John"),
    )
    expect(parseMessage(msg.toString()).get('PID-5.1')).toBe("O'Brien & Sons|^~\\")
  })

  it('creates missing fields, repetitions, components and subcomponents', () => {
    const msg = parseMessage('MSH|^~\\&|A\rPID|1\r')
    msg.set('PID-3[2].4.2', 'X')
    expect(msg.toString()).toBe('MSH|^~\\&|A\rPID|1||~^^^&X\r')
    expect(msg.get('PID-3[2].4.2')).toBe('X')
    msg.set('PID-8', 'F')
    expect(msg.toString()).toBe('MSH|^~\\&|A\rPID|1||~^^^&X|||||F\r')
    msg.set('MSH-12', '2.5.1')
    expect(msg.version).toBe('2.5.1')
  })

  it('creates missing segments after the last one with the same ID, or at the end', () => {
    const msg = parseMessage(TEXT)
    msg.set('OBX[5]-3.2', 'Epsilon')
    expect(msg.segmentNames()).toEqual([
      'MSH',
      'PID',
      'OBX',
      'OBX',
      'OBX',
      'OBX',
      'OBX',
      'ZZZ',
      'ZAB',
    ])
    expect(msg.get('OBX[5]-3.2')).toBe('Epsilon')
    expect(msg.get('OBX[4]-1')).toBeUndefined()
    msg.set('NTE-3', 'note')
    expect(msg.segmentNames().at(-1)).toBe('NTE')
    expect(msg.toString()).toContain('\rOBX\rOBX|||^Epsilon\rZZZ\r')
    expect(msg.toString().endsWith('\rNTE|||note\r')).toBe(true)
  })

  it('replaces all repetitions when a whole field is written; empty values past the end change nothing', () => {
    const msg = parseMessage(TEXT)
    msg.set('PID-3', '999')
    expect(msg.getAll('PID-3.1')).toEqual(['999'])
    const before = msg.toString()
    msg.set('PID-40', '')
    msg.set('PID-5.9', '')
    expect(msg.toString()).toBe(before)
    msg.set('PID-5.2', '')
    expect(msg.get('PID-5')).toBe('Smith^^^^Mr')
  })

  it('writes an explicit null as ""', () => {
    const msg = parseMessage(TEXT)
    msg.set('PID-8', '""')
    expect(msg.get('PID-8')).toBe('""')
  })

  it('changes through a Segment object show in the message', () => {
    const msg = parseMessage(TEXT)
    msg.segments('OBX')[2]!.set('5.1', 'z')
    expect(msg.get('OBX[3]-5')).toBe('z^y')
    expect(msg.toString()).toContain('OBX|3|ST|C^Gamma||z^y|')
  })

  it('refuses to write MSH-1, MSH-2 or a second MSH', () => {
    const msg = parseMessage(TEXT)
    expect(() => msg.set('MSH-1', '#')).toThrow(expect.objectContaining({ code: 'HL7_READ_ONLY' }))
    expect(() => msg.set('MSH-2', '^~\\&')).toThrow(
      expect.objectContaining({ code: 'HL7_READ_ONLY' }),
    )
    expect(() => msg.set('MSH[2]-3', 'x')).toThrow(
      expect.objectContaining({ code: 'HL7_BAD_PATH' }),
    )
    expect(() => msg.set('PID-3', 5 as unknown as string)).toThrow(
      expect.objectContaining({ code: 'HL7_INVALID_ARGUMENT' }),
    )
    expect(msg.toString()).toBe(TEXT)
  })

  it('escapes with the message own delimiters', () => {
    const msg = parseMessage('MSH*:+/%*A\rPID*1\r')
    msg.set('PID-5.1', 'a*b:c+d/e%f|g')
    expect(msg.toString()).toBe('MSH*:+/%*A\rPID*1****a/F/b/S/c/R/d/E/e/T/f|g\r')
    expect(msg.get('PID-5.1')).toBe('a*b:c+d/e%f|g')
  })

  it('a message without final CR stays without one after set', () => {
    const msg = parseMessage('MSH|^~\\&|A\rPID|1')
    msg.set('PID-2', 'x')
    expect(msg.toString()).toBe('MSH|^~\\&|A\rPID|1|x')
  })
})

describe('large input', () => {
  it('reads 200,000 repetitions of one field', () => {
    const msg = parseMessage(`MSH|^~\\&|A\rPID|1||${'x~'.repeat(200_000)}y\r`)
    const all = msg.getAll('PID-3')
    expect(all).toHaveLength(200_001)
    expect(all.at(-1)).toBe('y')
  })

  it('reads one field from each of 50,000 segments without fields in between', () => {
    const msg = parseMessage(`MSH|^~\\&|A\r${'ZZZ\r'.repeat(50_000)}ZZZ|last\r`)
    const all = msg.getAll('ZZZ-1')
    expect(all).toEqual(['last'])
    expect(msg.segmentCount).toBe(50_002)
  })
})
