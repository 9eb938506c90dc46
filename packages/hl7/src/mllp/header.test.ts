import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseMessage } from '../parse/parse-message.js'
import { buildMllpAck } from './ack.js'
import { isHeaderProblem, readAckFields, readControlId, readHeader } from './header.js'
import type { MllpHeader } from './header.js'

const adt =
  'MSH|^~\\&|PAS|RX1^1.2.3^ISO|EPR|RX1|20261127120000||ADT^A01^ADT_A01|CTRL01|P|2.5.1^GBR|||AL|NE||UNICODE UTF-8\r' +
  'PID|1||123456^^^RX1^MR||DOE^JOHN\r'

function header(input: string | Uint8Array): MllpHeader {
  const result = readHeader(input)
  if (isHeaderProblem(result)) throw new Error(result.text)
  return result
}

describe('readHeader', () => {
  it('reads the MSH fields the transport needs, raw', () => {
    expect(header(adt)).toEqual({
      fieldSeparator: '|',
      encodingCharacters: '^~\\&',
      sendingApplication: 'PAS',
      sendingFacility: 'RX1^1.2.3^ISO',
      receivingApplication: 'EPR',
      receivingFacility: 'RX1',
      messageType: 'ADT^A01^ADT_A01',
      triggerEvent: 'A01',
      controlId: 'CTRL01',
      processingId: 'P',
      version: '2.5.1',
      acceptAckType: 'AL',
      applicationAckType: 'NE',
      charset: 'UNICODE UTF-8',
      enhancedMode: true,
    })
  })

  it('reads bytes as Latin-1, one char per byte, and uses the message own delimiters', () => {
    const bytes = Buffer.from('MSH#*~\\&#PAS\xc3\xa9##EPR##1##ORU*R01#ID9#T#2.3\r', 'latin1')
    const h = header(bytes)
    expect(h.sendingApplication).toBe('PAS\xc3\xa9')
    expect(h.triggerEvent).toBe('R01')
    expect(h.controlId).toBe('ID9')
    expect(h.enhancedMode).toBe(false)
  })

  it('accepts LF and CRLF terminators and leading blank lines', () => {
    expect(header('\r\n' + adt.replace(/\r/g, '\r\n')).controlId).toBe('CTRL01')
    expect(header(adt.replace(/\r/g, '\n')).version).toBe('2.5.1')
  })

  it('finds the MSH behind batch headers', () => {
    expect(header('FHS|^~\\&\rBHS|^~\\&\r' + adt).controlId).toBe('CTRL01')
  })

  it('reads an MSH segment longer than the first look', () => {
    const long = adt.replace('PAS', 'P'.repeat(5000))
    expect(header(Buffer.from(long)).controlId).toBe('CTRL01')
  })

  it('says what is wrong with unusable input', () => {
    const problem = (input: string): unknown => {
      const r = readHeader(input)
      return isHeaderProblem(r) ? [r.errorCode, r.text] : r
    }
    expect(problem('PID|1\r')).toEqual([
      100,
      'expected the message to start with an MSH segment, found "PID|1\\r"',
    ])
    expect(problem('MSH')).toEqual([100, 'MSH-1 (field separator) is missing or invalid: ""'])
    expect(problem('MSH|^|A\r')).toEqual([100, 'MSH-2 (encoding characters) is invalid: "^"'])
    expect(problem('MSH|^~\\&|A||B||1||ADT^A01||P|2.5\r')).toEqual([
      101,
      'MSH-10 (message control id) is empty',
    ])
    expect(problem('MSH|^~\\&|A||B||1|||X|P|2.5\r')).toEqual([101, 'MSH-9 (message type) is empty'])
  })

  it('agrees with a split-based reading on random MSH lines', () => {
    const value = fc.stringMatching(/^[A-Za-z0-9 .^&~-]{0,12}$/)
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 0, maxLength: 22 }),
        fc.constantFrom('|', '#', '!'),
        (values, fs) => {
          const line = ['MSH', '^~\\&', ...values].join(fs)
          const fields = line.split(fs)
          const f = (n: number): string => fields[n - 1] ?? ''
          // MSH-1 is the separator itself, so MSH-n is fields[n - 1] for n >= 2.
          const bytes = Buffer.from(line + '\rPID|1\r', 'latin1')
          const result = readHeader(bytes)
          expect(readControlId(bytes)).toEqual(isHeaderProblem(result) ? result : result.controlId)
          const header = isHeaderProblem(result) ? result.partial : result
          expect(header?.sendingApplication).toBe(f(3))
          expect(header?.receivingFacility).toBe(f(6))
          expect(header?.messageType).toBe(f(9))
          expect(header?.controlId).toBe(f(10))
          expect(header?.version).toBe(f(12).split('^')[0])
          expect(header?.acceptAckType).toBe(f(15))
          expect(header?.charset).toBe(f(18).split('^')[0])
          expect(header?.triggerEvent).toBe(f(9).split('^')[1] ?? '')
        },
      ),
      { numRuns: 300 },
    )
  })

  it('readControlId gives the same answer as readHeader', () => {
    const piece = fc.constantFrom(
      'MSH',
      '|',
      '#',
      '^~\\&',
      '\r',
      '\n',
      ' ',
      'ADT^A01',
      'C1',
      'x',
      '',
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const bytes = Buffer.from(pieces.join(''), 'latin1')
        const full = readHeader(bytes)
        expect(readControlId(bytes)).toEqual(isHeaderProblem(full) ? full : full.controlId)
      }),
      { numRuns: 2000 },
    )
    expect(readControlId(Buffer.from(adt))).toBe('CTRL01')
    expect(readControlId(new TextEncoder().encode(adt))).toBe('CTRL01')
  })

  it('never throws on random input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 300 })), (input) => {
        readHeader(input)
        readAckFields(input)
      }),
      { numRuns: 500 },
    )
  })
})

describe('readAckFields', () => {
  it('reads MSA-1..3 with the ACK own field separator', () => {
    expect(readAckFields('MSH|^~\\&|A||B||1||ACK|X|P|2.4\rMSA|AE|C1|bad PID\r')).toEqual({
      code: 'AE',
      controlId: 'C1',
      text: 'bad PID',
    })
    expect(readAckFields('MSH#^~\\&#A##B##1##ACK#X#P#2.4\nMSA#AA#C2\n')?.controlId).toBe('C2')
  })

  it('reads bytes and strings alike', () => {
    const piece = fc.constantFrom('MSH', 'MSA', '|', '#', '\r', '\n', 'AA', 'C1', '^', 'x', '')
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const text = pieces.join('')
        expect(readAckFields(Buffer.from(text, 'latin1'))).toEqual(readAckFields(text))
      }),
      { numRuns: 1000 },
    )
    const ack = 'MSH|^~\\&|A||B||1||ACK|X|P|2.4\rMSA|AE|C1|bad PID\r'
    expect(readAckFields(Buffer.from(ack))).toEqual({
      code: 'AE',
      controlId: 'C1',
      text: 'bad PID',
    })
  })

  it('ignores "MSA|" that is not at a segment start, and ACKs without MSA', () => {
    expect(readAckFields('MSH|^~\\&|MSA|x||1||ACK|X|P|2.5\r')).toBeUndefined()
    expect(readAckFields('no header')).toBeUndefined()
  })
})

describe('buildMllpAck', () => {
  it('builds an AA that the model parser reads back: swapped, ACK^trigger^ACK, MSA-2', () => {
    const ack = parseMessage(buildMllpAck(header(adt), 'AA'))
    expect(ack.get('MSH-3')).toBe('EPR')
    expect(ack.get('MSH-4.1')).toBe('RX1')
    expect(ack.get('MSH-5')).toBe('PAS')
    expect(ack.get('MSH-6.2')).toBe('1.2.3')
    expect(ack.get('MSH-9.1')).toBe('ACK')
    expect(ack.get('MSH-9.2')).toBe('A01')
    expect(ack.get('MSH-9.3')).toBe('ACK')
    expect(ack.get('MSH-11')).toBe('P')
    expect(ack.get('MSH-12')).toBe('2.5.1')
    expect(ack.get('MSH-18')).toBe('UNICODE UTF-8')
    expect(ack.get('MSA-1')).toBe('AA')
    expect(ack.get('MSA-2')).toBe('CTRL01')
    expect(ack.segments('ERR')).toHaveLength(0)
    expect(ack.controlId).not.toBe('CTRL01')
  })

  it('gives every ACK a new MSH-10 of at most 20 characters', () => {
    const ids = new Set(
      Array.from({ length: 1000 }, () => readHeader(buildMllpAck(header(adt), 'AA'))),
    )
    const controlIds = new Set([...ids].map((h) => (isHeaderProblem(h) ? '' : h.controlId)))
    expect(controlIds.size).toBe(1000)
    for (const id of controlIds) expect(id.length).toBeLessThanOrEqual(20)
  })

  it('adds ERR (v2.5 layout) with an escaped, single-line text on errors', () => {
    const ack = buildMllpAck(header(adt), 'AE', {
      text: 'bad|value^here\r\nnext',
      errorCode: 207,
    })
    const parsed = parseMessage(ack)
    expect(parsed.get('ERR-3.1')).toBe('207')
    expect(parsed.get('ERR-3.2')).toBe('Application internal error')
    expect(parsed.get('ERR-4')).toBe('E')
    expect(parsed.get('ERR-8')).toBe('bad|value^here  next')
  })

  it('uses ERR-1 and MSA-3 for v2.3/2.4 receivers', () => {
    const v24 = header(adt.replace('2.5.1^GBR', '2.4'))
    const ack = buildMllpAck(v24, 'AR', { text: 'no', errorCode: 101 })
    expect(ack.split('\r').slice(1)).toEqual([
      'MSA|AR|CTRL01|no',
      'ERR|^^^101&Required field missing&HL70357',
      '',
    ])
  })

  it('builds a generic NAK without a header', () => {
    const ack = parseMessage(buildMllpAck(undefined, 'AR', { text: 'x' }))
    expect(ack.get('MSA-1')).toBe('AR')
    expect(ack.get('MSA-2')).toBeUndefined()
    expect(ack.get('MSH-12')).toBe('2.5.1')
  })
})
