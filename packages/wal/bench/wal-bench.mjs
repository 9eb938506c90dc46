// Benchmark of @li/wal: durable appends/s of 1 KiB payloads in `fsync` mode at concurrency 1, 16
// and 256, side by side in the same run with
//   (a) the raw ceiling of this disk: a bare fs.writeSync + fs.fdatasyncSync loop writing the same
//       bytes in batches of the mean group size the WAL just achieved, appending to a new file
//       (the definition), and the same loop into a file zero-filled beforehand, opened
//       O_DSYNC, one writeSync per batch: exactly the WAL's file layout and flags (it zero-fills
//       its segments ahead of the writes, see PREALLOC_BYTES in src/wal.ts), so the fairest
//       ceiling; the zero-filling is outside the raw loop's timing but inside the WAL's;
//   (b) better-sqlite3 (journal_mode=WAL, synchronous=FULL) inserting the same records in
//       transactions of that same size (so SQLite gets the same group commit as the WAL).
// The record size is the WAL's mean record size (header and fields included). Those raw loops
// are synchronous (no thread-pool round trip, nothing else can run meanwhile): a ceiling, not a
// design a server could use; so there is also (c) the same zero-filled O_DSYNC loop written with
// the callback fs.write, the ceiling of any writer that leaves the event loop free, and (d) the
// WAL with a no-op disk ("no disk"), the ceiling of its JavaScript (CPU per append, callers'
// own work included). The contenders run interleaved, in a different order each round,
// so that neither load bursts nor the previous contender's leftover writeback favour one.
// Ratios are medians of per-round ratios.
// Then recovery time of 100,000 and 1,000,000 pending 1 KiB entries (wall and CPU time: on a
// shared machine the CPU time is the steadier figure).
//
// Runs over dist/ (plain Node, no TypeScript loader): `pnpm --filter @li/wal bench` builds first.
// LI_BENCH_SCALE (default 1) scales the record counts, LI_BENCH_ROUNDS (default 3) sets the
// rounds, LI_BENCH_RECOVERY=0 skips recovery, LI_BENCH_DIR picks the disk (default: tmpdir).
// Speed is measured only here, never asserted in tests.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Wal } from '../dist/index.js'

const scale = Number(process.env.LI_BENCH_SCALE ?? '1')
const withRecovery = process.env.LI_BENCH_RECOVERY !== '0'
const root =
  process.argv[2] === '--recover'
    ? ''
    : fs.mkdtempSync(path.join(process.env.LI_BENCH_DIR ?? os.tmpdir(), 'li-wal-bench-'))
const PAYLOAD = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|MSG|P|2.4\r'.padEnd(1024, 'X')
const COUNTS = { 1: 2_000, 16: 20_000, 256: 100_000 }
const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? '3')

/** Runs `concurrency` async callers appending until `total` appends resolved; returns rec/s. */
async function runWal(dir, concurrency, total, noDisk = false) {
  // noDisk: segment writes are replaced by a no-op that answers on the next event-loop turn
  // (like a thread-pool write that takes no time), which measures the JavaScript ceiling.
  const io = noDisk
    ? { write: (fd, data) => new Promise((resolve) => setImmediate(() => resolve(data.length))) }
    : undefined
  const wal = new Wal({
    directory: dir,
    syncMode: 'fsync',
    checkpointInterval: 0,
    entryTtl: 0,
    io,
  })
  await wal.start()
  let issued = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        issued++
        await wal.append({ hostName: 'PAS-In', messageId: `M${issued}`, payload: PAYLOAD })
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  const s = wal.stats()
  const recordBytes = s.bytesWritten / s.recordsWritten
  await wal.stop()
  return { rate: total / seconds, meanGroup: s.recordsWritten / s.groupCommits, recordBytes }
}

/**
 * The ceiling: batches of `batch` records of `bytes` each, written at increasing offsets, each
 * made durable before the next: `dsync` opens the file O_DSYNC (one writeSync per batch),
 * otherwise writeSync + fdatasyncSync. `prealloc` zero-fills the file first (untimed).
 */
function runRaw(dir, batch, bytes, total, { dsync, prealloc }) {
  const file = path.join(dir, 'raw.log')
  const { O_WRONLY, O_CREAT, O_TRUNC, O_DSYNC } = fs.constants
  const buf = Buffer.alloc(batch * bytes, 0x58)
  const batches = Math.ceil(total / batch)
  if (prealloc) {
    const zeros = Buffer.alloc(4 * 1024 * 1024)
    const fd0 = fs.openSync(file, 'w')
    for (let at = 0; at < batches * buf.length; at += zeros.length)
      fs.writeSync(fd0, zeros, 0, zeros.length, at)
    fs.fsyncSync(fd0)
    fs.closeSync(fd0)
  }
  const fd = fs.openSync(
    file,
    O_WRONLY | O_CREAT | (prealloc ? 0 : O_TRUNC) | (dsync ? O_DSYNC : 0),
  )
  const t0 = performance.now()
  for (let i = 0; i < batches; i++) {
    fs.writeSync(fd, buf, 0, buf.length, i * buf.length)
    if (!dsync) fs.fdatasyncSync(fd)
  }
  const seconds = (performance.now() - t0) / 1000
  fs.closeSync(fd)
  fs.rmSync(file)
  return total / seconds
}

/**
 * The non-blocking ceiling: the zero-filled O_DSYNC loop, but each batch written with the
 * callback `fs.write` (a libuv thread-pool round trip, as the WAL does, and as any writer must
 * that keeps the event loop free for the rest of the engine). Untimed zero-filling, as above.
 */
function runRawAsync(dir, batch, bytes, total) {
  const file = path.join(dir, 'raw-async.log')
  const buf = Buffer.alloc(batch * bytes, 0x58)
  const batches = Math.ceil(total / batch)
  const zeros = Buffer.alloc(4 * 1024 * 1024)
  const fd0 = fs.openSync(file, 'w')
  for (let at = 0; at < batches * buf.length; at += zeros.length) {
    fs.writeSync(fd0, zeros, 0, zeros.length, at)
  }
  fs.fsyncSync(fd0)
  fs.closeSync(fd0)
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_DSYNC)
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let i = 0
    const step = (err) => {
      if (err) return reject(err)
      if (i === batches) {
        const seconds = (performance.now() - t0) / 1000
        fs.closeSync(fd)
        fs.rmSync(file)
        return resolve(total / seconds)
      }
      fs.write(fd, buf, 0, buf.length, i++ * buf.length, step)
    }
    step()
  })
}

/** better-sqlite3, WAL journal, synchronous=FULL, one transaction per `batch` inserts. */
function runSqlite(dir, batch, total) {
  const db = new Database(path.join(dir, 'bench.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec(
    'CREATE TABLE wal (id INTEGER PRIMARY KEY, host TEXT, message_id TEXT, payload TEXT, appended_at INTEGER)',
  )
  const insert = db.prepare(
    'INSERT INTO wal (host, message_id, payload, appended_at) VALUES (?, ?, ?, ?)',
  )
  const group = db.transaction((from, n) => {
    for (let i = 0; i < n; i++) insert.run('PAS-In', `M${from + i}`, PAYLOAD, Date.now())
  })
  const t0 = performance.now()
  for (let done = 0; done < total; done += batch) group(done, Math.min(batch, total - done))
  const seconds = (performance.now() - t0) / 1000
  db.close()
  return total / seconds
}

/** Fills a log with `n` pending entries (fast, `none` mode) and stops it (final checkpoint). */
async function fill(dir, n) {
  const writer = new Wal({ directory: dir, syncMode: 'none', checkpointInterval: 0, entryTtl: 0 })
  await writer.start()
  let issued = 0
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (issued < n) {
        issued++
        await writer.append({ hostName: 'PAS-In', messageId: `M${issued}`, payload: PAYLOAD })
      }
    }),
  )
  await writer.stop()
}

/**
 * Times `start()` over `dir` in a fresh process, as after a restart: the filling process's heap
 * (1 GiB of payload strings for 1,000,000 entries) would otherwise slow the collector down.
 */
function timeRecovery(dir, n) {
  const out = execFileSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--recover', dir, String(n)],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  )
  return JSON.parse(out)
}

if (process.argv[2] === '--recover') {
  const [, , , dir, n] = process.argv
  const reader = new Wal({ directory: dir, entryTtl: 0, checkpointInterval: 0 })
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const report = await reader.start()
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  const ok = reader.pending().length === Number(n)
  const rssMB = process.memoryUsage().rss / 1e6
  await reader.stop()
  process.stdout.write(JSON.stringify({ ms, cpuMs, ok, rssMB, report }))
  process.exit(0)
}

const fmt = (x) => Math.round(x).toLocaleString('en-GB')
console.log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} (2+ means other work shares these CPUs)`,
)
console.log(
  `@li/wal benchmark: 1 KiB payloads, syncMode fsync, node ${process.version}, ${os.cpus().length} CPUs, dir ${root}`,
)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = []
for (const concurrency of [1, 16, 256]) {
  const total = Math.max(100, Math.round(COUNTS[concurrency] * scale))
  // The disk and CPUs are shared and noisy: interleave the three contenders over ROUNDS rounds
  // and report each one's median, so that a burst of load does not favour one of them.
  // The WAL runs first in round 0 (its group size sets the others' batch size), then the order
  // rotates. Batch and record size come from the WAL's most recent run.
  const res = {
    wal: [],
    cpu: [],
    raw: [],
    rawDsync: [],
    preRaw: [],
    preDsync: [],
    preAsync: [],
    sqlite: [],
  }
  const groups = []
  let batch = 0
  let bytes = 0
  const wal = async (dir) => {
    const r = await runWal(dir, concurrency, total)
    res.wal.push(r.rate)
    groups.push(r.meanGroup)
    batch = Math.max(1, Math.round(r.meanGroup))
    bytes = Math.round(r.recordBytes)
  }
  const others = [
    async () => res.cpu.push((await runWal(dir0, concurrency, total, true)).rate),
    () => res.raw.push(runRaw(dir0, batch, bytes, total, { dsync: false, prealloc: false })),
    () => res.rawDsync.push(runRaw(dir0, batch, bytes, total, { dsync: true, prealloc: false })),
    () => res.preRaw.push(runRaw(dir0, batch, bytes, total, { dsync: false, prealloc: true })),
    () => res.preDsync.push(runRaw(dir0, batch, bytes, total, { dsync: true, prealloc: true })),
    async () => res.preAsync.push(await runRawAsync(dir0, batch, bytes, total)),
    () => res.sqlite.push(runSqlite(dir0, batch, total)),
  ]
  let dir0 = ''
  for (let round = 0; round < ROUNDS; round++) {
    const dir = fs.mkdtempSync(path.join(root, `c${concurrency}-`))
    dir0 = dir
    const order = [() => wal(dir), ...others]
    const k = round % order.length
    for (const run of round === 0 ? order : [...order.slice(k), ...order.slice(0, k)]) await run()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const m = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, median(v)]))
  // Ratios are medians of per-round ratios (each round's WAL run against the same round's
  // contender), which cancels slow drifts in the machine's load better than a ratio of medians.
  const ratio = (xs) => median(res.wal.map((w, i) => w / xs[i]))
  const pct = (xs) => `${Math.round(100 * ratio(xs))}%`
  rows.push({
    callers: concurrency,
    group: median(groups).toFixed(1),
    'WAL rec/s': fmt(m.wal),
    'WAL no disk': fmt(m.cpu),
    'raw w+fds': fmt(m.raw),
    'WAL/raw': pct(res.raw),
    'raw O_DSYNC': fmt(m.rawDsync),
    'pre w+fds': fmt(m.preRaw),
    'pre O_DSYNC': fmt(m.preDsync),
    'WAL/pre O_DSYNC': pct(res.preDsync),
    'pre async': fmt(m.preAsync),
    'WAL/pre async': pct(res.preAsync),
    SQLite: fmt(m.sqlite),
    'WAL/SQLite': `${ratio(res.sqlite).toFixed(1)}x`,
  })
}
console.log(
  `Durable appends/s, median of ${ROUNDS} interleaved rounds (raw = growing file, pre = zero-filled file like the WAL's segments; w+fds = writeSync+fdatasyncSync):`,
)
console.table(rows)

if (withRecovery) {
  const rec = []
  for (const n of [100_000, 1_000_000]) {
    const count = Math.max(1000, Math.round(n * scale))
    const dir = fs.mkdtempSync(path.join(root, `r${count}-`))
    await fill(dir, count)
    const r = timeRecovery(dir, count)
    fs.rmSync(dir, { recursive: true, force: true })
    rec.push({
      'pending entries': fmt(count),
      'start() ms': fmt(r.ms),
      'CPU ms': fmt(r.cpuMs),
      'all recovered': r.ok,
      'checkpoint used': r.report.checkpointUsed,
      'RSS MB': fmt(r.rssMB),
    })
  }
  console.log('Recovery (start()) of pending 1 KiB entries after a clean stop():')
  console.table(rec)
}
fs.rmSync(root, { recursive: true, force: true })
