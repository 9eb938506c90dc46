import { describe, expect, it } from 'vitest'
import { createAck, createNak, newControlId } from './ack.js'
import { Hl7ParseError } from './errors.js'
import { parseMessage } from './parse/parse-message.js'

const NOW = new Date(Date.UTC(2026, 2, 15, 9, 30, 5))
const ORIGINAL = parseMessage(
  'MSH|^~\\&|PAS|RXH^1.2.3^ISO|EPR|RXH2|20260315083012||ADT^A01^ADT_A01|PAS123|T|2.5.1|||AL|NE||UNICODE UTF-8\rPID|1\r',
)

describe('createAck', () => {
  it('builds an AA with sender and receiver swapped, same version and processing ID', () => {
    const ack = createAck(ORIGINAL, 'AA', { now: NOW, controlId: 'ACK1' })
    expect(ack.toString()).toBe(
      'MSH|^~\\&|EPR|RXH2|PAS|RXH^1.2.3^ISO|20260315093005+0000||ACK^A01^ACK|ACK1|T|2.5.1||||||UNICODE UTF-8\r' +
        'MSA|AA|PAS123\r',
    )
    expect(ack.messageType).toBe('ACK')
    expect(ack.triggerEvent).toBe('A01')
    expect(ack.messageStructure).toBe('ACK')
    expect(ack.get('MSH-6.2')).toBe('1.2.3')
    expect(ack.segments('ERR')).toHaveLength(0)
  })

  it('adds an ERR segment (v2.5 layout) with code, location and text on AE/AR/CE/CR', () => {
    const ack = createAck(ORIGINAL, 'AE', {
      now: NOW,
      errorCode: 101,
      errorLocation: 'PID-3',
      text: 'PID-3 is required & missing',
    })
    expect(ack.get('MSA-1')).toBe('AE')
    expect(ack.get('MSA-2')).toBe('PAS123')
    expect(ack.get('MSA-3')).toBeUndefined()
    expect(ack.segments('ERR')[0]!.toString()).toBe(
      'ERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 is required \\T\\ missing',
    )
    expect(ack.get('ERR-8')).toBe('PID-3 is required & missing')
    const deep = createAck(ORIGINAL, 'AE', {
      now: NOW,
      errorLocation: 'OBX[2]-5[3].1.2',
      severity: 'W',
    })
    expect(deep.get('ERR-2')).toBe('OBX^2^5^3^1^2')
    expect(deep.get('ERR-4')).toBe('W')
    expect(createAck(ORIGINAL, 'AE', { now: NOW, errorLocation: 'PID-3.1' }).get('ERR-2')).toBe(
      'PID^1^3^^1',
    )
    for (const code of ['AR', 'CE', 'CR'] as const) {
      const nak = createAck(ORIGINAL, code, { now: NOW })
      expect(nak.get('MSA-1')).toBe(code)
      expect(nak.get('ERR-3.1')).toBe('207')
      expect(nak.get('ERR-3.2')).toBe('Application internal error')
      expect(nak.get('ERR-4')).toBe('E')
    }
    expect(createAck(ORIGINAL, 'CA').segments('ERR')).toHaveLength(0)
  })

  it('uses the ELD layout in ERR-1 and MSA-3 for v2.3/2.4 receivers', () => {
    const old = parseMessage('MSH|^~\\&|LAB|X|EPR|Y|2026||ORU^R01|L1|P|2.4\rPID|1\r')
    const ack = createAck(old, 'AE', {
      now: NOW,
      errorCode: 100,
      errorLocation: 'OBX[2]-5',
      text: 'bad',
    })
    expect(ack.get('MSA-3')).toBe('bad')
    expect(ack.segments('ERR')[0]!.toString()).toBe(
      'ERR|OBX^2^5^100&Segment sequence error&HL70357',
    )
    expect(ack.version).toBe('2.4')
  })

  it('keeps the original delimiters', () => {
    const custom = parseMessage('MSH*:+/%*A*B*C*D*2026**ORU:R01*C9*P*2.5\r')
    const ack = createAck(custom, 'AE', { now: NOW, text: 'a*b' })
    expect(ack.encoding.field).toBe('*')
    expect(ack.get('MSA-2')).toBe('C9')
    expect(ack.get('ERR-8')).toBe('a*b')
    expect(ack.get('MSH-9')).toBe('ACK:R01:ACK')
  })

  it('generates a new unique MSH-10 of at most 20 characters', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 2000; i++) ids.add(createAck(ORIGINAL, 'AA').controlId!)
    expect(ids.size).toBe(2000)
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(20)
    expect(newControlId()).toMatch(/^[0-9A-Z]{1,20}$/)
  })

  it('rejects an unknown acknowledgment or error code', () => {
    expect(() => createAck(ORIGINAL, 'XX' as 'AA')).toThrow(
      expect.objectContaining({ code: 'HL7_INVALID_ARGUMENT' }),
    )
    expect(() => createAck(ORIGINAL, 'AE', { errorCode: 999 as 207 })).toThrow(
      expect.objectContaining({ code: 'HL7_INVALID_ARGUMENT' }),
    )
  })
})

describe('createNak', () => {
  it('answers parseable input like createAck', () => {
    const nak = createNak(ORIGINAL.toString(), 'AR', { now: NOW, controlId: 'N1' })
    expect(nak.toString()).toBe(createAck(ORIGINAL, 'AR', { now: NOW, controlId: 'N1' }).toString())
  })

  it('salvages the MSH of unparseable input', () => {
    const raw = 'MSH|^~\\&|PAS|RXH|EPR|RXH2|2026||ADT^A08|C42|P|2.3\rPID|1\rbroken segment\r'
    let error: unknown
    try {
      parseMessage(raw)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(Hl7ParseError)
    const nak = createNak(raw, 'AR', { now: NOW, error, errorCode: 100 })
    expect(nak.get('MSA-1')).toBe('AR')
    expect(nak.get('MSA-2')).toBe('C42')
    expect(nak.get('MSH-3')).toBe('EPR')
    expect(nak.get('MSH-5')).toBe('PAS')
    expect(nak.triggerEvent).toBe('A08')
    expect(nak.version).toBe('2.3')
    expect(nak.get('MSA-3')).toContain('Segment 3')
    const bytes = createNak(Buffer.from(raw), 'CR', { now: NOW })
    expect(bytes.get('MSA-2')).toBe('C42')
  })

  it('escapes salvaged fields when the delimiters are unusable', () => {
    const nak = createNak('MSH|^^^^|A^B|F\r', 'AR', { now: NOW, controlId: 'N2' })
    expect(nak.encoding.component).toBe('^')
    expect(nak.get('MSH-5')).toBe('A^B')
    expect(nak.get('MSH-5.2')).toBeUndefined()
  })

  it('answers input with no MSH at all, or no input', () => {
    for (const raw of [undefined, '', 'garbage', '\u0000\u0001']) {
      const nak = createNak(raw, 'AR', { now: NOW, text: 'unreadable' })
      expect(nak.get('MSA-1')).toBe('AR')
      expect(nak.get('MSA-2')).toBeUndefined()
      expect(nak.version).toBe('2.5.1')
      expect(nak.get('MSH-11')).toBe('P')
      expect(nak.get('ERR-8')).toBe('unreadable')
    }
  })
})
