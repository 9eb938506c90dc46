import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMllpError } from './errors.js'
import { DEFAULT_MAX_MESSAGE_BYTES, MllpDecoder, encodeFrame } from './frame.js'
import type { MllpOversizeFrame } from './frame.js'

const VT = 0x0b
const FS = 0x1c
const CR = 0x0d

function collect(options: { maxMessageBytes?: number } = {}): {
  decoder: MllpDecoder
  frames: string[]
  oversize: MllpOversizeFrame[]
} {
  const frames: string[] = []
  const oversize: MllpOversizeFrame[] = []
  const decoder = new MllpDecoder({
    ...options,
    onFrame: (frame) => frames.push(frame.toString('latin1')),
    onOversize: (o) => oversize.push(o),
  })
  return { decoder, frames, oversize }
}

const bytes = (...parts: Array<string | number>): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'latin1'))),
  )

describe('encodeFrame', () => {
  it('wraps a string in VT ... FS CR', () => {
    expect([...encodeFrame('MSH|x\r')]).toEqual([VT, ...Buffer.from('MSH|x\r'), FS, CR])
  })

  it('encodes strings as UTF-8 by default and as Latin-1 on request', () => {
    expect(encodeFrame('é').subarray(1, -2)).toEqual(Buffer.from([0xc3, 0xa9]))
    expect(encodeFrame('é', 'latin1').subarray(1, -2)).toEqual(Buffer.from([0xe9]))
  })

  it('copies bytes unchanged, including a plain Uint8Array', () => {
    const payload = new Uint8Array([1, 2, 3, 0xff])
    expect([...encodeFrame(payload)]).toEqual([VT, 1, 2, 3, 0xff, FS, CR])
  })
})

describe('MllpDecoder', () => {
  it('decodes a frame split one byte at a time', () => {
    const { decoder, frames } = collect()
    const wire = Buffer.concat([encodeFrame('MSH|^~\\&|A\r'), encodeFrame('MSH|^~\\&|B\r')])
    for (const byte of wire) decoder.push(Buffer.from([byte]))
    expect(frames).toEqual(['MSH|^~\\&|A\r', 'MSH|^~\\&|B\r'])
    expect(decoder.discardedBytes).toBe(0)
    expect(decoder.idle).toBe(true)
  })

  it('decodes many frames in one chunk', () => {
    const { decoder, frames } = collect()
    const messages = Array.from({ length: 100 }, (_, i) => `MSH|^~\\&|${i}\r`)
    decoder.push(Buffer.concat(messages.map((m) => encodeFrame(m))))
    expect(frames).toEqual(messages)
    expect(decoder.frameCount).toBe(100)
  })

  it('discards and counts bytes outside frames', () => {
    const { decoder, frames } = collect()
    decoder.push(bytes('junk', VT, 'A', FS, CR, '\n\n', 'xx', VT, 'B', FS, CR, 'tail'))
    expect(frames).toEqual(['A', 'B'])
    // 'junk' (4) + '\n\nxx' (4) + 'tail' (4)
    expect(decoder.discardedBytes).toBe(12)
  })

  it('accepts a frame whose FS is not followed by CR', () => {
    const { decoder, frames } = collect()
    decoder.push(bytes(VT, 'A', FS, VT, 'B', FS, CR))
    expect(frames).toEqual(['A', 'B'])
    expect(decoder.discardedBytes).toBe(0)
  })

  it('restarts at a VT inside a frame, dropping the abandoned start', () => {
    const { decoder, frames } = collect()
    decoder.push(bytes(VT, 'half'))
    decoder.push(bytes('more', VT, 'whole', FS, CR))
    expect(frames).toEqual(['whole'])
    expect(decoder.discardedBytes).toBe(8)
  })

  it('passes empty frames on (the server answers them with a NAK)', () => {
    const { decoder, frames } = collect()
    decoder.push(bytes(VT, FS, CR))
    expect(frames).toEqual([''])
  })

  it('reports an oversize frame with its head, skips it and resumes with the next frame', () => {
    const { decoder, frames, oversize } = collect({ maxMessageBytes: 10 })
    decoder.push(bytes(VT, 'MSH|123456'))
    decoder.push(bytes('789', 'x'.repeat(100)))
    decoder.push(bytes('y'.repeat(50), FS, CR, VT, 'ok', FS, CR))
    expect(frames).toEqual(['ok'])
    expect(oversize).toHaveLength(1)
    const [first] = oversize
    expect(first?.head.toString('latin1').startsWith('MSH|123456')).toBe(true)
    expect(first?.maxMessageBytes).toBe(10)
    expect(isMllpError(first?.error)).toBe(true)
    expect(first?.error.code).toBe('MLLP_FRAME_TOO_LARGE')
    expect(decoder.oversizeCount).toBe(1)
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('reports a frame that is over the limit inside one chunk', () => {
    const { decoder, frames, oversize } = collect({ maxMessageBytes: 3 })
    decoder.push(bytes(VT, 'abcd', FS, CR, VT, 'abc', FS, CR))
    expect(frames).toEqual(['abc'])
    expect(oversize).toHaveLength(1)
  })

  it('joins a frame from many chunks without holding more than the limit', () => {
    const { decoder, frames } = collect({ maxMessageBytes: 1000 })
    decoder.push(bytes(VT))
    for (let i = 0; i < 100; i++) decoder.push(Buffer.from('0123456789'))
    expect(decoder.bufferedBytes).toBe(1000)
    decoder.push(bytes(FS, CR))
    expect(frames).toEqual(['0123456789'.repeat(100)])
  })

  it('accepts Uint8Array chunks that are not Buffers', () => {
    const { decoder, frames } = collect()
    decoder.push(new Uint8Array([VT, 0x41, FS, CR]))
    expect(frames).toEqual(['A'])
  })

  it('rejects a nonsensical limit with a typed MllpError', () => {
    expect(() => new MllpDecoder({ onFrame: () => {}, maxMessageBytes: 0 })).toThrow(
      expect.objectContaining({ name: 'MllpError', code: 'MLLP_INVALID_ARGUMENT' }),
    )
  })

  it('defaults maxMessageBytes to 16 MiB', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(16 * 1024 * 1024)
    expect(new MllpDecoder({ onFrame: () => {} }).maxMessageBytes).toBe(DEFAULT_MAX_MESSAGE_BYTES)
  })
})

// Frame contents never contain VT or FS (MLLP forbids them in the payload).
const frameContent = fc
  .uint8Array({ minLength: 0, maxLength: 300 })
  .map((a) => Buffer.from(a.map((b) => (b === VT || b === FS ? 0x41 : b))))

// Cuts `wire` at the given (sorted, deduplicated) positions.
function cut(wire: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (wire.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let from = 0
  for (const p of at) {
    chunks.push(wire.subarray(from, p))
    from = p
  }
  chunks.push(wire.subarray(from))
  return chunks
}

describe('MllpDecoder properties', () => {
  it('random chunkings of random frames decode to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameContent, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (contents, points) => {
          const wire = Buffer.concat(contents.map((c) => encodeFrame(c)))
          const got: Buffer[] = []
          const decoder = new MllpDecoder({ onFrame: (f) => got.push(Buffer.from(f)) })
          for (const chunk of cut(wire, points)) decoder.push(chunk)
          expect(got).toEqual(contents)
          expect(decoder.discardedBytes).toBe(0)
          expect(decoder.idle).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('random bytes never crash the decoder and stay within the limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 64 }),
        (chunks, max) => {
          let frameBytes = 0
          const decoder = new MllpDecoder({
            maxMessageBytes: max,
            onFrame: (f) => {
              expect(f.length).toBeLessThanOrEqual(max)
              expect(f.includes(VT)).toBe(false)
              frameBytes += f.length
            },
            onOversize: (o) => expect(o.head.length).toBeGreaterThan(max),
          })
          let total = 0
          for (const chunk of chunks) {
            decoder.push(chunk)
            total += chunk.length
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(max)
          }
          // Every byte is a frame byte, framing overhead, discarded, or still buffered.
          expect(frameBytes + decoder.discardedBytes + decoder.bufferedBytes).toBeLessThanOrEqual(
            total,
          )
        },
      ),
      { numRuns: 300 },
    )
  })

  it('garbage between frames is counted exactly and never changes the frames', () => {
    const garbage = fc
      .uint8Array({ maxLength: 50 })
      .map((a) => Buffer.from(a.map((b) => (b === VT ? 0x20 : b))))
    fc.assert(
      fc.property(fc.array(fc.tuple(garbage, frameContent), { maxLength: 10 }), (pairs) => {
        const wire = Buffer.concat(pairs.flatMap(([g, c]) => [g, encodeFrame(c)]))
        const got: Buffer[] = []
        const decoder = new MllpDecoder({ onFrame: (f) => got.push(Buffer.from(f)) })
        decoder.push(wire)
        expect(got).toEqual(pairs.map(([, c]) => c))
        expect(decoder.discardedBytes).toBe(pairs.reduce((n, [g]) => n + g.length, 0))
      }),
      { numRuns: 200 },
    )
  })
})
