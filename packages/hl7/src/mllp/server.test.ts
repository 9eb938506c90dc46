import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createAck } from '../ack.js'
import { parseMessage } from '../parse/parse-message.js'
import { MllpDecoder, encodeFrame } from './frame.js'
import { readAckFields } from './header.js'
import { MllpServer } from './server.js'
import type { MllpHandler, MllpMessageInfo, MllpServerOptions } from './server.js'

// A raw MLLP peer written from the spec (Appendix C): frames are VT ... FS CR on a plain socket.
class RawPeer {
  readonly socket: net.Socket
  readonly #frames: string[] = []
  readonly #waiters: Array<(frame: string) => void> = []
  readonly closed: Promise<void>

  private constructor(socket: net.Socket) {
    this.socket = socket
    const decoder = new MllpDecoder({
      onFrame: (frame) => {
        const text = frame.toString('latin1')
        const waiter = this.#waiters.shift()
        if (waiter) waiter(text)
        else this.#frames.push(text)
      },
    })
    socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    socket.on('error', () => {})
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawPeer(socket)))
      socket.once('error', reject)
    })
  }

  write(bytes: Uint8Array | string): void {
    this.socket.write(bytes)
  }

  next(): Promise<string> {
    const frame = this.#frames.shift()
    if (frame !== undefined) return Promise.resolve(frame)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  get buffered(): number {
    return this.#frames.length
  }
}

const msg = (id: string, options: { mshTail?: string; body?: string } = {}): string =>
  `MSH|^~\\&|PAS|RX1|EPR|RX1|20261127120000||ADT^A01^ADT_A01|${id}|P|2.5.1${options.mshTail ?? ''}\r` +
  `PID|1||123456^^^RX1^MR||DOE^JOHN\r${options.body ?? ''}`

const segment = (ack: string, name: string): string | undefined =>
  ack.split('\r').find((s) => s.startsWith(name + '|'))

const servers: MllpServer[] = []
const peers: RawPeer[] = []

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy()
  await Promise.all(servers.splice(0).map((s) => s.close({ drain: false })))
})

async function start(
  handler: MllpHandler,
  options: Partial<MllpServerOptions> = {},
): Promise<{ server: MllpServer; port: number }> {
  const server = new MllpServer({ handler, ...options })
  servers.push(server)
  const { port } = await server.listen(0, '127.0.0.1')
  return { server, port }
}

async function peer(port: number): Promise<RawPeer> {
  const p = await RawPeer.connect(port)
  peers.push(p)
  return p
}

const echoAck: MllpHandler = (_bytes, ctx) => ctx.ack('AA')

describe('MllpServer', () => {
  it('answers each message with the handler ACK, MSA-2 = MSH-10', async () => {
    const { port } = await start(echoAck)
    const p = await peer(port)
    p.write(encodeFrame(msg('M1')))
    const ack = await p.next()
    expect(segment(ack, 'MSA')).toBe('MSA|AA|M1')
    const msh = segment(ack, 'MSH')?.split('|')
    // Sender and receiver swapped, ACK^trigger^ACK, same processing id and version.
    expect(msh?.slice(2, 6)).toEqual(['EPR', 'RX1', 'PAS', 'RX1'])
    expect(msh?.[8]).toBe('ACK^A01^ACK')
    expect(msh?.slice(10, 12)).toEqual(['P', '2.5.1'])
  })

  it('decodes a message that arrives one byte at a time', async () => {
    const seen: string[] = []
    const { port } = await start((bytes, ctx) => {
      seen.push(bytes.toString('latin1'))
      return ctx.ack('AA')
    })
    const p = await peer(port)
    for (const byte of encodeFrame(msg('SLOW'))) {
      p.write(Buffer.from([byte]))
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|SLOW')
    expect(seen).toEqual([msg('SLOW')])
  })

  it('handles many frames in one chunk and ACKs them in order even when handlers finish out of order', async () => {
    const { port } = await start(async (bytes, ctx) => {
      // Later messages finish first.
      const n = Number(ctx.header.controlId.slice(1))
      await new Promise((resolve) => setTimeout(resolve, (10 - n) * 3))
      return ctx.ack('AA')
    })
    const p = await peer(port)
    p.write(Buffer.concat(Array.from({ length: 10 }, (_, i) => encodeFrame(msg(`C${i}`)))))
    const ids: string[] = []
    for (let i = 0; i < 10; i++) ids.push(segment(await p.next(), 'MSA') ?? '')
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `MSA|AA|C${i}`))
  })

  it('calls handlers in arrival order and one at a time with maxInFlight 1', async () => {
    let running = 0
    let maxRunning = 0
    const order: string[] = []
    const { port } = await start(
      async (_bytes, ctx) => {
        running++
        maxRunning = Math.max(maxRunning, running)
        order.push(ctx.header.controlId)
        await new Promise((resolve) => setImmediate(resolve))
        running--
        return ctx.ack('AA')
      },
      { maxInFlight: 1 },
    )
    const p = await peer(port)
    p.write(Buffer.concat(Array.from({ length: 5 }, (_, i) => encodeFrame(msg(`S${i}`)))))
    for (let i = 0; i < 5; i++) await p.next()
    expect(order).toEqual(['S0', 'S1', 'S2', 'S3', 'S4'])
    expect(maxRunning).toBe(1)
  })

  it('discards garbage outside frames and still answers the frames', async () => {
    const disconnects: number[] = []
    const { server, port } = await start(echoAck)
    server.on('disconnect', (info) => disconnects.push(info.discardedBytes))
    const p = await peer(port)
    p.write(
      Buffer.concat([
        Buffer.from('GET / HTTP/1.1\r\n\r\n'),
        encodeFrame(msg('G1')),
        Buffer.from('\n'),
      ]),
    )
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|G1')
    p.socket.end()
    await p.closed
    await vitestWaitFor(() => disconnects.length === 1)
    expect(disconnects).toEqual([19])
  })

  it('answers input without MSH with AR and an ERR segment, and keeps the connection', async () => {
    let calls = 0
    const { port } = await start((_b, ctx) => {
      calls++
      return ctx.ack('AA')
    })
    const p = await peer(port)
    p.write(encodeFrame('this is not HL7'))
    const nak = await p.next()
    expect(segment(nak, 'MSA')?.startsWith('MSA|AR|')).toBe(true)
    expect(segment(nak, 'ERR')).toMatch(/^ERR\|\|\|100\^Segment sequence error\^HL70357\|E\|/)
    expect(calls).toBe(0)
    // Same connection still works.
    p.write(encodeFrame(msg('AFTER')))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|AFTER')
  })

  it('answers an MSH without MSH-10 with AR, and with CR when enhanced mode is asked for', async () => {
    const { port } = await start(echoAck)
    const p = await peer(port)
    p.write(encodeFrame('MSH|^~\\&|PAS|RX1|EPR|RX1|20261127||ADT^A01||P|2.4\rPID|1\r'))
    const nak = await p.next()
    expect(segment(nak, 'MSA')).toMatch(/^MSA\|AR\|\|MSH-10/)
    // v2.4: ERR-1 carries the code.
    expect(segment(nak, 'ERR')).toBe('ERR|^^^101&Required field missing&HL70357')
    p.write(encodeFrame('MSH|^~\\&|PAS|RX1|EPR|RX1|20261127||ADT^A01||P|2.5|||AL|NE\r'))
    expect(segment(await p.next(), 'MSA')?.startsWith('MSA|CR|')).toBe(true)
  })

  it('answers a handler that throws with AE + ERR and reports the error', async () => {
    const errors: Error[] = []
    const { server, port } = await start((bytes) => {
      if (bytes.includes('BOOM')) throw new Error('database is down')
      return Promise.reject(new Error('async failure'))
    })
    server.on('error', (e) => errors.push(e))
    const p = await peer(port)
    p.write(encodeFrame(msg('E1', { body: 'NTE|1||BOOM\r' })))
    p.write(encodeFrame(msg('E2')))
    const first = await p.next()
    const second = await p.next()
    expect(segment(first, 'MSA')).toBe('MSA|AE|E1')
    expect(segment(first, 'ERR')).toBe(
      'ERR|||207^Application internal error^HL70357|E||||application error while processing the message',
    )
    expect(segment(second, 'MSA')?.startsWith('MSA|AE|E2')).toBe(true)
    expect(errors.map((e) => e.message)).toEqual(['database is down', 'async failure'])
  })

  it('answers a reply that cannot be serialized with AE instead of crashing', async () => {
    // A reply object whose toString() throws inside the server.
    const unserializable = {
      toString(): string {
        throw new Error('cannot serialize')
      },
    }
    const { port } = await start((_b, ctx) =>
      ctx.header.controlId === 'N1' ? unserializable : Promise.resolve(unserializable),
    )
    const p = await peer(port)
    p.write(encodeFrame(msg('N1')))
    p.write(encodeFrame(msg('N2')))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AE|N1')
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AE|N2')
  })

  it('sends no reply at all when the handler returns null (AckMode Never), in order with the rest', async () => {
    const { port } = await start((_b, ctx) =>
      ctx.header.controlId.startsWith('Q') ? null : undefined,
    )
    const p = await peer(port)
    p.write(encodeFrame(msg('Q1')))
    p.write(encodeFrame(msg('A2')))
    // Q1 gets nothing; the next frame on the wire is A2's AA.
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|A2')
  })

  it('answers input the parser refuses (Hl7ParseError from the handler) with AR, CR in enhanced mode', async () => {
    // The handler a user would write: parse, then acknowledge with the model's createAck.
    const { port } = await start((bytes) => createAck(parseMessage(bytes), 'AA'))
    const p = await peer(port)
    p.write(encodeFrame(msg('P0')))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|P0')
    p.write(encodeFrame(msg('P1', { body: 'pid|1\r' })))
    const nak = await p.next()
    expect(segment(nak, 'MSA')).toBe('MSA|AR|P1')
    expect(segment(nak, 'ERR')).toMatch(
      /^ERR\|\|\|100\^Segment sequence error\^HL70357\|E\|\|\|\|.*pid/,
    )
    p.write(encodeFrame(msg('P2', { mshTail: '|||AL|AL', body: 'pid|1\r' })))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|CR|P2')
  })

  it('sends AA/CA itself when the handler returns undefined, and nothing when MSH-15 is NE', async () => {
    const { port } = await start(() => undefined)
    const p = await peer(port)
    p.write(encodeFrame(msg('U1')))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|U1')
    p.write(encodeFrame(msg('U2', { mshTail: '|||NE|AL' })))
    p.write(encodeFrame(msg('U3', { mshTail: '|||AL|AL' })))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|CA|U3')
  })

  it('sends string, byte and message-object replies as given', async () => {
    const replies = [
      'MSH|^~\\&|X||Y||1||ACK|A1|P|2.5\rMSA|AA|R1\r',
      Buffer.from('MSH|^~\\&|X||Y||1||ACK|A2|P|2.5\rMSA|AA|R2\r'),
      { toString: () => 'MSH|^~\\&|X||Y||1||ACK|A3|P|2.5\rMSA|AA|R3\r' },
    ]
    let i = 0
    const { port } = await start(async () => replies[i++])
    const p = await peer(port)
    for (const id of ['R1', 'R2', 'R3']) p.write(encodeFrame(msg(id)))
    expect(await p.next()).toBe(replies[0])
    expect(await p.next()).toBe(replies[1]?.toString())
    expect(await p.next()).toBe(String(replies[2]))
  })

  it('passes the bytes unchanged to the handler, whatever MSH-18 says', async () => {
    const received: Buffer[] = []
    const { port } = await start((bytes, ctx) => {
      received.push(Buffer.from(bytes))
      expect(ctx.header.charset).toBe('8859/1')
      return ctx.ack('AA')
    })
    const p = await peer(port)
    const latin1 = Buffer.from(
      msg('L1', { mshTail: '||||||8859/1', body: 'PID|1||||MÜLLER^JÖRG\r' }),
      'latin1',
    )
    p.write(encodeFrame(latin1))
    await p.next()
    expect(received[0]).toEqual(latin1)
  })

  it('answers an oversize frame with AR addressed from its MSH, then closes the connection', async () => {
    const errors: string[] = []
    const reasons: string[] = []
    const { server, port } = await start(echoAck, { maxMessageBytes: 1024 })
    server.on('error', (e) => errors.push((e as { code?: string }).code ?? ''))
    server.on('disconnect', (info) => reasons.push(info.reason))
    const p = await peer(port)
    p.write(encodeFrame(msg('OK1')))
    p.write(encodeFrame(msg('BIG', { body: `OBX|1|TX|||${'x'.repeat(5000)}\r` })))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|OK1')
    const nak = await p.next()
    expect(segment(nak, 'MSA')).toBe('MSA|AR|BIG')
    expect(segment(nak, 'ERR')).toContain('|message larger than the limit of 1024 bytes')
    await p.closed
    await vitestWaitFor(() => reasons.length === 1)
    expect(errors).toEqual(['MLLP_FRAME_TOO_LARGE'])
    expect(reasons).toEqual(['oversize'])
  })

  it('closes idle connections but not busy ones', async () => {
    const reasons: string[] = []
    let release: (() => void) | undefined
    const { server, port } = await start(
      async (_b, ctx) => {
        if (ctx.header.controlId === 'SLOW') await new Promise<void>((r) => (release = r))
        return ctx.ack('AA')
      },
      { idleTimeoutMs: 100 },
    )
    server.on('disconnect', (info) => reasons.push(info.reason))
    const busy = await peer(port)
    busy.write(encodeFrame(msg('SLOW')))
    const idle = await peer(port)
    await idle.closed
    expect(busy.socket.destroyed).toBe(false)
    // The handler of the busy connection outlived the idle timeout; its ACK still arrives.
    await vitestWaitFor(() => release !== undefined)
    await new Promise((resolve) => setTimeout(resolve, 250))
    release?.()
    expect(segment(await busy.next(), 'MSA')).toBe('MSA|AA|SLOW')
    await busy.closed
    await vitestWaitFor(() => reasons.length === 2)
    expect(reasons).toEqual(['idle', 'idle'])
  })

  it('keeps answers in order across its read pause when many NAKs queue behind a slow handler', async () => {
    let release: (() => void) | undefined
    const { port } = await start(async (_b, ctx) => {
      if (ctx.header.controlId === 'SLOW') await new Promise<void>((r) => (release = r))
      return ctx.ack('AA')
    })
    const p = await peer(port)
    p.write(encodeFrame(msg('SLOW')))
    // More unanswerable frames than the server queues before it stops reading (64 + 1024).
    const garbage = encodeFrame('not hl7')
    p.write(Buffer.concat(Array.from({ length: 1500 }, () => garbage)))
    p.write(encodeFrame(msg('LAST')))
    await vitestWaitFor(() => release !== undefined)
    release?.()
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|SLOW')
    for (let i = 0; i < 1500; i++) expect(segment(await p.next(), 'MSA')).toBe('MSA|AR|')
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|LAST')
  })

  it('closes a connection that stalls in the middle of a frame', async () => {
    const { port } = await start(echoAck, { idleTimeoutMs: 100 })
    const p = await peer(port)
    p.write(encodeFrame(msg('HALF')).subarray(0, 40))
    await p.closed
    expect(p.buffered).toBe(0)
  })

  it('with closeAfterAck, closes the connection once the first ACK is written', async () => {
    const { port } = await start(echoAck, { closeAfterAck: true })
    const p = await peer(port)
    p.write(encodeFrame(msg('ONE')))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|ONE')
    await p.closed
    expect(p.buffered).toBe(0)
  })

  it('serves many concurrent connections', async () => {
    const { server, port } = await start(echoAck)
    const connections: number[] = []
    server.on('connection', (info) => connections.push(info.connectionId))
    const clients = await Promise.all(Array.from({ length: 20 }, () => peer(port)))
    await Promise.all(
      clients.map(async (p, c) => {
        for (let i = 0; i < 10; i++) {
          p.write(encodeFrame(msg(`K${c}-${i}`)))
          expect(readAckFields(await p.next())?.controlId).toBe(`K${c}-${i}`)
        }
      }),
    )
    expect(new Set(connections).size).toBe(20)
    expect(server.connectionCount).toBe(20)
  })

  it('answers ctx.ack for frames outside the fast path too: leading blank lines, batches', async () => {
    const { port } = await start((_bytes, ctx) => ctx.ack(ctx.header.enhancedMode ? 'CA' : 'AA'))
    const p = await peer(port)
    p.write(encodeFrame('\r\n' + msg('L1')))
    p.write(encodeFrame('FHS|^~\\&\rBHS|^~\\&\r' + msg('B1')))
    p.write(encodeFrame(msg('E1', { mshTail: '|||AL|NE' })))
    const acks = [await p.next(), await p.next(), await p.next()]
    expect(acks.map((a) => segment(a, 'MSA'))).toEqual(['MSA|AA|L1', 'MSA|AA|B1', 'MSA|CA|E1'])
    for (const ack of acks)
      expect(segment(ack, 'MSH')?.split('|').slice(2, 6)).toEqual(['EPR', 'RX1', 'PAS', 'RX1'])
  })

  it('emits message events for metrics', async () => {
    const events: MllpMessageInfo[] = []
    const { server, port } = await start((_b, ctx) =>
      ctx.header.controlId === 'M2' ? 'MSH|^~\\&|X||Y||1||ACK|Z|P|2.5\rMSA|AE|M2\r' : undefined,
    )
    server.on('message', (info) => events.push(info))
    const p = await peer(port)
    p.write(encodeFrame(msg('M1')))
    p.write(encodeFrame(msg('M2')))
    p.write(encodeFrame('garbage'))
    for (let i = 0; i < 3; i++) await p.next()
    expect(events.map((e) => [e.controlId, e.ackCode, e.ackedBy])).toEqual([
      ['M1', 'AA', 'transport'],
      ['M2', 'AE', 'handler'],
      ['', 'AR', 'transport'],
    ])
    expect(events[0]?.connectionId).toBe(1)
    expect(events[0]?.bytes).toBe(Buffer.byteLength(msg('M1')))
  })

  it('answers the last message of a peer that half-closes after sending it', async () => {
    const { port } = await start(async (_b, ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      return ctx.ack('AA')
    })
    const p = await peer(port)
    p.socket.end(encodeFrame(msg('LAST')))
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|LAST')
    await p.closed
  })

  it('close({ drain }) stops accepting, lets running handlers finish and ACKs them', async () => {
    let release: (() => void) | undefined
    let began: (() => void) | undefined
    const started = new Promise<void>((resolve) => (began = resolve))
    const { server, port } = await start(async (_b, ctx) => {
      began?.()
      await new Promise<void>((resolve) => (release = resolve))
      return ctx.ack('AA')
    })
    const p = await peer(port)
    p.write(encodeFrame(msg('D1')))
    await started
    const closing = server.close({ drain: true })
    // No new connections once closing.
    await expect(RawPeer.connect(port)).rejects.toThrow()
    release?.()
    expect(segment(await p.next(), 'MSA')).toBe('MSA|AA|D1')
    await closing
    await p.closed
    expect(server.address()).toBeNull()
  })

  it('close({ drain: false }) destroys connections at once', async () => {
    const { server, port } = await start(() => new Promise(() => {}))
    const p = await peer(port)
    p.write(encodeFrame(msg('X1')))
    await vitestWaitFor(() => server.connectionCount === 1)
    await server.close({ drain: false })
    await p.closed
    expect(p.buffered).toBe(0)
  })
})

// Polls a condition on the event loop (no timing assertions: only waits for state).
async function vitestWaitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  expect(condition()).toBe(true)
}
