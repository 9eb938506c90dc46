// Runs every benchmark of @li/hl7 in turn: the parse benchmark (bench/parse.mjs), then the MLLP
// benchmark(s) (bench/mllp*.mjs) when present. Arguments are passed to each script unchanged.
// Expects dist/ to be built (the package's `bench` script builds first).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const scripts = [
  'parse.mjs',
  ...readdirSync(here)
    .filter((f) => f.startsWith('mllp') && f.endsWith('.mjs'))
    .sort(),
]
let failed = 0
for (const script of scripts) {
  console.log(`\n=== bench/${script} ===`)
  const r = spawnSync(process.execPath, [join(here, script), ...process.argv.slice(2)], {
    stdio: 'inherit',
  })
  if (r.status !== 0) {
    console.error(`bench/${script} failed with exit code ${r.status}`)
    failed++
  }
}
process.exitCode = failed === 0 ? 0 : 1
