import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { productionItem } from '../../test/helpers.js'
import { isEngineError } from '../errors.js'
import { BUILTIN_HOST_CLASSES, registerBuiltinHosts } from './builtin-hosts.js'
import { Host } from './host.js'
import type { HostContext } from './host-context.js'
import { HostRegistry } from './host-registry.js'

class Custom extends Host {
  readonly kind = 'operation' as const
  protected override onStart(): Promise<void> {
    return Promise.resolve()
  }
  protected override onStop(): Promise<void> {
    return Promise.resolve()
  }
}

const ctx = { logger: pino({ level: 'silent' }) } as unknown as HostContext

describe('HostRegistry', () => {
  it('registers every built-in EnsLib class', () => {
    const r = registerBuiltinHosts(new HostRegistry())
    expect(r.classNames().sort()).toEqual([...BUILTIN_HOST_CLASSES].sort())
  })

  it('builds user classes and refuses unknown ones with a clear error', () => {
    const r = new HostRegistry().register('Trust.Ops.Pager', (it, c) => new Custom(it, c.logger))
    expect(r.create(productionItem('Trust.Ops.Pager'), ctx)).toBeInstanceOf(Custom)
    try {
      r.create(productionItem('Trust.Ops.Missing'), ctx)
      expect.unreachable()
    } catch (e) {
      expect(isEngineError(e) && e.code).toBe('ENGINE_UNKNOWN_HOST_CLASS')
      expect((e as Error).message).toContain('Trust.Ops.Missing')
    }
  })
})
