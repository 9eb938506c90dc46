// What the store costs per engine message: the write pattern of @li/engine's message path (as in
// `node apps/engine/dist/loadtest.js`: MLLP.In -> Router -> EPR.Out) replayed through MessageStore
// with `worker: true`, and the CPU of the whole process (main thread + the store's worker thread,
// process.cpuUsage) divided by the messages, with the wall rate. Median of several rounds.
//
// Per message, as MessagePath and its StoreBatcher issue them (packages/engine/src/runtime/
// message-path.ts, store-batcher.ts; no search tables, one target, no transform):
//   1. store() the inbound record (3.3 KB ORU, metadata { walId }), held, awaited for its id;
//   2. recordHop 'received', issued at once (recordHopNow), then 'queued' MLLP.In -> Router, held;
//   3. a turn later (the router): 'queued' Router -> EPR.Out and the router's 'completed', held;
//   4. a timer later (the operation, waiting for its ACK): 'processing', 'completed' with the ACK
//      code, then markCompleted of the inbound record (the last branch settled), held.
// Held writes are issued together every 1 ms (StoreBatcher's window), so commits hold what 1 ms of
// traffic wrote, from messages at different steps, like the engine's. Messages start in bursts
// every LI_BENCH_TICK_MS (3) at LI_BENCH_RATE a second (4,000, the load test's engine rate): that
// gives commits of about 40 writes (1 ms ticks: about 23); the load test's engine, sharing two
// cores with its load generator, commits 50 to 75, so the per-commit costs weigh a little more
// here. Commit size moves the CPU per message a lot (fixed pages written per commit): compare
// variants in one run, not figures of different runs.
//
// Reported: CPU µs per message of the whole process (process.cpuUsage: the main thread, the
// store's worker thread, GC threads), its system share, the worker thread's own (Linux
// /proc/self/task), the wall rate, and writes per commit; median and range of the rounds. With
// several variants, also each round's difference to the first variant (rounds run back to back).
//
// It does not measure the engine (WAL, sockets, queues) or reads; it measures only the store.
//
// Over dist: `pnpm turbo run build --filter=@li/store` first, then
//   node packages/store/bench/engine-pattern.mjs
// Environment: LI_BENCH_MESSAGES (20,000 a round), LI_BENCH_ROUNDS (5), LI_BENCH_RATE (4,000),
// LI_BENCH_TICK_MS (3), LI_BENCH_INFLIGHT (64 at most), LI_BENCH_DIR (tmpdir),
// LI_BENCH_VARIANTS: `name=/path/to/dist,...` (default `current=` this package's dist). Several
// variants run interleaved (round 1 of each, then round 2 of each, ...), so that a change of the
// machine's load falls on all of them. A variant's dist outside this package needs a
// node_modules next to it (a symlink to this package's) to find better-sqlite3.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const N = Number(process.env.LI_BENCH_MESSAGES ?? 20_000)
const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? 5)
const INFLIGHT = Number(process.env.LI_BENCH_INFLIGHT ?? 64)
const RATE = Number(process.env.LI_BENCH_RATE ?? 4000)
const TICK_MS = Number(process.env.LI_BENCH_TICK_MS ?? 3)
const WINDOW_MS = 1

const variants = (
  process.env.LI_BENCH_VARIANTS ?? `current=${new URL('../dist/', import.meta.url).pathname}`
)
  .split(',')
  .map((spec) => {
    const i = spec.indexOf('=')
    return { name: spec.slice(0, i), dist: resolve(spec.slice(i + 1)) }
  })
for (const v of variants) {
  v.MessageStore = (await import(pathToFileURL(join(v.dist, 'index.js')).href)).MessageStore
  v.rounds = []
}

/** The load test's synthetic ORU: ~3.3 KB, a head with the control id and a fixed OBX tail. */
const TAIL = (() => {
  let tail = ''
  for (let i = 1; tail.length < 3000; i++) {
    tail += `OBX|${i}|TX|NOTE^Result note^L||${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(2)}||||||F\r`
  }
  return tail
})()
const body = (id) =>
  `MSH|^~\\&|LAB|RXX01|EPR|RXX01|20261127120000||ORU^R01^ORU_R01|${id}|P|2.5\r` +
  `PID|1||${id}^^^RXX01^MR~9990000000^^^NHS^NH||LOADTEST^PATIENT^^^MR||19700101|M|||1 Test Street^^Leeds^^LS1 1AA^GBR\r` +
  `OBR|1||${id}|FBC^Full blood count^L|||20261127115500\r` +
  TAIL

/** A UUID version 7 like the engine's newSessionId (time first, so ids sort by time). */
let sessionSeq = 0
const sessionId = () => {
  const t = Date.now().toString(16).padStart(12, '0')
  const r = (++sessionSeq).toString(16).padStart(15, '0')
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-8${r.slice(3, 6)}-${r.slice(6)}abc`
}

/** CPU ticks (user + system, 1/100 s) of each thread of this process, by thread id (Linux). */
function threadTicks() {
  const out = new Map()
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(tid, Number(f[11]) + Number(f[12]))
    }
  } catch {
    // Not Linux: the per-thread column stays empty.
  }
  return out
}

async function round(variant, dir, r) {
  const path = join(dir, `${variant.name}-${r}.db`)
  const store = new variant.MessageStore({ path, worker: true })
  await store.start()
  // StoreBatcher: hold writes, issue them all every WINDOW_MS (or at 256).
  let held = []
  let timer
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    const h = held
    held = []
    for (const issue of h) issue()
  }
  const hold = (write) =>
    new Promise((res, rej) => {
      held.push(() => write().then(res, rej))
      if (held.length >= 256) flush()
      else timer ??= setTimeout(flush, WINDOW_MS)
    })
  const quietly = []
  const hopLater = (hop) => {
    held.push(() => quietly.push(store.recordHop(hop)))
    if (held.length >= 256) flush()
    else timer ??= setTimeout(flush, WINDOW_MS)
  }
  let commits = 0
  let writes = 0
  let durations = []
  store.on('batch', ({ size, durationMs }) => {
    commits++
    writes += size
    durations.push(durationMs)
  })
  const one = async (i) => {
    const sid = sessionId()
    const controlId = `R${r}M${i}`
    const rec = await hold(() =>
      store.store({
        hostName: 'MLLP.In',
        messageId: controlId,
        payload: body(controlId),
        messageType: 'ORU^R01',
        correlationId: controlId,
        sessionId: sid,
        direction: 'inbound',
        metadata: { walId: String(i + 1) },
      }),
    )
    quietly.push(
      store.recordHop({
        sessionId: sid,
        messageId: rec.id,
        source: 'MLLP.In',
        target: 'MLLP.In',
        state: 'received',
      }),
    )
    hopLater({
      sessionId: sid,
      messageId: rec.id,
      source: 'MLLP.In',
      target: 'Router',
      state: 'queued',
    })
    await new Promise((res) => setImmediate(res))
    hopLater({
      sessionId: sid,
      messageId: rec.id,
      source: 'Router',
      target: 'EPR.Out',
      state: 'queued',
    })
    hopLater({
      sessionId: sid,
      messageId: rec.id,
      source: 'MLLP.In',
      target: 'Router',
      state: 'completed',
      detail: 'rules results to the EPR',
    })
    await new Promise((res) => setTimeout(res, 0))
    hopLater({
      sessionId: sid,
      messageId: rec.id,
      source: 'Router',
      target: 'EPR.Out',
      state: 'processing',
    })
    hopLater({
      sessionId: sid,
      messageId: rec.id,
      source: 'Router',
      target: 'EPR.Out',
      state: 'completed',
      detail: 'AA',
    })
    quietly.push(hold(() => store.markCompleted(rec.id)))
  }
  // Warm-up outside the measurement (worker start, statement preparation, file growth).
  for (let i = 0; i < 200; i++) await one(-1 - i)
  await Promise.all(quietly.splice(0))
  commits = 0
  writes = 0
  durations = []
  const ticks0 = threadTicks()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  // Messages start at RATE a second (the load test's engine rate), at most INFLIGHT at a time.
  const running = []
  let started = 0
  let inflight = 0
  while (started < N) {
    const due = Math.min(N, Math.floor(((performance.now() - t0) * RATE) / 1000) + 1)
    while (started < due && inflight < INFLIGHT) {
      inflight++
      running.push(one(started++).finally(() => inflight--))
    }
    await new Promise((res) => setTimeout(res, TICK_MS))
  }
  await Promise.all(running)
  flush()
  await Promise.all(quietly.splice(0))
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  // The store's worker: the thread (other than the main one) that used the most CPU.
  let workerTicks = 0
  for (const [tid, t] of threadTicks()) {
    if (tid !== String(process.pid)) workerTicks = Math.max(workerTicks, t - (ticks0.get(tid) ?? 0))
  }
  await store.stop()
  rmSync(path, { force: true })
  return {
    cpuUs: (cpu.user + cpu.system) / N,
    sysUs: cpu.system / N,
    workerUs: (workerTicks * 10_000) / N,
    rate: N / seconds,
    perCommit: writes / commits,
    writesPerMessage: writes / N,
    commitP99: percentile(durations, 99),
    commitMax: Math.max(...durations),
  }
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? Number.NaN
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}
const f1 = (x) => x.toFixed(1)

const dir = mkdtempSync(join(process.env.LI_BENCH_DIR ?? tmpdir(), 'li-engine-pattern-'))
const load0 = loadavg()[0]
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const res = await round(v, dir, r)
      v.rounds.push(res)
      console.error(
        `round ${r + 1} ${v.name}: ${f1(res.cpuUs)} µs CPU/msg (${f1(res.sysUs)} system, ${f1(res.workerUs)} worker thread), ${Math.round(res.rate)} msg/s, ${f1(res.perCommit)} writes/commit, commit p99 ${f1(res.commitP99)} max ${f1(res.commitMax)} ms`,
      )
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(
  `\n${N.toLocaleString('en-GB')} messages x ${ROUNDS} rounds, ${RATE.toLocaleString('en-GB')} msg/s offered, ≤ ${INFLIGHT} in flight, worker: true; ` +
    `${new Date().toISOString()}, Node ${process.versions.node}, load average ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}\n`,
)
console.log(
  '| variant | CPU µs/msg median (min–max) | of which system | of which the worker thread | msg/s median (min–max) | writes/msg | writes/commit | batch ms p99 / max (worst round) |',
)
console.log('|---|---|---:|---:|---|---:|---:|---|')
const [first] = variants
for (const v of variants) {
  const cpu = v.rounds.map((x) => x.cpuUs)
  const rate = v.rounds.map((x) => x.rate)
  console.log(
    `| ${v.name} | ${f1(median(cpu))} (${f1(Math.min(...cpu))}–${f1(Math.max(...cpu))}) | ${f1(median(v.rounds.map((x) => x.sysUs)))} | ${f1(median(v.rounds.map((x) => x.workerUs)))} | ${Math.round(median(rate))} (${Math.round(Math.min(...rate))}–${Math.round(Math.max(...rate))}) | ${f1(median(v.rounds.map((x) => x.writesPerMessage)))} | ${f1(median(v.rounds.map((x) => x.perCommit)))} | ${f1(Math.max(...v.rounds.map((x) => x.commitP99)))} / ${f1(Math.max(...v.rounds.map((x) => x.commitMax)))} |`,
  )
}
if (variants.length > 1) {
  // Paired by round (the rounds ran back to back), so a change of the machine's load cancels out.
  console.log(`\n| variant | CPU µs/msg against ${first.name}, per round: median (min–max) |`)
  console.log('|---|---|')
  for (const v of variants.slice(1)) {
    const d = v.rounds.map((x, i) => x.cpuUs - first.rounds[i].cpuUs)
    const pct = median(d.map((x, i) => (100 * x) / first.rounds[i].cpuUs))
    console.log(
      `| ${v.name} | ${d.map(f1).join(', ')}: ${f1(median(d))} (${pct.toFixed(1)}%) (${f1(Math.min(...d))}–${f1(Math.max(...d))}) |`,
    )
  }
}
