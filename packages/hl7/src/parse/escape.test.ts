import { describe, expect, it } from 'vitest'
import { readEncoding } from './encoding.js'
import { escape, unescape } from './escape.js'

describe('unescape', () => {
  it('decodes the delimiter escapes', () => {
    expect(unescape('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f')).toBe('a|b^c&d~e\\f')
  })

  it('decodes hexadecimal data as UTF-8, else Latin-1', () => {
    expect(unescape('\\X48656C6C6F\\')).toBe('Hello')
    expect(unescape('caf\\XC3A9\\')).toBe('café')
    expect(unescape('caf\\XE9\\')).toBe('café')
    expect(unescape('a\\X0D0A\\b')).toBe('a\r\nb')
  })

  it('keeps formatting commands, charset switches, bad hex and unknown sequences as written', () => {
    for (const text of [
      'a\\.br\\b',
      '\\H\\bold\\N\\',
      '\\.sp2\\',
      '\\.in+4\\',
      '\\C2842\\',
      '\\ZLOCAL\\',
      '\\X4\\',
      '\\XZZ\\',
      '\\\\',
    ])
      expect(unescape(text)).toBe(text)
  })

  it('keeps an unterminated escape literally', () => {
    expect(unescape('50\\ off')).toBe('50\\ off')
    expect(unescape('a\\T\\b\\')).toBe('a&b\\')
  })

  it('uses the message delimiters, including the truncation character', () => {
    const enc = readEncoding('*', ':+/%#')
    expect(unescape('/F/ /S/ /R/ /E/ /T/ /P/ /.br/', enc)).toBe('* : + / % # /.br/')
    expect(unescape('\\P\\')).toBe('\\P\\')
  })
})

describe('escape', () => {
  it('escapes every delimiter, CR/LF and the MLLP framing bytes', () => {
    expect(escape('a|b^c&d~e\\f')).toBe('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f')
    expect(escape('line1\r\nline2')).toBe('line1\\X0D\\\\X0A\\line2')
    // VT and FS would end an MLLP frame early.
    expect(escape('a\x0bb\x1cc')).toBe('a\\X0B\\b\\X1C\\c')
    expect(unescape(escape('a\x0bb\x1cc'))).toBe('a\x0bb\x1cc')
    expect(escape('plain')).toBe('plain')
  })

  it('escapes the truncation character only when one is declared', () => {
    expect(escape('#1')).toBe('#1')
    expect(escape('#1', readEncoding('|', '^~\\&#'))).toBe('\\P\\1')
  })

  it('is undone by unescape', () => {
    const enc = readEncoding('|', '^~\\&#')
    const value = 'x|y^z&w~v\\u#t\r\n\\.br\\'
    expect(unescape(escape(value, enc), enc)).toBe(value)
  })
})
