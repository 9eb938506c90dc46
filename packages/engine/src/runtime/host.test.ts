import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import type { ProductionItem } from '../production/types.js'
import { Host } from './host.js'
import type { HostState } from './host.js'

class Probe extends Host {
  readonly kind = 'operation' as const
  readonly calls: string[] = []
  failStart = false
  protected override onStart(): Promise<void> {
    this.calls.push('start')
    return this.failStart ? Promise.reject(new Error('port in use')) : Promise.resolve()
  }
  protected override onStop(): Promise<void> {
    this.calls.push('stop')
    return Promise.resolve()
  }
  protected override onPause(): Promise<void> {
    this.calls.push('pause')
    return Promise.resolve()
  }
  protected override onResume(): Promise<void> {
    this.calls.push('resume')
    return Promise.resolve()
  }
}

const item = (enabled = true): ProductionItem => ({
  name: 'P',
  className: 'Test.Probe',
  poolSize: 2,
  enabled,
  attributes: {},
  settings: [],
})

describe('Host life cycle', () => {
  it('goes CREATED → STARTING → RUNNING ⇄ PAUSED → STOPPING → STOPPED, and restarts', async () => {
    const h = new Probe(item(), pino({ level: 'silent' }))
    const states: HostState[] = []
    h.onStateChange = (_h, s) => states.push(s)
    expect(h.state).toBe('CREATED')
    await h.start()
    await h.pause()
    expect(h.state).toBe('PAUSED')
    await h.resume()
    await h.restart()
    await h.stop()
    expect(states).toEqual([
      'STARTING',
      'RUNNING',
      'PAUSED',
      'RUNNING',
      'STOPPING',
      'STOPPED',
      'STARTING',
      'RUNNING',
      'STOPPING',
      'STOPPED',
    ])
    expect(h.calls).toEqual(['start', 'pause', 'resume', 'stop', 'start', 'stop'])
    expect(h.status()).toEqual({
      name: 'P',
      className: 'Test.Probe',
      kind: 'operation',
      state: 'STOPPED',
      enabled: true,
      poolSize: 2,
    })
  })

  it('a disabled host does not start until enabled; disable stops it', async () => {
    const h = new Probe(item(false), pino({ level: 'silent' }))
    await h.start()
    expect(h.state).toBe('CREATED')
    await h.enable()
    expect(h.state).toBe('RUNNING')
    await h.disable()
    expect([h.state, h.enabled]).toEqual(['STOPPED', false])
  })

  it('a failed start puts the host in ERROR with the reason', async () => {
    const h = new Probe(item(), pino({ level: 'silent' }))
    h.failStart = true
    const e: unknown = await h.start().catch((x: unknown) => x)
    expect(isEngineError(e) && e.code).toBe('ENGINE_HOST_START_FAILED')
    expect(h.state).toBe('ERROR')
    expect(h.lastError).toBe('port in use')
    h.failStart = false
    await h.start()
    expect(h.state).toBe('RUNNING')
    await h.stop()
  })

  it('serialises concurrent life-cycle calls', async () => {
    const h = new Probe(item(), pino({ level: 'silent' }))
    await Promise.all([h.start(), h.stop(), h.start()])
    expect(h.state).toBe('RUNNING')
    expect(h.calls).toEqual(['start', 'stop', 'start'])
    await h.stop()
  })
})
