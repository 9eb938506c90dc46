// What `oldestAgeMs` and `depth` count, on both backends: depth is messages waiting (not in
// flight); the oldest age is that of the oldest message not yet acked or dead-lettered, waiting or
// in flight, so that a message held by a hung consumer keeps the age rising (what a stuck-queue
// alert on li_queue_oldest_age_seconds needs). The Redis case uses the global setup's redis-server.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import { describe, expect, it } from 'vitest'
import { MessageQueue } from '../src/index.js'

describe.each(['memory', 'redis'] as const)('oldestAgeMs (%s)', (backend) => {
  it('counts a message in flight, not only waiting ones, until it is acked', async () => {
    const mq = new MessageQueue({
      backend,
      ...(backend === 'redis' ? { redisUrl: redisUrl(), queuePrefix: `age:${randomUUID()}` } : {}),
      visibilityTimeout: 60,
    })
    await mq.start()
    try {
      await mq.send('q', 'ADT^A01')
      const held = await mq.receive('q')
      expect(held).not.toBeNull()
      await new Promise((r) => setTimeout(r, 25))
      // Nothing waits, one message is in flight: depth 0, but the age is that message's.
      expect(await mq.depth('q')).toBe(0)
      expect(await mq.inFlight('q')).toBe(1)
      const age = await mq.oldestAgeMs('q')
      expect(age).toBeGreaterThan(0)

      // A newer waiting message does not hide the older one in flight.
      await mq.send('q', 'ADT^A08')
      expect(await mq.depth('q')).toBe(1)
      expect(await mq.oldestAgeMs('q')).toBeGreaterThanOrEqual(age)

      await mq.ack(held!)
      const next = await mq.receive('q')
      await mq.ack(next!)
      expect(await mq.oldestAgeMs('q')).toBe(0)
    } finally {
      await mq.stop()
    }
  })
})
