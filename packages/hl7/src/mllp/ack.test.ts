import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { buildAckFrameFromBytes, buildMllpAck } from './ack.js'
import { encodeFrame } from './frame.js'
import { isHeaderProblem, readHeader, scanMsh, scannedHeaderIsUsable } from './header.js'

// MSH-7 (timestamp) and MSH-10 (a new control id) differ between two ACKs built one after the
// other; everything else must be the same bytes.
function masked(frame: Buffer): string[] {
  const text = frame.toString('latin1')
  const fs = text.charAt(4)
  const lines = text.split('\r')
  const msh = (lines[0] ?? '').split(fs)
  msh[6] = 'TS'
  msh[9] = 'ID'
  lines[0] = msh.join(fs)
  return lines
}

function viaHeader(message: Buffer, code: 'AA' | 'CA'): Buffer | undefined {
  const header = readHeader(message)
  return isHeaderProblem(header) ? undefined : encodeFrame(buildMllpAck(header, code), 'latin1')
}

describe('buildAckFrameFromBytes', () => {
  const adt =
    'MSH|^~\\&|PAS|RX1^1.2.3^ISO|EPR|RX1|20261127120000||ADT^A01^ADT_A01|CTRL01|P|2.5.1^GBR|||AL|NE||8859/1\rPID|1\r'

  it('builds the same ACK as buildMllpAck from the header, framed', () => {
    const message = Buffer.from(adt, 'latin1')
    const fast = buildAckFrameFromBytes(message, 'CA')
    expect(fast).toBeDefined()
    expect(masked(fast ?? Buffer.alloc(0))).toEqual(
      masked(viaHeader(message, 'CA') ?? Buffer.alloc(0)),
    )
    const text = fast?.toString('latin1') ?? ''
    expect([text.charCodeAt(0), text.slice(-2)]).toEqual([0x0b, '\x1c\r'])
    expect(text.slice(1, -2)).toMatch(
      /^MSH\|\^~\\&\|EPR\|RX1\|PAS\|RX1\^1\.2\.3\^ISO\|\d{14}\+0000\|\|ACK\^A01\^ACK\|LI\w+\|P\|2\.5\.1\|\|\|\|\|\|8859\/1\rMSA\|CA\|CTRL01\r$/,
    )
  })

  it('agrees with the header path on random MSH lines, and declines what readHeader refuses', () => {
    const value = fc.stringMatching(/^[A-Za-z0-9 .^&~\xc3\xa9-]{0,10}$/)
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 0, maxLength: 20 }),
        fc.constantFrom('|', '#', '!'),
        fc.constantFrom('^~\\&', '*~\\&#', '^', ''),
        fc.constantFrom('', '\r\n', ' '),
        fc.constantFrom<'AA' | 'CA'>('AA', 'CA'),
        (values, fs, encoding, lead, code) => {
          const line = ['MSH', encoding, ...values].join(fs)
          const message = Buffer.from(lead + line + '\rPID|1\r', 'latin1')
          const fast = buildAckFrameFromBytes(message, code)
          const slow = viaHeader(message, code)
          expect(fast === undefined).toBe(slow === undefined)
          if (fast !== undefined && slow !== undefined) expect(masked(fast)).toEqual(masked(slow))
          expect(scanMsh(message) && scannedHeaderIsUsable()).toBe(slow !== undefined)
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('leaves batches and other unusual starts to the general path', () => {
    expect(buildAckFrameFromBytes(Buffer.from('FHS|^~\\&\r' + adt), 'AA')).toBeUndefined()
    expect(buildAckFrameFromBytes(Buffer.from('PID|1\r'), 'AA')).toBeUndefined()
    expect(buildAckFrameFromBytes(Buffer.alloc(0), 'AA')).toBeUndefined()
  })

  it('gives every ACK a new control id, shared with buildMllpAck', () => {
    const message = Buffer.from(adt, 'latin1')
    const ids = new Set<string>()
    for (let i = 0; i < 500; i++) {
      const fast = buildAckFrameFromBytes(message, 'AA')?.toString('latin1') ?? ''
      ids.add(fast.split('|')[9] ?? '')
      const header = readHeader(message)
      if (!isHeaderProblem(header)) ids.add(buildMllpAck(header, 'AA').split('|')[9] ?? '')
    }
    expect(ids.size).toBe(1000)
  })
})
