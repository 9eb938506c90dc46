import { describe, expect, it } from 'vitest'
import { GracefulShutdown, HealthRegistry } from './index.js'
import type { ShutdownLogger } from './index.js'

function memoryLogger(): ShutdownLogger & {
  lines: Array<{ level: string; obj: object; msg?: string }>
} {
  const lines: Array<{ level: string; obj: object; msg?: string }> = []
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  }
}

describe('GracefulShutdown', () => {
  it('runs the phases in order: readiness, listeners, drains, hosts in reverse, handlers', async () => {
    const health = new HealthRegistry()
    health.markRunning()
    const order: string[] = []
    const s = new GracefulShutdown({
      health,
      logger: memoryLogger(),
      exit: () => order.push('exit'),
    })
    s.registerListener('mllp', () => {
      order.push(`listener ready=${health.phase}`)
    })
    s.registerDrain('queues', async () => {
      await new Promise((r) => setTimeout(r, 5))
      order.push('drain')
    })
    s.registerHost({ name: 'op', stop: () => void order.push('stop op') })
    s.registerHost({ name: 'router', stop: () => void order.push('stop router') })
    s.registerHost({ name: 'svc', stop: async () => void order.push('stop svc') })
    s.registerHandler('wal', () => void order.push('close wal'))
    const started = s.wait()
    const result = await s.shutdown('test')
    expect(await started).toBe('test')
    expect(result).toMatchObject({ ok: true, timedOut: false, failed: [], reason: 'test' })
    expect(order).toEqual([
      'listener ready=shutting-down',
      'drain',
      'stop svc',
      'stop router',
      'stop op',
      'close wal',
    ])
    expect(await s.waitComplete()).toBe(result)
    expect(await s.shutdown('again')).toBe(result)
  })

  it('bounds the drain by drainTimeout and still stops the hosts', async () => {
    const log = memoryLogger()
    const s = new GracefulShutdown({ drainTimeout: 0.05, timeout: 5, logger: log })
    const stopped: string[] = []
    s.registerDrain('stuck', () => new Promise(() => undefined))
    s.registerHost({ name: 'h', stop: () => void stopped.push('h') })
    const result = await s.shutdown()
    expect(result.ok).toBe(true)
    expect(stopped).toEqual(['h'])
    expect(
      log.lines.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes('drain:stuck')),
    ).toBe(true)
  })

  it('reports a failed step and, past the timeout, what did not finish', async () => {
    const log = memoryLogger()
    const s = new GracefulShutdown({ timeout: 0.1, drainTimeout: 0, logger: log })
    s.registerHost({
      name: 'broken',
      stop: () => {
        throw new Error('boom')
      },
    })
    s.registerHandler('hangs', () => new Promise(() => undefined))
    s.registerHandler('never-started', () => undefined)
    const result = await s.shutdown()
    expect(result.ok).toBe(false)
    expect(result.timedOut).toBe(true)
    expect(result.failed).toEqual([{ step: 'host:broken', error: 'boom' }])
    expect(result.unfinished).toEqual(['handler:hangs', 'handler:never-started'])
    expect(result.running).toEqual(['handler:hangs'])
    expect(log.lines.at(-1)).toMatchObject({
      level: 'error',
      obj: {
        unfinished: ['handler:hangs', 'handler:never-started'],
        running: ['handler:hangs'],
        notStarted: ['handler:never-started'],
      },
    })
  })

  it('names the hosts and handlers a hung host kept from starting, in stop order', async () => {
    const log = memoryLogger()
    const s = new GracefulShutdown({ timeout: 0.1, drainTimeout: 0, logger: log })
    const stopped: string[] = []
    s.registerListener('mllp', () => undefined)
    s.registerHost({ name: 'PAS-In', stop: () => void stopped.push('PAS-In') })
    s.registerHost({ name: 'Router', stop: () => void stopped.push('Router') })
    s.registerHost({ name: 'EPR-Out', stop: () => new Promise(() => undefined) })
    s.registerHandler('close-wal', () => void stopped.push('close-wal'))
    const result = await s.shutdown()
    expect(result.timedOut).toBe(true)
    expect(stopped).toEqual([])
    expect(result.unfinished).toEqual([
      'host:EPR-Out',
      'host:Router',
      'host:PAS-In',
      'handler:close-wal',
    ])
    expect(result.running).toEqual(['host:EPR-Out'])
    expect(log.lines.at(-1)?.obj).toMatchObject({
      notStarted: ['host:Router', 'host:PAS-In', 'handler:close-wal'],
    })
  })

  it('reports nothing unfinished when the shutdown completes in time', async () => {
    const s = new GracefulShutdown({ timeout: 5, logger: memoryLogger() })
    s.registerHost({ name: 'h', stop: () => undefined })
    expect(await s.shutdown()).toMatchObject({ ok: true, unfinished: [], running: [] })
  })

  it('refuses nonsense timeouts', () => {
    expect(() => new GracefulShutdown({ timeout: 0 })).toThrow(/timeout/)
  })
})
