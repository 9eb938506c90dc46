// HTTPOperation ConnectTimeout over real sockets: a server that accepts TCP connections but never
// answers the TLS handshake keeps the connection phase open; ConnectTimeout (not the much longer
// ResponseTimeout) ends the attempt.
import { once } from 'node:events'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpService,
} from './helpers.js'

describe('HTTPOperation ConnectTimeout', () => {
  let engine: Engine
  let dir: string
  const sockets: net.Socket[] = []
  // Accepts, reads nothing, says nothing: the TLS handshake never completes.
  const mute = net.createServer((s) => {
    sockets.push(s)
    s.on('error', () => undefined)
  })

  beforeAll(async () => {
    mute.listen(0, '127.0.0.1')
    await once(mute, 'listening')
    const port = (mute.address() as net.AddressInfo).port
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'HttpOut', 1),
        {
          name: 'HttpOut',
          className: 'EnsLib.HL7.Operation.HTTPOperation',
          host: { FailureTimeout: 0 },
          adapter: {
            HTTPServer: '127.0.0.1',
            HTTPPort: port,
            SSLConfig: 'Client',
            ConnectTimeout: 1,
            ResponseTimeout: 600,
          },
        },
      ],
      { freePorts: ['In'], config: { tls: { Client: {} } } },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    for (const s of sockets) s.destroy()
    mute.close()
    if (dir !== undefined) await removeDir(dir)
  })

  it('fails the delivery when the connection does not open within ConnectTimeout', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'CT-1')))).toBe('AA')
    const { sessionId } = await finalState(engine, 'In', 'CT-1')
    const hops = await engine.store.trace(sessionId)
    const failed = hops.find((h) => h.target === 'HttpOut' && h.state === 'failed')
    expect(failed?.detail).toMatch(/within ConnectTimeout 1 s/)
    expect(sockets.length).toBeGreaterThan(0)
  })
})
