// Spill files under the engine's retry pattern, and the cost of stats(), measured over dist (run
// `pnpm --filter @li/queue build` first).
// 1. Spill bytes: LI_RETRY_MESSAGES (100,000) x 3.3 KB envelopes (with the engine's sessionId and
//    source headers) sent in batches of 100 to "Demo.Router"; two router workers take batches of
//    up to 2, send each to "EPR.Out" (and, with fan-out, to "Archive.Out" too) and ack; one
//    operation worker keeps retrying the head of EPR.Out (receive, extendVisibility, nack with
//    requeue) as an operation whose receiver is down. Default 64 MiB budget. Prints the spill
//    files' bytes against (messages queued - those within the budget) x record bytes, then acks
//    everything and counts the spill files left.
// 2. stats(): 1,000,000 queued, the oldest 1,000 acked, then one stats() call, then 1,000 more.
// Spill files go under LI_SPILL_DIR (default the OS temp directory).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const { MessageQueue } = await import(path.join(dist, 'index.js'))
const { MemoryBackend } = await import(path.join(dist, 'memory-backend.js'))
const N = Number(process.env.LI_RETRY_MESSAGES ?? 100_000)
const BUDGET = 64 * 1024 * 1024
const pad = 'X'.repeat(3200)
const body = (i) =>
  `{"v":2,"walId":"${i}","messageId":"BL${i}","source":"Demo.Router"}\nMSH|^~\\&|PAS|RXX|EPR|RXX|||ADT^A01|BL${i}|P|2.5\rOBX|1|TX|NOTE||${pad}`
const headers = (i) => ({
  sessionId: `01a21e6f-e328-7800-ab2a-${String(i).padStart(12, '0')}`,
  source: 'Demo.Router',
})
const turn = () => new Promise((r) => setImmediate(r))

function spillFiles(base) {
  let files = 0
  let bytes = 0
  for (const run of readdirSync(base)) {
    for (const f of readdirSync(path.join(base, run))) {
      files++
      bytes += statSync(path.join(base, run, f)).size
    }
  }
  return { files, bytes }
}

async function retryPattern(fanout) {
  const base = mkdtempSync(path.join(process.env.LI_SPILL_DIR ?? tmpdir(), 'li-spill-retry-'))
  const mq = new MessageQueue({
    backend: 'memory',
    spillDirectory: base,
    visibilityTimeout: 30,
    retryDelay: 0,
    maxRetries: 1e9,
  })
  await mq.start()
  const targets = fanout ? ['EPR.Out', 'Archive.Out'] : ['EPR.Out']
  let routed = 0
  let deliveries = 0
  const producer = async () => {
    for (let i = 0; i < N; i += 100) {
      const n = Math.min(100, N - i)
      await mq.sendBatch(
        'Demo.Router',
        Array.from({ length: n }, (_, k) => ({ payload: body(i + k), headers: headers(i + k) })),
      )
      await turn()
    }
  }
  const router = async () => {
    while (routed < N) {
      const got = await mq.receiveBatch('Demo.Router', { max: 2, waitMs: 20 })
      for (const m of got)
        for (const t of targets) await mq.send(t, m.payload, { headers: m.headers })
      if (got.length > 0) await mq.ackMany(got)
      routed += got.length
      await turn()
    }
  }
  const operation = async () => {
    while (routed < N) {
      const m = await mq.receive('EPR.Out', { waitMs: 20 })
      if (m === null) continue
      deliveries++
      await mq.extendVisibility(m, 60_000)
      await turn()
      await mq.nack(m, { requeue: true, delayMs: 0, error: 'could not connect' })
    }
  }
  await Promise.all([producer(), router(), router(), operation()])
  let queued = 0
  for (const t of targets) queued += (await mq.depth(t)) + (await mq.inFlight(t))
  const record = Buffer.byteLength(body(0)) + JSON.stringify(headers(0)).length
  const expected = (queued - Math.floor(BUDGET / body(0).length)) * record
  const { files, bytes } = spillFiles(base)
  for (const t of targets) {
    for (;;) {
      const got = await mq.receiveBatch(t, { max: 100 })
      if (got.length === 0) break
      await mq.ackMany(got)
    }
  }
  const left = spillFiles(base).files
  await mq.stop()
  rmSync(base, { recursive: true, force: true })
  return {
    targets: targets.join('+'),
    headDeliveries: deliveries,
    queued,
    segments: files,
    spillMB: +(bytes / 1e6).toFixed(1),
    expectedMB: +(expected / 1e6).toFixed(1),
    ratio: +(bytes / expected).toFixed(3),
    filesLeftAfterAcks: left,
  }
}

async function statsCost() {
  const b = new MemoryBackend(
    { visibilityTimeoutMs: 3.15e10, maxRetries: 3, deadLetterEnabled: true },
    { memoryLimitBytes: Infinity },
  )
  const count = 1_000_000
  for (let s = 0; s < count; s += 1000) {
    await b.send(
      'q',
      Array.from({ length: 1000 }, (_, i) => ({
        id: `m${s + i}`,
        payload: 'p',
        headers: {},
        priority: 0,
        orderingKey: '',
        delayMs: 0,
      })),
    )
  }
  await b.stats('q')
  const { messages } = await b.receive('q', 1000)
  await b.ack(
    'q',
    messages.map((m) => ({ id: m.id, receipt: m.receipt })),
  )
  let t = process.hrtime.bigint()
  await b.stats('q')
  const afterAcksMs = Number(process.hrtime.bigint() - t) / 1e6
  t = process.hrtime.bigint()
  for (let i = 0; i < 1000; i++) await b.stats('q')
  const perCallUs = Number(process.hrtime.bigint() - t) / 1e3 / 1000
  return {
    queued: count - 1000,
    firstAfter1000AcksMs: +afterAcksMs.toFixed(3),
    perCallUs: +perCallUs.toFixed(2),
  }
}

console.log(JSON.stringify(await retryPattern(false)))
console.log(JSON.stringify(await retryPattern(true)))
console.log(JSON.stringify(await statsCost()))
