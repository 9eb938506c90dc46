import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { MllpClient } from './client.js'
import type { MllpClientOptions, MllpDiscardedAck } from './client.js'
import { isMllpError } from './errors.js'
import { MllpServer } from './server.js'

// A peer written in the test straight from the MLLP spec (HL7 v2 Implementation Guide, Appendix C):
// a frame is <VT 0x0B> message <FS 0x1C><CR 0x0D>. It shares no code with the library, so the
// client is tested against someone else's idea of MLLP, not only against our own server.
const VT = '\x0b'
const END = '\x1c\r'

interface Received {
  readonly socket: net.Socket
  readonly text: string
  readonly controlId: string
}

class SpecPeer {
  readonly server: net.Server
  readonly sockets: net.Socket[] = []
  readonly #frames: Received[] = []
  readonly #waiters: Array<(r: Received) => void> = []
  #ackCounter = 0

  constructor() {
    this.server = net.createServer((socket) => {
      this.sockets.push(socket)
      socket.setEncoding('latin1')
      socket.on('error', () => {})
      let buffer = ''
      socket.on('data', (data: string) => {
        buffer += data
        for (;;) {
          const start = buffer.indexOf(VT)
          const end = buffer.indexOf(END, start)
          if (start === -1 || end === -1) break
          const text = buffer.slice(start + 1, end)
          buffer = buffer.slice(end + 2)
          const controlId = text.split('\r')[0]?.split('|')[9] ?? ''
          const received = { socket, text, controlId }
          const waiter = this.#waiters.shift()
          if (waiter) waiter(received)
          else this.#frames.push(received)
        }
      })
    })
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve))
    return (this.server.address() as net.AddressInfo).port
  }

  next(): Promise<Received> {
    const frame = this.#frames.shift()
    if (frame) return Promise.resolve(frame)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  get received(): number {
    return this.#frames.length
  }

  ack(socket: net.Socket, controlId: string, code = 'AA'): void {
    const id = `SPEC${++this.#ackCounter}`
    const ack = `MSH|^~\\&|EPR|RX1|PAS|RX1|20261127120000||ACK^A01^ACK|${id}|P|2.5.1\rMSA|${code}|${controlId}\r`
    socket.write(VT + ack + END, 'latin1')
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

const msg = (id: string): string =>
  `MSH|^~\\&|PAS|RX1|EPR|RX1|20261127120000||ADT^A01^ADT_A01|${id}|P|2.5.1\rPID|1||123456^^^RX1^MR||DOE^JOHN\r`

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function specPeer(port?: number): Promise<{ peer: SpecPeer; port: number }> {
  const peer = new SpecPeer()
  const bound = await peer.listen(port)
  cleanups.push(() => peer.close())
  return { peer, port: bound }
}

function client(options: MllpClientOptions): MllpClient {
  const c = new MllpClient(options)
  cleanups.push(() => c.destroy())
  return c
}

function discarded(c: MllpClient): MllpDiscardedAck[] {
  const list: MllpDiscardedAck[] = []
  c.on('discardedAck', (d) => list.push(d))
  return list
}

describe('MllpClient against a spec-built peer', () => {
  it('sends a framed message and resolves with its ACK', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const sending = c.send(msg('A1'))
    const got = await peer.next()
    expect(got.text).toBe(msg('A1'))
    peer.ack(got.socket, 'A1')
    const ack = await sending
    expect(ack.code).toBe('AA')
    expect(ack.controlId).toBe('A1')
    expect(ack.accepted).toBe(true)
    expect(ack.raw.toString('latin1')).toContain('MSA|AA|A1')
    // Parsed on demand with the model's parser.
    expect(ack.message.get('MSA-2')).toBe('A1')
    expect(ack.message.controlId).toBe('SPEC1')
  })

  it('resolves with an AE/AR ACK too (accepted: false)', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const sending = c.send(msg('R1'))
    peer.ack((await peer.next()).socket, 'R1', 'AR')
    const ack = await sending
    expect([ack.code, ack.accepted]).toEqual(['AR', false])
  })

  it('reads MSA-1 and MSA-3 whatever the code, and matches a longer or shorter MSA-2 exactly', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port, window: 3 })
    const events = discarded(c)
    const sending = ['K1', 'K2', 'K3'].map((id) => c.send(msg(id)))
    const answer = (msa: string): void => {
      const ack = `MSH|^~\\&|EPR|RX1|PAS|RX1|20261127120000||ACK^A01^ACK|X|P|2.3\r${msa}\r`
      peer.sockets[0]?.write(VT + ack + END, 'latin1')
    }
    for (let i = 0; i < 3; i++) await peer.next()
    answer('MSA|AA|K')
    answer('MSA|AA|K10')
    answer('MSA|CE|K2|field too long')
    answer('MSA|XYZ|K1')
    answer('MSA|AR|K3|')
    const acks = await Promise.all(sending)
    expect(acks.map((a) => [a.code, a.controlId, a.text, a.accepted])).toEqual([
      ['XYZ', 'K1', '', false],
      ['CE', 'K2', 'field too long', false],
      ['AR', 'K3', '', false],
    ])
    expect(events.map((e) => [e.reason, e.controlId])).toEqual([
      ['unmatched', 'K'],
      ['unmatched', 'K10'],
    ])
  })

  it('discards a mismatched ACK and waits for the matching one', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const events = discarded(c)
    const sending = c.send(msg('M1'))
    const got = await peer.next()
    peer.ack(got.socket, 'SOMETHING-ELSE')
    peer.ack(got.socket, 'M1')
    const ack = await sending
    expect(ack.controlId).toBe('M1')
    expect(events.map((e) => [e.reason, e.controlId])).toEqual([['unmatched', 'SOMETHING-ELSE']])
  })

  it('rejects with MLLP_ACK_TIMEOUT when no ACK comes', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port, ackTimeoutMs: 100 })
    const sending = c.send(msg('T1'))
    await peer.next()
    const error: unknown = await sending.catch((e: unknown) => e)
    expect(isMllpError(error)).toBe(true)
    expect((error as { code: string }).code).toBe('MLLP_ACK_TIMEOUT')
  })

  it('times out every unanswered message, including ones written after earlier timeouts', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port, ackTimeoutMs: 50, window: 2 })
    const results = await Promise.allSettled(['U1', 'U2', 'U3'].map((id) => c.send(msg(id))))
    expect(
      results.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code),
    ).toEqual(['MLLP_ACK_TIMEOUT', 'MLLP_ACK_TIMEOUT', 'MLLP_ACK_TIMEOUT'])
    expect([(await peer.next()).controlId, (await peer.next()).controlId]).toEqual(['U1', 'U2'])
    expect((await peer.next()).controlId).toBe('U3')
  })

  it('never applies a late ACK to the next message', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port, ackTimeoutMs: 100 })
    const events = discarded(c)
    const first = c.send(msg('L1'))
    const got1 = await peer.next()
    await expect(first).rejects.toMatchObject({ code: 'MLLP_ACK_TIMEOUT' })
    const second = c.send(msg('L2'))
    const got2 = await peer.next()
    // The peer finally answers the first message, then the second.
    peer.ack(got1.socket, 'L1')
    peer.ack(got2.socket, 'L2', 'AE')
    const ack = await second
    expect([ack.controlId, ack.code]).toEqual(['L2', 'AE'])
    expect(events.map((e) => [e.reason, e.controlId])).toEqual([['late', 'L1']])
  })

  it('keeps order: one message in flight at a time by default', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const sends = ['O1', 'O2', 'O3', 'O4'].map((id) => c.send(msg(id)))
    const seen: string[] = []
    for (let i = 0; i < 4; i++) {
      const got = await peer.next()
      seen.push(got.controlId)
      // Nothing else was written while this message waits for its ACK.
      expect(peer.received).toBe(0)
      expect(c.inFlight).toBe(1)
      peer.ack(got.socket, got.controlId)
    }
    const acks = await Promise.all(sends)
    expect(seen).toEqual(['O1', 'O2', 'O3', 'O4'])
    expect(acks.map((a) => a.controlId)).toEqual(['O1', 'O2', 'O3', 'O4'])
  })

  it('pipelines up to `window` messages', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port, window: 3 })
    const sends = Array.from({ length: 6 }, (_, i) => c.send(msg(`W${i}`)))
    const firstThree = [await peer.next(), await peer.next(), await peer.next()]
    expect(c.inFlight).toBe(3)
    expect(c.queued).toBe(3)
    for (const got of firstThree) peer.ack(got.socket, got.controlId)
    for (let i = 0; i < 3; i++) {
      const got = await peer.next()
      peer.ack(got.socket, got.controlId)
    }
    expect((await Promise.all(sends)).map((a) => a.controlId)).toEqual(
      Array.from({ length: 6 }, (_, i) => `W${i}`),
    )
  })

  it('rejects in-flight messages when the peer closes, and reconnects for the next', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    let connects = 0
    c.on('connect', () => connects++)
    const first = c.send(msg('C1'))
    const got = await peer.next()
    got.socket.destroy()
    await expect(first).rejects.toMatchObject({ code: 'MLLP_CONNECTION_CLOSED' })
    const second = c.send(msg('C2'))
    const got2 = await peer.next()
    expect(got2.socket).not.toBe(got.socket)
    peer.ack(got2.socket, 'C2')
    expect((await second).controlId).toBe('C2')
    expect(connects).toBe(2)
  })

  it('retries with backoff until the peer is up', async () => {
    // Find a free port, then leave it closed for a while.
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const c = client({ port, backoff: { initialDelayMs: 10, maxDelayMs: 50 } })
    const attempts: Array<{ attempt: number; delayMs: number }> = []
    const retried = new Promise<void>((resolve) => {
      c.on('reconnecting', (info) => {
        attempts.push(info)
        if (attempts.length === 3) resolve()
      })
    })
    // An explicit connect() failing at the same time must not strand the queued message.
    const connecting = c.connect().catch((e: unknown) => e)
    const sending = c.send(msg('B1'))
    expect(await connecting).toMatchObject({ code: 'MLLP_CONNECT_FAILED' })
    await retried
    const { peer } = await specPeer(port)
    const got = await peer.next()
    peer.ack(got.socket, 'B1')
    expect((await sending).controlId).toBe('B1')
    expect(attempts.slice(0, 3).map((a) => a.delayMs)).toEqual([10, 20, 40])
  })

  it('gives up after maxAttempts with MLLP_CONNECT_FAILED', async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const c = client({ port, backoff: { initialDelayMs: 5, maxAttempts: 2 } })
    await expect(c.send(msg('F1'))).rejects.toMatchObject({ code: 'MLLP_CONNECT_FAILED' })
  })

  it('rejects with MLLP_CONNECT_TIMEOUT when the connection does not complete', async () => {
    // A TCP peer that never speaks TLS: the TLS handshake never completes.
    const { port } = await specPeer()
    const c = client({ port, tls: { rejectUnauthorized: false }, connectTimeoutMs: 100 })
    await expect(c.connect()).rejects.toMatchObject({ code: 'MLLP_CONNECT_TIMEOUT' })
  })

  it('refuses a message without MSH-10 (its ACK could not be matched)', async () => {
    const c = client({ port: 1 })
    await expect(c.send('MSH|^~\\&|A||B||1||ADT^A01||P|2.5\r')).rejects.toMatchObject({
      code: 'MLLP_INVALID_MESSAGE',
    })
    await expect(c.send('hello')).rejects.toMatchObject({ code: 'MLLP_INVALID_MESSAGE' })
  })

  it('close() waits for the in-flight ACK, then refuses new messages', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const sending = c.send(msg('Z1'))
    const got = await peer.next()
    const closing = c.close()
    peer.ack(got.socket, 'Z1')
    expect((await sending).controlId).toBe('Z1')
    await closing
    await expect(c.send(msg('Z2'))).rejects.toMatchObject({ code: 'MLLP_CLOSED' })
  })

  it('matches ACKs to non-ASCII control ids byte for byte', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const sending = c.send(msg('NÖ1'))
    const got = await peer.next()
    // The peer echoes the bytes it received in MSA-2.
    peer.ack(got.socket, got.controlId)
    expect((await sending).controlId).toBe(Buffer.from('NÖ1').toString('latin1'))
  })

  it('sends message objects through their toString()', async () => {
    const { peer, port } = await specPeer()
    const c = client({ port })
    const sending = c.send({ toString: () => msg('O1') })
    const got = await peer.next()
    expect(got.text).toBe(msg('O1'))
    peer.ack(got.socket, 'O1')
    await sending
  })
})

describe('MllpClient with MllpServer', () => {
  it('round-trips many pipelined messages over one connection', async () => {
    const server = new MllpServer({ handler: (_b, ctx) => ctx.ack('AA') })
    const { port } = await server.listen(0, '127.0.0.1')
    cleanups.push(() => server.close())
    const c = client({ port, window: 8 })
    const ids = Array.from({ length: 200 }, (_, i) => `P${i}`)
    // Strings, Buffers and plain Uint8Arrays mixed (bytes are written uncopied, corked).
    const acks = await Promise.all(
      ids.map((id, i) =>
        c.send(
          i % 3 === 0
            ? msg(id)
            : i % 3 === 1
              ? Buffer.from(msg(id))
              : new TextEncoder().encode(msg(id)),
        ),
      ),
    )
    expect(acks.map((a) => a.controlId)).toEqual(ids)
    expect(acks.every((a) => a.code === 'AA')).toBe(true)
    await c.close()
  })
})

describe('MLLP option checks', () => {
  it('rejects a nonsensical client window or server maxInFlight with MLLP_INVALID_ARGUMENT', () => {
    const invalid = expect.objectContaining({ name: 'MllpError', code: 'MLLP_INVALID_ARGUMENT' })
    expect(() => new MllpClient({ port: 1, window: 0 })).toThrow(invalid)
    expect(() => new MllpServer({ handler: () => undefined, maxInFlight: 0 })).toThrow(invalid)
  })
})
