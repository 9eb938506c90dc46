// IRIS LogTraceEvents / LogGeneralTraceEvents / ArchiveIO mapped to the engine's pino logger:
// a production read from IRIS XML, real MLLP sockets, every log line captured from the logger
// the engine was given (at info level: trace lines appear only for the items that ask for them).
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadProduction } from '../src/iris/loader.js'
import {
  MllpPeer,
  ackFor,
  captureLogger,
  controlIdOf,
  hl7,
  msaCode,
  portOf,
  productionXml,
  removeDir,
  runEngine,
  sendMllp,
  setSetting,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

type Line = Record<string, unknown>

describe('LogTraceEvents and ArchiveIO', () => {
  const cleanup: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })

  async function run(edit: (xml: string) => string): Promise<{ lines: Line[]; body: string }> {
    const peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
    const peerPort = await peer.listen()
    cleanup.push(() => peer.close())
    const dir = await tempDir('trace')
    cleanup.push(() => removeDir(dir))
    const xml = productionXml('Trace.Production', [
      tcpService('Traced In', 'Out', 1, { ArchiveIO: 1 }),
      tcpService('Quiet In', 'Out', 2),
      tcpOperation('Out', peerPort, {}, { ArchiveIO: 1 }),
    ])
    const production = await loadProduction(edit(xml))
    for (const n of ['Traced In', 'Quiet In']) setSetting(production, n, 'Port', '0')
    const { logger, lines } = captureLogger('info')
    const engine = await runEngine(path.join(dir, 'data'), production, { logger })
    cleanup.push(() => engine.stop())
    const body = hl7('ADT^A01', 'TR-1', '\rPID|1||12345^^^RGH||SECRETNAME^PATIENT')
    expect(msaCode(await sendMllp(portOf(engine, 'Traced In'), body))).toBe('AA')
    expect(msaCode(await sendMllp(portOf(engine, 'Quiet In'), hl7('ADT^A01', 'TR-2', '')))).toBe(
      'AA',
    )
    await waitFor(() => peer.count('TR-1') === 1 && peer.count('TR-2') === 1, 'both delivered')
    await waitFor(
      () => lines.filter((l) => l.msg === 'ArchiveIO: message delivered').length === 2,
      'both deliveries archived',
    )
    return { lines, body }
  }

  it('LogTraceEvents=1 on an item: its trace events at debug; ArchiveIO: sizes and ids', async () => {
    const { lines, body } = await run((xml) =>
      xml.replace(/(<Item Name="Traced In"[^>]*)LogTraceEvents="false"/, '$1LogTraceEvents="true"'),
    )
    const trace = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('trace:'))
    expect(trace.length).toBeGreaterThan(0)
    // Only the traced item, at debug (20), with ids and types.
    for (const l of trace) {
      expect(l.host).toBe('Traced In')
      expect(l.level).toBe(20)
    }
    expect(trace).toContainEqual(
      expect.objectContaining({
        msg: 'trace: message received',
        messageId: 'TR-1',
        messageType: 'ADT^A01',
        bytes: Buffer.byteLength(body),
        targets: 'Out',
      }),
    )
    expect(trace).toContainEqual(
      expect.objectContaining({
        msg: 'trace: hop',
        source: 'Traced In',
        target: 'Out',
        state: 'queued',
      }),
    )
    // ArchiveIO: the service's message in, both deliveries out, at info (30).
    const archived = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('ArchiveIO'))
    expect(archived).toContainEqual(
      expect.objectContaining({
        level: 30,
        host: 'Traced In',
        msg: 'ArchiveIO: message received',
        messageId: 'TR-1',
        bytes: Buffer.byteLength(body),
      }),
    )
    expect(
      archived.filter((l) => l.msg === 'ArchiveIO: message delivered' && l.host === 'Out'),
    ).toHaveLength(2)
    // The untraced service logs no trace and, without ArchiveIO, no archive line.
    expect(lines.some((l) => l.host === 'Quiet In' && l.level === 20)).toBe(false)
    expect(archived.some((l) => l.host === 'Quiet In')).toBe(false)
    // Never a body, at any level.
    for (const l of lines) expect(JSON.stringify(l)).not.toContain('SECRETNAME')
  })

  it('LogGeneralTraceEvents=1 on the production traces every item', async () => {
    const { lines } = await run((xml) =>
      xml.replace('LogGeneralTraceEvents="false"', 'LogGeneralTraceEvents="true"'),
    )
    const hosts = new Set(
      lines.filter((l) => String(l.msg).startsWith('trace:')).map((l) => String(l.host)),
    )
    expect([...hosts].sort()).toEqual(['Out', 'Quiet In', 'Traced In'])
    for (const l of lines) expect(JSON.stringify(l)).not.toContain('SECRETNAME')
  })
})
