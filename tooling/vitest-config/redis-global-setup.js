// vitest global setup: one private redis-server for the whole run, unless LI_REDIS_URL is set.
// The URL reaches test workers through process.env (workers start after this runs). When no
// server can be started the error is recorded, and `redisUrl()` throws it in every Redis test.
import { startRedisServer } from './redis.js'

export default async function setup() {
  if (process.env.LI_REDIS_URL) return undefined
  try {
    const server = await startRedisServer()
    process.env.LI_REDIS_URL = server.url
    return async () => {
      delete process.env.LI_REDIS_URL
      await server.stop()
    }
  } catch (e) {
    process.env.LI_TEST_REDIS_ERROR = e instanceof Error ? e.message : String(e)
    return undefined
  }
}
