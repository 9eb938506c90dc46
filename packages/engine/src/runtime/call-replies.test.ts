import { MessageQueue } from '@li/queue'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BplWaitEnded } from '../iris/bpl.js'
import { CallReplies, type SharedReplies } from './call-replies.js'

const logger = pino({ level: 'silent' })

describe('CallReplies', () => {
  // Two "engines" sharing one queue's markers (the in-process backend: one process, the same
  // markers the Redis backend keeps for several).
  const queue = new MessageQueue({ backend: 'memory' })
  const shared: SharedReplies = {
    get: (token) => queue.getMarker('_call-replies', `reply:${token}`),
    set: (token, value) =>
      queue.setMarker('_call-replies', `reply:${token}`, value, { ttlMs: 60_000 }),
  }
  beforeAll(() => queue.start())
  afterAll(() => queue.stop())

  it('hands a reply to the waiter in the same engine', async () => {
    const r = new CallReplies(logger)
    const waiting = r.wait('t1')
    expect(r.waiting).toBe(1)
    r.send('t1', { outcome: 'completed', response: 'MSH|...' })
    await expect(waiting).resolves.toEqual({ outcome: 'completed', response: 'MSH|...' })
    expect(r.waiting).toBe(0)
  })

  it('carries a reply to a waiter in another engine through the shared markers', async () => {
    const a = new CallReplies(logger, shared, 10)
    const b = new CallReplies(logger, shared, 10)
    const waiting = a.wait('t2')
    b.send('t2', { outcome: 'failed', error: 'AR: unknown patient' })
    await expect(waiting).resolves.toEqual({ outcome: 'failed', error: 'AR: unknown patient' })
  })

  it('a reply too long to share goes without its response, never lost as a whole', async () => {
    const a = new CallReplies(logger, shared, 10)
    const b = new CallReplies(logger, shared, 10)
    const waiting = a.wait('t3')
    b.send('t3', { outcome: 'completed', response: 'X'.repeat(70_000) })
    await expect(waiting).resolves.toEqual({ outcome: 'completed' })
  })

  it('ends a wait on timeout (a fault), on stop (stopped) and on cancel, leaving nothing behind', async () => {
    const r = new CallReplies(logger)
    const late = r.wait('t4', { timeoutMs: 20 })
    await expect(late).rejects.toMatchObject({ stopped: false })
    await expect(late).rejects.toThrow(/no reply within the call's timeout of 0.02 s/)
    const stop = new AbortController()
    const stopped = r.wait('t5', { signal: stop.signal })
    stop.abort()
    const e = await stopped.catch((x: unknown) => x)
    expect(e).toBeInstanceOf(BplWaitEnded)
    expect((e as BplWaitEnded).stopped).toBe(true)
    const cancelled = r.wait('t6')
    r.cancel('t6', 'the call could not be handed over')
    await expect(cancelled).rejects.toThrow('the call could not be handed over')
    expect(r.waiting).toBe(0)
    // A reply for nobody is dropped without error (in one engine).
    r.send('t6', { outcome: 'completed' })
  })
})
