import { describe, expect, it } from 'vitest'
import { parseRunConfig } from './config.js'
import { AppError } from './errors.js'

describe('parseRunConfig', () => {
  it('collects plugins from LI_PLUGINS then --plugin (repeatable), without repeats', () => {
    const c = parseRunConfig(
      ['prod.xml', '--plugin', './a.mjs', '--plugin', '@trust/li-plugin', '--plugin', 'b'],
      { LI_PLUGINS: ' b , ./env.mjs,' },
    )
    expect(c.plugins).toEqual(['b', './env.mjs', './a.mjs', '@trust/li-plugin'])
    expect(() => parseRunConfig(['prod.xml', '--plugin', ' '], {})).toThrow(
      /--plugin needs a module path or package name/,
    )
  })

  it('runs on embedded defaults with only a production file', () => {
    expect(parseRunConfig(['prod.xml'], {})).toEqual({
      production: 'prod.xml',
      dataDir: './data',
      httpHost: '0.0.0.0',
      httpPort: 8080,
      syncMode: 'fsync',
      logLevel: 'info',
      shutdownTimeout: 30,
      drainTimeout: 10,
    })
  })

  it('takes every option from the environment, and options over the environment', () => {
    const env = {
      LI_PRODUCTION: 'env.xml',
      LI_DATA_DIR: '/data',
      LI_HTTP_HOST: '127.0.0.1',
      LI_HTTP_PORT: '9090',
      LI_REDIS_URL: 'redis://r:6379',
      LI_SYNC_MODE: 'async',
      LI_LOG_LEVEL: 'debug',
      LI_ADMIN_TOKEN: 'secret',
    }
    expect(parseRunConfig([], env)).toMatchObject({
      production: 'env.xml',
      dataDir: '/data',
      httpHost: '127.0.0.1',
      httpPort: 9090,
      redisUrl: 'redis://r:6379',
      syncMode: 'async',
      logLevel: 'debug',
      adminToken: 'secret',
    })
    expect(parseRunConfig(['cli.xml', '--http-port', '7000', '--sync', 'none'], env)).toMatchObject(
      {
        production: 'cli.xml',
        httpPort: 7000,
        syncMode: 'none',
      },
    )
  })

  it('refuses unknown options and bad values with a message that names them', () => {
    expect(() => parseRunConfig(['p.xml', '--bogus'], {})).toThrow(/Unknown option '--bogus'/)
    expect(() => parseRunConfig(['p.xml', '--http-port', '70000'], {})).toThrow(
      '--http-port must be a port number from 1 to 65535, got "70000"',
    )
    expect(() => parseRunConfig(['p.xml'], { LI_SYNC_MODE: 'sometimes' })).toThrow(
      'LI_SYNC_MODE must be one of fsync, async, none, got "sometimes"',
    )
    expect(() => parseRunConfig(['p.xml', '--redis-url', 'http://x'], {})).toThrow(/redis:\/\//)
    expect(() => parseRunConfig([], {})).toThrow(/needs a production file/)
    expect(() => parseRunConfig(['a.xml', 'b.xml'], {})).toThrow(AppError)
  })

  it('takes the Redis queue prefix from LI_QUEUE_PREFIX, refusing odd characters', () => {
    expect(parseRunConfig(['p.xml'], { LI_QUEUE_PREFIX: 'trust-a:li' }).queuePrefix).toBe(
      'trust-a:li',
    )
    expect(() => parseRunConfig(['p.xml'], { LI_QUEUE_PREFIX: 'a b' })).toThrow(/LI_QUEUE_PREFIX/)
  })

  it('takes LI_QUEUE_MEMORY_MB as a whole number of MiB, refusing other values', () => {
    expect(parseRunConfig(['p.xml'], {}).queueMemoryMb).toBeUndefined()
    expect(parseRunConfig(['p.xml'], { LI_QUEUE_MEMORY_MB: '256' }).queueMemoryMb).toBe(256)
    expect(parseRunConfig(['p.xml'], { LI_QUEUE_MEMORY_MB: '0' }).queueMemoryMb).toBe(0)
    for (const v of ['-1', '1.5', 'lots'])
      expect(() => parseRunConfig(['p.xml'], { LI_QUEUE_MEMORY_MB: v })).toThrow(
        `LI_QUEUE_MEMORY_MB must be a whole number of MiB from 0 to 1048576, got "${v}"`,
      )
  })

  it('takes --retention-days / LI_RETENTION_DAYS and LI_PURGE_INTERVAL, refusing bad values', () => {
    const base = parseRunConfig(['p.xml'], {})
    expect(base.retentionDays).toBeUndefined()
    expect(base.purgeInterval).toBeUndefined()
    expect(parseRunConfig(['p.xml'], { LI_RETENTION_DAYS: '90' }).retentionDays).toBe(90)
    expect(parseRunConfig(['p.xml'], { LI_RETENTION_DAYS: '0' }).retentionDays).toBe(0)
    expect(parseRunConfig(['p.xml'], { LI_RETENTION_DAYS: '0.5' }).retentionDays).toBe(0.5)
    // The option wins over the environment.
    expect(
      parseRunConfig(['p.xml', '--retention-days', '7'], { LI_RETENTION_DAYS: '90' }).retentionDays,
    ).toBe(7)
    for (const v of ['-1', 'forever', '1e3', '40000'])
      expect(() => parseRunConfig(['p.xml', `--retention-days=${v}`], {})).toThrow(
        `--retention-days must be a number of days from 0 to 36500 (0 keeps every message), got "${v}"`,
      )
    expect(() => parseRunConfig(['p.xml'], { LI_RETENTION_DAYS: 'x' })).toThrow(/LI_RETENTION_DAYS/)
    expect(parseRunConfig(['p.xml'], { LI_PURGE_INTERVAL: '600' }).purgeInterval).toBe(600)
    expect(() => parseRunConfig(['p.xml'], { LI_PURGE_INTERVAL: '0' })).toThrow(
      'LI_PURGE_INTERVAL must be a positive number of seconds, got "0"',
    )
  })

  it('takes LI_STORE_WORKER as 1 or 0, refusing other values', () => {
    expect(parseRunConfig(['p.xml'], {}).storeWorker).toBeUndefined()
    expect(parseRunConfig(['p.xml'], { LI_STORE_WORKER: '0' }).storeWorker).toBe(false)
    expect(parseRunConfig(['p.xml'], { LI_STORE_WORKER: '1' }).storeWorker).toBe(true)
    expect(() => parseRunConfig(['p.xml'], { LI_STORE_WORKER: 'off' })).toThrow(
      'LI_STORE_WORKER must be one of 0, 1, got "off"',
    )
  })

  it('takes --peers / LI_PEERS as URLs or dns:<name>:<port>, refusing bad values', () => {
    expect(parseRunConfig(['p.xml'], {}).peers).toBeUndefined()
    expect(
      parseRunConfig(['p.xml'], {
        LI_PEERS: ' http://10.1.2.3:8080, http://10.1.2.4:8080/ ,http://10.1.2.3:8080',
      }).peers,
    ).toEqual({ kind: 'urls', urls: ['http://10.1.2.3:8080', 'http://10.1.2.4:8080'] })
    expect(parseRunConfig(['p.xml'], { LI_PEERS: 'dns:li-engine-headless:8080' }).peers).toEqual({
      kind: 'dns',
      name: 'li-engine-headless',
      port: 8080,
    })
    // The option wins over the environment.
    expect(
      parseRunConfig(['p.xml', '--peers', 'https://engine-2.example:8443'], {
        LI_PEERS: 'dns:x:1',
      }).peers,
    ).toEqual({ kind: 'urls', urls: ['https://engine-2.example:8443'] })
    for (const [v, msg] of [
      ['dns:li-engine-headless', /--peers must be dns:<name>:<port>/],
      ['dns:li-engine-headless:http', /--peers \(port of li-engine-headless\) must be a port/],
      ['dns:10.0.0.1:8080', /with a DNS name/],
      ['dns:a:1:2', /--peers must be dns:<name>:<port>/],
      ['10.1.2.3:8080', /must be an http:\/\/ or https:\/\/ URL/],
      ['ftp://x', /must be an http:\/\/ or https:\/\/ URL/],
      ['http://user:pw@x:8080', /must not carry credentials/],
      ['http://exa mple:80', /is not a URL/],
      [',', /--peers needs http\(s\):\/\/host:port/],
    ] as const) {
      expect(() => parseRunConfig(['p.xml', '--peers', v], {}), v).toThrow(msg)
    }
    expect(() => parseRunConfig(['p.xml'], { LI_PEERS: 'dns:' })).toThrow(/^LI_PEERS must be/)
    expect(() => parseRunConfig(['p.xml'], { LI_PEERS: 'dns:' })).toThrow(AppError)
  })

  it('takes --instance / LI_INSTANCE as a name, refusing odd characters', () => {
    expect(parseRunConfig(['p.xml'], {}).instance).toBeUndefined()
    expect(parseRunConfig(['p.xml'], { LI_INSTANCE: 'li-engine-2' }).instance).toBe('li-engine-2')
    expect(
      parseRunConfig(['p.xml', '--instance', 'site-a.engine_1'], { LI_INSTANCE: 'x' }).instance,
    ).toBe('site-a.engine_1')
    for (const v of ['-lead', 'a b', 'x/y', 'a'.repeat(101)]) {
      expect(() => parseRunConfig(['p.xml'], { LI_INSTANCE: v }), v).toThrow(/^LI_INSTANCE must be/)
    }
  })
})
