// A Redis outage: calls fail fast with QUEUE_UNAVAILABLE, the client reconnects by itself, and
// with AOF persistence (appendfsync always) nothing acked comes back and nothing unacked is lost.
// These tests run their own redis-server (killed with SIGKILL and restarted on the same port).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { freePort, startRedisServer } from '@li/vitest-config/redis'
import { describe, expect, it } from 'vitest'
import { MessageQueue, isQueueError } from '../src/index.js'

async function errorCode(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'no error',
    (e: unknown) => (isQueueError(e) ? e.code : e),
  )
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
})
