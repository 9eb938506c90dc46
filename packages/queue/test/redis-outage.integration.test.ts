// A Redis outage: calls fail fast with QUEUE_UNAVAILABLE, the client reconnects by itself, and
// with AOF persistence (appendfsync always) nothing acked comes back and nothing unacked is lost.
// These tests run their own redis-server (killed with SIGKILL and restarted on the same port).
// The multi-process test runs test/fixtures/restart-consumer.mjs over the built package (CI builds
// before testing).
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startRedisServer } from '@li/vitest-config/redis'
import { describe, expect, it } from 'vitest'
import { MessageQueue, isQueueError } from '../src/index.js'

const consumerScript = fileURLToPath(new URL('./fixtures/restart-consumer.mjs', import.meta.url))
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

async function errorCode(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'no error',
    (e: unknown) => (isQueueError(e) ? e.code : e),
  )
}

/** One JSON line a restart-consumer printed (see the fixture's header). */
interface ConsumerEvent {
  ready?: number
  unavailable?: number
  recv?: string
  attempts?: number
  ack?: string
  ackFailed?: string
  stale?: string
  done?: boolean
}

type Phase = 'before' | 'outage' | 'after'

interface Consumer {
  child: ChildProcess
  /** Every event of this consumer with the test's phase when the parent read it. */
  events: Array<{ phase: Phase; ev: ConsumerEvent }>
  exited: Promise<number | null>
}

function startRestartConsumer(opts: Record<string, unknown>, phase: () => Phase): Consumer {
  const child = spawn(process.execPath, [consumerScript, JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const events: Consumer['events'] = []
  let buf = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    let i: number
    while ((i = buf.indexOf('\n')) >= 0) {
      events.push({ phase: phase(), ev: JSON.parse(buf.slice(0, i)) as ConsumerEvent })
      buf = buf.slice(i + 1)
    }
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code !== 0) process.stderr.write(`restart-consumer exited ${code ?? signal}: ${err}\n`)
      resolve(code)
    }),
  )
  return { child, events, exited }
}

/** Poll `cond` every 50 ms until it holds; throw with `what` after `ms`. */
async function until(
  what: string,
  ms: number,
  cond: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('Redis outage', () => {
  it('fails start() fast with QUEUE_UNAVAILABLE when nothing listens', async () => {
    const port = await freePort()
    const mq = new MessageQueue({ redisUrl: `redis://127.0.0.1:${port}` })
    const errors: Error[] = []
    mq.on('connectionError', (e) => errors.push(e))
    expect(await errorCode(mq.start())).toBe('QUEUE_UNAVAILABLE')
    expect(errors.length).toBeGreaterThan(0)
    await mq.stop()
  })

  it('survives a Redis restart with AOF: acked stay acked, unacked come back', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'li-queue-aof-'))
    const args = ['--appendonly', 'yes', '--appendfsync', 'always']
    let server = await startRedisServer({ dir, args })
    const mq = new MessageQueue({
      redisUrl: server.url,
      queuePrefix: `aof:${randomUUID()}`,
      visibilityTimeout: 1,
      retryDelay: 0,
    })
    let readyEvents = 0
    mq.on('ready', () => readyEvents++)
    mq.on('connectionError', () => {})
    try {
      await mq.start()
      const ids = await mq.sendBatch(
        'q',
        Array.from({ length: 10 }, (_, i) => ({ payload: `m${i}` })),
      )
      const got = await mq.receiveBatch('q', { max: 5 })
      expect(got.map((m) => m.id)).toEqual(ids.slice(0, 5))
      await mq.ackMany(got.slice(0, 3))

      await server.stop()
      expect(await errorCode(mq.send('q', 'during outage'))).toBe('QUEUE_UNAVAILABLE')
      expect(await errorCode(mq.receive('q'))).toBe('QUEUE_UNAVAILABLE')

      server = await startRedisServer({ port: server.port, dir, args })
      // The client reconnects by itself; wait for it.
      let depth: number | undefined
      for (let i = 0; i < 100 && depth === undefined; i++) {
        depth = await mq.depth('q').catch(() => undefined)
        if (depth === undefined) await new Promise((r) => setTimeout(r, 100))
      }
      expect(depth).toBe(5)
      expect(await mq.inFlight('q')).toBe(2)
      expect(readyEvents).toBeGreaterThanOrEqual(2)

      const back: string[] = []
      for (let i = 0; i < 50 && back.length < 7; i++) {
        const batch = await mq.receiveBatch('q', { max: 10, waitMs: 2000 })
        back.push(...batch.map((m) => m.id))
        await mq.ackMany(batch)
      }
      expect(back.sort()).toEqual(ids.slice(3).sort())
      expect(await mq.depth('q')).toBe(0)
    } finally {
      await mq.stop()
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
  it('survives a Redis restart mid-run with 3 consumer processes: they reconnect by themselves, acked stay acked, nothing is lost', async () => {
    if (!existsSync(dist)) {
      throw new Error(`${dist} is missing: run pnpm build (or pnpm --filter @li/queue build) first`)
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'li-queue-aof-mp-'))
    const args = ['--appendonly', 'yes', '--appendfsync', 'always']
    let server = await startRedisServer({ dir, args })
    const prefix = `aofmp:${randomUUID()}`
    const visibilityTimeout = 3
    const producer = new MessageQueue({
      redisUrl: server.url,
      queuePrefix: prefix,
      visibilityTimeout,
    })
    producer.on('connectionError', () => {})
    let phase: Phase = 'before'
    const consumers: Consumer[] = []
    try {
      await producer.start()
      const first = Array.from({ length: 300 }, (_, i) => `m${i}`)
      await producer.sendBatch(
        'q',
        first.map((payload) => ({ payload })),
      )
      for (let i = 0; i < 3; i++) {
        consumers.push(
          startRestartConsumer(
            { url: server.url, prefix, queue: 'q', visibilityTimeout, workMs: 5 },
            () => phase,
          ),
        )
      }
      const all = (): Array<{ phase: Phase; ev: ConsumerEvent }> =>
        consumers.flatMap((c) => c.events)
      const acks = (when?: Phase): string[] =>
        all()
          .filter((e) => e.ev.ack !== undefined && (when === undefined || e.phase === when))
          .map((e) => e.ev.ack!)

      // Kill Redis (SIGKILL) once the consumers are well into the queue. Acks read before the kill
      // were confirmed by Redis before it died.
      await until('60 acks before the restart', 30_000, () => acks('before').length >= 60)
      phase = 'outage'
      const ackedBefore = new Set(acks('before'))
      await server.stop()
      expect(await errorCode(producer.send('q', 'during outage'))).toBe('QUEUE_UNAVAILABLE')
      // Every consumer has run into the outage before Redis comes back.
      await until('every consumer to see QUEUE_UNAVAILABLE', 15_000, () =>
        consumers.every((c) =>
          c.events.some((e) => e.phase === 'outage' && e.ev.unavailable !== undefined),
        ),
      )
      server = await startRedisServer({ port: server.port, dir, args })
      phase = 'after'

      // New work after the restart, once the producer has reconnected by itself.
      const second = Array.from({ length: 30 }, (_, i) => `n${i}`)
      await until('the producer to reconnect', 15_000, async () =>
        producer
          .sendBatch(
            'q',
            second.map((payload) => ({ payload })),
          )
          .then(
            () => true,
            (e: unknown) => {
              if (isQueueError(e) && e.code === 'QUEUE_UNAVAILABLE') return false
              throw e
            },
          ),
      )
      const expected = [...first, ...second]
      // Done when every message was acked (or its ack was in doubt and it is gone from Redis) and
      // nothing waits or is in flight; messages in flight at the kill come back after the
      // visibility timeout.
      await until('every message to be consumed', 45_000, async () => {
        const settled = new Set(
          all().flatMap((e) => [e.ev.ack, e.ev.ackFailed].filter((p) => p !== undefined)),
        )
        if (!expected.every((p) => settled.has(p))) return false
        return (await producer.depth('q')) === 0 && (await producer.inFlight('q')) === 0
      })
      for (const c of consumers) c.child.kill('SIGTERM')
      expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0, 0])

      for (const c of consumers) {
        // Connected at start and reconnected by itself after the restart...
        expect(c.events.filter((e) => e.ev.ready !== undefined).length).toBeGreaterThanOrEqual(2)
        // ...and kept consuming.
        expect(c.events.some((e) => e.phase === 'after' && e.ev.ack !== undefined)).toBe(true)
        expect(c.events.at(-1)?.ev).toEqual({ done: true })
      }
      // Acked before the restart stays acked: none of those messages was delivered again.
      const deliveries = new Map<string, number>()
      for (const e of all()) {
        if (e.ev.recv !== undefined) deliveries.set(e.ev.recv, (deliveries.get(e.ev.recv) ?? 0) + 1)
      }
      expect(ackedBefore.size).toBeGreaterThanOrEqual(60)
      expect([...ackedBefore].filter((p) => deliveries.get(p) !== 1)).toEqual([])
      // Nothing lost: every message sent was delivered, and only sent messages were.
      expect([...deliveries.keys()].sort()).toEqual([...expected].sort())
      // The rest was delivered after the restart.
      // The rest was delivered and acked after the kill (an ack in doubt at the kill counts: its
      // message is gone from Redis, as checked below).
      const ackedLater = new Set([...acks('outage'), ...acks('after')])
      const inDoubt = new Set(all().flatMap((e) => (e.ev.ackFailed ? [e.ev.ackFailed] : [])))
      const rest = expected.filter((p) => !ackedBefore.has(p))
      expect(rest.filter((p) => !ackedLater.has(p) && !inDoubt.has(p))).toEqual([])
      expect(acks('after').length).toBeGreaterThan(0)
      expect(await producer.depth('q')).toBe(0)
      expect(await producer.inFlight('q')).toBe(0)
      expect(await producer.deadLetters('q')).toEqual([])
    } finally {
      for (const c of consumers) if (c.child.exitCode === null) c.child.kill('SIGKILL')
      await producer.stop()
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
