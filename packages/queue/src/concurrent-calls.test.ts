// Concurrent single calls from one client share round trips (group-commit.ts, receiver.ts). These
// cases check that doing so changes no result: the same operations made concurrently and made one
// after another give the same transcript, on both backends.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageQueue, isQueueError } from './index.js'
import type { QueueMessage } from './index.js'

const backends = ['memory', 'redis'] as const

type Style = 'sequential' | 'concurrent'

/** Runs the calls one after another, or all at once; returns each outcome (value or error code). */
async function run<T>(style: Style, calls: (() => Promise<T>)[]): Promise<(T | string)[]> {
  const settle = (p: Promise<T>): Promise<T | string> =>
    p.catch((e: unknown) => (isQueueError(e) ? e.code : String(e)))
  if (style === 'concurrent') return Promise.all(calls.map((c) => settle(c())))
  const out: (T | string)[] = []
  for (const c of calls) out.push(await settle(c()))
  return out
}

describe.each(backends)('concurrent single calls (%s)', (backend) => {
  const open: MessageQueue[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((q) => q.stop()))
  })

  async function make(): Promise<MessageQueue> {
    const mq = new MessageQueue({
      backend,
      ...(backend === 'redis' ? { redisUrl: redisUrl(), queuePrefix: `t:${randomUUID()}` } : {}),
      // Long enough that nothing is redelivered during a case: results stay deterministic.
      visibilityTimeout: 60,
      retryDelay: 0,
    })
    open.push(mq)
    await mq.start()
    return mq
  }

  /** Sends, receives and acks 60 messages (priorities, ordering keys, repeated acks) in `style`. */
  async function transcript(style: Style): Promise<unknown[]> {
    const mq = await make()
    const out: unknown[] = []
    const sends = Array.from({ length: 60 }, (_, i) => () => {
      const key = i % 5 === 0 ? 'K' : i % 7 === 0 ? 'L' : undefined
      return mq.send('q', `m${i}`, { priority: i % 3, ...(key ? { orderingKey: key } : {}) })
    })
    const ids = await run(style, sends)
    expect(new Set(ids).size).toBe(60)
    const payloadOf = new Map(ids.map((id, i) => [id, `m${i}`]))
    out.push(await mq.depth('q'))
    // Rounds: receive more than is available, check ids, ack all (and one twice), until empty.
    for (let round = 0; round < 20; round++) {
      const got = await run(
        style,
        Array.from({ length: 70 }, () => () => mq.receive('q')),
      )
      const msgs = got.filter((m): m is QueueMessage => m !== null && typeof m !== 'string')
      for (const m of msgs) expect(payloadOf.get(m.id)).toBe(m.payload)
      out.push(
        got.map((m) => (m === null || typeof m === 'string' ? m : `${m.payload}#${m.attempts}`)),
      )
      if (msgs.length === 0) break
      const acks = msgs.map((m) => () => mq.ack(m))
      acks.push(() => mq.ack(msgs[0]!))
      out.push(await run(style, acks))
    }
    out.push(await mq.depth('q'), await mq.inFlight('q'))
    return out
  }

  it('gives the same results as the same calls made one after another', async () => {
    const sequential = await transcript('sequential')
    const concurrent = await transcript('concurrent')
    expect(concurrent).toEqual(sequential)
    // Sanity of the transcript itself: all 60 delivered once, the repeated ack refused, all done.
    const delivered = sequential
      .filter(Array.isArray)
      .flat()
      .filter((x) => /^m\d+#1$/.test(String(x)))
    expect(delivered).toHaveLength(60)
    expect(sequential.flat().filter((x) => x === 'QUEUE_STALE_RECEIPT').length).toBeGreaterThan(0)
    expect(sequential.slice(-2)).toEqual([0, 0])
  })

  it('serves concurrent waiting receives in call order, each message once', async () => {
    const mq = await make()
    const waiting = Array.from({ length: 12 }, () => mq.receive('q', { waitMs: 10_000 }))
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => mq.send('q', `w${i}`)))
    const got = await Promise.all(waiting)
    expect(got.map((m) => m?.id)).toEqual(ids)
    const { acked, stale } = await mq.ackMany(got.filter((m) => m !== null))
    expect({ acked, stale }).toEqual({ acked: 12, stale: [] })
  })

  it('wakes a receive waiting on one client when another client sends (redis)', async () => {
    if (backend !== 'redis') return
    const prefix = `t:${randomUUID()}`
    const a = new MessageQueue({ redisUrl: redisUrl(), queuePrefix: prefix })
    const b = new MessageQueue({ redisUrl: redisUrl(), queuePrefix: prefix })
    open.push(a, b)
    await Promise.all([a.start(), b.start()])
    const waiting = b.receive('q', { waitMs: 10_000 })
    const id = await a.send('q', 'x')
    expect((await waiting)?.id).toBe(id)
  })

  it('still works for a Redis user without pub/sub permissions, by polling (redis)', async () => {
    if (backend !== 'redis') return
    const admin = new Redis(redisUrl())
    const user = `nopubsub-${randomUUID()}`
    try {
      await admin.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '+@all', 'resetchannels')
      const url = new URL(redisUrl())
      url.username = user
      url.password = 'pw'
      const prefix = `t:${randomUUID()}`
      const a = new MessageQueue({ redisUrl: url.toString(), queuePrefix: prefix })
      const b = new MessageQueue({ redisUrl: url.toString(), queuePrefix: prefix })
      open.push(a, b)
      await Promise.all([a.start(), b.start()])
      const waiting = b.receive('q', { waitMs: 10_000 })
      const ids = await Promise.all([a.send('q', 'x', { orderingKey: 'K' }), a.send('q', 'y')])
      const first = await waiting
      expect(ids).toContain(first?.id)
      await b.ack(first!)
      expect(await a.depth('q')).toBe(1)
    } finally {
      await admin.call('ACL', 'DELUSER', user)
      admin.disconnect()
    }
  })

  it('lets sends and acks made before stop() finish', async () => {
    const mq = await make()
    const first = await mq.send('q', 'a')
    const m = await mq.receive('q')
    expect(m?.id).toBe(first)
    const pending = [mq.send('q', 'b'), mq.ack(m!)]
    await mq.stop()
    await expect(Promise.all(pending)).resolves.toHaveLength(2)
  })
})
