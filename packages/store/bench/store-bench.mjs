// Benchmark of @li/store over its build (dist/), each figure side by side with what a user would
// otherwise write: better-sqlite3 used naively, one transaction (one commit) per call.
//
//   pnpm --filter @li/store bench            (builds dist/ first; or: pnpm --filter @li/store build)
//
// What it measures:
//   0. The engine's write mix (what @li/engine's message path writes per message): store (3.3 KB
//      payload, metadata) + recordHop x6 + markCompleted, issued in groups the way the engine's
//      StoreBatcher issues them (everything called within 1 ms, in call order), LI_BENCH_MIX_MESSAGES
//      (20,000) messages, LI_BENCH_MIX_INFLIGHT (16) in flight. Reports CPU per write (the whole
//      process, and the main thread's busy time from event-loop utilisation), writes per commit
//      and messages/s, with SQLite on the main thread (the default) and in a worker thread
//      (`worker: true`); LI_BENCH_MIX_VARIANTS=main,worker picks. LI_BENCH_ONLY=mix runs this alone;
//      LI_BENCH_ONLY=queries runs only the query latencies on the large store.
//   1. Messages/s for store + markProcessing + markCompleted from LI_BENCH_CONCURRENCY (64) async
//      callers, LI_BENCH_MESSAGES (20,000) messages, synchronous NORMAL and FULL, with the longest
//      event-loop stall seen during the run.
//   2. Query latency (p50/p99/max) by correlation id and by host+state, and get(id), on a store of
//      LI_BENCH_ROWS (1,000,000) messages with 3 history rows each. The store is bulk-loaded with
//      raw SQL into the schema the store created (loading through the API would only re-measure 1).
//   3. Peak memory (peak RSS over the RSS at the start, and heap delta) of purging every one of those
//      rows, each variant in a fresh child process: MessageStore.purge (chunks) vs one DELETE
//      statement. Meanwhile a writer stores one message every 10 ms; its worst latency shows how long
//      other writers were held up.
// Times depend on the machine and on whatever else runs on it; compare rows of the same run.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { MessageStore } from '../dist/index.js'

const ROWS = Number(process.env.LI_BENCH_ROWS ?? 1_000_000)
const MESSAGES = Number(process.env.LI_BENCH_MESSAGES ?? 20_000)
const CONCURRENCY = Number(process.env.LI_BENCH_CONCURRENCY ?? 64)
const MIX_MESSAGES = Number(process.env.LI_BENCH_MIX_MESSAGES ?? 20_000)
const MIX_INFLIGHT = Number(process.env.LI_BENCH_MIX_INFLIGHT ?? 16)
const HOSTS = [
  'PAS.In',
  'EPR.Out',
  'LIMS.In',
  'RIS.Out',
  'GP.Out',
  'Router',
  'PACS.Out',
  'ED.In',
  'Pharmacy.Out',
  'Theatres.Out',
]
const PAYLOAD =
  'MSH|^~\\&|PAS|RXH|EPR|RXH|20260101120000||ADT^A01^ADT_A01|MSG00001|P|2.4|||AL|NE\r' +
  'EVN|A01|20260101120000\r' +
  'PID|1||9449305552^^^NHS^NH~RXH1234567^^^RXH^MR||SMITH^JANE^ANNE^^MRS||19800101|F|||1 HIGH STREET^^LEEDS^^LS1 1AA^GBR||01130000000\r' +
  'PD1|||LEEDS GP PRACTICE^^B86001|G1234567^JONES^PETER\r' +
  'PV1|1|I|WARD1^BED2^1^RXH||||C1234567^BROWN^ALAN|||MED||||1|||C1234567^BROWN^ALAN|IP|V0000001|||||||||||||||||||||||||20260101120000\r' +
  'NK1|1|SMITH^JOHN|SPO|1 HIGH STREET^^LEEDS^^LS1 1AA^GBR|01130000001\r'

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1)
const ms = (x) => x.toFixed(2)
const pct = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

function message(i) {
  return {
    hostName: HOSTS[i % HOSTS.length],
    messageId: `MSG${i}`,
    payload: PAYLOAD,
    messageType: 'ADT^A01',
    correlationId: `C${i}`,
    sessionId: `S${i}`,
  }
}

/**
 * Measures the longest time the event loop went without running a 1 ms interval timer, up to the
 * moment the returned function is called (so a loop blocked until the end still counts).
 */
function stallProbe() {
  let last = performance.now()
  let max = 0
  const timer = setInterval(() => {
    const now = performance.now()
    max = Math.max(max, now - last)
    last = now
  }, 1)
  return () => {
    clearInterval(timer)
    return Math.max(max, performance.now() - last)
  }
}

/** Runs `perMessage` for `count` messages from `concurrency` async callers; msgs/s and worst stall. */
async function drive(count, concurrency, perMessage) {
  const stall = stallProbe()
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await perMessage(next++)
    }),
  )
  const seconds = (performance.now() - started) / 1000
  return { rate: count / seconds, stallMs: stall() }
}

/** The naive alternative: better-sqlite3 on the same schema, one transaction per call. */
function naiveStore(path, synchronous) {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  const insert = db.prepare(
    `INSERT INTO messages (host_name, message_id, message_type, correlation_id, session_id, direction, payload, metadata, state, error, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, 'received', NULL, ?, ?)`,
  )
  const history = db.prepare(
    'INSERT INTO message_history (message_id, state, time, error) VALUES (?, ?, ?, NULL)',
  )
  const update = db.prepare(
    'UPDATE messages SET state = ?, error = NULL, updated_at = ? WHERE id = ?',
  )
  const store = db.transaction((m, t) => {
    const id = insert.run(
      m.hostName,
      m.messageId,
      m.messageType,
      m.correlationId,
      m.sessionId,
      m.payload,
      t,
      t,
    ).lastInsertRowid
    history.run(id, 'received', t)
    return id
  })
  const mark = db.transaction((id, state, t) => {
    update.run(state, t, id)
    history.run(id, state, t)
  })
  return {
    store: async (m) => store(m, Date.now()),
    mark: async (id, state) => mark(id, state, Date.now()),
    close: () => db.close(),
  }
}

/** A 3.3 KB message like bench/path-profile.mjs of @li/engine sends (PAYLOAD plus OBX padding). */
const MIX_PAYLOAD = `${PAYLOAD}OBX|1|TX|NOTE||${'x'.repeat(2600)}\r`.slice(0, 3300)

/**
 * The engine's write mix. Per message: store() (awaited, as the engine needs the id), then six
 * recordHop() and one markCompleted() issued without waiting, like MessagePath. Writes are held and
 * issued together every 1 ms (the engine's StoreBatcher), so commits hold what 1 ms of traffic wrote.
 */
async function benchMix(dir, variant) {
  const path = join(dir, `mix-${variant}.db`)
  const store = new MessageStore({ path, worker: variant === 'worker' })
  await store.start()
  let held = []
  let timer
  const flush = () => {
    timer = undefined
    const h = held
    held = []
    for (const issue of h) issue()
  }
  const hold = (write) =>
    new Promise((resolve, reject) => {
      held.push(() => write().then(resolve, reject))
      if (held.length >= 256) {
        clearTimeout(timer)
        flush()
      } else timer ??= setTimeout(flush, 1)
    })
  const batches = []
  store.on('batch', ({ size, durationMs }) => batches.push([size, durationMs]))
  const background = []
  const sessionOf = (i) => `${(i * 2654435761) % 4294967296}-${i}-4a7c-9e1f-5d2b8c3e6f01`
  // Warm-up (statement cache, file growth) outside the measurement.
  for (let i = 0; i < 200; i++) await store.store({ ...message(i), payload: MIX_PAYLOAD })
  batches.length = 0
  const elu0 = performance.eventLoopUtilization()
  const cpu0 = process.cpuUsage()
  const stall = stallProbe()
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: MIX_INFLIGHT }, async () => {
      while (next < MIX_MESSAGES) {
        const i = next++
        const sessionId = sessionOf(i)
        const rec = await hold(() =>
          store.store({
            hostName: 'PAS.In',
            messageId: `MSG${i}`,
            payload: MIX_PAYLOAD,
            messageType: 'ADT^A01',
            correlationId: `MSG${i}`,
            sessionId,
            direction: 'inbound',
            metadata: { walId: String(i) },
          }),
        )
        const hop = (source, target, state, detail) =>
          hold(() =>
            store.recordHop({ sessionId, messageId: rec.id, source, target, state, detail }),
          )
        background.push(
          store.recordHop({
            sessionId,
            messageId: rec.id,
            source: 'PAS.In',
            target: 'PAS.In',
            state: 'received',
          }),
          hop('PAS.In', 'Router', 'queued'),
          hop('PAS.In', 'Router', 'sent'),
          hop('Router', 'EPR.Out', 'queued'),
          hop('Router', 'EPR.Out', 'sent'),
          hop('EPR.Out', 'EPR', 'sent', 'ACK AA'),
          hop('EPR.Out', 'EPR', 'completed'),
          hold(() => store.markCompleted(rec.id)),
        )
        // One message at a time per caller, as a sender waiting for its ACK.
        await new Promise((r) => setImmediate(r))
      }
    }),
  )
  await Promise.all(background)
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpu0)
  const elu = performance.eventLoopUtilization(elu0)
  const stallMs = stall()
  await store.stop()
  const writes = MIX_MESSAGES * 8
  const sizes = batches.map(([n]) => n).sort((a, b) => a - b)
  const times = batches.map(([, t]) => t).sort((a, b) => a - b)
  const name =
    variant === 'worker'
      ? 'MessageStore({ worker: true }): SQLite in a worker thread'
      : 'MessageStore (default): SQLite on the main thread'
  return `| ${name} | ${MIX_MESSAGES.toLocaleString('en-GB')} | ${writes.toLocaleString('en-GB')} | ${Math.round(MIX_MESSAGES / seconds).toLocaleString('en-GB')} | ${((cpu.user + cpu.system) / writes).toFixed(1)} | ${((elu.active * 1000) / writes).toFixed(1)} | ${(writes / batches.length).toFixed(1)} / ${sizes[sizes.length - 1]} | ${ms(pct(times, 50))} / ${ms(pct(times, 99))} / ${ms(times[times.length - 1])} | ${ms(stallMs)} |`
}

async function benchMixes(dir) {
  const rows = []
  for (const variant of (process.env.LI_BENCH_MIX_VARIANTS ?? 'main,worker').split(',')) {
    rows.push(await benchMix(dir, variant))
  }
  console.log(
    `\n### 0. The engine's write mix: store + recordHop x6 + markCompleted per message, ${MIX_INFLIGHT} in flight, held 1 ms\n`,
  )
  console.log(
    '| backend | messages | writes | messages/s | CPU per write, process (µs) | main-thread busy per write (µs) | writes per commit mean / max | commit p50 / p99 / max (ms) | longest stall (ms) |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---|---|---:|')
  for (const row of rows) console.log(row)
}

async function benchWrites(dir) {
  const rows = []
  for (const synchronous of ['normal', 'full']) {
    // FULL costs an fsync per commit; the naive side commits 3 times per message, so fewer messages.
    const count = synchronous === 'full' ? Math.max(1000, Math.floor(MESSAGES / 4)) : MESSAGES
    const batchedPath = join(dir, `writes-${synchronous}-batched.db`)
    const store = new MessageStore({ path: batchedPath, synchronous })
    await store.start()
    const commits = []
    store.on('batch', ({ durationMs }) => commits.push(durationMs))
    const batched = await drive(count, CONCURRENCY, async (i) => {
      const m = await store.store(message(i))
      await store.markProcessing(m.id)
      await store.markCompleted(m.id)
    })
    await store.stop()
    commits.sort((a, b) => a - b)
    batched.commits = `${commits.length} batches, ${ms(pct(commits, 50))} / ${ms(pct(commits, 99))} / ${ms(commits[commits.length - 1])}`

    const naivePath = join(dir, `writes-${synchronous}-naive.db`)
    const schema = new MessageStore({ path: naivePath })
    await schema.start()
    await schema.stop()
    const naive = naiveStore(naivePath, synchronous)
    const plain = await drive(count, CONCURRENCY, async (i) => {
      const id = await naive.store(message(i))
      await naive.mark(id, 'processing')
      await naive.mark(id, 'completed')
    })
    naive.close()
    rows.push([`MessageStore (batched), synchronous=${synchronous.toUpperCase()}`, count, batched])
    rows.push([
      `naive better-sqlite3, 1 tx per call, synchronous=${synchronous.toUpperCase()}`,
      count,
      plain,
    ])
  }
  console.log(
    `\n### 1. store + markProcessing + markCompleted, ${CONCURRENCY} concurrent callers\n`,
  )
  console.log(
    '| writer | messages | messages/s | commit time p50 / p99 / max (ms) | longest event-loop stall (ms) |',
  )
  console.log('|---|---:|---:|---|---:|')
  for (const [name, count, r] of rows) {
    const commits = r.commits ?? 'one commit per call; never yields'
    console.log(
      `| ${name} | ${count.toLocaleString('en-GB')} | ${Math.round(r.rate).toLocaleString('en-GB')} | ${commits} | ${ms(r.stallMs)} |`,
    )
  }
}

/** Bulk-loads `ROWS` messages (3 history rows each) into a fresh store file; returns its path. */
async function buildLargeStore(dir) {
  const path = join(dir, 'large.db')
  const schema = new MessageStore({ path })
  await schema.start()
  await schema.stop()
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const insert = db.prepare(
    `INSERT INTO messages (id, host_name, message_id, message_type, correlation_id, session_id, direction, payload, metadata, state, error, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 'inbound', ?, NULL, ?, ?, ?, ?)`,
  )
  const history = db.prepare(
    'INSERT INTO message_history (message_id, state, time, error) VALUES (?, ?, ?, ?)',
  )
  const search = db.prepare('INSERT INTO message_search (message_id, name, value) VALUES (?, ?, ?)')
  const start = Date.now() - ROWS - 86_400_000
  const started = performance.now()
  const load = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      // 97% completed, 2% failed, 1% still received on every host; two messages per correlation id.
      const k = Math.floor(i / HOSTS.length) % 100
      const state = k < 97 ? 'completed' : k < 99 ? 'failed' : 'received'
      const t = start + i
      const error = state === 'failed' ? 'ACK timeout after 30 s' : null
      insert.run(
        i + 1,
        HOSTS[i % HOSTS.length],
        `MSG${i}`,
        // One message in 1,000 of a rare type (MDM^T02): found through the type index.
        i % 1000 === 7 ? 'MDM^T02' : i % 5 === 0 ? 'ORU^R01' : 'ADT^A01',
        `C${i >> 1}`,
        `S${i >> 2}`,
        PAYLOAD,
        state,
        error,
        t,
        t + 2,
      )
      history.run(i + 1, 'received', t, null)
      // A search table's patient id: about 20 messages per patient over the store's life.
      search.run(i + 1, 'PatientID', `mrn${i % (ROWS / 20)}`)
      if (state !== 'received') {
        history.run(i + 1, 'processing', t + 1, null)
        history.run(i + 1, state, t + 2, error)
      }
    }
  })
  for (let from = 0; from < ROWS; from += 10_000) load(from, Math.min(ROWS, from + 10_000))
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return { path, seconds: (performance.now() - started) / 1000 }
}

async function benchQueries(path) {
  const store = new MessageStore({ path })
  await store.start()
  // The oldest message's creation time (the bulk load gives message i the time start + i ms).
  const created0 = (await store.get('1')).createdAt.getTime()
  const cases = [
    ['get(id)', 2000, (i) => store.get(String(1 + ((i * 7919) % ROWS)))],
    [
      'query({ correlationId }) (2 matches)',
      2000,
      (i) => store.query({ correlationId: `C${(i * 7919) % (ROWS >> 1)}`, limit: 50 }),
    ],
    [
      'query({ hostName, state: failed }) first page of 50',
      500,
      (i) => store.query({ hostName: HOSTS[i % HOSTS.length], state: 'failed', limit: 50 }),
    ],
    [
      'query({ hostName, state: completed }) first page of 50',
      500,
      (i) => store.query({ hostName: HOSTS[i % HOSTS.length], state: 'completed', limit: 50 }),
    ],
    [
      'query({ state: received }) first page of 50',
      500,
      () => store.query({ state: 'received', limit: 50 }),
    ],
    [
      'query({ messageType }) of a 1-in-1,000 type, first page of 50',
      500,
      () => store.query({ messageType: 'MDM^T02', limit: 50 }),
    ],
    [
      'query({ hostName, since, until }): 1% of the store, 90% back, first page of 50',
      500,
      () =>
        store.query({
          hostName: HOSTS[1],
          since: new Date(created0 + ROWS * 0.1),
          until: new Date(created0 + ROWS * 0.11),
          limit: 50,
        }),
    ],
    [
      'query({ search: PatientID }) (20 matches)',
      2000,
      (i) =>
        store.query({
          search: { name: 'PatientID', value: `mrn${(i * 7919) % (ROWS / 20)}` },
          limit: 50,
        }),
    ],
  ]
  const results = []
  for (const [name, n, run] of cases) {
    for (let i = 0; i < 20; i++) await run(i) // warm the page cache and statement cache
    const times = []
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await run(i)
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    results.push([name, n, pct(times, 50), pct(times, 99), times[times.length - 1]])
  }
  // Deep paging: keyset pages cost the same at page 1 and page 100.
  let cursor
  const times = []
  for (let page = 0; page < 100; page++) {
    const t = performance.now()
    const r = await store.query({ hostName: 'EPR.Out', state: 'failed', limit: 50, cursor })
    times.push(performance.now() - t)
    cursor = r.nextCursor
    if (cursor === undefined) break
  }
  times.sort((a, b) => a - b)
  results.push([
    `same, failed, following nextCursor through all ${times.length} pages of one host`,
    times.length,
    pct(times, 50),
    pct(times, 99),
    times[times.length - 1],
  ])
  await store.stop()
  console.log(
    `\n### 2. Query latency on a ${ROWS.toLocaleString('en-GB')}-message store (through MessageStore)\n`,
  )
  console.log('| query | runs | p50 (ms) | p99 (ms) | max (ms) |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, n, p50, p99, max] of results)
    console.log(`| ${name} | ${n} | ${ms(p50)} | ${ms(p99)} | ${ms(max)} |`)
}

/** Child process: purges every message of `path` one way and reports memory and stalls as JSON. */
async function purgeChild(mode, path) {
  globalThis.gc?.()
  const rss0 = process.memoryUsage().rss
  const heap0 = process.memoryUsage().heapUsed
  const store = new MessageStore({ path })
  await store.start()
  const olderThan = new Date()
  let heapPeak = heap0
  let writes = 0
  let worstWrite = 0
  let running = true
  // A writer on the same store: one message every 10 ms while the purge runs. Its lateness is how
  // long a write waited beyond its 10 ms pause (timer, queue and commit), so a blocked loop counts.
  const writer = (async () => {
    while (running) {
      const due = performance.now() + 10
      await new Promise((r) => setTimeout(r, 10))
      await store.store(message(writes++))
      worstWrite = Math.max(worstWrite, performance.now() - due)
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)
    }
  })()
  await new Promise((r) => setTimeout(r, 50))
  const stall = stallProbe()
  const started = performance.now()
  let deleted
  const chunks = []
  if (mode === 'chunked') {
    store.on('purge', ({ durationMs }) => chunks.push(durationMs))
    deleted = await store.purge({ olderThan, keepIncomplete: false })
  } else {
    // What a pruner without chunks does: one transaction, one DELETE per table.
    const db = new Database(path)
    db.pragma('busy_timeout = 600000')
    deleted = db.transaction(() => {
      db.prepare(
        'DELETE FROM message_history WHERE message_id IN (SELECT id FROM messages WHERE created_at < ?)',
      ).run(olderThan.getTime())
      return db.prepare('DELETE FROM messages WHERE created_at < ?').run(olderThan.getTime())
        .changes
    })()
    db.close()
  }
  const seconds = (performance.now() - started) / 1000
  const stallMs = stall()
  // Let the writer run once more, so a write held up by a blocking purge is counted.
  await new Promise((r) => setTimeout(r, 30))
  let walBytes = 0
  try {
    walBytes = statSync(`${path}-wal`).size
  } catch {
    walBytes = 0
  }
  running = false
  await writer
  await store.stop()
  const peakRss = process.resourceUsage().maxRSS * 1024
  console.log(
    JSON.stringify({
      deleted,
      seconds,
      chunks:
        chunks.length === 0
          ? '1 transaction'
          : `${chunks.length} chunks, ${ms(
              pct(
                chunks.sort((a, b) => a - b),
                50,
              ),
            )} / ${ms(chunks[chunks.length - 1])}`,
      rssDelta: peakRss - rss0,
      heapDelta: heapPeak - heap0,
      stallMs,
      worstWrite,
      writes,
      walBytes,
    }),
  )
}

function benchPurge(dir, path) {
  const self = fileURLToPath(import.meta.url)
  const rows = []
  for (const mode of ['chunked', 'single-delete']) {
    const copy = join(dir, `purge-${mode}.db`)
    copyFileSync(path, copy)
    const child = spawnSync(process.execPath, ['--expose-gc', self, '--purge-child', mode, copy], {
      encoding: 'utf8',
    })
    if (child.status !== 0) throw new Error(`purge child ${mode} failed: ${child.stderr}`)
    rows.push([mode, JSON.parse(child.stdout.trim().split('\n').pop())])
    rmSync(copy, { force: true })
    rmSync(`${copy}-wal`, { force: true })
    rmSync(`${copy}-shm`, { force: true })
  }
  console.log(
    `\n### 3. Purging all ${ROWS.toLocaleString('en-GB')} messages (${(3 * ROWS).toLocaleString('en-GB')} history rows), fresh process each\n`,
  )
  console.log(
    '| purge | deleted | seconds | transactions, p50 / max (ms) | peak RSS growth (MB) | heap growth (MB) | longest event-loop stall (ms) | worst lateness of a concurrent store() (ms) | WAL file after (MB) |',
  )
  console.log('|---|---:|---:|---|---:|---:|---:|---:|---:|')
  for (const [mode, r] of rows) {
    const name =
      mode === 'chunked'
        ? 'MessageStore.purge (500-row chunks, the default)'
        : 'one DELETE per table in one transaction'
    console.log(
      `| ${name} | ${r.deleted.toLocaleString('en-GB')} | ${r.seconds.toFixed(1)} | ${r.chunks} | ${mb(r.rssDelta)} | ${mb(r.heapDelta)} | ${ms(r.stallMs)} | ${ms(r.worstWrite)} | ${mb(r.walBytes)} |`,
    )
  }
}

async function main() {
  if (process.argv[2] === '--purge-child') return purgeChild(process.argv[3], process.argv[4])
  const dir = mkdtempSync(join(process.env.LI_BENCH_DIR ?? tmpdir(), 'li-store-bench-'))
  try {
    const load = () =>
      loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')
    console.log(
      `@li/store benchmark: node ${process.version}, ${cpus().length} CPUs, load average ${load()} at start; ${ROWS.toLocaleString('en-GB')} rows, ${MESSAGES.toLocaleString('en-GB')} messages, concurrency ${CONCURRENCY}`,
    )
    const only = process.env.LI_BENCH_ONLY
    if (only !== 'queries') await benchMixes(dir)
    if (only === 'mix') return
    if (only !== 'queries') await benchWrites(dir)
    const { path, seconds } = await buildLargeStore(dir)
    console.log(
      `\n(bulk load of ${ROWS.toLocaleString('en-GB')} messages: ${seconds.toFixed(1)} s, file ${mb(statSync(path).size)} MB)`,
    )
    await benchQueries(path)
    if (only !== 'queries') benchPurge(dir, path)
    console.log(`\n(load average ${load()} at the end)`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
