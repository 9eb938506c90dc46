import { describe, expect, it } from 'vitest'
import type { Hl7ParseError } from '../errors.js'
import { isHl7Error, isHl7ParseError } from '../errors.js'
import { parseMessage } from './parse-message.js'

const MSH = 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|X1|P|2.5.1'
const SIMPLE = `${MSH}\rPID|1||123||Smith^John|\r`

function parseError(run: () => unknown): Hl7ParseError {
  try {
    run()
  } catch (e) {
    expect(isHl7ParseError(e)).toBe(true)
    expect(isHl7Error(e)).toBe(true)
    return e as Hl7ParseError
  }
  throw new Error('expected an Hl7ParseError')
}

describe('parseMessage: segment terminators', () => {
  it('keeps CR-only input as it is (same string back)', () => {
    expect(parseMessage(SIMPLE).toString()).toBe(SIMPLE)
  })

  it('accepts LF and CR LF and normalises them to CR', () => {
    expect(parseMessage(SIMPLE.replaceAll('\r', '\n')).toString()).toBe(SIMPLE)
    expect(parseMessage(SIMPLE.replaceAll('\r', '\r\n')).toString()).toBe(SIMPLE)
    expect(parseMessage(`${MSH}\r\nPID|1||123||Smith^John|\nPV1|1\r`).segmentNames()).toEqual([
      'MSH',
      'PID',
      'PV1',
    ])
  })

  it('skips blank and whitespace-only lines', () => {
    const msg = parseMessage(`\r\n${MSH}\r\r\n  \t\rPID|1||123||Smith^John|\r\n\r\n`)
    expect(msg.toString()).toBe(SIMPLE)
    expect(parseMessage(`${MSH}\r\rPID|1`).toString()).toBe(`${MSH}\rPID|1`)
  })

  it('keeps a missing final terminator missing', () => {
    expect(parseMessage(`${MSH}\rPID|1`).toString()).toBe(`${MSH}\rPID|1`)
    expect(parseMessage(MSH).toString()).toBe(MSH)
  })

  it('strips a byte-order mark', () => {
    expect(parseMessage(`\uFEFF${SIMPLE}`).toString()).toBe(SIMPLE)
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(SIMPLE)])
    expect(parseMessage(bytes).toString()).toBe(SIMPLE)
  })
})

describe('parseMessage: delimiters', () => {
  it('reads delimiters from MSH-1 and MSH-2 of each message', () => {
    const msg = parseMessage('MSH*:+/%*A*B\rPID*1**123:::NHS+456*')
    expect(msg.encoding).toEqual({
      field: '*',
      component: ':',
      repetition: '+',
      escape: '/',
      subcomponent: '%',
      truncation: undefined,
    })
    expect(msg.getAll('PID-3.1')).toEqual(['123', '456'])
    expect(msg.get('PID-3.4')).toBe('NHS')
  })

  it('accepts the v2.7 truncation character as a fifth encoding character', () => {
    const msg = parseMessage('MSH|^~\\&#|A\rNTE|1||a\\P\\b')
    expect(msg.encoding.truncation).toBe('#')
    expect(msg.get('NTE-3')).toBe('a#b')
  })

  it.each([
    ['MSH|^~\\|A', 'three encoding characters'],
    ['MSH|^~\\&#!|A', 'six encoding characters'],
    ['MSH|^^\\&|A', 'a repeated delimiter'],
    ['MSH|^~\\||A', 'the field separator among them'],
    ['MSH|^~a&|A', 'a letter'],
    ['MSHA^~\\&A', 'a letter as field separator'],
    ['MSH', 'nothing after MSH'],
  ])('rejects %j (%s) with HL7_BAD_ENCODING_CHARS', (input) => {
    const e = parseError(() => parseMessage(input))
    expect(e.code).toBe('HL7_BAD_ENCODING_CHARS')
    expect(e.segment).toBe(1)
  })
})

describe('parseMessage: errors', () => {
  it('rejects empty input and input without MSH first', () => {
    expect(parseError(() => parseMessage('')).code).toBe('HL7_MISSING_MSH')
    expect(parseError(() => parseMessage('\r\n\r\n')).code).toBe('HL7_MISSING_MSH')
    const e = parseError(() => parseMessage('PID|1\rMSH|^~\\&|A'))
    expect(e.code).toBe('HL7_MISSING_MSH')
    expect(e.message).toContain('"PID|1"')
  })

  it('reports a bad segment ID with its segment number and offset', () => {
    const input = `${MSH}\rPID|1\rpv1|1\r`
    const e = parseError(() => parseMessage(input))
    expect(e.code).toBe('HL7_BAD_SEGMENT_NAME')
    expect(e.segment).toBe(3)
    expect(e.offset).toBe(input.indexOf('pv1'))
    expect(e.message).toContain('Segment 3')
  })

  it('reports offsets in the original input when terminators were normalised', () => {
    const input = `${MSH}\r\n\r\nPID|1\r\nXX|1\r\n`
    const e = parseError(() => parseMessage(input))
    expect(e.segment).toBe(3)
    expect(e.offset).toBe(input.indexOf('XX|'))
  })

  it('reports byte offsets for byte input', () => {
    const input = `${MSH}\rPID|1||123||Zoë\r!!!\r`
    const e = parseError(() => parseMessage(Buffer.from(input, 'utf8')))
    expect(e.offset).toBe(Buffer.byteLength(input.slice(0, input.indexOf('!!!'))))
  })

  it('rejects a second MSH and points to parseBatch', () => {
    const e = parseError(() => parseMessage(SIMPLE + SIMPLE))
    expect(e.code).toBe('HL7_MULTIPLE_MESSAGES')
    expect(e.message).toContain('parseBatch')
  })

  it('rejects input larger than maxSize before parsing it', () => {
    expect(parseError(() => parseMessage(SIMPLE, { maxSize: 10 })).code).toBe(
      'HL7_MESSAGE_TOO_LARGE',
    )
    expect(parseError(() => parseMessage(Buffer.from(SIMPLE), { maxSize: 10 })).code).toBe(
      'HL7_MESSAGE_TOO_LARGE',
    )
    expect(parseMessage(SIMPLE, { maxSize: SIMPLE.length }).controlId).toBe('X1')
  })

  it('rejects input that is neither string nor bytes with an Hl7ParseError, not a TypeError', () => {
    expect(parseError(() => parseMessage(42 as unknown as string)).code).toBe('HL7_MISSING_MSH')
    expect(parseError(() => parseMessage(null as unknown as string)).code).toBe('HL7_MISSING_MSH')
  })
})

describe('parseMessage: character sets', () => {
  const withCharset = (cs: string, name: string): string =>
    `MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5.1|||||GBR|${cs}\rPID|1||1||${name}\r`

  it('decodes UTF-8 when MSH-18 is UNICODE UTF-8 or empty', () => {
    expect(parseMessage(Buffer.from(withCharset('UNICODE UTF-8', 'Zoë'))).get('PID-5')).toBe('Zoë')
    expect(parseMessage(Buffer.from(withCharset('', 'Łukasz'))).get('PID-5')).toBe('Łukasz')
  })

  it('decodes Latin-1 when MSH-18 is 8859/1, and the charset option overrides MSH-18', () => {
    const bytes = Buffer.from(withCharset('8859/1', 'Zoë'), 'latin1')
    expect(parseMessage(bytes).get('PID-5')).toBe('Zoë')
    const mislabelled = Buffer.from(withCharset('UNICODE UTF-8', 'Zoë'), 'latin1')
    expect(parseError(() => parseMessage(mislabelled)).code).toBe('HL7_INVALID_BYTES')
    expect(parseMessage(mislabelled, { charset: 'latin1' }).get('PID-5')).toBe('Zoë')
    expect(parseMessage(mislabelled, { charset: '8859/1' }).get('PID-5')).toBe('Zoë')
  })

  it('falls back to Latin-1 for invalid UTF-8 when MSH-18 is empty (no bytes lost)', () => {
    const bytes = Buffer.from(withCharset('', '£5'), 'latin1')
    const msg = parseMessage(bytes)
    expect(msg.get('PID-5')).toBe('£5')
    expect(Buffer.from(msg.toString(), 'latin1').equals(bytes)).toBe(true)
  })

  it('decodes other table 0211 sets and rejects unknown ones', () => {
    const bytes = Buffer.from(withCharset('8859/15', 'X'), 'latin1')
    bytes[bytes.length - 2] = 0xa4 // € in ISO-8859-15
    expect(parseMessage(bytes).get('PID-5')).toBe('€')
    const e = parseError(() => parseMessage(Buffer.from(withCharset('KLINGON', 'x'))))
    expect(e.code).toBe('HL7_UNSUPPORTED_CHARSET')
    expect(e.message).toContain('KLINGON')
  })

  it('ignores the charset option for string input', () => {
    expect(parseMessage(withCharset('', 'Zoë'), { charset: 'latin1' }).get('PID-5')).toBe('Zoë')
  })
})
