// Several consumer processes on one Redis queue: per-key order under 8 parallel consumers, and a
// consumer killed with SIGKILL mid-message whose message comes back after the visibility timeout.
// The consumers run test/fixtures/consumer.mjs over the built package (CI builds before testing).
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { redisUrl } from '@li/vitest-config/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MessageQueue } from '../src/index.js'

const consumerScript = fileURLToPath(new URL('./fixtures/consumer.mjs', import.meta.url))
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

function startConsumer(opts: Record<string, unknown>): {
  child: ChildProcess
  output: Promise<string>
} {
  const child = spawn(process.execPath, [consumerScript, JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const output = new Promise<string>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (code === 0 || signal === 'SIGKILL') resolve(out)
      else reject(new Error(`consumer exited with ${code ?? signal}: ${err}`))
    })
  })
  return { child, output }
}

describe('several consumer processes on one Redis queue', () => {
  const redis = new Redis(redisUrl(), { lazyConnect: true })
  beforeAll(async () => {
    if (!existsSync(dist)) {
      throw new Error(
        `${dist} is missing: run pnpm build (or pnpm --filter @li/queue build) before the tests`,
      )
    }
    await redis.connect()
  })
  afterAll(() => redis.disconnect())

  it('keeps per-key order with 8 parallel consumer processes, each message once', async () => {
    const prefix = `mp:${randomUUID()}`
    const producer = new MessageQueue({ redisUrl: redisUrl(), queuePrefix: prefix })
    await producer.start()
    const keys = 12
    const perKey = 12
    const items = []
    for (let i = 0; i < perKey; i++) {
      for (let k = 0; k < keys; k++) items.push({ payload: `k${k}:${i}`, orderingKey: `MRN${k}` })
    }
    await producer.sendBatch('adt', items)
    const consumers = Array.from({ length: 8 }, () =>
      startConsumer({
        url: redisUrl(),
        prefix,
        queue: 'adt',
        mode: 'ordered',
        visibilityTimeout: 30,
      }),
    )
    const outputs = await Promise.all(consumers.map((c) => c.output))
    const processed = outputs.map((o) => (JSON.parse(o) as { processed: number }).processed)
    expect(processed.reduce((a, b) => a + b, 0)).toBe(keys * perKey)

    const log = await redis.lrange(`${prefix}:log`, 0, -1)
    expect(await redis.lrange(`${prefix}:violations`, 0, -1)).toEqual([])
    expect(log).toHaveLength(keys * perKey)
    const byKey = new Map<string, number[]>()
    const pids = new Set<string>()
    for (const line of log) {
      const [pid, payload] = line.split(' ') as [string, string]
      pids.add(pid)
      const [k, i] = payload.split(':') as [string, string]
      byKey.set(k, [...(byKey.get(k) ?? []), Number(i)])
    }
    for (const seq of byKey.values()) expect(seq).toEqual([...Array(perKey).keys()])
    // The work really was shared between processes.
    expect(pids.size).toBeGreaterThan(1)
    expect(await producer.depth('adt')).toBe(0)
    await producer.stop()
  }, 60_000)

  it('redelivers the message of a consumer killed with SIGKILL after the visibility timeout', async () => {
    const prefix = `kill:${randomUUID()}`
    const mq = new MessageQueue({ redisUrl: redisUrl(), queuePrefix: prefix, visibilityTimeout: 1 })
    await mq.start()
    const id = await mq.send('q', 'ORU^R01')
    const { child, output } = startConsumer({
      url: redisUrl(),
      prefix,
      queue: 'q',
      mode: 'hang',
      visibilityTimeout: 1,
    })
    // Wait until the consumer holds the message, then kill it without any chance to clean up.
    for (let i = 0; i < 400 && (await mq.inFlight('q')) === 0; i++)
      await new Promise((r) => setTimeout(r, 50))
    expect(await mq.inFlight('q')).toBe(1)
    child.kill('SIGKILL')
    expect(JSON.parse(await output)).toEqual({ id })
    const again = await mq.receive('q', { waitMs: 10_000 })
    expect(again).toMatchObject({ id, attempts: 2, payload: 'ORU^R01' })
    await mq.ack(again!)
    await mq.stop()
  }, 45_000)
})
