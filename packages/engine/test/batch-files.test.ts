// IRIS batch files end to end over real directories: FileService BatchHandling (Whole, 1Session,
// Batch) through a router to FileOperations with and without AutoBatchParentSegs, and FileOperation
// appending under a fixed Filename (Overwrite 0, the IRIS default).
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import { filesIn, finalState, hl7, removeDir, startEngine, tempDir, waitFor } from './helpers.js'
import type { ItemSpec } from './helpers.js'

// The second rule sends the batch document that follows its children (1Session, Batch): it has no
// MSH of its own, so its MSH fields read empty, as in IRIS.
const RULES = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Test.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="adt">
<when condition="HL7.{MSH:9.1}=&quot;ADT&quot;">
<send transform="" target="Out"></send>
</when>
</rule>
<rule name="batch document">
<when condition="HL7.{MSH:9.1}=&quot;&quot;">
<send transform="" target="Out"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`

/** A two-message batch file with FHS/BHS headers and BTS/FTS trailers (CRLF line ends). */
function batchFile(a: string, b: string): string {
  return (
    `FHS|^~\\&|PAS|RXX\r\nBHS|^~\\&|PAS|RXX\r\n` +
    hl7('ADT^A01', a).replace(/\r/g, '\r\n') +
    hl7('ADT^A08', b).replace(/\r/g, '\r\n') +
    'BTS|2\r\nFTS|1\r\n'
  )
}

async function drop(dir: string, name: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, `.${name}.tmp`), text)
  await rename(path.join(dir, `.${name}.tmp`), path.join(dir, name))
}

/** The segments of a `batchFile` written out whole: headers, both messages, trailers. */
const BATCH_SEGMENTS = ['FHS', 'BHS', 'MSH', 'EVN', 'PID', 'MSH', 'EVN', 'PID', 'BTS', 'FTS']

function segmentNames(text: string): string[] {
  return text
    .split('\r')
    .filter((s) => s !== '')
    .map((s) => s.slice(0, 3))
}

describe('batch files', () => {
  let files: string
  let engine: Engine
  let dir: string

  beforeAll(async () => {
    files = await tempDir('batch')
    const svc = (name: string, mode: string, target: string): ItemSpec => ({
      name,
      className: 'EnsLib.HL7.Service.FileService',
      host: { TargetConfigNames: target, BatchHandling: mode },
      adapter: { FilePath: path.join(files, name), CallInterval: 0.05 },
    })
    const router = (name: string, out: string): ItemSpec => ({
      name,
      className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
      host: { BusinessRuleName: `Test.Rules.${out}` },
    })
    const op = (name: string, adapter: Record<string, string>, host = {}): ItemSpec => ({
      name,
      className: 'EnsLib.HL7.Operation.FileOperation',
      host,
      adapter: { FilePath: path.join(files, 'out', name), ...adapter },
    })
    const rules = ['WholeOut', 'SessionOut', 'MultiOut'].map(
      (o) =>
        [`Test.Rules.${o}`, RULES.replaceAll('target="Out"', `target="${o}"`)] as [string, string],
    )
    ;({ engine, dir } = await startEngine(
      [
        svc('WholeIn', 'Whole', 'WholeRouter'),
        router('WholeRouter', 'WholeOut'),
        op('WholeOut', { Filename: '%f.out' }),
        svc('SessionIn', '1Session', 'SessionRouter'),
        router('SessionRouter', 'SessionOut'),
        op('SessionOut', { Filename: '%f.out' }, { AutoBatchParentSegs: '1' }),
        svc('MultiIn', 'Multi-Session Batch', 'MultiRouter'),
        router('MultiRouter', 'MultiOut'),
        op('MultiOut', { Filename: '%f_%Q%!+(_a)' }),
        svc('AppendIn', 'Indiv', 'AppendOut'),
        op('AppendOut', { Filename: 'all.hl7', Framing: 'AsciiLF' }),
      ],
      { rules },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(files)
  })

  it('Whole: the batch is one message; the router sends the whole batch on, written as one file', async () => {
    await drop(path.join(files, 'WholeIn'), 'w.hl7', batchFile('W-1', 'W-2'))
    const [out] = await filesIn(path.join(files, 'out', 'WholeOut'), 1, 'latin1')
    expect(segmentNames(out ?? '')).toEqual(BATCH_SEGMENTS)
    const { records } = await engine.store.query({ hostName: 'WholeIn', limit: 10 })
    expect(records).toHaveLength(1)
    expect(records[0]?.payload.startsWith('FHS|')).toBe(true)
  })

  it('1Session + AutoBatchParentSegs: children in one session, written back as one batch with counted trailers', async () => {
    await drop(path.join(files, 'SessionIn'), 's.hl7', batchFile('S-1', 'S-2'))
    const a = await finalState(engine, 'SessionIn', 'S-2')
    const b = await finalState(engine, 'SessionIn', 'S-1')
    expect(a.sessionId).toBe(b.sessionId)
    const text = await waitFor(async () => {
      const t = await readFile(path.join(files, 'out', 'SessionOut', 's.hl7.out'), 'latin1').catch(
        () => '',
      )
      return t.includes('FTS') ? t : undefined
    }, 'the batch trailer')
    expect(segmentNames(text)).toEqual(BATCH_SEGMENTS)
    expect(text).toContain('\rBTS|2\rFTS|1\r')
    const { records } = await engine.store.query({ sessionId: a.sessionId, limit: 20 })
    // Two children and the batch document, all in the one session.
    expect(records.filter((r) => r.hostName === 'SessionIn')).toHaveLength(3)
  })

  it('Batch (multi-session) without AutoBatchParentSegs: each child in its own session and file, then the batch again (IRIS double output)', async () => {
    await drop(path.join(files, 'MultiIn'), 'm.hl7', batchFile('M-1', 'M-2'))
    const a = await finalState(engine, 'MultiIn', 'M-2')
    const names = await filesIn(path.join(files, 'out', 'MultiOut'), 3, 'latin1')
    const kinds = names.map((t) => segmentNames(t)[0]).sort()
    expect(kinds).toEqual(['FHS', 'MSH', 'MSH'])
    const { records } = await engine.store.query({ sessionId: a.sessionId, limit: 20 })
    expect(records.filter((r) => r.hostName === 'MultiIn')).toHaveLength(1)
  })

  it('a fixed Filename with Overwrite 0 (the IRIS default) appends; Framing AsciiLF ends each message with LF', async () => {
    await drop(path.join(files, 'AppendIn'), 'a1.hl7', hl7('ADT^A01', 'A-1'))
    await finalState(engine, 'AppendIn', 'A-1')
    await waitFor(
      async () => (await readdir(path.join(files, 'out', 'AppendOut')).catch(() => [])).length > 0,
      'first write',
    )
    await drop(path.join(files, 'AppendIn'), 'a2.hl7', hl7('ADT^A01', 'A-2'))
    const text = await waitFor(async () => {
      const t = await readFile(path.join(files, 'out', 'AppendOut', 'all.hl7'), 'latin1')
      return t.includes('|A-2|') ? t : undefined
    }, 'second message appended')
    expect(text.split('\n').filter((l) => l !== '')).toHaveLength(2)
    expect(text.indexOf('|A-1|')).toBeLessThan(text.indexOf('|A-2|'))
  })
})
