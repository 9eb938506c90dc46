// What WAL recovery finds reaches the engine's log: a corrupt record in the middle of a segment
// (real files: a byte of a written record flipped between two runs) is an error line, and the
// recovery summary says how many there were. Before, the WAL's `corrupt` and `fault` events had
// no listener in the engine, so the log said only "wal recovered".
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadProduction } from '../src/index.js'
import type { Engine } from '../src/index.js'
import {
  captureLogger,
  fileOperation,
  hl7,
  msaCode,
  portOf,
  productionXml,
  removeDir,
  runEngine,
  sendMllp,
  setSetting,
  tcpService,
  tempDir,
} from './helpers.js'

describe('WAL recovery findings in the engine log', () => {
  let dir: string | undefined
  let engine: Engine | undefined

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
  })

  it('logs a corrupt record found at start as an error, and counts it in the recovery line', async () => {
    dir = await tempDir('wal-log')
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Export generator="IRIS" version="26"><Class name="Test.Production"><Super>Ens.Production</Super><XData name="ProductionDefinition"><Data><![CDATA[${productionXml(
      'Test.Production',
      // Out is disabled: the messages stay pending in the WAL, so their records stay on disk.
      [
        tcpService('In', 'Out', 1),
        { ...fileOperation('Out', path.join(dir, 'out')), enabled: false },
      ],
    )}]]></Data></XData></Class></Export>`
    const production = async (): Promise<Parameters<typeof runEngine>[1]> => {
      const p = await loadProduction(xml)
      setSetting(p, 'In', 'Port', '0')
      return p
    }
    const dataDir = path.join(dir, 'data')
    engine = await runEngine(dataDir, await production(), { drainTimeout: 0.1 })
    for (const id of ['W-1', 'W-2', 'W-3']) {
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    }
    await engine.stop()
    engine = undefined
    // Flip a byte inside W-2's append record: its CRC no longer matches.
    const walDir = path.join(dataDir, 'wal')
    let file = ''
    let bytes = Buffer.alloc(0)
    let at = -1
    for (const name of (await readdir(walDir)).filter((f) => f.endsWith('.wal'))) {
      file = path.join(walDir, name)
      bytes = await readFile(file)
      at = bytes.indexOf('|W-2|')
      if (at > 0) break
    }
    expect(at).toBeGreaterThan(0)
    bytes[at + 1] = 'X'.charCodeAt(0)
    await writeFile(file, bytes)

    const { logger, lines } = captureLogger('info')
    engine = await runEngine(dataDir, await production(), { logger, drainTimeout: 0.1 })
    const corrupt = lines.filter((l) => l.level === 50 && String(l.msg).includes('corrupt record'))
    expect(corrupt).toHaveLength(1)
    expect(corrupt[0]).toMatchObject({ code: 'WAL_CORRUPT_RECORD' })
    const recovered = lines.find((l) => l.msg === 'wal recovered')
    expect(recovered).toMatchObject({ level: 40, corruptRecords: 1 })
    // The engine runs on.
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'W-4')))).toBe('AA')
  })
})
