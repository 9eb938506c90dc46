import { describe, expect, it } from 'vitest'
import { counterValue, formatFilename } from './filename-pattern.js'

const now = new Date(Date.UTC(2026, 10, 27, 13, 45, 1, 23))

describe('formatFilename', () => {
  it('expands the IRIS default %f_%Q%!+(_a): counter only when the name exists', () => {
    const n = formatFilename('%f_%Q%!+(_a)', { originalName: 'adt.hl7', now, utc: true })
    expect(n.hasCounter).toBe(true)
    expect(n.onlyIfExists).toBe(true)
    expect(n.name(0)).toBe('adt.hl7_2026-11-27_13.45.01.023')
    expect(n.name(1)).toBe('adt.hl7_2026-11-27_13.45.01.023_a')
    expect(n.name(2)).toBe('adt.hl7_2026-11-27_13.45.01.023_b')
  })

  it('strips characters IRIS strips from %f, and %F drops the extension', () => {
    const n = formatFilename('%F-%f', { originalName: 'a:b|c?.hl7', now })
    expect(n.name(0)).toBe('abc-abc.hl7')
    expect(n.hasCounter).toBe(false)
  })

  it('formats date parts, %% and leaves unknown codes alone', () => {
    const n = formatFilename('%Y%m%d_%H%M%S_%L_%j_%#d_%%_%Z.txt', { now, utc: true })
    expect(n.name(0)).toBe('20261127_134501_023_331_27_%_%Z.txt')
  })

  it('%+(x) always numbers the file', () => {
    const n = formatFilename('out%+(_001).hl7', { now })
    expect(n.onlyIfExists).toBe(false)
    expect(n.name(1)).toBe('out_001.hl7')
    expect(n.name(12)).toBe('out_012.hl7')
  })
})

describe('counterValue', () => {
  it('counts letters in bijective base 26 and numbers with padding', () => {
    expect(counterValue('_a', 26)).toBe('_z')
    expect(counterValue('_a', 27)).toBe('_aa')
    expect(counterValue('-A', 2)).toBe('-B')
    expect(counterValue('(1)', 3)).toBe('(3)')
  })
})
