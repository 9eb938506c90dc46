/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record.
 *
 * Two implementations that give the same results (tested against each other and a bitwise
 * reference):
 * - Native: `crc32c` of the `@node-rs/crc32` npm package, a prebuilt Rust addon (SSE4.2/ARMv8
 *   CRC instructions where the CPU has them) for the common platforms, loaded when it can be.
 *   Measured here (Node 20, x64): ~6 GB/s on large buffers, but each call costs ~0.12 µs of
 *   N-API overhead plus ~0.1 µs for the `subarray` view, so a 1 KiB record's body takes
 *   ~0.3 µs instead of ~0.8 µs with the table below. Used for ranges of NATIVE_MIN_BYTES or more.
 * - JavaScript, table-driven "slicing-by-16": sixteen 256-entry tables let the inner loop consume
 *   16 bytes per iteration. Measured here over 1 KiB records: the one-table loop ~0.3 GB/s,
 *   slicing-by-8 ~1.0 GB/s, slicing-by-16 ~1.4 GB/s (0.7–0.8 µs per record). Used for short
 *   ranges (the 4-byte length, complete/expire records) and whenever the addon cannot load
 *   (another platform, a musl build without its package, `LI_WAL_CRC=js`).
 * Node has no built-in CRC-32C (zlib's `crc32` is the other polynomial, and Node >= 22 only).
 *
 * Does not: pick an implementation per call by measuring; the choice is made once, at load.
 */

import { createRequire } from 'node:module'

/** The sixteen lookup tables, 256 entries each, laid out one after the other (16 KiB). */
const TABLES: Int32Array = buildTables()

function buildTables(): Int32Array {
  const t = new Int32Array(16 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[n] = c
  }
  // Table k maps a byte that is k positions further from the end of the 16-byte block.
  for (let n = 0; n < 256; n++) {
    let c = t[n]!
    for (let k = 1; k < 16; k++) {
      c = t[c & 0xff]! ^ (c >>> 8)
      t[k * 256 + n] = c
    }
  }
  return t
}

/** The native function's shape: CRC-32C of all of `input`, continuing from `initial`. */
type NativeCrc32c = (input: Uint8Array, initial?: number) => number

/**
 * Ranges shorter than this go to the table: below ~64 bytes the N-API call and the view cost more
 * than the table loop (measured: 4 bytes ~0.02 µs in JS, ~0.2 µs native).
 */
const NATIVE_MIN_BYTES = 64

/** Loads `@node-rs/crc32` if it is installed with a binary for this platform and CPU. */
function loadNative(): NativeCrc32c | undefined {
  if (process.env.LI_WAL_CRC === 'js') return undefined
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown }
    const fn = mod.crc32c
    if (typeof fn !== 'function') return undefined
    const native = fn as NativeCrc32c
    // Never trust a binary blindly: it must give the published check value, and continue a CRC.
    const check = Buffer.from('123456789')
    if (
      native(check) !== 0xe3069283 ||
      native(check.subarray(4), native(check.subarray(0, 4))) !== 0xe3069283
    ) {
      return undefined
    }
    return native
  } catch {
    // No package, no binary for this platform (or libc), or it failed to load: use the table.
    return undefined
  }
}

const native: NativeCrc32c | undefined = loadNative()

/** Which implementation `crc32c` uses for long ranges: `'native'` (the addon) or `'js'`. */
export const crc32cImplementation: 'native' | 'js' = native === undefined ? 'js' : 'native'

/**
 * CRC-32C of `bytes[start, end)` with the JavaScript tables only, continuing from `crc` (the
 * result of a previous call, or 0). Returns an unsigned 32-bit integer. `crc32c` gives the same
 * result; this one exists so that tests and the benchmark can compare the two.
 * @example crc32cJs(Buffer.from('123456789')) === 0xe3069283
 */
export function crc32cJs(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  crc = 0,
): number {
  const t = TABLES
  let c = ~crc
  let i = start
  // Sixteen bytes per iteration: XOR the first four into the running CRC, look up all sixteen.
  const fastEnd = end - ((end - i) & 15)
  while (i < fastEnd) {
    const a = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^ c
    c =
      t[3840 + (a & 0xff)]! ^
      t[3584 + ((a >>> 8) & 0xff)]! ^
      t[3328 + ((a >>> 16) & 0xff)]! ^
      t[3072 + (a >>> 24)]! ^
      t[2816 + bytes[i + 4]!]! ^
      t[2560 + bytes[i + 5]!]! ^
      t[2304 + bytes[i + 6]!]! ^
      t[2048 + bytes[i + 7]!]! ^
      t[1792 + bytes[i + 8]!]! ^
      t[1536 + bytes[i + 9]!]! ^
      t[1280 + bytes[i + 10]!]! ^
      t[1024 + bytes[i + 11]!]! ^
      t[768 + bytes[i + 12]!]! ^
      t[512 + bytes[i + 13]!]! ^
      t[256 + bytes[i + 14]!]! ^
      t[bytes[i + 15]!]!
    i += 16
  }
  // The remaining 0-15 bytes, one at a time.
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}

/**
 * CRC-32C of `bytes[start, end)`, continuing from `crc` (the result of a previous call, or 0).
 * Returns an unsigned 32-bit integer. Uses the native addon for ranges of 64 bytes or more when
 * it loaded (`crc32cImplementation`), the JavaScript tables otherwise; both give the same result.
 * @example crc32c(Buffer.from('123456789')) === 0xe3069283
 */
export function crc32c(bytes: Uint8Array, start = 0, end: number = bytes.length, crc = 0): number {
  if (native !== undefined && end - start >= NATIVE_MIN_BYTES) {
    // A plain Uint8Array view: cheaper to make than `Buffer#subarray` (no Buffer prototype).
    const view =
      start === 0 && end === bytes.length
        ? bytes
        : new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start)
    return native(view, crc)
  }
  return crc32cJs(bytes, start, end, crc)
}
