// Memory bound of the memory backend under a large backlog, in a process of its own (so nothing
// else of the test run is on its heap): 200,000 bodies of 3.3 KB (660 MB) with a 16 MiB budget
// (each with the engine's headers) must leave the heap far below the bodies' size, then come back
// intact, and leave no spill file.
// Behaviour only: nothing here depends on how fast the disk or the machine is.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const fixture = fileURLToPath(new URL('./fixtures/spill-backlog.mjs', import.meta.url))
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

interface BacklogResult {
  count: number
  depth: number
  queued: { heapUsed: number; external: number; rss: number }
  received: number
  bad: number
  filesQueued: number
  filesDrained: number
  runsAfterStop: number
  spillErrors: string[]
}

describe('memory backend backlog (separate process, built package)', () => {
  let dir = ''
  beforeAll(() => {
    if (!existsSync(dist)) {
      throw new Error(
        `${dist} is missing: run pnpm build (or pnpm --filter @li/queue build) before the tests`,
      )
    }
    dir = mkdtempSync(path.join(tmpdir(), 'li-spill-backlog-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('holds 200,000 x 3.3 KB queued bodies in far less heap than their 660 MB, and delivers them all', () => {
    const count = 200_000
    const size = 3300
    const run = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        fixture,
        JSON.stringify({ count, size, limit: 16 * 1024 * 1024, dir, engineHeaders: true }),
      ],
      { encoding: 'utf8', timeout: 300_000 },
    )
    expect(run.status, run.stderr).toBe(0)
    const r = JSON.parse(run.stdout) as BacklogResult
    expect(r.depth).toBe(count)
    // A stale dist (built before spilling existed) keeps every body on the heap: no spill files.
    expect(r.filesQueued, 'no spill files: is dist older than src? run pnpm build').toBeGreaterThan(
      0,
    )
    // The bodies total 660 MB; the heap keeps the 16 MiB budget and ~0.4 KB of bookkeeping per
    // message (record, id, heap entry; the headers are spilled with the body): ~100 MiB measured.
    expect(r.queued.heapUsed + r.queued.external).toBeLessThan(150 * 1024 * 1024)
    expect(r.received).toBe(count)
    expect(r.bad).toBe(0)
    expect(r.filesDrained).toBe(0)
    expect(r.runsAfterStop).toBe(0)
    expect(r.spillErrors).toEqual([])
  }, 320_000)
})
