import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import type { ProductionItem } from '../production/types.js'
import {
  ItemSettings,
  checkMllpFraming,
  isMllpFraming,
  knownEncoding,
  nodeEncoding,
  parseAckMode,
  parseBatchHandling,
} from './settings.js'

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
    // IRIS's default for HL7 hosts is Latin1; `Default` is the server's (UTF-8 on Linux).
    expect(nodeEncoding(undefined)).toBe('latin1')
    expect(nodeEncoding('Default')).toBe('utf8')
    expect(nodeEncoding('Unicode')).toBe('utf16le')
    expect(knownEncoding('EBCDIC')).toBeUndefined()
  })

  it('reads BatchHandling as IRIS stores it (default 1Session) and the display names', () => {
    const it0 = item([])
    expect(parseBatchHandling(it0, undefined)).toBe('1Session')
    expect(['Whole', '1Session', 'Batch', 'Indiv'].map((v) => parseBatchHandling(it0, v))).toEqual([
      'Whole',
      '1Session',
      'Batch',
      'Indiv',
    ])
    expect(parseBatchHandling(it0, 'Multi-Session Batch')).toBe('Batch')
    expect(parseBatchHandling(it0, 'Individual')).toBe('Indiv')
    expect(() => parseBatchHandling(it0, '3')).toThrow(/BatchHandling="3"/)
  })

  it('serves MLLP and Flexible framing and refuses the others', () => {
    const it0 = item([])
    for (const f of [undefined, 'MLLP', 'MLLP02', 'Flexible']) expect(isMllpFraming(f)).toBe(true)
    expect(() => checkMllpFraming(it0, 'AsciiLF')).toThrow(/Framing="AsciiLF" is not supported/)
  })
})
