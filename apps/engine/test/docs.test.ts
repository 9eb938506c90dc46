// The docs keep up with the code: every item setting the runtime honours is described in the
// configuration reference, and every `li-engine run` option in it and in the app README.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HONOURED_SETTINGS } from '@li/engine'
import { describe, expect, it } from 'vitest'
import { RUN_OPTIONS } from '../src/config.js'

const repo = fileURLToPath(new URL('../../..', import.meta.url))
const read = (file: string): string => readFileSync(path.join(repo, file), 'utf8')

describe('docs', () => {
  it('describe every honoured item setting in docs/configuration.md', () => {
    const doc = read('docs/configuration.md')
    const missing = [...HONOURED_SETTINGS].filter((s) => !doc.includes(`\`${s}\``))
    expect(missing).toEqual([])
  })

  it('list every li-engine run option in docs/configuration.md and apps/engine/README.md', () => {
    for (const file of ['docs/configuration.md', 'apps/engine/README.md']) {
      const doc = read(file)
      const missing = Object.keys(RUN_OPTIONS)
        .filter((o) => o !== 'help')
        .filter((o) => !doc.includes(`--${o}`))
      expect({ file, missing }).toEqual({ file, missing: [] })
    }
  })
})
