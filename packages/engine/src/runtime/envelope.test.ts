import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import type { Envelope } from './envelope.js'
import { decodeEnvelope, encodeEnvelope } from './envelope.js'

const env: Envelope = {
  v: 1,
  walId: '42',
  sessionId: 's-1',
  rootStoreId: '7',
  storeId: '8',
  messageId: 'MSG1',
  source: 'In',
  raw: 'MSH|^~\\&|A|B|C|D|20261127||ADT^A01|MSG1|P|2.5\rPID|1||"quoted"\nNTE|1\r\n',
  fileName: 'a\nb.hl7',
  docCategory: '2.4',
}

describe('envelope', () => {
  it('round-trips with the body after a JSON header line, newlines in the body included', () => {
    const wire = encodeEnvelope(env)
    expect(wire.startsWith('{"v":2,')).toBe(true)
    expect(wire.slice(wire.indexOf('\n') + 1)).toBe(env.raw)
    expect(decodeEnvelope(wire)).toEqual(env)
  })

  it('still reads the older single-JSON form', () => {
    expect(decodeEnvelope(JSON.stringify(env))).toEqual(env)
  })

  it('refuses what is not an envelope', () => {
    for (const bad of ['MSH|^~\\&|', '{"v":2,"walId":1}\nMSH', '{"v":3}']) {
      let error: unknown
      try {
        decodeEnvelope(bad)
      } catch (e) {
        error = e
      }
      expect(isEngineError(error) && error.code === 'ENGINE_BAD_ENVELOPE').toBe(true)
    }
  })
})
