import { describe, expect, it } from 'vitest'
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
