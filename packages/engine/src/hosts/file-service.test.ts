import { describe, expect, it } from 'vitest'
import { batchTrailer, parseBatchText } from './batch.js'
import { fileFraming, segmentTerminator } from './file-operation.js'
import { matchesFileSpec, splitHl7File } from './file-service.js'

describe('splitHl7File', () => {
  it('splits a batch file into messages, dropping FHS/BHS/BTS/FTS and normalising line ends', () => {
    const text =
      'FHS|^~\\&|A\r\nBHS|^~\\&|A\r\nMSH|^~\\&|A|||||ADT^A01|1|P|2.5\r\nPID|1\r\nMSH|^~\\&|A|||||ADT^A01|2|P|2.5\nPID|2\nBTS|2\r\nFTS|1\r\n'
    expect(splitHl7File(text)).toEqual([
      'MSH|^~\\&|A|||||ADT^A01|1|P|2.5\rPID|1\r',
      'MSH|^~\\&|A|||||ADT^A01|2|P|2.5\rPID|2\r',
    ])
  })
})

describe('matchesFileSpec', () => {
  it('matches * and ? wildcards and ;-separated patterns', () => {
    expect(matchesFileSpec('adt_1.hl7', '*.hl7')).toBe(true)
    expect(matchesFileSpec('adt_1.txt', '*.hl7;*.txt')).toBe(true)
    expect(matchesFileSpec('adt_1.dat', '*.hl7;*.txt')).toBe(false)
    expect(matchesFileSpec('a1.hl7', 'a?.hl7')).toBe(true)
    expect(matchesFileSpec('a12.hl7', 'a?.hl7')).toBe(false)
  })
})

describe('parseBatchText / batchTrailer', () => {
  it('keeps the batch envelope apart from the messages and drops MLLP frame bytes', () => {
    const b = parseBatchText(
      '\x0bFHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|A|||||ADT^A01|1|P|2.5\rMSH|^~\\&|A|||||ADT^A01|2|P|2.5\rBTS|2\rFTS|1\r\x1c\r',
    )
    expect(b.isBatch).toBe(true)
    expect(b.header).toBe('FHS|^~\\&|A\rBHS|^~\\&|A\r')
    expect(b.messages).toHaveLength(2)
    expect(b.trailer).toBe('BTS|2\rFTS|1\r')
    expect(parseBatchText('MSH|^~\\&|A\rPID|1\r').isBatch).toBe(false)
  })

  it('writes trailers with the counts written, adding BTS/FTS when the file had none', () => {
    expect(batchTrailer('FHS|^~\\&\rBHS|^~\\&\r', 'BTS|9|note\rFTS|1\r', 3)).toBe(
      'BTS|3|note\rFTS|1\r',
    )
    expect(batchTrailer('FHS|^~\\&\rBHS|^~\\&\r', '', 2)).toBe('BTS|2\rFTS|1\r')
    expect(batchTrailer('BHS|^~\\&\r', '', 1)).toBe('BTS|1\r')
  })
})

describe('file operation Framing and Separators', () => {
  const item = {
    name: 'Out',
    className: 'X',
    poolSize: 1,
    enabled: true,
    attributes: {},
    settings: [],
  }
  it('maps IRIS Framing values and refuses the others', () => {
    expect(fileFraming(item, 'AsciiLF')).toEqual({ prefix: '', suffix: '\n' })
    expect(fileFraming(item, undefined)).toEqual({ prefix: '', suffix: '' })
    expect(fileFraming(item, 'MLLP')).toEqual({ prefix: '\x0b', suffix: '\x1c\r' })
    expect(() => fileFraming(item, 'Ascii11')).toThrow(/Framing="Ascii11" is not supported/)
  })
  it('reads the segment terminator after the five delimiters', () => {
    expect(segmentTerminator('|^~\\&')).toBe('\r')
    expect(segmentTerminator('|^~\\&\\r\\n')).toBe('\r\n')
  })
})
