import { describe, expect, it } from 'vitest'
import {
  convertDateTime,
  evaluate,
  extract,
  functionRegistry,
  likeToRegExp,
  parseExpression,
  patternToRegExp,
  piece,
  translate,
  zstrip,
  type EvalEnv,
} from './expression.js'
import { irisPathToHl7, parseVirtualPath } from './virtual-path.js'

const env: EvalEnv = {
  vpath: () => '',
  ref: (base) => (base === 'x' ? '5' : ''),
  lookupTables: new Map([['T', new Map([['k', 'v']])]]),
  now: new Date(2026, 0, 2, 3, 4, 5),
  functions: functionRegistry(),
}
const ev = (src: string): string | number =>
  evaluate(parseExpression(src, { functions: env.functions }), env)

describe('expressions', () => {
  it('follow ObjectScript values: = compares strings, < compares numbers, truth is non-zero', () => {
    expect(ev('"01"=1')).toBe(0)
    expect(ev('"10"<9')).toBe(0)
    expect(ev('"abc"&&1')).toBe(0)
    expect(ev('"2abc"+1')).toBe(3)
    expect(ev('7\\2')).toBe(3)
    expect(ev('-7#3')).toBe(2)
    expect(ev('"a"_1+1')).toBe('a2')
    expect(ev('x*2')).toBe(10)
    expect(ev(`"say ""hi"""`)).toBe('say "hi"')
    expect(ev(`'(1=2)`)).toBe(1)
    expect(ev('"b"]"a"')).toBe(1)
  })

  it('word operators and functions', () => {
    expect(ev('"ADT" In "ADT,ORU"')).toBe(1)
    expect(ev('"ADT" NotIn "ADT,ORU"')).toBe(0)
    expect(ev('"HELLO" Contains "ELL" AND "HELLO" StartsWith "HE"')).toBe(1)
    expect(ev('Lookup("T","k")_Lookup("T","z","d")_Lookup("T","","e",1)')).toBe('vde')
    expect(ev('Exists("T","k")+Exists("T","z")')).toBe(1)
    expect(ev('..If(1,"a","b")_If(0,"a","b")')).toBe('ab')
    expect(ev('$P("a^b^c","^",2,3)_$E("hello",2,3)_$L("a,b",",")')).toBe('b^cel2')
    expect(ev('$ZCVT("abc","U")')).toBe('ABC')
    expect(ev('CurrentDateTime("%Y-%m-%dT%H:%M:%S")')).toBe('2026-01-02T03:04:05')
    expect(ev('Round(2.456,2)')).toBe(2.46)
  })

  it('reject unknown functions as unsupported', () => {
    expect(() => parseExpression('Foo(1)', { functions: env.functions })).toThrow(
      expect.objectContaining({ unsupported: true }),
    )
  })

  it('ObjectScript string functions', () => {
    expect(piece('a,b,c', ',', 2)).toBe('b')
    expect(piece('a,b,c', ',', 5)).toBe('')
    expect(extract('hello', 2)).toBe('e')
    expect(translate('a-b-c', '-', '')).toBe('abc')
    expect(translate('abc', 'ab', 'AB')).toBe('ABc')
    expect(zstrip('  a  b  ', '<>W')).toBe('a  b')
    expect(zstrip('  a  b  ', '*W')).toBe('ab')
    expect(zstrip('a1b2', '*N')).toBe('ab')
    expect(zstrip('a..b', '=P')).toBe('a.b')
  })

  it('IRIS pattern match (Matches)', () => {
    expect(patternToRegExp('3N1"-"4N').test('123-4567')).toBe(true)
    expect(patternToRegExp('3N1"-"4N').test('123-456')).toBe(false)
    expect(patternToRegExp('1.3A').test('abc')).toBe(true)
    expect(patternToRegExp('1.3A').test('abcd')).toBe(false)
    expect(patternToRegExp('.N').test('')).toBe(true)
    expect(patternToRegExp('1U.L').test('Smith')).toBe(true)
    expect(patternToRegExp('1(1"A",1"B")2N').test('B12')).toBe(true)
    expect(patternToRegExp('1E').test('#')).toBe(true)
  })

  it('Like', () => {
    expect(likeToRegExp('SM%').test('SMITH')).toBe(true)
    expect(likeToRegExp('S_ITH').test('SMITH')).toBe(true)
    expect(likeToRegExp('S.ITH').test('SMITH')).toBe(false)
  })

  it('ConvertDateTime', () => {
    expect(convertDateTime('20260315093000', '%Y%m%d%H%M%S', '%Q')).toBe('2026-03-15 09:30:00')
    expect(convertDateTime('2026-03-15 09:30:00')).toBe('2026-03-15 09:30:00')
    expect(convertDateTime('15 Mar 2026', '%d %b %Y', '%Y%m%d')).toBe('20260315')
    expect(convertDateTime('20260315', '%Y%m%d%H%M%S', '%d/%m/%Y %I:%M %p')).toBe(
      '15/03/2026 12:00 AM',
    )
    expect(convertDateTime('not a date', '%Y%m%d', '%d/%m/%Y')).toBe('not a date')
  })
})

describe('virtual paths', () => {
  it('map numeric IRIS paths to @li/hl7 paths', () => {
    expect(irisPathToHl7('PID:3(1).1')).toBe('PID-3[1].1')
    expect(irisPathToHl7('MSH:9.1')).toBe('MSH-9.1')
    expect(irisPathToHl7('NK1(2):2.1.1')).toBe('NK1[2]-2.1.1')
    expect(irisPathToHl7('PID')).toBe('PID')
    expect(irisPathToHl7('PID:PatientName.FamilyName')).toBeUndefined()
    expect(irisPathToHl7('PIDgrp.PID:3')).toBeUndefined()
  })

  it('parse groups, symbolic names, variables, all and count', () => {
    expect(parseVirtualPath('PIDgrpgrp(1).ORCgrp(k1).OBX:ObservationValue(*)')).toEqual({
      raw: 'PIDgrpgrp(1).ORCgrp(k1).OBX:ObservationValue(*)',
      steps: [{ name: 'PIDgrpgrp', index: 1 }, { name: 'ORCgrp', index: 'k1' }, { name: 'OBX' }],
      fields: [{ key: 'ObservationValue', index: '*' }],
    })
    expect(parseVirtualPath('OBX()').steps).toEqual([{ name: 'OBX', index: '' }])
    expect(() => parseVirtualPath('PID:3(1+1)')).toThrow(/index "\(1\+1\)"/)
  })
})
