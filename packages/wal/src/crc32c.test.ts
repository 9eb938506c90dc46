import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { crc32c, crc32cImplementation, crc32cJs } from './crc32c.js'

/** Bit-by-bit reference CRC-32C, slow but obviously right. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  }
  return ~c >>> 0
}

describe('crc32c', () => {
  it('matches the published check values (RFC 3720 B.4 and the "123456789" check)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa)
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43)
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e)
    expect(crc32c(Buffer.alloc(0))).toBe(0)
  })

  it('agrees with a bitwise reference for every length 0..80 and any start offset', () => {
    const data = randomBytes(100)
    for (let start = 0; start < 9; start++) {
      for (let len = 0; start + len <= 80; len++) {
        expect(crc32c(data, start, start + len)).toBe(reference(data.subarray(start, start + len)))
      }
    }
  })

  it('can be computed incrementally', () => {
    const data = randomBytes(1000)
    expect(crc32c(data, 333, 1000, crc32c(data, 0, 333))).toBe(crc32c(data))
  })

  it('gives the same results from the native addon and the JavaScript tables', () => {
    // On linux-x64-gnu (CI, this machine) the addon must load; elsewhere the table is the fallback.
    if (process.platform === 'linux' && process.arch === 'x64' && process.env.LI_WAL_CRC !== 'js') {
      expect(crc32cImplementation).toBe('native')
    }
    const data = randomBytes(70_000)
    for (const [start, end] of [
      [0, 0],
      [0, 63],
      [0, 64],
      [3, 1081],
      [12, 1090],
      [1, 65_537],
      [0, 70_000],
    ] as const) {
      const seed = crc32cJs(data, 0, 4)
      expect(crc32c(data, start, end)).toBe(crc32cJs(data, start, end))
      expect(crc32c(data, start, end, seed)).toBe(crc32cJs(data, start, end, seed))
      expect(crc32cJs(data, start, end)).toBe(reference(data.subarray(start, end)))
    }
    for (let len = 60; len < 200; len++) {
      expect(crc32c(data, 5, 5 + len, 0x1234abcd)).toBe(crc32cJs(data, 5, 5 + len, 0x1234abcd))
    }
  })
})
