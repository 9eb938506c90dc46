// A full data volume, for real: the engine's data directory on a small tmpfs, filled up with a
// filler file while messages flow. Nothing may be ACKed (AA) that is not on disk: once the WAL
// cannot append, senders get a NAK with an ERR segment; the engine stays up; once space is back,
// messages are ACKed again and every message that was ACKed reaches the receiver.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import { loadProduction } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  hl7,
  msaCode,
  portOf,
  productionXml,
  runEngine,
  sendMllp,
  setSetting,
  tcpOperation,
  tcpService,
  waitFor,
} from './helpers.js'

const mountPoint = mkdtempSync(path.join(os.tmpdir(), 'li-full-'))
// A tmpfs needs root (CAP_SYS_ADMIN). CI runs as root; elsewhere the test is skipped, and says so.
const mounted =
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]).status === 0

function freeBytes(dir: string): number {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

describe.skipIf(!mounted)(
  'a full data volume (tmpfs; needs root to mount)',
  { timeout: 120_000 },
  () => {
    let engine: Engine
    let peer: MllpPeer
    const filler = path.join(mountPoint, 'filler')

    beforeAll(async () => {
      peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
      const peerPort = await peer.listen()
      const production = await loadProduction(
        `<Export generator="IRIS" version="26"><Class name="Test.Production"><Super>Ens.Production</Super><XData name="ProductionDefinition"><Data><![CDATA[${productionXml(
          'Test.Production',
          [tcpService('In', 'Out', 1), tcpOperation('Out', peerPort, { ResponseTimeout: 5 })],
        )}]]></Data></XData></Class></Export>`,
      )
      setSetting(production, 'In', 'Port', '0')
      engine = await runEngine(path.join(mountPoint, 'data'), production, {
        handOffRetryMs: { min: 50, max: 200 },
      })
    })

    afterAll(async () => {
      await engine?.stop()
      await peer?.close()
      if (mounted) spawnSync('umount', [mountPoint])
      rmSync(mountPoint, { recursive: true, force: true })
    })

    it('NAKs instead of ACKing once the WAL cannot append, and loses nothing it ACKed', async () => {
      const port = portOf(engine, 'In')
      const acked: string[] = []
      // Normal traffic first.
      for (let i = 0; i < 20; i++) {
        const id = `PRE${i}`
        expect(msaCode(await sendMllp(port, hl7('ADT^A01', id)))).toBe('AA')
        acked.push(id)
      }
      // Fill the volume, leaving ~64 KiB.
      writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes(mountPoint) - 64 * 1024)))
      const codes = new Map<string, number>()
      let nak: string | undefined
      const body = 'OBX|1|TX|||' + 'x'.repeat(3000)
      for (let i = 0; i < 3000 && nak === undefined; i++) {
        const id = `FULL${i}`
        const ack = await sendMllp(port, `${hl7('ORU^R01', id)}\r${body}`)
        const code = msaCode(ack) ?? 'none'
        codes.set(code, (codes.get(code) ?? 0) + 1)
        if (code === 'AA') acked.push(id)
        else nak = ack ?? undefined
      }
      // The volume filled up and the engine said so instead of ACKing.
      expect(nak, `ACK codes while filling: ${JSON.stringify([...codes])}`).toBeDefined()
      expect(msaCode(nak ?? null)).toMatch(/^A[RE]$/)
      expect(nak).toMatch(/\rERR\|/)
      expect(engine.state).toBe('RUNNING')
      // Space comes back: ACKs come back, and every message ever ACKed reaches the receiver.
      await unlink(filler)
      await waitFor(
        async () => msaCode(await sendMllp(port, hl7('ADT^A01', 'AFTER0'))) === 'AA',
        'an AA once space is back',
        30_000,
      )
      acked.push('AFTER0')
      await waitFor(
        () => acked.every((id) => peer.count(id) > 0),
        `every ACKed message at the receiver (${acked.length})`,
        60_000,
      )
    })
  },
)
