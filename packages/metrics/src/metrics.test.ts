import { spawnSync } from 'node:child_process'
import { Hono } from 'hono'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { LiMetrics, MetricsError, metricsHandler, OTHER_LABEL } from './index.js'

function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  if (r.error) {
    throw new Error(
      `promtool is needed for this test (Debian/Ubuntu: apt-get install -y prometheus; macOS: brew install prometheus): ${r.error.message}`,
    )
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

function populated(): LiMetrics {
  const m = new LiMetrics({ collectDefaultMetrics: true })
  m.recordMessageReceived('PAS-In', 'ADT')
  m.recordMessageSent('Router', 'EPR-Out')
  m.recordMessageFailed('EPR-Out', 'MLLP_ACK_TIMEOUT')
  m.recordProcessingTime('Router', 0.0031)
  m.recordMessageSize('PAS-In', 'in', 3300)
  m.setConnectionsActive('PAS-In', 'mllp', 2)
  m.setHostStatus('PAS-In', 'service', true)
  m.trackQueue('EPR-Out', () => ({ depth: 7, oldestAgeMs: 1500 }))
  m.trackWal(() => 42)
  return m
}

describe('LiMetrics', () => {
  it('exposes exactly the contracted metric names with their labels', async () => {
    const text = await populated().render()
    expect(text).toContain('li_messages_received_total{host="PAS-In",message_type="ADT"} 1')
    expect(text).toContain('li_messages_sent_total{host="Router",target="EPR-Out"} 1')
    expect(text).toContain(
      'li_messages_failed_total{host="EPR-Out",error_type="MLLP_ACK_TIMEOUT"} 1',
    )
    expect(text).toContain('li_message_processing_seconds_bucket{le="0.005",host="Router"} 1')
    expect(text).toContain('li_message_size_bytes_count{host="PAS-In",direction="in"} 1')
    expect(text).toContain('li_connections_active{host="PAS-In",adapter="mllp"} 2')
    expect(text).toContain('li_queue_depth{host="EPR-Out"} 7')
    expect(text).toContain('li_queue_oldest_age_seconds{host="EPR-Out"} 1.5')
    expect(text).toContain('li_host_status{host="PAS-In",type="service"} 1')
    expect(text).toContain('li_wal_pending 42')
    expect(text).toContain('process_cpu_seconds_total')
  })

  it('reads tracked gauges at scrape time, not at registration', async () => {
    const m = new LiMetrics({ collectDefaultMetrics: false })
    let depth = 1
    m.trackQueue('Q', async () => ({ depth, oldestAgeMs: 0 }))
    expect(await m.render()).toContain('li_queue_depth{host="Q"} 1')
    depth = 5
    expect(await m.render()).toContain('li_queue_depth{host="Q"} 5')
    m.untrackQueue('Q')
    expect(await m.render()).not.toContain('li_queue_depth{host="Q"}')
  })

  it("drops a removed host's status series and keeps the others", async () => {
    const m = new LiMetrics({ collectDefaultMetrics: false })
    m.setHostStatus('Old.Out', 'operation', false)
    m.setHostStatus('EPR.Out', 'operation', true)
    expect(await m.render()).toContain('li_host_status{host="Old.Out",type="operation"} 0')
    m.forgetHost('Old.Out', 'operation')
    const text = await m.render()
    expect(text).not.toContain('host="Old.Out"')
    expect(text).toContain('li_host_status{host="EPR.Out",type="operation"} 1')
  })

  it('counts retention purges and reads the data volume at scrape time, once per scrape', async () => {
    const logged: object[] = []
    const m = new LiMetrics({
      collectDefaultMetrics: false,
      logger: { warn: (obj) => logged.push(obj) },
    })
    let text = await m.render()
    expect(text).not.toMatch(/^li_data_volume_free_bytes /m)
    expect(text).not.toMatch(/^li_store_purge_last_success_timestamp_seconds /m)
    m.recordPurge('ok', 1200, 2.5)
    m.recordPurge('failed', 300, 0.2)
    m.recordPurge('ok', 0, 0.01)
    let reads = 0
    let fail = false
    m.trackDataVolume(() => {
      reads++
      if (fail) throw new Error('EACCES: statfs denied')
      return { freeBytes: 5_000, sizeBytes: 20_000 }
    })
    const before = Date.now() / 1000
    text = await m.render()
    expect(text).toContain('li_store_purge_runs_total{result="ok"} 2')
    expect(text).toContain('li_store_purge_runs_total{result="failed"} 1')
    expect(text).toContain('li_store_purged_messages_total 1500')
    expect(text).toContain('li_store_purge_duration_seconds_count 3')
    const last = Number(/^li_store_purge_last_success_timestamp_seconds (\S+)$/m.exec(text)?.[1])
    expect(last).toBeGreaterThan(before - 60)
    expect(last).toBeLessThanOrEqual(before + 1)
    expect(text).toContain('li_data_volume_free_bytes 5000')
    expect(text).toContain('li_data_volume_size_bytes 20000')
    expect(reads).toBe(1)
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' })
    fail = true
    text = await m.render()
    expect(text).not.toMatch(/^li_data_volume_(free|size)_bytes /m)
    expect(text).toContain('li_store_purged_messages_total 1500')
    expect(logged).toEqual([expect.objectContaining({ err: 'EACCES: statfs denied' })])
  })

  it('bounds label values taken from messages', async () => {
    const m = new LiMetrics({ collectDefaultMetrics: false, maxLabelValues: 3 })
    for (const t of ['ADT', 'ORU', 'ORM', 'SIU', 'MDM']) m.recordMessageReceived('In', t)
    m.recordMessageReceived('In', 'x"}\nevil{')
    m.recordMessageReceived('In', undefined)
    const text = await m.render()
    const series = text.split('\n').filter((l) => l.startsWith('li_messages_received_total{'))
    expect(series).toHaveLength(4)
    expect(text).toContain(`li_messages_received_total{host="In",message_type="${OTHER_LABEL}"} 4`)
  })

  it('uses an injected registry and never the global one', async () => {
    const registry = new Registry()
    const m = new LiMetrics({ registry, collectDefaultMetrics: false })
    m.setWalPending(3)
    expect(await registry.metrics()).toContain('li_wal_pending 3')
    expect(() => new LiMetrics({ maxLabelValues: 0 })).toThrow(MetricsError)
  })

  it('passes promtool check metrics', async () => {
    const m = populated()
    // Our own metrics: no finding at all.
    const ours = (await m.render())
      .split('\n# HELP ')
      .filter((block, i) => i === 0 || block.startsWith('li_'))
      .join('\n# HELP ')
    expect(ours).toContain('li_wal_pending')
    expect(promtoolCheck(ours)).toEqual({ status: 0, output: '' })
    // The whole exposition parses; the only lint findings are prom-client's own default gauges
    // named nodejs_active_*_total (upstream naming, not ours).
    const { output } = promtoolCheck(await m.render())
    const findings = output.split('\n').filter(Boolean)
    for (const f of findings) expect(f).toMatch(/^nodejs_active_\w+_total non-counter metrics/)
  })
})

describe('a tracked source that fails', () => {
  function memoryLogger(): { warn(obj: object, msg?: string): void; lines: object[] } {
    const lines: object[] = []
    return { lines, warn: (obj, msg) => lines.push({ ...obj, msg }) }
  }
  function unavailable(): Error {
    return Object.assign(new Error('Redis at redis://127.0.0.1:6379 is unavailable'), {
      code: 'QUEUE_UNAVAILABLE',
    })
  }

  it('costs only its own series: the scrape succeeds, promtool passes, a warning names it', async () => {
    const logger = memoryLogger()
    const m = new LiMetrics({ collectDefaultMetrics: true, logger })
    m.recordMessageReceived('PAS-In', 'ADT')
    m.trackQueue('EPR-Out', () => ({ depth: 7, oldestAgeMs: 1500 }))
    let redisUp = true
    let reads = 0
    m.trackQueue('Lab-Out', async () => {
      reads++
      if (!redisUp) throw unavailable()
      return { depth: 3, oldestAgeMs: 2000 }
    })
    m.trackQueue('Sync-Throws', () => {
      throw new TypeError('not a queue')
    })
    m.trackWal(() => 42)

    expect(await m.render()).toContain('li_queue_depth{host="Lab-Out"} 3')
    expect(reads).toBe(1) // one read per source and scrape, shared by both queue gauges
    expect(logger.lines).toEqual([
      expect.objectContaining({ host: 'Sync-Throws', err: 'not a queue' }),
    ])
    logger.lines.length = 0
    redisUp = false
    const app = new Hono()
    app.get('/metrics', metricsHandler(m))
    const res = await app.request('/metrics')
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(reads).toBe(2)
    // The failing hosts' series are left out (not their last value), everything else is there.
    expect(text).not.toMatch(/host="(Lab-Out|Sync-Throws)"/)
    expect(text).toContain('li_queue_depth{host="EPR-Out"} 7')
    expect(text).toContain('li_queue_oldest_age_seconds{host="EPR-Out"} 1.5')
    expect(text).toContain('li_messages_received_total{host="PAS-In",message_type="ADT"} 1')
    expect(text).toContain('li_wal_pending 42')
    expect(text).toContain('process_cpu_seconds_total')
    const ours = text
      .split('\n# HELP ')
      .filter((block, i) => i === 0 || block.startsWith('li_'))
      .join('\n# HELP ')
    expect(promtoolCheck(ours)).toEqual({ status: 0, output: '' })
    expect(logger.lines).toHaveLength(2) // one warning per failing source and scrape
    expect(logger.lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ host: 'Lab-Out', code: 'QUEUE_UNAVAILABLE' }),
        expect.objectContaining({ host: 'Sync-Throws', err: 'not a queue' }),
      ]),
    )

    redisUp = true
    expect(await m.render()).toContain('li_queue_oldest_age_seconds{host="Lab-Out"} 2')
  })

  it('leaves li_wal_pending out when the WAL source fails, and keeps the rest', async () => {
    const logger = memoryLogger()
    const m = new LiMetrics({ collectDefaultMetrics: false, logger })
    m.trackQueue('EPR-Out', () => ({ depth: 1, oldestAgeMs: 0 }))
    let fail = false
    m.trackWal(() => (fail ? Promise.reject(new Error('WAL closed')) : 5))
    expect(await m.render()).toContain('li_wal_pending 5')
    fail = true
    const text = await m.render()
    expect(text).not.toMatch(/^li_wal_pending /m)
    expect(text).toContain('li_queue_depth{host="EPR-Out"} 1')
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' })
    expect(logger.lines).toEqual([expect.objectContaining({ err: 'WAL closed' })])
  })
})

describe('metricsHandler', () => {
  it('serves GET /metrics in the Prometheus text format', async () => {
    const app = new Hono()
    app.get('/metrics', metricsHandler(populated()))
    const res = await app.request('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const body = await res.text()
    expect(body).toContain('# TYPE li_messages_received_total counter')
    expect(promtoolCheck(body).output).not.toMatch(/error|li_/)
  })
})
