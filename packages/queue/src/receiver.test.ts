import { describe, expect, it } from 'vitest'
import type { BackendReceiveResult } from './backend.js'
import { Receiver } from './receiver.js'
import type { QueueMessage } from './types.js'

function msg(n: number): QueueMessage {
  return {
    id: `id${n}`,
    queue: 'q',
    payload: `p${n}`,
    headers: {},
    priority: 0,
    orderingKey: null,
    enqueuedAt: 0,
    attempts: 1,
    deliveryCount: 1,
    receipt: `r${n}`,
  }
}

/** A store of `available` messages behind a fetch that records how much each call asked for. */
function store(available: number): {
  asks: number[]
  fetch: (q: string, max: number) => Promise<BackendReceiveResult>
} {
  let next = 0
  const asks: number[] = []
  return {
    asks,
    fetch: (_q, max) => {
      asks.push(max)
      const n = Math.max(0, Math.min(max, available - next))
      const messages = Array.from({ length: n }, () => msg(next++))
      return Promise.resolve({ messages, deadLettered: [], nextDueInMs: null })
    },
  }
}

describe('Receiver', () => {
  it('serves concurrent receives with one fetch for their total demand, in call order', async () => {
    const s = store(100)
    const r = new Receiver(
      s.fetch,
      () => undefined,
      () => undefined,
    )
    const got = await Promise.all([
      r.receive('q', 1, 0),
      r.receive('q', 3, 0),
      r.receive('q', 1, 0),
    ])
    expect(got.map((ms) => ms.map((m) => m.id))).toEqual([['id0'], ['id1', 'id2', 'id3'], ['id4']])
    expect(s.asks).toEqual([5])
    await r.stop()
  })

  it('returns [] to receives not served by their deadline, and keeps the others waiting', async () => {
    const s = store(1)
    let watched: (q: string) => void = () => undefined
    const firstWait = new Promise<string>((resolve) => (watched = resolve))
    const r = new Receiver(
      s.fetch,
      () => undefined,
      (q) => watched(q),
    )
    const [a, b] = await Promise.all([r.receive('q', 1, 0), r.receive('q', 1, 0)])
    expect(a.map((m) => m.id)).toEqual(['id0'])
    expect(b).toEqual([])
    const waiting = r.receive('q', 1, 60_000)
    // The poll found nothing and is about to sleep: it asked to be woken by other clients first.
    expect(await firstWait).toBe('q')
    await r.stop()
    expect(await waiting).toEqual([])
  })

  it('fails the receives of a failed fetch', async () => {
    const r = new Receiver(
      () => Promise.reject(new Error('down')),
      () => undefined,
      () => undefined,
    )
    await expect(Promise.all([r.receive('q', 1, 0), r.receive('q', 1, 0)])).rejects.toThrow('down')
    await r.stop()
  })
})

describe('Receiver with a throwing result hook', () => {
  it('fails that round and keeps serving later receives', async () => {
    const s = store(10)
    let calls = 0
    const r = new Receiver(
      s.fetch,
      () => {
        if (calls++ === 0) throw new Error('listener failed')
      },
      () => undefined,
    )
    await expect(r.receive('q', 1, 0)).rejects.toThrow('listener failed')
    expect((await r.receive('q', 1, 0)).map((m) => m.id)).toEqual(['id1'])
    await r.stop()
  })
})
