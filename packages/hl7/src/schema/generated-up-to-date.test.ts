// The committed tables in ./generated must be exactly what scripts/generate-schemas.mjs writes
// from the pinned source package, so that nobody edits them by hand.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../scripts/generate-schemas.mjs', import.meta.url))

describe('generated schema tables', () => {
  it('match the generator output (node scripts/generate-schemas.mjs --check)', () => {
    const run = spawnSync(process.execPath, [script, '--check'], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
  }, 70_000)
})
