// The memory backend's spilling, measured over dist (run `pnpm --filter @li/queue build` first):
// 1. Hot path: send + receive + ack of 3.3 KB bodies, one call per message and batched 100, with a
//    budget that is never reached (the default 64 MiB; a queue holds at most 100 messages), against
//    LI_SPILL_BEFORE (another build, e.g. a copy of dist from before spilling), each round of each
//    build in a fresh child process, builds alternating; the median of LI_SPILL_ROUNDS (9) rounds.
// 2. Throughput with and without spilling: sendBatch(100) of LI_SPILL_MESSAGES (100,000) 3.3 KB
//    bodies (with a session id and a source header, as the engine sends) into an idle queue, then receiveBatch(100) + ackMany until it is empty; budget
//    Infinity (nothing spilled) against 0 (every body written to a segment and read back).
// 3. Memory of a backlog: LI_SPILL_BACKLOG (1,000,000) x 3.3 KB queued with the default 64 MiB
//    budget and the engine's headers, in a child process (test/fixtures/spill-backlog.mjs): heap,
//    external and RSS after a full GC, then drained and checked.
// Spill files go under LI_SPILL_DIR (default the OS temp directory).
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))
if (!existsSync(dist)) {
  console.error(`${dist} is missing: run pnpm --filter @li/queue build first`)
  process.exit(2)
}
const before = process.env.LI_SPILL_BEFORE
const ROUNDS = Number(process.env.LI_SPILL_ROUNDS ?? 9)
const MESSAGES = Number(process.env.LI_SPILL_MESSAGES ?? 100_000)
const BACKLOG = Number(process.env.LI_SPILL_BACKLOG ?? 1_000_000)
const SIZE = 3300
const base = mkdtempSync(path.join(process.env.LI_SPILL_DIR ?? tmpdir(), 'li-spill-bench-'))
const log = (s) => process.stderr.write(`${s}\n`)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const filler = Buffer.alloc(SIZE, 'x')
/** A fresh flat 3.3 KB body, as one read from a socket. */
function body(i) {
  filler.write(String(i).padStart(10, '0'), 40, 'latin1')
  return filler.toString('latin1')
}
const bodies = Array.from({ length: 1000 }, (_, i) => body(i))

async function open(lib, extra = {}) {
  const mq = new lib.MessageQueue({
    backend: 'memory',
    visibilityTimeout: 3600,
    spillDirectory: base,
    ...extra,
  })
  await mq.start()
  return mq
}

/** ns per message of send → receive → ack, one call each, `n` messages. */
async function hotSingle(lib, n) {
  const mq = await open(lib)
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    await mq.send('q', bodies[i % 1000])
    const m = await mq.receive('q')
    await mq.ack(m)
  }
  const ns = Number(process.hrtime.bigint() - t) / n
  await mq.stop()
  return ns
}

/** ns per message of sendBatch(100) → receiveBatch(100) → ackMany, `n` messages. */
async function hotBatch(lib, n) {
  const mq = await open(lib)
  const items = Array.from({ length: 100 }, (_, i) => ({ payload: bodies[i] }))
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i += 100) {
    await mq.sendBatch('q', items)
    await mq.ackMany(await mq.receiveBatch('q', { max: 100 }))
  }
  const ns = Number(process.hrtime.bigint() - t) / n
  await mq.stop()
  return ns
}

/** msg/s of filling an idle queue with MESSAGES bodies, then of draining it. */
async function fillDrain(lib, memoryLimitBytes) {
  const mq = await open(lib, { memoryLimitBytes })
  let t = performance.now()
  for (let i = 0; i < MESSAGES; i += 100) {
    await mq.sendBatch(
      'q',
      Array.from({ length: 100 }, (_, j) => ({
        payload: body(i + j),
        headers: { sessionId: randomUUID(), source: 'PAS In' },
      })),
    )
  }
  const send = MESSAGES / ((performance.now() - t) / 1000)
  t = performance.now()
  let got = 0
  for (;;) {
    const batch = await mq.receiveBatch('q', { max: 100 })
    if (batch.length === 0) break
    got += batch.length
    await mq.ackMany(batch)
  }
  const drain = got / ((performance.now() - t) / 1000)
  if (got !== MESSAGES) throw new Error(`drained ${got} of ${MESSAGES}`)
  await mq.stop()
  return { send, drain }
}

// A hot-path round runs in a child process of its own (argv: --hot <dist>): two builds loaded in
// one process share the bench's call sites, and whichever runs second found them polymorphic.
if (process.argv[2] === '--hot') {
  const lib = await import(process.argv[3])
  await hotSingle(lib, 20_000)
  await hotBatch(lib, 20_000)
  const single = await hotSingle(lib, 50_000)
  const batch = await hotBatch(lib, 200_000)
  rmSync(base, { recursive: true, force: true })
  console.log(JSON.stringify({ single, batch }))
  process.exit(0)
}
const self = fileURLToPath(import.meta.url)
const after = await import(dist)
const builds = [['after', dist]]
if (before !== undefined) builds.unshift(['before', before])

const out = []
// 1. Hot path, a child process per build and round, builds alternating.
const hot = Object.fromEntries(builds.map(([name]) => [name, { single: [], batch: [] }]))
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, file] of r % 2 === 0 ? builds : [...builds].reverse()) {
    const c = spawnSync(process.execPath, [self, '--hot', file], { encoding: 'utf8' })
    if (c.status !== 0) throw new Error(`hot path child failed: ${c.stderr}`)
    const x = JSON.parse(c.stdout)
    hot[name].single.push(x.single)
    hot[name].batch.push(x.batch)
  }
  log(`hot path round ${r + 1}/${ROUNDS}`)
}
out.push(
  `send+receive+ack, 3.3 KB bodies, budget never reached, ns/message: median of ${ROUNDS} rounds (lowest–highest), a process per build and round`,
  '',
  `| build | one call per message | batched 100 |`,
  `| ----- | -------------------: | ----------: |`,
)
const fmt = (xs) =>
  `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`
for (const [name] of builds) {
  out.push(`| ${name} | ${fmt(hot[name].single)} | ${fmt(hot[name].batch)} |`)
}

// 2. Fill and drain, with and without spilling.
const fd = { none: [], all: [] }
for (let r = 0; r < 3; r++) {
  fd.none.push(await fillDrain(after, Infinity))
  fd.all.push(await fillDrain(after, 0))
  log(`fill/drain round ${r + 1}/3`)
}
out.push(
  '',
  `fill an idle queue with ${MESSAGES.toLocaleString('en')} x 3.3 KB (sendBatch 100), then drain it (receiveBatch 100 + ackMany), msg/s: median of 3`,
  '',
  '| memoryLimitBytes           |   fill |  drain |',
  '| -------------------------- | -----: | -----: |',
)
for (const [label, key] of [
  ['Infinity (nothing spilled)', 'none'],
  ['0 (every body spilled)', 'all'],
]) {
  out.push(
    `| ${label} | ${Math.round(median(fd[key].map((x) => x.send))).toLocaleString('en')} | ${Math.round(median(fd[key].map((x) => x.drain))).toLocaleString('en')} |`,
  )
}

// 3. A big backlog in a child process.
const fixture = fileURLToPath(new URL('../test/fixtures/spill-backlog.mjs', import.meta.url))
const child = spawnSync(
  process.execPath,
  [
    '--expose-gc',
    fixture,
    JSON.stringify({
      count: BACKLOG,
      size: SIZE,
      limit: 64 * 1024 * 1024,
      dir: base,
      dist,
      engineHeaders: true,
    }),
  ],
  { encoding: 'utf8' },
)
if (child.status !== 0) throw new Error(`backlog child failed: ${child.stderr}`)
const b = JSON.parse(child.stdout)
const mb = (x) => `${Math.round(x / 1048576).toLocaleString('en')} MiB`
out.push(
  '',
  `${BACKLOG.toLocaleString('en')} x 3.3 KB queued (${mb(BACKLOG * SIZE)} of bodies, each with the engine's two headers), default 64 MiB budget, after a full GC: heapUsed ${mb(b.queued.heapUsed)}, external ${mb(b.queued.external)}, RSS ${mb(b.queued.rss)} (empty queue: RSS ${mb(b.before.rss)}); filled in ${(b.sendMs / 1000).toFixed(1)} s, drained in ${(b.receiveMs / 1000).toFixed(1)} s, ${b.received.toLocaleString('en')} delivered, ${b.bad} wrong, ${b.filesDrained} spill files left`,
  '',
  `load average at end ${loadavg()[0].toFixed(1)}, Node ${process.version}`,
)
rmSync(base, { recursive: true, force: true })
console.log(out.join('\n'))
