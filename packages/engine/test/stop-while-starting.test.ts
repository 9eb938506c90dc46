// stop() while start() is still resuming the previous run's WAL entries: the resume stops handing
// off, services never start, start() rejects, stop() closes everything, and nothing is lost: the
// next start resumes the rest and every message reaches the receiver.
import net from 'node:net'
import path from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { Engine, isEngineError, loadProduction } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  hl7,
  msaCode,
  portOf,
  productionXml,
  removeDir,
  sendMllp,
  setSetting,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function production(outPort: number): ReturnType<typeof loadProduction> {
  const p = await loadProduction(
    `<Export generator="IRIS" version="26"><Class name="T.Production"><Super>Ens.Production</Super><XData name="ProductionDefinition"><Data><![CDATA[${productionXml(
      'T.Production',
      [
        tcpService('In', 'Out', 1),
        tcpOperation(
          'Out',
          outPort,
          { ConnectTimeout: 1 },
          { RetryInterval: 0.2, FailureTimeout: -1 },
        ),
      ],
    )}]]></Data></XData></Class></Export>`,
  )
  setSetting(p, 'In', 'Port', '0')
  return p
}

describe('stop() while start() resumes the WAL', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await removeDir(d)
  })

  it('stops the resume, starts no service, loses nothing', { timeout: 120_000 }, async () => {
    const dir = await tempDir('stop-starting')
    dirs.push(dir)
    const dataDir = path.join(dir, 'data')
    const down = await closedPort()
    // A backlog: the receiver is down, so every ACKed message waits in the WAL.
    const first = new Engine({ dataDir, pollMs: 50, drainTimeout: 0.1 })
    await first.load(await production(down))
    await first.start()
    const ids: string[] = []
    for (let i = 0; i < 600; i++) {
      const id = `W${i}`
      expect(msaCode(await sendMllp(portOf(first, 'In'), hl7('ADT^A01', id)))).toBe('AA')
      ids.push(id)
    }
    await first.stop()

    // stop() exactly when the resume begins (from the log line it writes), as a SIGTERM would.
    const lines: Record<string, unknown>[] = []
    let stopping: Promise<void> | undefined
    const logger = pino(
      { level: 'info' },
      {
        write(text: string): void {
          const line = JSON.parse(text) as Record<string, unknown>
          lines.push(line)
          if (line.msg === 'resuming WAL entries from the previous run') stopping = second.stop()
        },
      },
    )
    const second: Engine = new Engine({ dataDir, pollMs: 50, drainTimeout: 0.1, logger })
    await second.load(await production(down))
    const e = await second.start().then(
      () => 'started',
      (err: unknown) => err,
    )
    expect(stopping).toBeDefined()
    await stopping
    expect(isEngineError(e) && e.code).toBe('ENGINE_INVALID_STATE')
    expect(second.state).toBe('STOPPED')
    expect(second.getHost('In')?.status().state).not.toBe('RUNNING')
    expect(lines.map((l) => l.msg)).toContain(
      'stop requested while starting; waiting for the start to stop',
    )
    expect(lines.map((l) => l.msg)).not.toContain('engine failed to start')

    // Next start, receiver up: everything that was ACKed arrives.
    const peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
    const peerPort = await peer.listen()
    const third = new Engine({ dataDir, pollMs: 50, drainTimeout: 0.1 })
    try {
      await third.load(await production(peerPort))
      await third.start()
      await waitFor(
        () => ids.every((id) => peer.count(id) > 0),
        'every message at the receiver',
        60_000,
      )
    } finally {
      await third.stop()
      await peer.close()
    }
  })
})
