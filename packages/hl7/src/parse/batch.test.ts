import { describe, expect, it } from 'vitest'
import { Hl7ParseError } from '../errors.js'
import { parseBatch } from './batch.js'

const msg = (id: string, delims = '|^~\\&'): string => {
  const f = delims[0]!
  return `MSH${delims}${f}A${f}B${f}C${f}D${f}2026${f}${f}ADT${delims[1]}A01${f}${id}${f}P${f}2.4\rPID${f}1\r`
}

describe('parseBatch', () => {
  it('splits plain concatenated messages, each with its own delimiters', () => {
    const text = msg('1') + msg('2', '*:+/%') + msg('3')
    const batch = parseBatch(text)
    expect(batch.messages.map((m) => m.controlId)).toEqual(['1', '2', '3'])
    expect(batch.messages[1]!.encoding.field).toBe('*')
    expect(batch.header).toBeUndefined()
    expect(batch.trailer).toBeUndefined()
    expect(batch.batches).toHaveLength(1)
    expect(batch.toString()).toBe(text)
  })

  it('reads FHS/BHS/BTS/FTS and several batches in one file', () => {
    const text =
      'FHS|^~\\&|S|F|||20260101||||F1\r' +
      'BHS|^~\\&|S|F|||20260101||||B1\r' +
      msg('1') +
      msg('2') +
      'BTS|2\r' +
      'BHS|^~\\&|S|F|||20260101||||B2\r' +
      msg('3') +
      'BTS|1\r' +
      'FTS|2\r'
    const batch = parseBatch(text)
    expect(batch.fileHeader?.get('11')).toBe('F1')
    expect(batch.header).toBe(batch.fileHeader)
    expect(batch.fileTrailer?.get('1')).toBe('2')
    expect(
      batch.batches.map((b) => [b.header?.get('11'), b.messages.length, b.trailer?.get('1')]),
    ).toEqual([
      ['B1', 2, '2'],
      ['B2', 1, '1'],
    ])
    expect(batch.messages).toHaveLength(3)
    expect(batch.toString()).toBe(text)
  })

  it('accepts LF line ends and no final terminator', () => {
    const text = 'BHS|^~\\&|S\n' + msg('1').replaceAll('\r', '\n') + 'BTS|1'
    const batch = parseBatch(text)
    expect(batch.header?.get('3')).toBe('S')
    expect(batch.trailer?.get('1')).toBe('1')
    expect(batch.toString()).toBe(text.replaceAll('\n', '\r'))
  })

  it('serialises modified messages in place', () => {
    const batch = parseBatch(msg('1') + msg('2'))
    batch.messages[1]!.set('PID-5.1', 'Jones')
    expect(batch.toString()).toBe(msg('1') + msg('2').replace('PID|1', 'PID|1||||Jones'))
  })

  it.each([
    ['PID|1\r', 'HL7_BAD_BATCH'],
    ['BHS|^~\\&\rFHS|^~\\&\r', 'HL7_BAD_BATCH'],
    ['BTS|1\r', 'HL7_BAD_BATCH'],
    ['FHS|^~\\&\rFTS|1\rBHS|^~\\&\r', 'HL7_BAD_BATCH'],
    ['BHS|^~\\&\rBTS|0\rBTS|0\r', 'HL7_BAD_BATCH'],
    ['BHS|!!\r', 'HL7_BAD_ENCODING_CHARS'],
  ])('rejects %j with %s', (text, code) => {
    expect(() => parseBatch(text)).toThrow(expect.objectContaining({ code }))
  })

  it('re-anchors a broken message error to the batch position', () => {
    const text = msg('1') + 'MSH|^~\\&|A\rbad\r'
    try {
      parseBatch(text)
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(Hl7ParseError)
      expect(e).toMatchObject({
        code: 'HL7_BAD_SEGMENT_NAME',
        segment: 4,
        offset: text.indexOf('bad'),
      })
    }
  })
})
