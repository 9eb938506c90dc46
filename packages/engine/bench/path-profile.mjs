// Message-path profile: the built engine (dist/) on loopback, MLLP in → HL7 router (one native
// rule) → MLLP out, driven by N parallel MLLP senders against a plain `net` receiver that ACKs.
//
// What it measures, for the engine process only:
// - acknowledged msg/s (count / time from the first send to the last ACK at the senders) and the
//   ACK latency p50/p95/p99 (send → ACK, one message in flight per sender: MLLP original mode);
// - end-to-end msg/s (count / time to the last arrival at the receiver) and latency p50/p99
//   (send → arrival at the receiver);
// - CPU seconds the engine process used during the measured run, and its peak RSS.
//
// The senders and the receiver run in a child process (plain `net`, no @li code), so that a
// `node --cpu-prof` profile of this process shows the engine alone, and the load generator gets
// the other core as it would on another machine. Everything listens on 127.0.0.1 only; the run
// is bounded by --timeout seconds (default 120) and cleans up its temp data directory.
//
// Usage (after `pnpm turbo run build --filter=@li/engine...`), from packages/engine:
//   node bench/path-profile.mjs [--senders 16] [--count 8000] [--warmup 1000] [--size 3300]
//        [--sync fsync|async|none] [--pool 1] [--router-pool 1] [--window N] [--timeout 120]
//        [--store-worker 1|0]
//   node --cpu-prof --cpu-prof-dir=/tmp/li-prof bench/path-profile.mjs ...   (profile)
// `--window` sets the MLLP operation's PipelineWindow setting (omitted: its default).
// `--store-worker 0` keeps the SQLite store on the main thread (the Engine's default is a worker).
import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : args[i + 1]
}
const num = (name, fallback) => Number(option(name, String(fallback)))

const VT = 0x0b
const FS = 0x1c
const CR = 0x0d

// ---------------------------------------------------------------------------------------------
// Child: senders and receiver (plain `net`).

/** An ADT^A01 of about `size` bytes (NTE padding) with control id `id`. */
function message(id, size) {
  const head =
    `MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|${id}|P|2.5\r` +
    `EVN|A01|20261127120000\r` +
    `PID|1||${id}^^^RXX^MR~9434765919^^^NHS^NH||SMITH^JOHN^A^^MR||19700101|M|||1 HIGH STREET^^LEEDS^^LS1 1AA^GBR\r` +
    `PV1|1|I|WARD1^BED2^^RXX||||C123456^JONES^ANNE^^^DR|||MED||||19|||C123456^JONES^ANNE^^^DR|IN|V${id}\r`
  let body = head
  let n = 1
  while (body.length < size - 80) {
    body += `NTE|${n}|L|Clinical note line ${n} for visit V${id}: observation recorded, no change.\r`
    n++
  }
  return body
}

/** Calls `onFrame(text)` for each complete MLLP frame arriving on `socket`. */
function readFrames(socket, onFrame) {
  let pending = null
  socket.on('data', (chunk) => {
    let buf = pending === null ? chunk : Buffer.concat([pending, chunk])
    let start = 0
    for (;;) {
      const s = buf.indexOf(VT, start)
      if (s === -1) {
        start = buf.length
        break
      }
      const end = buf.indexOf(FS, s + 1)
      if (end === -1 || end + 1 >= buf.length) {
        start = s
        break
      }
      onFrame(buf.toString('latin1', s + 1, end))
      start = end + 2
    }
    pending = start < buf.length ? buf.subarray(start) : null
  })
}

const controlId = (text) => {
  const msh = text.slice(0, text.indexOf('\r'))
  return msh.split('|')[9] ?? ''
}
const frameOf = (text) => {
  const b = Buffer.from(text, 'latin1')
  const out = Buffer.allocUnsafe(b.length + 3)
  out[0] = VT
  b.copy(out, 1)
  out[b.length + 1] = FS
  out[b.length + 2] = CR
  return out
}
const ackOf = (id) =>
  frameOf(`MSH|^~\\&|EPR|RXX|PAS|RXX|20261127120001||ACK^A01^ACK|A${id}|P|2.5\rMSA|AA|${id}\r`)

function quantile(sorted, q) {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function child() {
  const sentAt = new Map()
  const arrivals = []
  let expected = Infinity
  let onAllArrived = () => undefined
  const receiver = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => undefined)
    readFrames(socket, (text) => {
      const id = controlId(text)
      const t0 = sentAt.get(id)
      if (t0 !== undefined) {
        sentAt.delete(id)
        arrivals.push(performance.now() - t0)
        if (arrivals.length >= expected) onAllArrived()
      }
      socket.write(ackOf(id))
    })
  })
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r))
  process.send({ type: 'receiver', port: receiver.address().port })
  const go = await new Promise((r) => process.once('message', r))
  const { port, senders, warmup, count, size } = go

  /** Send `total` messages over `senders` connections, one in flight each; ACK latencies. */
  async function run(prefix, total, timed) {
    const acks = []
    let next = 0
    let bad = 0
    const started = performance.now()
    const arrived = new Promise((r) => {
      onAllArrived = r
    })
    arrivals.length = 0
    expected = timed ? total : Infinity
    const one = (s) =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
        socket.on('error', reject)
        let t0 = 0
        const sendNext = () => {
          if (next >= total) {
            socket.end()
            resolve()
            return
          }
          const id = `${prefix}${s}x${next++}`
          t0 = performance.now()
          if (timed) sentAt.set(id, t0)
          socket.write(frameOf(message(id, size)))
        }
        readFrames(socket, (ack) => {
          acks.push(performance.now() - t0)
          if (!/\rMSA\|(AA|CA)\|/.test(ack)) bad++
          sendNext()
        })
        socket.on('connect', sendNext)
      })
    await Promise.all(Array.from({ length: senders }, (_, s) => one(s)))
    const ackedMs = performance.now() - started
    if (timed) await arrived
    const e2eMs = performance.now() - started
    return { acks, ackedMs, e2eMs, bad }
  }

  await run('W', warmup, false)
  process.send({ type: 'measuring' })
  await new Promise((r) => process.once('message', r))
  const r = await run('M', count, true)
  const acks = r.acks.sort((a, b) => a - b)
  const e2e = arrivals.sort((a, b) => a - b)
  process.send({
    type: 'result',
    acked: { perSecond: count / (r.ackedMs / 1000), ms: r.ackedMs, bad: r.bad },
    ack: { p50: quantile(acks, 0.5), p95: quantile(acks, 0.95), p99: quantile(acks, 0.99) },
    e2e: {
      perSecond: count / (r.e2eMs / 1000),
      p50: quantile(e2e, 0.5),
      p95: quantile(e2e, 0.95),
      p99: quantile(e2e, 0.99),
    },
  })
  receiver.close()
  process.disconnect()
}

// ---------------------------------------------------------------------------------------------
// Parent: the engine under test.

async function main() {
  const senders = num('senders', 16)
  const count = num('count', 8000)
  const warmup = num('warmup', 1000)
  const size = num('size', 3300)
  const sync = option('sync', 'fsync')
  const pool = num('pool', 1)
  const routerPool = num('router-pool', 1)
  const window = option('window', undefined)
  const timeoutS = num('timeout', 120)
  const storeWorker = option('store-worker', '1') !== '0'

  let lib
  try {
    lib = await import('../dist/index.js')
  } catch (e) {
    console.error('Cannot load dist/: run `pnpm turbo run build --filter=@li/engine...` first.')
    throw e
  }
  const { Engine, defineProduction } = lib
  const dir = await mkdtemp(path.join(tmpdir(), 'li-path-profile-'))
  const driver = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: 'inherit' })
  const fromDriver = (type) =>
    new Promise((resolve, reject) => {
      const on = (m) => {
        if (m.type === type) {
          driver.off('message', on)
          resolve(m)
        }
      }
      driver.on('message', on)
      driver.once('exit', (code) => reject(new Error(`driver exited (${code}) before ${type}`)))
    })
  let engine
  const timer = setTimeout(() => {
    console.error(`path-profile: timed out after ${timeoutS} s`)
    driver.kill()
    process.exit(1)
  }, timeoutS * 1000)
  try {
    const { port: outPort } = await fromDriver('receiver')
    const operation = {
      name: 'Out',
      type: 'mllp-out',
      poolSize: pool,
      settings: { IPAddress: '127.0.0.1', Port: outPort, ResponseTimeout: 30 },
    }
    if (window !== undefined) operation.settings.PipelineWindow = Number(window)
    const production = defineProduction({
      name: 'Bench.Production',
      items: [
        {
          name: 'In',
          type: 'mllp-in',
          settings: { Port: 1, IPAddress: '127.0.0.1', AckMode: 'Immed' },
          targets: 'Router',
        },
        {
          name: 'Router',
          type: 'router',
          poolSize: routerPool,
          rules: [{ name: 'ADT to Out', when: 'HL7.{MSH:9.1} = "ADT"', send: 'Out' }],
        },
        operation,
      ],
    })
    // Port 0 (a free port) is refused by validation; set it after.
    const port = production.items[0].settings.find((x) => x.name === 'Port')
    port.value = '0'
    const { pino } = await import('pino')
    engine = new Engine({
      dataDir: path.join(dir, 'data'),
      syncMode: sync,
      storeWorker,
      logger: pino({ level: 'warn' }),
    })
    await engine.load(production)
    await engine.start()
    const inPort = engine.getHost('In').address().port
    driver.send({ port: inPort, senders, warmup, count, size })
    await fromDriver('measuring')
    const cpu0 = process.cpuUsage()
    let peakRss = process.memoryUsage().rss
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }, 100)
    const wal0 = engine.wal.stats()
    let batches = 0
    let batched = 0
    engine.store.on('batch', (b) => {
      batches++
      batched += b.size
    })
    driver.send({ type: 'start' })
    const r = await fromDriver('result')
    clearInterval(sampler)
    const wal1 = engine.wal.stats()
    const groups = wal1.groupCommits - wal0.groupCommits
    const records = wal1.recordsWritten - wal0.recordsWritten
    const cpu = process.cpuUsage(cpu0)
    const f = (n) => n.toFixed(2)
    const cpuS = (cpu.user + cpu.system) / 1e6
    console.log(
      [
        `path-profile: ${count} msgs of ${size} B, ${senders} senders, sync ${sync}, ` +
          `router PoolSize ${routerPool}, operation PoolSize ${pool}` +
          (window === undefined ? '' : `, PipelineWindow ${window}`) +
          `, store ${storeWorker ? 'in a worker thread' : 'on the main thread'}`,
        `  acknowledged: ${Math.round(r.acked.perSecond)} msg/s; ACK p50 ${f(r.ack.p50)} ms, ` +
          `p95 ${f(r.ack.p95)} ms, p99 ${f(r.ack.p99)} ms` +
          (r.acked.bad > 0 ? `; ${r.acked.bad} not AA` : ''),
        `  end to end:   ${Math.round(r.e2e.perSecond)} msg/s; p50 ${f(r.e2e.p50)} ms, ` +
          `p95 ${f(r.e2e.p95)} ms, p99 ${f(r.e2e.p99)} ms`,
        `  engine CPU ${f(cpuS)} s (${f(cpuS / (r.e2e.perSecond > 0 ? count / r.e2e.perSecond : 1))} cores), ` +
          `${Math.round((cpuS * 1e6) / count)} µs/msg; peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`,
        `  WAL: ${groups} group writes, ${f(records / Math.max(1, groups))} records each; ` +
          `store: ${batches} batches, ${f(batched / Math.max(1, batches))} writes each, ` +
          `${f(batched / count)} writes/msg`,
      ].join('\n'),
    )
  } finally {
    clearTimeout(timer)
    if (engine !== undefined) await engine.stop()
    if (driver.exitCode === null) driver.kill()
    await rm(dir, { recursive: true, force: true })
  }
}

if (args.includes('--child')) await child()
else await main()
