// Adapter settings over real sockets and files: SSLConfig (TLS both ways), StayConnected,
// DefCharEncoding/Charset, AckMode App with a failed branch, startDisabledItems, waitForShutdown.
import { readdir, readFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  fileOperation,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  selfSignedCert,
  sendMllp,
  setSetting,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

describe('adapter settings', () => {
  let engine: Engine
  let dir: string
  let files: string
  let peer: MllpPeer

  beforeAll(async () => {
    files = await tempDir('adapters')
    selfSignedCert(files)
    peer = new MllpPeer((m) => ({
      ack: ackFor(controlIdOf(m), controlIdOf(m).startsWith('APPAE') ? 'AE' : 'AA'),
    }))
    const peerPort = await peer.listen()
    ;({ engine, dir } = await startEngine(
      [
        tcpService('PlainIn', 'TlsOut', 1),
        tcpOperation('TlsOut', 2, { SSLConfig: 'Client' }),
        tcpService('TlsIn', 'TlsFile', 3, {}, { SSLConfig: 'Server' }),
        fileOperation('TlsFile', path.join(files, 'tls')),
        tcpService('ShortIn', 'ShortOut', 4),
        tcpOperation('ShortOut', peerPort, { StayConnected: 0 }),
        tcpService('Latin1In', 'Latin1File', 5, {}, { DefCharEncoding: 'Latin1' }),
        {
          name: 'Latin1File',
          className: 'EnsLib.HL7.Operation.FileOperation',
          adapter: { FilePath: path.join(files, 'latin1'), Filename: 'out.hl7', Charset: 'Latin1' },
        },
        tcpService('AppIn', 'ShortOut', 6, { AckMode: 'App' }),
        tcpService('PlainIn2', 'HttpsOut', 7),
        {
          name: 'HttpsOut',
          className: 'EnsLib.HL7.Operation.HTTPOperation',
          adapter: { HTTPServer: '127.0.0.1', HTTPPort: 8, SSLConfig: 'Client' },
        },
        {
          name: 'HttpsIn',
          className: 'EnsLib.HL7.Service.HTTPService',
          host: { TargetConfigNames: 'HttpsFile' },
          adapter: { Port: 9, SSLConfig: 'Server' },
        },
        fileOperation('HttpsFile', path.join(files, 'https')),
        {
          name: 'Off',
          className: 'EnsLib.HL7.Operation.FileOperation',
          enabled: false,
          adapter: { FilePath: path.join(files, 'off') },
        },
      ],
      {
        freePorts: ['PlainIn', 'TlsIn', 'ShortIn', 'Latin1In', 'AppIn', 'PlainIn2', 'HttpsIn'],
        config: {
          tls: {
            Server: { key: path.join(files, 'key.pem'), cert: path.join(files, 'cert.pem') },
            Client: { ca: path.join(files, 'cert.pem') },
          },
        },
      },
    ))
    // TlsOut talks to TlsIn, whose port is known only now; settings are read per connection.
    setSetting(engine.production!, 'TlsOut', 'Port', String(portOf(engine, 'TlsIn')))
    setSetting(engine.production!, 'HttpsOut', 'HTTPPort', String(portOf(engine, 'HttpsIn')))
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await removeDir(dir)
    await removeDir(files)
  })

  it('SSLConfig: MLLP over TLS out of one item and into another, certificates from the tls config', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'PlainIn'), hl7('ADT^A01', 'TLS-1')))).toBe('AA')
    expect((await finalState(engine, 'PlainIn', 'TLS-1')).state).toBe('completed')
    expect((await finalState(engine, 'TlsIn', 'TLS-1')).state).toBe('completed')
    const names = await waitFor(async () => {
      const n = await readdir(path.join(files, 'tls')).catch(() => [])
      return n.length === 1 ? n : undefined
    }, 'file from the TLS service')
    expect(controlIdOf(await readFile(path.join(files, 'tls', names[0]!), 'utf8'))).toBe('TLS-1')
  })

  it('SSLConfig: HTTPS out of one item and into another', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'PlainIn2'), hl7('ADT^A01', 'HTTPS-1')))).toBe(
      'AA',
    )
    expect((await finalState(engine, 'PlainIn2', 'HTTPS-1')).state).toBe('completed')
    expect((await finalState(engine, 'HttpsIn', 'HTTPS-1')).state).toBe('completed')
    const names = await readdir(path.join(files, 'https'))
    expect(names).toHaveLength(1)
  })

  it('StayConnected=0 opens a new connection for every message', async () => {
    const before = peer.connections
    for (const id of ['SC-1', 'SC-2', 'SC-3']) {
      await sendMllp(portOf(engine, 'ShortIn'), hl7('ADT^A01', id))
      expect((await finalState(engine, 'ShortIn', id)).state).toBe('completed')
    }
    expect(peer.connections - before).toBe(3)
  })

  it('DefCharEncoding and Charset: Latin-1 bytes in, the same bytes out', async () => {
    const text = hl7('ADT^A01', 'L1-1').replace('DOE^JOHN', 'DOÉ^JOSÉ')
    const port = portOf(engine, 'Latin1In')
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port })
      const body = Buffer.from(text, 'latin1')
      s.on('connect', () => s.write(Buffer.concat([Buffer.of(0x0b), body, Buffer.of(0x1c, 0x0d)])))
      s.on('data', (d: Buffer) => {
        s.destroy()
        resolve(d.toString('latin1'))
      })
      s.on('error', reject)
    })
    expect(reply).toContain('|AA|')
    expect((await finalState(engine, 'Latin1In', 'L1-1')).state).toBe('completed')
    const bytes = await readFile(path.join(files, 'latin1', 'out.hl7'))
    expect(bytes.includes(Buffer.from('DOÉ^JOSÉ', 'latin1'))).toBe(true)
  })

  it('AckMode App answers AE when a branch fails', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'AppIn'), hl7('ADT^A01', 'APPAE-1')))).toBe('AE')
    expect(msaCode(await sendMllp(portOf(engine, 'AppIn'), hl7('ADT^A01', 'APPOK-1')))).toBe('AA')
  })

  it('a disabled item is not started', () => {
    expect(engine.getHost('Off')?.status()).toMatchObject({ enabled: false, state: 'CREATED' })
  })
})

describe('Engine options', () => {
  it('startDisabledItems starts items whose Enabled is false; waitForShutdown resolves after shutdown()', async () => {
    const files = await tempDir('opts')
    const { engine, dir } = await startEngine(
      [
        {
          name: 'Off',
          className: 'EnsLib.HL7.Operation.FileOperation',
          enabled: false,
          adapter: { FilePath: files },
        },
      ],
      { config: { startDisabledItems: true } },
    )
    try {
      expect(engine.getHost('Off')?.state).toBe('RUNNING')
      const waiting = engine.waitForShutdown()
      await engine.shutdown('test')
      await waiting
      expect(engine.state).toBe('STOPPED')
    } finally {
      await engine.stop()
      await removeDir(dir)
      await removeDir(files)
    }
  })
})
