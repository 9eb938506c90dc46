import { describe, expect, it } from 'vitest'
import { peekHeader } from './hl7-peek.js'

describe('peekHeader', () => {
  it('reads MSH-9, MSH-10, MSH-12, MSH-15 and MSH-16 without a full parse', () => {
    const h = peekHeader('MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|X1|P|2.5.1|||AL|NE\rPID|1\r')
    expect(h).toEqual({
      controlId: 'X1',
      messageType: 'ADT^A01',
      version: '2.5.1',
      acceptAckType: 'AL',
      appAckType: 'NE',
      hasMsh: true,
    })
  })

  it('honours another field separator and reports a missing MSH', () => {
    expect(peekHeader('MSH#^~\\&#A#B#C#D#1##ORU^R01#Z9#P#2.4').controlId).toBe('Z9')
    expect(peekHeader('PID|1|').hasMsh).toBe(false)
  })
})
