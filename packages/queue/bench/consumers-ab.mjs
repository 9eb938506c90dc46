// Where the batched consumers' time goes, and an A/B of two builds. One private redis-server; each
// round runs the bench's batched work (sendBatch 100 from 4 loops, receiveBatch 100 + ackMany per
// consumer, 1 KiB payloads) once per build, back to back, and prints per run: msg/s at the last
// ack, when the producer finished and the last ack came (ms after start), receive calls that came
// back empty, Redis commands per message (INFO commandstats, commands inside scripts included),
// scripts run (EVALSHA + EVAL) and Redis/Node CPU ms.
//
//   node bench/consumers-ab.mjs                         # this build only
//   LI_AB_OTHER=/tmp/old/dist/index.js node bench/consumers-ab.mjs   # and another build
//
// LI_AB_CONSUMERS (8), LI_AB_MESSAGES (10000), LI_AB_ROUNDS (7), LI_AB_AOF=1 (appendfsync everysec).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { startRedisServer } from '@li/vitest-config/redis'

const here = fileURLToPath(new URL('../dist/index.js', import.meta.url))
if (!existsSync(here)) {
  console.error(`${here} is missing: run pnpm --filter @li/queue build first`)
  process.exit(2)
}
const builds = { this: (await import(here)).MessageQueue }
if (process.env.LI_AB_OTHER) builds.other = (await import(process.env.LI_AB_OTHER)).MessageQueue

const N = Number(process.env.LI_AB_MESSAGES ?? 10_000)
const C = Number(process.env.LI_AB_CONSUMERS ?? 8)
const ROUNDS = Number(process.env.LI_AB_ROUNDS ?? 7)
const BATCH = 100
const PAYLOAD = 'x'.repeat(1024)

const server = await startRedisServer({
  args: process.env.LI_AB_AOF ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : [],
})
const admin = new Redis(server.url)

async function run(MessageQueue) {
  const q = `ab-${Math.random().toString(36).slice(2)}`
  const opts = { redisUrl: server.url, queuePrefix: 'ab' }
  const producer = new MessageQueue(opts)
  const cs = Array.from({ length: C }, () => new MessageQueue(opts))
  await Promise.all([producer, ...cs].map((m) => m.start()))
  let sent = 0
  let acked = 0
  let empty = 0
  let producedAt = 0
  let lastAckAt = 0
  const t0 = performance.now()
  await Promise.all([
    Promise.all(
      Array.from({ length: 4 }, async () => {
        while (sent < N) {
          const n = Math.min(BATCH, N - sent)
          sent += n
          await producer.sendBatch(
            q,
            Array.from({ length: n }, () => ({ payload: PAYLOAD })),
          )
        }
      }),
    ).then(() => (producedAt = performance.now() - t0)),
    ...cs.map(async (c) => {
      while (acked < N) {
        const ms = await c.receiveBatch(q, { max: BATCH, waitMs: 200 })
        if (ms.length === 0) {
          empty++
          continue
        }
        await c.ackMany(ms)
        acked += ms.length
        if (acked >= N && lastAckAt === 0) lastAckAt = performance.now() - t0
      }
    }),
  ])
  await Promise.all([producer, ...cs].map((m) => m.stop()))
  return { producedAt, lastAckAt, empty }
}

const cpu = async () => {
  const t = await admin.info('cpu')
  return Number(/used_cpu_user:([\d.]+)/.exec(t)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(t)[1])
}
const results = {}
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, MessageQueue] of Object.entries(builds)) {
    await admin.config('RESETSTAT')
    const redis0 = await cpu()
    const node0 = process.cpuUsage()
    const r = await run(MessageQueue)
    const nodeCpu = process.cpuUsage(node0)
    const redisCpuMs = Math.round(((await cpu()) - redis0) * 1000)
    const stats = await admin.info('commandstats')
    let commands = 0
    let scripts = 0
    for (const m of stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
      if (/^(evalsha|eval)$/.test(m[1])) scripts += Number(m[2])
      else if (!/^(info|config|quit|subscribe|flushall)$/.test(m[1])) commands += Number(m[2])
    }
    const rate = Math.round(N / (r.lastAckAt / 1000))
    ;(results[name] ??= []).push(rate)
    console.log(
      JSON.stringify({
        build: name,
        round,
        rate,
        producedAtMs: Math.round(r.producedAt),
        lastAckAtMs: Math.round(r.lastAckAt),
        emptyReceives: r.empty,
        scripts,
        commandsPerMessage: Number((commands / N).toFixed(1)),
        redisCpuMs,
        nodeCpuMs: Math.round((nodeCpu.user + nodeCpu.system) / 1000),
      }),
    )
    await admin.flushall()
  }
}
admin.disconnect()
await server.stop()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
for (const [name, rates] of Object.entries(results)) {
  console.log(`${name}: median ${median(rates)} msg/s (${rates.join(' ')}), ${C} consumer(s)`)
}
