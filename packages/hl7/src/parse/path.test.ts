import { describe, expect, it } from 'vitest'
import { isHl7ParseError } from '../errors.js'
import { MAX_PATH_INDEX, parsePath } from './path.js'

describe('parsePath', () => {
  it('parses the HL7 path notation, 1-based', () => {
    expect(parsePath('PID-5.1')).toEqual({
      segment: 'PID',
      segmentIndex: undefined,
      field: 5,
      repetition: undefined,
      component: 1,
      subcomponent: undefined,
    })
    expect(parsePath('PID-3[2].1')).toMatchObject({ field: 3, repetition: 2, component: 1 })
    expect(parsePath('OBX[3]-5')).toMatchObject({ segment: 'OBX', segmentIndex: 3, field: 5 })
    expect(parsePath('PID-3.4.2')).toMatchObject({ component: 4, subcomponent: 2 })
    expect(parsePath('ZP1-1')).toMatchObject({ segment: 'ZP1', field: 1 })
    expect(parsePath('3[2].4.2')).toMatchObject({ segment: undefined, field: 3, repetition: 2 })
  })

  it('returns the same frozen object for the same path (cached)', () => {
    expect(parsePath('PV1-3.1')).toBe(parsePath('PV1-3.1'))
    expect(Object.isFrozen(parsePath('PV1-3.1'))).toBe(true)
  })

  it.each([
    '',
    'PID',
    'PID-',
    'PID-0',
    'PID-3[0]',
    'PID-3.0',
    'pid-3',
    'PIDX-3',
    'P-3',
    'PID-3.1.1.1',
    'PID-3[1',
    'PID 3',
    'PID-3.a',
    `PID-${MAX_PATH_INDEX + 1}`,
    'PID-1234567',
  ])('rejects %j with HL7_BAD_PATH', (path) => {
    let error: unknown
    try {
      parsePath(path)
    } catch (e) {
      error = e
    }
    expect(isHl7ParseError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'HL7_BAD_PATH' })
  })
})
