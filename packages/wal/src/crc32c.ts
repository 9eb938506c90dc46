/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record.
 *
 * Table-driven, "slicing-by-8": eight 256-entry tables let the inner loop consume 8 bytes per
 * iteration; measured on Node 20 here it checks 0.75–1.2 GB/s, several times the classic
 * one-table loop. That matters because recovery of 1,000,000 pending 1 KiB entries checks about
 * 1 GiB. Node has no built-in CRC-32C (zlib's `crc32` is the other polynomial, Node >= 22).
 *
 * Does not: use hardware CRC instructions (no native code in this package).
 */

/** The eight lookup tables, 256 entries each, laid out one after the other. */
const TABLES: Int32Array = buildTables()

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[n] = c
  }
  // Table k maps a byte that is k positions further from the end of the 8-byte block.
  for (let n = 0; n < 256; n++) {
    let c = t[n]!
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8)
      t[k * 256 + n] = c
    }
  }
  return t
}

/**
 * CRC-32C of `bytes[start, end)`, continuing from `crc` (the result of a previous call, or 0).
 * Returns an unsigned 32-bit integer.
 * @example crc32c(Buffer.from('123456789')) === 0xe3069283
 */
export function crc32c(bytes: Uint8Array, start = 0, end: number = bytes.length, crc = 0): number {
  const t = TABLES
  let c = ~crc
  let i = start
  // Eight bytes per iteration: XOR the first four into the running CRC, look up all eight.
  const fastEnd = end - ((end - i) & 7)
  while (i < fastEnd) {
    const a = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^ c
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!
    i += 8
  }
  // The remaining 0-7 bytes, one at a time.
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
