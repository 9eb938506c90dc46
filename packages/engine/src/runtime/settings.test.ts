import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import type { ProductionItem } from '../production/types.js'
import { ItemSettings, nodeEncoding, parseAckMode } from './settings.js'

function item(settings: ProductionItem['settings']): ProductionItem {
  return { name: 'Op', className: 'X', poolSize: 1, enabled: true, attributes: {}, settings }
}

describe('ItemSettings', () => {
  it('prefers the Host setting, trims, and splits lists', () => {
    const s = new ItemSettings(
      item([
        { target: 'Adapter', name: 'X', value: 'adapter' },
        { target: 'Host', name: 'X', value: ' host ' },
        { target: 'Host', name: 'TargetConfigNames', value: 'A, B,,C' },
      ]),
    )
    expect(s.string('X')).toBe('host')
    expect(s.list('TargetConfigNames')).toEqual(['A', 'B', 'C'])
    expect(s.number('Missing', 5)).toBe(5)
  })

  it('fails a bad number or boolean with an error that names the item and setting', () => {
    const s = new ItemSettings(
      item([
        { target: 'Host', name: 'RetryInterval', value: 'soon' },
        { target: 'Host', name: 'AlertOnError', value: 'maybe' },
      ]),
    )
    expect(() => s.number('RetryInterval', 5)).toThrow(
      /item "Op": setting RetryInterval="soon" is not a number/,
    )
    try {
      s.boolean('AlertOnError', false)
    } catch (e) {
      expect(isEngineError(e) && e.code).toBe('ENGINE_INVALID_SETTING')
    }
  })
})

describe('parseAckMode / nodeEncoding', () => {
  it('accepts the values IRIS stores and rejects others', () => {
    const it0 = item([])
    expect(parseAckMode(it0, undefined)).toBe('Immed')
    expect(['Never', 'Immed', 'App', 'Msh', 'Byte'].map((v) => parseAckMode(it0, v))).toEqual([
      'Never',
      'Immed',
      'App',
      'Msh',
      'Byte',
    ])
    expect(() => parseAckMode(it0, 'Sometimes')).toThrow(/AckMode="Sometimes"/)
  })

  it('maps IRIS charset names to Node encodings', () => {
    expect(nodeEncoding('Latin1')).toBe('latin1')
    expect(nodeEncoding('!latin1')).toBe('latin1')
    expect(nodeEncoding('UTF-8')).toBe('utf8')
    expect(nodeEncoding(undefined)).toBe('utf8')
  })
})
