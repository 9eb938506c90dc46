// Throughput of send + receive + ack for 1 KiB payloads on Redis: @li/queue (one call per message,
// and batched 100 at a time), BullMQ doing the same work (addBulk + Worker, job removed on
// completion) against the same Redis, and redis-benchmark LPUSH/RPOP as the ceiling. Runs twice,
// on a private redis-server with persistence off and with `appendonly yes, appendfsync everysec`.
//
// Equal work: both sides move the same LI_BENCH_MESSAGES (10,000) 1 KiB payloads, produced in
// chunks of 100 from 4 concurrent loops (sendBatch / addBulk), every message received and acked
// (BullMQ: processed and moved to completed, then removed: removeOnComplete), and a run ends at the
// last ack (BullMQ: the N-th 'completed' event), not when idle consumers' long polls time out.
// BullMQ runs with its defaults otherwise (stalled-job checks and lock renewal on: its visibility
// timeout; turning them off would weaken a guarantee we keep), with Worker concurrency 1 and 100;
// the better of the two is "BullMQ best". Tried and not faster here: concurrency 10, 500, 1000,
// and a 100-entry events stream (streams.events.maxLen).
//
// Producer and consumers run concurrently in this one Node process (as BullMQ's would), each
// consumer on its own connection. Over dist: run `pnpm --filter @li/queue build` first (turbo's
// bench task does). Each figure is the median of LI_BENCH_ROUNDS (5) runs, with the lowest and
// highest; ratios are taken per round (the contenders of a round run back to back).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Queue, Worker } from 'bullmq'
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import { startRedisServer } from '@li/vitest-config/redis'

// LI_BENCH_DIST: another build to measure (e.g. a copy of dist from before a change).
const dist =
  process.env.LI_BENCH_DIST ?? fileURLToPath(new URL('../dist/index.js', import.meta.url))
if (!existsSync(dist)) {
  console.error(`${dist} is missing: run pnpm --filter @li/queue build first`)
  process.exit(2)
}
const { MessageQueue } = await import(dist)

const bullVersion = createRequire(import.meta.url)('bullmq/package.json').version
const N = Number(process.env.LI_BENCH_MESSAGES ?? 10_000)
const PAYLOAD = 'x'.repeat(1024)
const BATCH = 100
const log = (s) => process.stderr.write(`${s}\n`)

/** Calls `sendChunk(n)` for N messages in chunks of BATCH, from PRODUCERS concurrent loops. */
const PRODUCERS = 4
async function produceInBatches(sendChunk) {
  let sent = 0
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (sent < N) {
        const n = Math.min(BATCH, N - sent)
        sent += n
        await sendChunk(n)
      }
    }),
  )
}

/**
 * @li/queue, one send / receive / ack call per message: 8 concurrent senders, and `workers`
 * concurrent receive→ack loops per consumer client (the engine runs several workers per client).
 */
async function liSingle(url, consumers, workers = 1) {
  return liRun(
    url,
    consumers,
    async (p, q) => {
      let next = 0
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < N) {
            next++
            await p.send(q, PAYLOAD)
          }
        }),
      )
    },
    async (c, q, done) => {
      while (!done()) {
        const m = await c.receive(q, { waitMs: 200 })
        if (m) {
          await c.ack(m)
          return 1
        }
      }
      return 0
    },
    workers,
  )
}

/** @li/queue batched: sendBatch(100) from 4 concurrent loops, receiveBatch({ max: 100 }), ackMany. */
async function liBatch(url, consumers) {
  return liRun(
    url,
    consumers,
    async (p, q) => {
      await produceInBatches((n) =>
        p.sendBatch(
          q,
          Array.from({ length: n }, () => ({ payload: PAYLOAD })),
        ),
      )
    },
    async (c, q, done) => {
      while (!done()) {
        const ms = await c.receiveBatch(q, { max: BATCH, waitMs: 200 })
        if (ms.length > 0) {
          await c.ackMany(ms)
          return ms.length
        }
      }
      return 0
    },
  )
}

async function liRun(url, consumers, produce, consumeOnce, workers = 1) {
  const q = `bench-${Math.random().toString(36).slice(2)}`
  const opts = { redisUrl: url, queuePrefix: 'bench' }
  const producer = new MessageQueue(opts)
  const cs = Array.from({ length: consumers }, () => new MessageQueue(opts))
  await Promise.all([producer, ...cs].map((m) => m.start()))
  let acked = 0
  let tDone = 0
  const done = () => acked >= N
  const t0 = performance.now()
  await Promise.all([
    produce(producer, q),
    ...cs.flatMap((c) =>
      Array.from({ length: workers }, async () => {
        while (!done()) {
          // Not `acked += await ...`: that reads `acked` before the await and loses updates.
          const n = await consumeOnce(c, q, done)
          acked += n
          if (done() && tDone === 0) tDone = performance.now()
        }
      }),
    ),
  ])
  // The run ends when the last message is acked (as BullMQ's ends at its N-th 'completed'), not
  // when the other consumers' long polls (waitMs 200) on the now empty queue have timed out.
  const secs = (tDone - t0) / 1000
  await Promise.all([producer, ...cs].map((m) => m.stop()))
  return N / secs
}

/** BullMQ: addBulk in chunks of 100 from 4 concurrent loops, `consumers` Workers with the given concurrency each. */
async function bull(url, consumers, concurrency) {
  const { hostname, port } = new URL(url)
  const connection = { host: hostname, port: Number(port) }
  const name = `bench-${Math.random().toString(36).slice(2)}`
  const queue = new Queue(name, { connection })
  let completed = 0
  let finish
  const finished = new Promise((r) => (finish = r))
  const workers = Array.from({ length: consumers }, () => {
    const w = new Worker(name, async () => {}, { connection, concurrency })
    w.on('completed', () => {
      if (++completed === N) finish()
    })
    return w
  })
  await Promise.all(workers.map((w) => w.waitUntilReady()))
  const t0 = performance.now()
  await produceInBatches((n) =>
    queue.addBulk(
      Array.from({ length: n }, () => ({
        name: 'm',
        data: PAYLOAD,
        opts: { removeOnComplete: true },
      })),
    ),
  )
  await finished
  const secs = (performance.now() - t0) / 1000
  await Promise.all(workers.map((w) => w.close()))
  await queue.close()
  return N / secs
}

/** redis-benchmark LPUSH and RPOP (50 clients, 1 KiB values), unpipelined and 100 per pipeline. */
function ceiling(port, pipeline) {
  const r = spawnSync(
    'redis-benchmark',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      'lpush,rpop',
      '-n',
      '100000',
      '-d',
      '1024',
      '-P',
      String(pipeline),
      '-q',
    ],
    { encoding: 'utf8' },
  )
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr || r.error}`)
  const rps = (t) =>
    Number(new RegExp(`${t}: ([\\d.]+) requests per second`).exec(r.stdout)?.[1] ?? NaN)
  return { lpush: rps('LPUSH'), rpop: rps('RPOP') }
}

const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? 5)
/** Concurrent receive→ack loops per client in the "workers" rows (an engine host with PoolSize 16). */
const WORKERS = 16
// While iterating: LI_BENCH_ONLY=liSingle (a regex on contender names), LI_BENCH_MODES=off|aof.
const ONLY = new RegExp(process.env.LI_BENCH_ONLY ?? '.')
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-GB') : 'n/a')
const modes = [
  { key: 'off', label: 'persistence off', args: [] },
  { key: 'aof', label: 'AOF everysec', args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] },
].filter((m) => (process.env.LI_BENCH_MODES ?? 'off,aof').split(',').includes(m.key))
const rows = []
for (const mode of modes) {
  const server = await startRedisServer({ args: mode.args })
  const flush = async () => {
    const r = new Redis(server.url)
    await r.flushall()
    r.disconnect()
  }
  try {
    log(`[${mode.label}] redis-benchmark`)
    const none = { lpush: NaN, rpop: NaN }
    const c1 = process.env.LI_BENCH_ONLY ? none : ceiling(server.port, 1)
    const c100 = process.env.LI_BENCH_ONLY ? none : ceiling(server.port, 100)
    await flush()
    const row = { mode: mode.label, c1, c100 }
    const runs = {}
    // Rounds interleave the contenders so that a burst of load from elsewhere hits all of them.
    for (let round = 1; round <= ROUNDS; round++) {
      for (const consumers of [1, 8]) {
        const contenders = {
          [`liSingle${consumers}`]: () => liSingle(server.url, consumers),
          [`liWorkers${consumers}`]: () => liSingle(server.url, consumers, WORKERS),
          [`liBatch${consumers}`]: () => liBatch(server.url, consumers),
          [`bull1_${consumers}`]: () => bull(server.url, consumers, 1),
          [`bull100_${consumers}`]: () => bull(server.url, consumers, BATCH),
        }
        for (const [name, run] of Object.entries(contenders)) {
          if (!ONLY.test(name)) continue
          log(`[${mode.label}] round ${round}/${ROUNDS}: ${name}`)
          ;(runs[name] ??= []).push(await run())
          await flush()
        }
      }
    }
    row.runs = runs
    for (const [name, values] of Object.entries(runs)) row[name] = median(values)
    rows.push(row)
  } finally {
    await server.stop()
  }
}

const spread = (xs) =>
  xs && xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : ''
const lines = [
  `send+receive+ack, 1 KiB payloads, msg/s: median of ${ROUNDS} runs of ${N.toLocaleString('en-GB')} messages (lowest–highest run); load average at end ${loadavg()[0].toFixed(1)} on ${cpus().length} cores (Redis ${spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1] ?? '?'}, Node ${process.version}, BullMQ ${bullVersion})`,
  '',
  `| work | ${rows.map((r) => r.mode).join(' | ')} |`,
  `|---|${rows.map(() => '---:').join('|')}|`,
]
const line = (label, name) =>
  lines.push(
    `| ${label} | ${rows.map((r) => `${fmt(r[name])}${spread(r.runs[name])}`).join(' | ')} |`,
  )
const ceilingLine = (label, f) =>
  lines.push(`| ${label} | ${rows.map((r) => fmt(f(r))).join(' | ')} |`)
for (const c of [1, 8]) {
  line(`@li/queue batched (sendBatch/receiveBatch/ackMany 100), ${c} consumer(s)`, `liBatch${c}`)
  line(`@li/queue one call per message, ${c} consumer(s)`, `liSingle${c}`)
  line(
    `@li/queue one call per message, ${c} consumer(s) x ${WORKERS} concurrent workers`,
    `liWorkers${c}`,
  )
  line(`BullMQ addBulk + ${c} Worker(s), concurrency ${BATCH}`, `bull100_${c}`)
  line(`BullMQ addBulk + ${c} Worker(s), concurrency 1`, `bull1_${c}`)
}
ceilingLine('ceiling: redis-benchmark LPUSH (50 clients, unpipelined), req/s', (r) => r.c1.lpush)
ceilingLine('ceiling: redis-benchmark RPOP (50 clients, unpipelined), req/s', (r) => r.c1.rpop)
ceilingLine('ceiling: redis-benchmark LPUSH -P 100, req/s', (r) => r.c100.lpush)
ceilingLine('ceiling: redis-benchmark RPOP -P 100, req/s', (r) => r.c100.rpop)
// Ratios are taken within each round (the contenders of a round ran back to back, under the same
// load from elsewhere), then summarised: that is the figure to compare across runs.
lines.push(
  '',
  '| @li/queue batched / BullMQ best (same round) | median | per round |',
  '|---|---:|---|',
)
for (const r of rows) {
  for (const c of [1, 8]) {
    const li = r.runs[`liBatch${c}`] ?? []
    const ratios = li
      .map((v, k) => {
        const bulls = [r.runs[`bull1_${c}`]?.[k], r.runs[`bull100_${c}`]?.[k]]
        const ran = bulls.filter((b) => b !== undefined)
        return ran.length > 0 ? v / Math.max(...ran) : NaN
      })
      .filter(Number.isFinite)
    if (ratios.length === 0) continue
    lines.push(
      `| ${r.mode}, ${c} consumer(s) | ${median(ratios).toFixed(1)}x | ${ratios.map((x) => `${x.toFixed(1)}x`).join(' ')} |`,
    )
  }
}
process.stdout.write(`${lines.join('\n')}\n`)
