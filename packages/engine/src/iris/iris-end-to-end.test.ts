// An IRIS export (production, routing rule class, DTL, lookup table, custom schema) run end to
// end by the Engine over real MLLP sockets and files: what a trust does first after the check.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseMessage } from '@li/hl7'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  IRIS_FIXTURES,
  MllpPeer,
  ackFor,
  controlIdOf,
  finalState,
  irisFixture,
  msaCode,
  portOf,
  removeDir,
  runEngine,
  sendMllp,
  setSetting,
  tempDir,
  waitFor,
} from '../../test/helpers.js'
import type { Engine } from '../runtime/engine.js'
import { loadProduction } from './loader.js'

const ADT = irisFixture('messages/adt-a01.hl7')

describe('IRIS export end to end over MLLP', () => {
  let dir: string
  let outDir: string
  let peer: MllpPeer
  let engine: Engine
  let port: number

  beforeAll(async () => {
    dir = await tempDir('iris-e2e')
    outDir = path.join(dir, 'out')
    peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
    const peerPort = await peer.listen()
    const p = await loadProduction({ path: IRIS_FIXTURES + 'export.xml' })
    setSetting(p, 'PAS ADT In', 'Port', '0')
    setSetting(p, 'EPR ADT Out', 'Port', String(peerPort))
    setSetting(p, 'ADT File Out', 'FilePath', outDir)
    // 'Lab Results' (a disabled ObjectScript process) stays: disabled items are not started
    engine = await runEngine(path.join(dir, 'data'), p)
    port = portOf(engine, 'PAS ADT In')
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  it('routes by the rule class, transforms with the DTL and lookup table, and files the original', async () => {
    const ack = await sendMllp(port, ADT)
    expect(msaCode(ack)).toBe('AA')
    expect((await finalState(engine, 'PAS ADT In', 'MSG00001')).state).toBe('completed')
    const sent = await waitFor(
      async () => Promise.resolve(peer.received.find((m) => controlIdOf(m) === 'MSG00001')),
      'EPR delivery',
    )
    const out = parseMessage(sent)
    expect(out.get('MSH-9.1')).toBe('ADT')
    expect(out.get('MSH-9.2')).toBe('A08')
    expect(out.get('MSH-12')).toBe('2.4')
    expect(out.get('EVN-1')).toBe('A08')
    expect(out.get('PV1-3.1')).toBe('Ward One')
    expect(out.get('PID-3[1].1')).toBe('9434765919')
    expect(out.segments('ZPI')).toHaveLength(0)
    const files = await waitFor(async () => {
      const f = await readdir(outDir).catch(() => [])
      return f.length > 0 ? f : undefined
    }, 'file out')
    const filed = await readFile(path.join(outDir, files[0]!), 'utf8')
    expect(parseMessage(filed).get('MSH-9.2')).toBe('A01')
    expect(parseMessage(filed).segments('ZPI')).toHaveLength(1)
  })

  it('deletes test messages (MSH-11 = T) by the rule, delivering nothing', async () => {
    const test = ADT.replace('|MSG00001|P|', '|MSG00002|T|')
    expect(msaCode(await sendMllp(port, test))).toBe('AA')
    expect((await finalState(engine, 'PAS ADT In', 'MSG00002')).state).toBe('completed')
    expect(peer.count('MSG00002')).toBe(0)
  })
})
