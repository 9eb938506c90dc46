import { describe, expect, it } from 'vitest'
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
