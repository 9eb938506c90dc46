// Inbound HL7 services over real sockets: AlertOnError raises an alert (routed to an Ens.Alert
// EMail stand-in writing AlertFile) when the service NAKs a bad message, and
// StayConnected closes the connection after each ACK (0) or after N idle seconds.
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  fileOperation,
  frame,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

const INVALID = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|BAD-1|P|2.5\rZZZ|1\r'

describe('TCPService AlertOnError', () => {
  let engine: Engine
  let dir: string
  let out: string

  beforeAll(async () => {
    out = await tempDir('svc-alert')
    ;({ engine, dir } = await startEngine(
      [
        tcpService('Strict', 'Out', 1, {
          Validation: 'dm-z',
          MessageSchemaCategory: '2.5',
          AlertOnError: 1,
        }),
        tcpService('Quiet', 'Out', 2, { Validation: 'dm-z', MessageSchemaCategory: '2.5' }),
        fileOperation('Out', path.join(out, 'files')),
        {
          name: 'Ens.Alert',
          className: 'EnsLib.EMail.AlertOperation',
          host: { AlertFile: path.join(out, 'alerts.jsonl') },
        },
      ],
      { freePorts: ['Strict', 'Quiet'] },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it('a message failing Validation is NAKed (AE, the default NackErrorCode ContentE) and, with AlertOnError=1, alerts Ens.Alert', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'Quiet'), INVALID))).toBe('AE')
    expect(msaCode(await sendMllp(portOf(engine, 'Strict'), INVALID))).toBe('AE')
    const line = await waitFor(async () => {
      const t = await readFile(path.join(out, 'alerts.jsonl'), 'utf8').catch(() => '')
      return t.split('\n').find((l) => l.includes('"Strict"'))
    }, 'the alert in AlertFile')
    const alert = JSON.parse(line) as Record<string, string>
    expect(alert.SourceConfigName).toBe('Strict')
    expect(alert.AlertText).toMatch(/bad message NAKed/)
    // The service without AlertOnError (sent to first) raised none.
    const all = await readFile(path.join(out, 'alerts.jsonl'), 'utf8')
    expect(all).not.toContain('"Quiet"')
  })
})

/** An open MLLP connection: send frames, read ACK texts, see when the server closes it. */
class Client {
  readonly socket: net.Socket
  readonly closed: Promise<void>
  #buf = Buffer.alloc(0)
  #waiters: Array<(ack: string) => void> = []

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port })
    this.socket.on('error', () => undefined)
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()))
    this.socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c])
      let end
      while ((end = this.#buf.indexOf(0x1c)) > 0) {
        const ack = this.#buf.subarray(1, end).toString('latin1')
        this.#buf = this.#buf.subarray(end + 2)
        this.#waiters.shift()?.(ack)
      }
    })
  }

  async send(text: string): Promise<string> {
    if (this.socket.connecting) await once(this.socket, 'connect')
    const ack = new Promise<string>((resolve) => this.#waiters.push(resolve))
    this.socket.write(frame(text))
    return ack
  }
}

describe('TCPService StayConnected', () => {
  let engine: Engine
  let dir: string
  let out: string
  const clients: Client[] = []
  const client = (name: string): Client => {
    const c = new Client(portOf(engine, name))
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    out = await tempDir('stay')
    ;({ engine, dir } = await startEngine(
      [
        tcpService('Once', 'Out', 1, {}, { StayConnected: 0 }),
        tcpService('Idle', 'Out', 2, {}, { StayConnected: 1 }),
        tcpService('Forever', 'Out', 3),
        fileOperation('Out', path.join(out, 'files')),
      ],
      { freePorts: ['Once', 'Idle', 'Forever'] },
    ))
  })

  afterAll(async () => {
    for (const c of clients) c.socket.destroy()
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it('StayConnected=0 closes the connection after the ACK is written', async () => {
    const c = client('Once')
    expect(msaCode(await c.send(hl7('ADT^A01', 'SC-0')))).toBe('AA')
    await c.closed
    expect(c.socket.destroyed).toBe(true)
  })

  it('StayConnected=1 keeps the connection for several messages, then closes it when idle', async () => {
    const c = client('Idle')
    expect(msaCode(await c.send(hl7('ADT^A01', 'SC-1a')))).toBe('AA')
    expect(msaCode(await c.send(hl7('ADT^A01', 'SC-1b')))).toBe('AA')
    await c.closed
    // The default (-1) keeps an idle connection open: it still answers after the other closed.
    const f = client('Forever')
    expect(msaCode(await f.send(hl7('ADT^A01', 'SC-Fa')))).toBe('AA')
    const idleClosed = client('Idle')
    expect(msaCode(await idleClosed.send(hl7('ADT^A01', 'SC-1c')))).toBe('AA')
    await idleClosed.closed
    expect(msaCode(await f.send(hl7('ADT^A01', 'SC-Fb')))).toBe('AA')
    expect(f.socket.destroyed).toBe(false)
  })
})
