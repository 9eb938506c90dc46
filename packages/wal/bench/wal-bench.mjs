// Benchmark of @li/wal: durable appends/s of 1 KiB payloads in `fsync` mode from 1, 16 and 256
// async callers (closed loop: each caller appends again once its append resolved), side by side
// in the same run with
//   (a) the raw ceiling of this disk: a bare fs.writeSync + fs.fdatasyncSync loop appending to a
//       new file, in batches of the WAL's mean group size in that run (the issue's "same batch
//       sizes"), each batch made of real WAL records (same framing, same bytes, encoded once
//       outside the timing so the ceiling is not slowed down); also with batch = callers (the
//       most a closed loop of that many callers can batch, whatever the WAL's groups were);
//   (b) SQLite through better-sqlite3 with synchronous=FULL, as a user would: one INSERT per
//       append call in autocommit mode, in the default rollback journal and in WAL journal mode;
//       and, as an extra row, one transaction per batch of the WAL's group size (group commit).
// Diagnostics: "pre O_DSYNC", the same blocking loop (one writeSync per batch) into a file
// zero-filled beforehand (untimed) and opened O_DSYNC: the WAL's own segment layout and flags
// (it zero-fills ahead of small groups, inside its timing; see PREALLOC_BYTES in src/wal.ts);
// "pre async", those batches written with the callback fs.write (the ceiling of any writer that
// keeps the event loop free), and "no disk", the WAL with a no-op disk (the ceiling of its JavaScript, the
// callers' own work included). Contenders run interleaved, in a rotating order, ROUNDS rounds;
// rates are medians, ratios medians of per-round ratios.
// Then recovery time of 100,000 and 1,000,000 pending 1 KiB entries (wall and CPU time: on a
// shared machine the CPU time is the steadier figure), the memory right after `start()` (RSS,
// and V8's heapUsed + external), and the time of `pending()` plus reading every payload once.
//
// Runs over dist/ (plain Node, no TypeScript loader): `pnpm --filter @li/wal bench` builds first.
// LI_BENCH_SCALE (default 1) scales the record counts, LI_BENCH_ROUNDS (default 3) sets the
// rounds, LI_BENCH_RECOVERY=0 skips recovery, LI_BENCH_DIR picks the disk (default: tmpdir),
// LI_WAL_CRC=js makes the WAL use its JavaScript CRC-32C instead of the native addon.
// Speed is measured only here, never asserted in tests.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Wal } from '../dist/index.js'
import { crc32cImplementation } from '../dist/crc32c.js'
import { encodeAppend } from '../dist/record.js'

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
 * `batch` records as the WAL writes them (magic, length, CRC-32C, body with the same host,
 * message id length and payload), encoded once, untimed: the raw loops write these bytes.
 */
function walRecords(batch) {
  const parts = []
  for (let i = 0; i < batch; i++) {
    parts.push(encodeAppend(i + 1, Date.now(), 'PAS-In', `M${100000 + i}`, '', PAYLOAD))
  }
  return Buffer.concat(parts)
}

/**
 * The ceiling: batches of `batch` WAL records, written at increasing offsets of a new file, each
 * made durable before the next, with writeSync + fdatasyncSync (the definition) or, with
 * `dsync`, one writeSync per batch on an O_DSYNC descriptor. `prealloc` zero-fills the file first
 * (untimed), the WAL's own segment layout. Blocking: nothing else can run meanwhile.
 */
function runRaw(dir, batch, total, { dsync = false, prealloc = false } = {}) {
  const file = path.join(dir, 'raw.log')
  const { O_WRONLY, O_CREAT, O_TRUNC, O_DSYNC } = fs.constants
  const buf = walRecords(batch)
  const batches = Math.ceil(total / batch)
  if (prealloc) zeroFill(file, batches * buf.length)
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
  return (batches * batch) / seconds
}

/** Writes `bytes` zeros into a new `file` and syncs it (untimed preparation). */
function zeroFill(file, bytes) {
  const zeros = Buffer.alloc(4 * 1024 * 1024)
  const fd0 = fs.openSync(file, 'w')
  for (let at = 0; at < bytes; at += zeros.length) fs.writeSync(fd0, zeros, 0, zeros.length, at)
  fs.fsyncSync(fd0)
  fs.closeSync(fd0)
}

/**
 * The non-blocking ceiling: the zero-filled O_DSYNC loop (the WAL's file layout and flags), but
 * each batch written with the callback `fs.write` (a libuv thread-pool round trip, as the WAL
 * does, and as any writer must that keeps the event loop free for the rest of the engine).
 */
function runRawAsync(dir, batch, total) {
  const file = path.join(dir, 'raw-async.log')
  const buf = walRecords(batch)
  const batches = Math.ceil(total / batch)
  zeroFill(file, batches * buf.length)
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
        return resolve((batches * batch) / seconds)
      }
      fs.write(fd, buf, 0, buf.length, i++ * buf.length, step)
    }
    step()
  })
}

/** A fresh better-sqlite3 database with synchronous=FULL, the table and the insert statement. */
let databases = 0
function openSqlite(dir, journal) {
  const db = new Database(path.join(dir, `bench-${journal}-${++databases}.db`))
  db.pragma(`journal_mode = ${journal}`)
  db.pragma('synchronous = FULL')
  db.exec(
    'CREATE TABLE wal (id INTEGER PRIMARY KEY, host TEXT, message_id TEXT, payload TEXT, appended_at INTEGER)',
  )
  const insert = db.prepare(
    'INSERT INTO wal (host, message_id, payload, appended_at) VALUES (?, ?, ?, ?)',
  )
  return { db, insert }
}

/**
 * What a user would do with SQLite instead of this WAL: `concurrency` async callers, each
 * inserting its record with one INSERT in autocommit mode (so each call is one committed
 * transaction). better-sqlite3 is synchronous, so concurrent callers cannot share a commit.
 * `journal` is `delete` (SQLite's default rollback journal) or `wal`.
 */
async function runSqliteAuto(dir, journal, concurrency, total) {
  const { db, insert } = openSqlite(dir, journal)
  let issued = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) {
        issued++
        insert.run('PAS-In', `M${issued}`, PAYLOAD, Date.now())
        await null
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  db.close()
  return total / seconds
}

/**
 * SQLite doing group commit itself: WAL journal, one transaction per `batch` inserts (the WAL's
 * mean group size), so it makes as many syncs as the WAL.
 */
function runSqliteBatched(dir, batch, total) {
  const { db, insert } = openSqlite(dir, 'wal')
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
  const mem = process.memoryUsage()
  const rssMB = mem.rss / 1e6
  const heapMB = (mem.heapUsed + mem.external) / 1e6
  // What a consumer does next (the engine's resume): every pending entry's payload, once.
  const t1 = performance.now()
  const pending = reader.pending()
  let bytes = 0
  for (const e of pending) bytes += e.payload.length
  const readMs = performance.now() - t1
  const ok = pending.length === Number(n) && bytes === Number(n) * PAYLOAD.length
  await reader.stop()
  process.stdout.write(JSON.stringify({ ms, cpuMs, ok, rssMB, heapMB, readMs, report }))
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
  `@li/wal benchmark: 1 KiB payloads, syncMode fsync, node ${process.version}, ${os.cpus().length} CPUs, CRC-32C ${crc32cImplementation}, dir ${root}`,
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
    rawCallers: [],
    preDsync: [],
    preAsync: [],
    sqliteDelete: [],
    sqliteWal: [],
    sqliteBatched: [],
  }
  const groups = []
  let batch = 0
  const wal = async (dir) => {
    const r = await runWal(dir, concurrency, total)
    res.wal.push(r.rate)
    groups.push(r.meanGroup)
    batch = Math.max(1, Math.round(r.meanGroup))
  }
  // One commit (one or more syncs) per record: 600 records are enough for a steady rate.
  const autoTotal = Math.min(total, Math.max(100, Math.round(600 * scale)))
  const others = [
    async () => res.cpu.push((await runWal(dir0, concurrency, total, true)).rate),
    () => res.raw.push(runRaw(dir0, batch, total)),
    () => res.rawCallers.push(runRaw(dir0, concurrency, total)),
    () => res.preDsync.push(runRaw(dir0, batch, total, { dsync: true, prealloc: true })),
    async () => res.preAsync.push(await runRawAsync(dir0, batch, total)),
    async () => res.sqliteDelete.push(await runSqliteAuto(dir0, 'delete', concurrency, autoTotal)),
    async () => res.sqliteWal.push(await runSqliteAuto(dir0, 'wal', concurrency, autoTotal)),
    () => res.sqliteBatched.push(runSqliteBatched(dir0, batch, total)),
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
  const times = (xs) => `${ratio(xs).toFixed(1)}x`
  rows.push({
    callers: concurrency,
    group: median(groups).toFixed(1),
    'WAL rec/s': fmt(m.wal),
    'no disk': fmt(m.cpu),
    raw: fmt(m.raw),
    'WAL/raw': pct(res.raw),
    'raw b=callers': fmt(m.rawCallers),
    'WAL/raw b=callers': pct(res.rawCallers),
    'pre O_DSYNC': fmt(m.preDsync),
    'WAL/pre O_DSYNC': pct(res.preDsync),
    'pre async': fmt(m.preAsync),
    'WAL/pre async': pct(res.preAsync),
    'SQLite rollback': fmt(m.sqliteDelete),
    'SQLite WAL': fmt(m.sqliteWal),
    'WAL/SQLite WAL': times(res.sqliteWal),
    'WAL/SQLite rollback': times(res.sqliteDelete),
    'SQLite tx/batch': fmt(m.sqliteBatched),
    'WAL/SQLite tx/batch': times(res.sqliteBatched),
  })
}
console.log(
  `Durable appends/s, median of ${ROUNDS} interleaved rounds; raw = writeSync+fdatasyncSync per batch of WAL records into a new file, batch = the WAL's mean group (b=callers: batch = callers); pre O_DSYNC / pre async = writeSync / fs.write per batch into a zero-filled O_DSYNC file; SQLite = better-sqlite3 synchronous=FULL, one autocommitted INSERT per call (rollback or WAL journal), or one transaction per batch:`,
)
console.table(rows)
for (const r of rows) console.log(JSON.stringify(r))

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
      'heap+external MB': fmt(r.heapMB),
      'pending() + read every payload ms': fmt(r.readMs),
    })
  }
  console.log('Recovery (start()) of pending 1 KiB entries after a clean stop():')
  console.table(rec)
}
fs.rmSync(root, { recursive: true, force: true })
