/** How to get a Redis for the tests, printed when there is none. */
export declare const REDIS_INSTALL_HINT: string
/** A free TCP port on 127.0.0.1. */
export declare function freePort(): Promise<number>
/** Whether a redis-server binary is on PATH. */
export declare function hasRedisServer(): boolean
/** A running private redis-server. */
export interface RedisServerHandle {
  url: string
  port: number
  dir: string
  pid: number | undefined
  stop(): Promise<void>
}
/** Start a private redis-server on a free loopback port, persistence off unless `args` say otherwise. */
export declare function startRedisServer(options?: {
  port?: number
  args?: string[]
  dir?: string
}): Promise<RedisServerHandle>
/** The URL of the test run's Redis (LI_REDIS_URL or the one the global setup started); throws if none. */
export declare function redisUrl(): string
