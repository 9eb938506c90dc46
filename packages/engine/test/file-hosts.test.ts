// FileService → FileOperation over real directories: batch files split, archived, written under
// IRIS Filename patterns with the uniqueness counter.
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  controlIdOf,
  finalState,
  hl7,
  removeDir,
  startEngine,
  tempDir,
  waitFor,
} from './helpers.js'

describe('FileService → FileOperation', () => {
  let files: string
  let engine: Engine
  let dir: string

  beforeAll(async () => {
    files = await tempDir('files')
    ;({ engine, dir } = await startEngine([
      {
        name: 'FileIn',
        className: 'EnsLib.HL7.Service.FileService',
        host: { TargetConfigNames: 'FileOut', BatchHandling: 'Indiv' },
        adapter: {
          FilePath: path.join(files, 'in'),
          FileSpec: '*.hl7',
          ArchivePath: path.join(files, 'archive'),
          CallInterval: 0.05,
        },
      },
      {
        name: 'FileOut',
        className: 'EnsLib.HL7.Operation.FileOperation',
        adapter: { FilePath: path.join(files, 'out'), Filename: '%f_%Q%!+(_a)' },
      },
    ]))
  })

  afterAll(async () => {
    await engine?.stop()
    await removeDir(dir)
    await removeDir(files)
  })

  it('BatchHandling Indiv splits a batch file, archives it, and writes one file per message named from the original', async () => {
    const batch = `FHS|^~\\&|PAS\r\nBHS|^~\\&|PAS\r\n${hl7('ADT^A01', 'F-1').replace(/\r/g, '\r\n')}${hl7('ADT^A01', 'F-2').replace(/\r/g, '\r\n')}BTS|2\r\nFTS|1\r\n`
    await mkdir(path.join(files, 'in'), { recursive: true })
    // Write then rename, as a well-behaved sender does; the service also waits for a stable size.
    await writeFile(path.join(files, 'batch.tmp'), batch)
    await rename(path.join(files, 'batch.tmp'), path.join(files, 'in', 'batch.hl7'))
    expect((await finalState(engine, 'FileIn', 'F-1')).state).toBe('completed')
    expect((await finalState(engine, 'FileIn', 'F-2')).state).toBe('completed')
    const out = await waitFor(async () => {
      const names = await readdir(path.join(files, 'out')).catch(() => [])
      return names.length === 2 ? names : undefined
    }, 'two output files')
    expect(out.every((n) => n.startsWith('batch.hl7_'))).toBe(true)
    const ids = await Promise.all(
      out.map(async (n) => controlIdOf(await readFile(path.join(files, 'out', n), 'utf8'))),
    )
    expect(ids.sort()).toEqual(['F-1', 'F-2'])
    expect(await readdir(path.join(files, 'in'))).toEqual([])
    expect(await readdir(path.join(files, 'archive'))).toEqual(['batch.hl7'])
  })

  it('ignores files that do not match FileSpec', async () => {
    await writeFile(path.join(files, 'in', 'notes.txt'), 'not hl7')
    await writeFile(path.join(files, 'in', 'one.hl7'), hl7('ADT^A08', 'F-3'))
    expect((await finalState(engine, 'FileIn', 'F-3')).state).toBe('completed')
    expect(await readdir(path.join(files, 'in'))).toEqual(['notes.txt'])
  })
})
