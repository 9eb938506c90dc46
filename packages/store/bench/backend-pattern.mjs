// The SQLite side alone of bench/engine-pattern.mjs: the same per-message writes (a 3.3 KB record,
// six hops, a markCompleted), encoded as WorkerSqliteBackend encodes them and applied with
// `SqliteBackend.writeEncoded` (what the store's worker thread runs), in batches of a fixed size,
// on the main thread, with no MessageStore, no thread crossing and no timers. Less noisy than the
// whole store, so it shows changes of a few µs per message; it leaves out what the worker costs.
//
// Batches are cut every LI_BENCH_BATCH writes (40) from a stream where each slot adds a record,
// the 'received' and 'queued' hops of the record whose id came back one slot earlier, the router's
// two hops a slot later, and the operation's two hops and the markCompleted five slots later, so a
// batch mixes messages at different steps, as the engine's commits do.
//
// Over dist: `pnpm turbo run build --filter=@li/store` first, then
//   node packages/store/bench/backend-pattern.mjs
// Environment: LI_BENCH_MESSAGES (20,000 a round), LI_BENCH_ROUNDS (7), LI_BENCH_BATCH (40),
// LI_BENCH_DIR (tmpdir), LI_BENCH_VARIANTS (`name=/path/to/dist,...`, as in engine-pattern.mjs;
// interleaved rounds, paired differences to the first variant).
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const N = Number(process.env.LI_BENCH_MESSAGES ?? 20_000)
const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? 7)
const BATCH = Number(process.env.LI_BENCH_BATCH ?? 40)

const variants = (
  process.env.LI_BENCH_VARIANTS ?? `current=${new URL('../dist/', import.meta.url).pathname}`
)
  .split(',')
  .map((spec) => {
    const i = spec.indexOf('=')
    return { name: spec.slice(0, i), dist: resolve(spec.slice(i + 1)), rounds: [] }
  })
for (const v of variants) {
  const url = (file) => pathToFileURL(join(v.dist, file)).href
  v.SqliteBackend = (await import(url('sqlite-backend.js'))).SqliteBackend
  v.encodeWrites = (await import(url('write-codec.js'))).encodeWrites
}

const TAIL = (() => {
  let tail = ''
  for (let i = 1; tail.length < 3000; i++) {
    tail += `OBX|${i}|TX|NOTE^Result note^L||${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(2)}||||||F\r`
  }
  return tail
})()

async function round(v, dir, r) {
  const path = join(dir, `${v.name}-${r}.db`)
  const backend = new v.SqliteBackend({ path })
  await backend.open()
  const t0 = Date.now()
  /** Messages whose later steps are still due: { sessionId, id, at (slot the id came back) }. */
  const live = []
  let batch = []
  let slot = 0
  const flush = async () => {
    if (batch.length === 0) return
    const held = batch
    batch = []
    writes += held.length
    const { ids } = await backend.writeEncoded(v.encodeWrites(held.map((w) => w.op)), held.length)
    held.forEach((w, i) => w.done?.(ids[i]))
  }
  let writes = 0
  const hop = (m, source, target, state, detail) =>
    batch.push({
      op: {
        kind: 'hop',
        sessionId: m.sessionId,
        messageId: m.id,
        source,
        target,
        state,
        time: new Date(),
        ...(detail === undefined ? {} : { detail }),
      },
    })
  const cpu0 = process.cpuUsage()
  for (let k = 0; k < N || live.length > 0; k++) {
    slot = k
    if (k < N) {
      const t = (t0 + (k >> 2)).toString(16).padStart(12, '0')
      const m = {
        sessionId: `${t.slice(0, 8)}-${t.slice(8, 12)}-7abc-8def-${k.toString(16).padStart(12, '0')}`,
      }
      const id = `R${r}M${k}`
      live.push(m)
      batch.push({
        op: {
          kind: 'insert',
          hostName: 'MLLP.In',
          messageId: id,
          payload: `MSH|^~\\&|LAB|RXX01|EPR|RXX01|20261127120000||ORU^R01^ORU_R01|${id}|P|2.5\r${TAIL}`,
          messageType: 'ORU^R01',
          correlationId: id,
          sessionId: m.sessionId,
          direction: 'inbound',
          metadata: { walId: String(k) },
          time: new Date(),
        },
        done: (rowId) => {
          m.id = String(rowId)
          m.at = slot
        },
      })
    }
    for (const m of live) {
      if (m.id === undefined) continue
      const step = k - m.at
      if (step === 1) {
        hop(m, 'MLLP.In', 'MLLP.In', 'received')
        hop(m, 'MLLP.In', 'Router', 'queued')
      } else if (step === 2) {
        hop(m, 'Router', 'EPR.Out', 'queued')
        hop(m, 'MLLP.In', 'Router', 'completed', 'rules results to the EPR')
      } else if (step === 6) {
        hop(m, 'Router', 'EPR.Out', 'processing')
        hop(m, 'Router', 'EPR.Out', 'completed', 'AA')
        batch.push({ op: { kind: 'transition', id: m.id, state: 'completed', time: new Date() } })
      }
    }
    while (live.length > 0 && live[0].id !== undefined && k - live[0].at >= 6) live.shift()
    if (batch.length >= BATCH || k >= N) await flush()
  }
  await flush()
  const cpu = process.cpuUsage(cpu0)
  if (writes !== N * 8) throw new Error(`wrote ${writes} writes for ${N} messages, not 8 each`)
  await backend.close()
  rmSync(path, { force: true })
  return (cpu.user + cpu.system) / N
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}
const f1 = (x) => x.toFixed(1)

const dir = mkdtempSync(join(process.env.LI_BENCH_DIR ?? tmpdir(), 'li-backend-pattern-'))
const load0 = loadavg()[0]
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) v.rounds.push(await round(v, dir, r))
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(
  `\n${N.toLocaleString('en-GB')} messages x ${ROUNDS} rounds, batches of ${BATCH} writes, SqliteBackend.writeEncoded on one thread; ` +
    `${new Date().toISOString()}, Node ${process.versions.node}, load average ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}\n`,
)
const [first] = variants
console.log(
  `| variant | CPU µs/msg median (min–max) | against ${first.name}, paired by round: median (min–max) |`,
)
console.log('|---|---|---|')
for (const v of variants) {
  const d = v.rounds.map((x, i) => x - first.rounds[i])
  console.log(
    `| ${v.name} | ${f1(median(v.rounds))} (${f1(Math.min(...v.rounds))}–${f1(Math.max(...v.rounds))}) | ${v === first ? '—' : `${f1(median(d))} (${f1(Math.min(...d))}–${f1(Math.max(...d))})`} |`,
  )
}
