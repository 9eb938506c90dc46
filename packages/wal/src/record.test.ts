import { describe, expect, it } from 'vitest'
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js'
import {
  RECORD_HEADER_BYTES,
  appendMessageIdAt,
  appendRecordBytes,
  checkFrame,
  decodeAppendPayload,
  decodeRecord,
  decodeRecordHead,
  encodeAppend,
  encodeAppendInto,
  encodeDone,
  encodeFail,
  findNextFrame,
} from './record.js'

const hl7 =
  'MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|MSG0001|P|2.4\rPID|1||9434765919^^^NHS||SMITH^JOHN'

function decodeOne(buf: Buffer): ReturnType<typeof decodeRecord> {
  const len = checkFrame(buf, 0)
  expect(len).toBe(buf.length)
  return decodeRecord(buf, 0, len)
}

describe('record layout', () => {
  it('round-trips an append record with UTF-8 text and metadata', () => {
    const meta = JSON.stringify({ source: 'mllp', peer: '10.0.0.1:2575', note: 'Zoë' })
    const buf = encodeAppend(42, 1_767_268_800_000, 'PAS-In', 'MSG0001', meta, `${hl7}\r NTE|é€`)
    expect(buf.readUInt32LE(0)).toBe(0x3157494c)
    expect(buf.readUInt32LE(4)).toBe(buf.length - RECORD_HEADER_BYTES)
    expect(decodeOne(buf)).toEqual({
      type: 'append',
      id: 42,
      appendedAt: 1_767_268_800_000,
      hostName: 'PAS-In',
      messageId: 'MSG0001',
      metadata: { source: 'mllp', peer: '10.0.0.1:2575', note: 'Zoë' },
      payload: `${hl7}\r NTE|é€`,
    })
    expect(decodeOne(encodeAppend(1, 0, 'h', '', '', ''))).toMatchObject({
      metadata: undefined,
      payload: '',
    })
  })

  it('decodes an append record without its payload, and its payload alone', () => {
    const meta = JSON.stringify({ note: 'Zoë' })
    for (const payload of [`${hl7}\r NTE|é€`, hl7, '']) {
      const buf = Buffer.concat([
        Buffer.alloc(3),
        encodeAppend(42, 5, 'PAS-In', 'MSG-0001-LONG-ID', meta, payload),
      ])
      const len = checkFrame(buf, 3)
      expect(decodeRecordHead(buf, 3, len)).toEqual({
        type: 'append',
        id: 42,
        appendedAt: 5,
        hostName: 'PAS-In',
        messageId: 'MSG-0001-LONG-ID',
        metadata: { note: 'Zoë' },
      })
      expect(decodeAppendPayload(buf, 3, len, 42)).toBe(payload)
      // Another entry's id, or not an append record: not this entry's payload.
      expect(decodeAppendPayload(buf, 3, len, 43)).toBeUndefined()
      expect(appendMessageIdAt(buf, 3)).toBe('MSG-0001-LONG-ID')
    }
    const done = encodeDone('complete', 42)
    expect(decodeAppendPayload(done, 0, done.length, 42)).toBeUndefined()
    expect(decodeRecordHead(done, 0, done.length)).toEqual({ type: 'complete', id: 42 })
  })

  it('round-trips complete, expire and fail records, cutting long error text', () => {
    expect(decodeOne(encodeDone('complete', 7))).toEqual({ type: 'complete', id: 7 })
    expect(decodeOne(encodeDone('expire', 8))).toEqual({ type: 'expire', id: 8 })
    expect(decodeOne(encodeFail(9, 2, false, 'ECONNREFUSED'))).toEqual({
      type: 'fail',
      id: 9,
      attempts: 2,
      permanent: false,
      error: 'ECONNREFUSED',
    })
    const long = decodeOne(encodeFail(9, 3, true, 'x'.repeat(5000)))
    expect(long).toMatchObject({ permanent: true })
    expect(long?.type === 'fail' && long.error.length).toBe(1000)
  })

  it('rejects any single flipped bit, a short buffer and a wrong magic', () => {
    const buf = encodeAppend(1, 2, 'host', 'id', '', 'payload')
    for (let i = 0; i < buf.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = Buffer.from(buf)
        bad[i]! ^= bit
        const len = checkFrame(bad, 0)
        // A flip can only pass if it leaves the frame valid, which CRC-32C rules out for 1 bit.
        expect(len, `byte ${i} bit ${bit}`).toBe(-1)
      }
    }
    expect(checkFrame(buf.subarray(0, buf.length - 1), 0)).toBe(-1)
  })

  it('encodes an append into a shared buffer at any offset, byte for byte as on its own', () => {
    const meta = JSON.stringify({ note: 'Zoë' })
    const alone = encodeAppend(7, 123, 'PAS-In', 'MSG7', meta, `${hl7}\r NTE|é€`)
    expect(appendRecordBytes('PAS-In', 'MSG7', meta, `${hl7}\r NTE|é€`)).toBe(alone.length)
    const shared = Buffer.alloc(alone.length + 13, 0xee)
    const n = encodeAppendInto(shared, 5, 7, 123, 'PAS-In', 'MSG7', meta, `${hl7}\r NTE|é€`)
    expect(n).toBe(alone.length)
    expect(shared.subarray(5, 5 + n)).toEqual(alone)
    expect(shared[4]).toBe(0xee)
    expect(shared[5 + n]).toBe(0xee)
  })

  it('finds the next valid record after garbage, skipping a magic inside a payload', () => {
    const a = encodeAppend(1, 2, 'h', 'a', '', 'LIW1 looks like a magic')
    const b = encodeDone('complete', 1)
    const garbage = Buffer.from('LIW1\x05\x00\x00\x00garbage')
    const buf = Buffer.concat([garbage, a, b])
    expect(findNextFrame(buf, 0)).toBe(garbage.length)
    expect(findNextFrame(buf, garbage.length + 1)).toBe(garbage.length + a.length)
    expect(findNextFrame(buf, buf.length - 3)).toBe(-1)
  })
})

describe('checkpoint layout', () => {
  it('round-trips and rejects a corrupt or torn checkpoint', () => {
    const entries = [
      { id: 1, segment: 3, offset: 0, length: 1100, attempts: 0 },
      { id: 5, segment: 4, offset: 2_000_000, length: 90, attempts: 2 },
    ]
    const buf = encodeCheckpoint(6, 5, entries.length, entries)
    const c = decodeCheckpoint(buf)
    expect(c).toMatchObject({ nextId: 6, replayFrom: 5, count: 2 })
    const back = Array.from({ length: c!.count }, (_, i) => ({
      id: c!.ids[i],
      segment: c!.segments[i],
      offset: c!.offsets[i],
      length: c!.lengths[i],
      attempts: c!.attempts[i],
    }))
    expect(back).toEqual(entries)
    const bad = Buffer.from(buf)
    bad[30]! ^= 1
    expect(decodeCheckpoint(bad)).toBeUndefined()
    expect(decodeCheckpoint(buf.subarray(0, buf.length - 1))).toBeUndefined()
    expect(() => encodeCheckpoint(6, 5, 3, entries)).toThrow(RangeError)
  })
})
