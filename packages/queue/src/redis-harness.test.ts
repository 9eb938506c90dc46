import { Redis } from 'ioredis'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, describe, expect, it } from 'vitest'

// Proves the test harness: a real redis-server started by the global setup (or LI_REDIS_URL).
describe('real Redis harness', () => {
  const client = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 })
  afterAll(() => client.disconnect())

  it('reaches the private redis-server and round-trips a value', async () => {
    await client.connect()
    expect(await client.ping()).toBe('PONG')
    await client.set('li:test:harness', 'ok')
    expect(await client.get('li:test:harness')).toBe('ok')
  })
})
