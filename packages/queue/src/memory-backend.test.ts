import { describe, expect, it, vi } from 'vitest'
import { MemoryBackend } from './memory-backend.js'

/** A backend with the engine's in-process settings: a visibility timeout no delivery reaches. */
function backend(): MemoryBackend {
  return new MemoryBackend({
    visibilityTimeoutMs: 365 * 86_400_000,
    maxRetries: 3,
    deadLetterEnabled: true,
  })
}

async function cycle(b: MemoryBackend, n: number, settle: 'ack' | 'nack'): Promise<void> {
  for (let start = 0; start < n; start += 50) {
    const items = Array.from({ length: 50 }, (_, i) => ({
      id: `m${settle}${start + i}`,
      payload: 'x'.repeat(100),
      headers: {},
      priority: 0,
      orderingKey: '',
      delayMs: 0,
    }))
    await b.send('q', items)
    const { messages } = await b.receive('q', 50)
    expect(messages).toHaveLength(50)
    if (settle === 'ack') {
      expect(
        await b.ack(
          'q',
          messages.map((m) => ({ id: m.id, receipt: m.receipt })),
        ),
      ).toEqual(messages.map(() => true))
    } else {
      for (const m of messages) {
        expect(await b.nack('q', m.id, m.receipt, false, 0, 'failed')).toBe('dead-lettered')
      }
    }
  }
}

describe('MemoryBackend memory bound', () => {
  it('does not keep in-flight heap entries of acked messages (they held the whole message)', async () => {
    const b = backend()
    await cycle(b, 10_000, 'ack')
    const held = b.heapEntries('q')
    expect(held.ready).toBe(0)
    expect(held.delayed).toBe(0)
    // Stale entries are dropped in batches: bounded by the slack, not by the messages processed.
    expect(held.flight).toBeLessThanOrEqual(512)
    expect((await b.stats('q')).live).toBe(0)
  })

  it('does not keep in-flight heap entries of nacked messages', async () => {
    const b = backend()
    await cycle(b, 10_000, 'nack')
    expect(b.heapEntries('q').flight).toBeLessThanOrEqual(512)
  })

  it('keeps live deliveries across a compaction: they still expire and can still be acked', async () => {
    const b = new MemoryBackend({ visibilityTimeoutMs: 50, maxRetries: 3, deadLetterEnabled: true })
    await b.send('q', [
      { id: 'keep', payload: 'p', headers: {}, priority: 0, orderingKey: '', delayMs: 0 },
    ])
    const [kept] = (await b.receive('q', 1)).messages
    await cycle(b, 2_000, 'ack')
    expect(b.heapEntries('q').flight).toBeLessThanOrEqual(512)
    await new Promise((r) => setTimeout(r, 80))
    const again = (await b.receive('q', 10)).messages
    expect(again.map((m) => m.id)).toEqual(['keep'])
    expect(await b.ack('q', [{ id: 'keep', receipt: kept!.receipt }])).toEqual([false])
    expect(await b.ack('q', [{ id: 'keep', receipt: again[0]!.receipt }])).toEqual([true])
    expect((await b.stats('q')).live).toBe(0)
  })
})

describe('MemoryBackend remove and browse: memory bound', () => {
  it('does not keep entries of removed messages, nor of keyed messages that reached their head', async () => {
    const b = backend()
    for (let round = 0; round < 10; round++) {
      const items = Array.from({ length: 1_000 }, (_, i) => ({
        id: `m${round}-${i}`,
        payload: 'x'.repeat(100),
        headers: {},
        priority: i % 3,
        orderingKey: i % 4 === 0 ? `k${i % 8}` : '',
        delayMs: i % 5 === 0 ? 60_000 : 0,
      }))
      await b.send('q', items)
      // Remove every third message, waiting, delayed or blocked behind its key.
      for (let i = 0; i < items.length; i += 3) {
        expect((await b.remove('q', items[i]!.id)).outcome).toBe('removed')
      }
      // Take and ack everything that can be received (keyed ones come one by one).
      for (;;) {
        const { messages } = await b.receive('q', 1_000)
        if (messages.length === 0) break
        await b.ack(
          'q',
          messages.map((m) => ({ id: m.id, receipt: m.receipt })),
        )
      }
      // Left: delayed messages, and keyed ones blocked behind a delayed head of their key.
      const left = (await b.browse('q', null, 1_000, false)).messages
      expect(new Set(left.map((m) => m.state))).toEqual(new Set(['delayed', 'ready']))
      for (const m of left) expect((await b.remove('q', m.id)).outcome).toBe('removed')
      expect((await b.receive('q', 1_000)).messages).toEqual([])
      expect(await b.stats('q')).toMatchObject({ live: 0, inFlight: 0, oldestEnqueuedAt: null })
    }
    const held = b.heapEntries('q')
    for (const n of Object.values(held)) expect(n).toBeLessThanOrEqual(512)
    expect(b.spillStats().memoryBytes).toBe(0)
  })
})

describe('MemoryBackend stats: oldest enqueuedAt without a scan', () => {
  it('does not keep acked or dead-lettered messages in its oldest-first heap when stats is never called', async () => {
    const b = backend()
    await cycle(b, 10_000, 'ack')
    expect(b.heapEntries('q').oldest).toBeLessThanOrEqual(512)
    const d = backend()
    await cycle(d, 10_000, 'nack')
    expect(d.heapEntries('q').oldest).toBeLessThanOrEqual(512)
  })

  it('matches the oldest live message under sends, acks, nacks, redrives and a clock that steps back', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const b = new MemoryBackend({
        visibilityTimeoutMs: 365 * 86_400_000,
        maxRetries: 1_000_000,
        deadLetterEnabled: true,
      })
      // A model: live id -> enqueuedAt; dead letters keep theirs for redrive.
      const live = new Map<string, number>()
      const dead = new Map<string, number>()
      const held: { id: string; receipt: string }[] = []
      let seed = 42
      const rnd = (n: number): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        return seed % n
      }
      let now = 1_800_000_000_000
      let next = 0
      for (let step = 0; step < 3000; step++) {
        // Mostly forward, sometimes back (NTP), sometimes standing still.
        now += rnd(10) === 0 ? -rnd(50) : rnd(20)
        vi.setSystemTime(now)
        const op = rnd(10)
        if (op < 3) {
          const items = Array.from({ length: 1 + rnd(4) }, () => ({
            id: `m${next++}`,
            payload: 'p',
            headers: {},
            priority: rnd(3),
            orderingKey: rnd(4) === 0 ? `k${rnd(3)}` : '',
            delayMs: rnd(5) === 0 ? rnd(30) : 0,
          }))
          await b.send('q', items)
          for (const it of items) live.set(it.id, now)
        } else if (op < 6) {
          const { messages } = await b.receive('q', 1 + rnd(5))
          held.push(...messages.map((m) => ({ id: m.id, receipt: m.receipt })))
        } else if (op < 8 && held.length > 0) {
          const take = held.splice(0, 1 + rnd(held.length))
          const ok = await b.ack('q', take)
          take.forEach((t, i) => {
            if (ok[i]) live.delete(t.id)
          })
        } else if (op < 9 && held.length > 0) {
          const t = held.splice(rnd(held.length), 1)[0]!
          const requeue = rnd(2) === 0
          const r = await b.nack('q', t.id, t.receipt, requeue, 0, 'failed')
          if (r === 'dead-lettered') {
            dead.set(t.id, live.get(t.id)!)
            live.delete(t.id)
          }
        } else if (dead.size > 0) {
          const one = rnd(2) === 0 ? null : [...dead.keys()][rnd(dead.size)]!
          const moved = one === null ? [...dead.keys()] : [one]
          expect(await b.redrive('q', one)).toBe(moved.length)
          for (const id of moved) {
            live.set(id, dead.get(id)!)
            dead.delete(id)
          }
        }
        const s = await b.stats('q')
        expect(s.live).toBe(live.size)
        expect(s.oldestEnqueuedAt).toBe(live.size === 0 ? null : Math.min(...live.values()))
      }
    } finally {
      vi.useRealTimers()
    }
  })
})
