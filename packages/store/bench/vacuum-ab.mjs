// What incremental vacuum (set on every new store file, so that a purge can give space back)
// costs the writes: the same write mix on a file with auto_vacuum INCREMENTAL and on one made
// the old way (auto_vacuum NONE), alternately in one process, then a purge of everything (with
// the vacuum steps on the first kind). Over dist: `pnpm turbo run build --filter=@li/store` first.
//   node packages/store/bench/vacuum-ab.mjs   (LI_BENCH_ROUNDS, default 3; LI_BENCH_MESSAGES, 20,000)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'

const dist = new URL('../dist/', import.meta.url)
const { MessageStore } = await import(new URL('index.js', dist).href)
const { migrateSqlite } = await import(new URL('sqlite-migrations.js', dist).href)

const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? 3)
const N = Number(process.env.LI_BENCH_MESSAGES ?? 20_000)
const body = `MSH|^~\\&|PAS|RXH|EPR|RXH|20260101120000||ADT^A01|MSG1|P|2.4\rPID|1||123\rOBX|1|TX|||${'x'.repeat(3200)}`
const dir = mkdtempSync(join(process.env.LI_BENCH_DIR ?? tmpdir(), 'li-vacuum-ab-'))

async function run(mode, round) {
  const path = join(dir, `${mode}-${round}.db`)
  if (mode === 'none') {
    // The schema without incremental vacuum, as files made before it are.
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    migrateSqlite(db)
    db.close()
  }
  const store = new MessageStore({ path, worker: false })
  await store.start()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let batch = []
  for (let i = 0; i < N; i++) {
    batch.push(
      (async () => {
        const sessionId = `s${i}`
        const r = await store.store({
          hostName: 'PAS.In',
          messageId: `M${i}`,
          payload: body,
          messageType: 'ADT^A01',
          correlationId: `M${i}`,
          sessionId,
        })
        for (let h = 0; h < 3; h++)
          void store.recordHop({
            sessionId,
            messageId: r.id,
            source: 'PAS.In',
            target: 'X',
            state: 'queued',
          })
        await store.markCompleted(r.id)
      })(),
    )
    if (batch.length >= 64) {
      await Promise.all(batch)
      batch = []
    }
  }
  await Promise.all(batch)
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  let reclaimed = 0
  store.on('reclaim', (r) => (reclaimed = r.bytes))
  const p0 = performance.now()
  await store.purge({ olderThan: new Date(Date.now() + 1000) })
  const purgeSeconds = (performance.now() - p0) / 1000
  await store.stop()
  return `| ${mode === 'incr' ? 'INCREMENTAL (new files)' : 'NONE (older files)'} | ${round + 1} | ${Math.round(N / seconds).toLocaleString('en-GB')} | ${((cpu.user + cpu.system) / N).toFixed(1)} | ${purgeSeconds.toFixed(2)} | ${(reclaimed / 1048576).toFixed(1)} |`
}

try {
  console.log(
    `${N.toLocaleString('en-GB')} messages of ~3.3 KB: store + 3 hops + markCompleted, 64 in flight, SQLite on the main thread`,
  )
  console.log(
    '| auto_vacuum | round | messages/s | CPU µs per message | purge of all (s) | given back (MB) |',
  )
  console.log('|---|---:|---:|---:|---:|---:|')
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 === 0 ? ['incr', 'none'] : ['none', 'incr'])
      console.log(await run(mode, r))
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
