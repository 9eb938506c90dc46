import { describe, expect, it } from 'vitest'
import {
  HealthError,
  HealthRegistry,
  HealthStatus,
  createHostHealthCheck,
  createQueueHealthCheck,
  healthRoutes,
} from './index.js'

describe('HealthRegistry', () => {
  it('is HEALTHY when every check passes, with each check timed', async () => {
    const r = new HealthRegistry()
    r.addCheck('a', () => true)
    r.addCheck('b', async () => ({ status: HealthStatus.HEALTHY, message: 'fine' }))
    r.addCheck('c', () => undefined)
    const report = await r.checkAll()
    expect(report.status).toBe(HealthStatus.HEALTHY)
    expect(report.checks.map((c) => c.name)).toEqual(['a', 'b', 'c'])
    expect(report.checks[1]?.message).toBe('fine')
    for (const c of report.checks) expect(c.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('is UNHEALTHY when a critical check fails and DEGRADED when only a non-critical one does', async () => {
    const r = new HealthRegistry()
    r.addCheck('redis', () => false, { critical: false })
    expect((await r.checkAll()).status).toBe(HealthStatus.DEGRADED)
    r.addCheck('wal', () => {
      throw new Error('disk gone')
    })
    const report = await r.checkAll()
    expect(report.status).toBe(HealthStatus.UNHEALTHY)
    expect(report.checks.find((c) => c.name === 'wal')?.message).toBe('disk gone')
  })

  it('counts a check that times out as failed', async () => {
    const r = new HealthRegistry()
    r.addCheck('slow', () => new Promise(() => undefined), { timeoutMs: 30 })
    const report = await r.checkAll()
    expect(report.status).toBe(HealthStatus.UNHEALTHY)
    expect(report.checks[0]?.message).toMatch(/timed out after 30 ms/)
  })

  it('refuses duplicate names and bad timeouts', () => {
    const r = new HealthRegistry()
    r.addCheck('x', () => true)
    expect(() => r.addCheck('x', () => true)).toThrow(HealthError)
    expect(() => r.addCheck('y', () => true, { timeoutMs: 0 })).toThrow(/timeoutMs/)
    expect(r.removeCheck('x')).toBe(true)
    expect(r.checkNames).toEqual([])
  })

  it('is not ready while starting or shutting down, and live throughout', async () => {
    const r = new HealthRegistry()
    r.addCheck('ok', () => true)
    expect((await r.checkReadiness()).ready).toBe(false)
    r.markRunning()
    expect((await r.checkReadiness()).ready).toBe(true)
    r.markShuttingDown()
    r.setReady(true)
    expect((await r.checkReadiness()).ready).toBe(false)
    expect((await r.checkLiveness()).status).toBe(HealthStatus.HEALTHY)
  })

  it('is not ready while a critical check fails, but still live', async () => {
    const r = new HealthRegistry()
    r.markRunning()
    r.addCheck('wal', () => false)
    expect((await r.checkReadiness()).ready).toBe(false)
    expect((await r.checkLiveness()).status).toBe(HealthStatus.HEALTHY)
  })
})

describe('ready-made checks', () => {
  it('maps host states', async () => {
    const host = { name: 'PAS-In', state: 'RUNNING', enabled: true }
    const check = createHostHealthCheck(host)
    expect(await check()).toMatchObject({ status: HealthStatus.HEALTHY })
    host.state = 'PAUSED'
    expect(await check()).toMatchObject({ status: HealthStatus.DEGRADED })
    host.state = 'ERROR'
    expect(await check()).toMatchObject({ status: HealthStatus.UNHEALTHY })
    host.enabled = false
    expect(await check()).toMatchObject({ status: HealthStatus.HEALTHY })
  })

  it('degrades a queue past its depth or age and fails when it cannot be read', async () => {
    let depth = 3
    const queue = { depth: async () => depth, oldestAgeMs: () => 500 }
    const check = createQueueHealthCheck(queue, 'EPR-Out', { maxDepth: 10, maxAgeMs: 60_000 })
    expect(await check()).toMatchObject({ status: HealthStatus.HEALTHY, details: { depth: 3 } })
    depth = 11
    expect(await check()).toMatchObject({
      status: HealthStatus.DEGRADED,
      message: 'queue EPR-Out: depth 11 > 10',
    })
    const r = new HealthRegistry()
    r.addCheck(
      'q',
      createQueueHealthCheck(
        { depth: () => Promise.reject(new Error('Redis down')), oldestAgeMs: () => 0 },
        'q',
      ),
    )
    expect((await r.checkAll()).checks[0]).toMatchObject({
      status: HealthStatus.UNHEALTHY,
      message: 'Redis down',
    })
  })
})

describe('health routes', () => {
  it('serve /health, /health/live and /health/ready with the right codes', async () => {
    const r = new HealthRegistry()
    r.addCheck('wal', () => true)
    r.addCheck('redis', () => false, { critical: false })
    const app = healthRoutes(r)
    const health = await app.request('/health')
    expect(health.status).toBe(200)
    const body = (await health.json()) as {
      status: string
      checks: Array<{ name: string; status: string }>
    }
    expect(body.status).toBe('DEGRADED')
    expect(body.checks).toContainEqual(
      expect.objectContaining({ name: 'redis', status: 'UNHEALTHY' }),
    )
    expect((await app.request('/health/live')).status).toBe(200)
    expect((await app.request('/health/ready')).status).toBe(503)
    r.markRunning()
    expect((await app.request('/health/ready')).status).toBe(200)
    r.addCheck('store', () => false)
    expect((await app.request('/health')).status).toBe(503)
    expect((await app.request('/health/ready')).status).toBe(503)
  })
})
