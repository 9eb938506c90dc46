// Cost of browse on a deep queue, over dist (run `pnpm turbo run build --filter=@li/queue` first).
// Memory backend: LI_BROWSE_MEMORY (1,000,000) messages of ~100 bytes queued (nothing spilled),
// the first 1,000 received (in flight); times a first page of 1,000 (in flight), the first page of
// ready messages, and a page of 1,000 whose cursor is half-way down the ready heap, and one remove.
// Redis: LI_BROWSE_REDIS (200,000) messages on a private redis-server (the test harness's, or
// LI_REDIS_URL), the same pages. Each figure is the median of 5 calls, in ms.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const { MessageQueue } = await import(path.join(dist, 'index.js'))
const { encodeBrowseCursor } = await import(path.join(dist, 'browse-cursor.js'))
const { startRedisServer } = await import(
  fileURLToPath(new URL('../../../tooling/vitest-config/redis.js', import.meta.url))
)

async function median(fn) {
  const t = []
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint()
    await fn()
    t.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  t.sort((a, b) => a - b)
  return t[2].toFixed(2)
}

async function run(label, mq, n) {
  for (let i = 0; i < n; i += 1000) {
    await mq.sendBatch(
      'q',
      Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({
        payload: `MSH|^~\\&|PAS|RXX|EPR|RXX|||ADT^A01|${i + j}|P|2.5`.padEnd(100, 'x'),
      })),
    )
  }
  const held = await mq.receiveBatch('q', { max: 1000 })
  const first = await median(() => mq.browse('q', { limit: 1000 }))
  const page1 = await mq.browse('q', { limit: 1000 })
  const firstReady = await median(() => mq.browse('q', { limit: 1000, cursor: page1.cursor }))
  // Half-way down the ready part: the sequence of the message at n / 2 (sends are numbered 1..n).
  const deep = encodeBrowseCursor({ section: 1, score: Math.floor(n / 2), id: '' })
  const half = await median(() => mq.browse('q', { limit: 1000, cursor: deep }))
  const got = (await mq.browse('q', { limit: 1000, cursor: deep })).messages
  const withBodies = await median(() =>
    mq.browse('q', { limit: 1000, cursor: deep, payloads: true }),
  )
  let k = 0
  const remove = got.length < 5 ? '-' : await median(() => mq.remove('q', got[k++].id))
  console.log(
    `${label}, ${n.toLocaleString('en')} queued: first page (1,000 in flight) ${first} ms; first ready page ${firstReady} ms; page at ${(n / 2).toLocaleString('en')} ${half} ms (with payloads ${withBodies} ms); remove ${remove} ms`,
  )
  await mq.ackMany(held)
}

const memory = new MessageQueue({
  backend: 'memory',
  memoryLimitBytes: Infinity,
  visibilityTimeout: 600,
})
await memory.start()
await run('memory', memory, Number(process.env.LI_BROWSE_MEMORY ?? 1_000_000))
await memory.stop()

const server = process.env.LI_REDIS_URL ? null : await startRedisServer()
const redis = new MessageQueue({
  redisUrl: process.env.LI_REDIS_URL ?? server.url,
  queuePrefix: `browse-bench:${process.pid}`,
  visibilityTimeout: 600,
})
await redis.start()
await run('redis', redis, Number(process.env.LI_BROWSE_REDIS ?? 200_000))
await redis.stop()
await server?.stop()
