import { describe, expect, it } from 'vitest'
import { PendingIndex } from './pending-index.js'

/** Adds entry `id` (hostName 'H', messageId `M<id>`, appendedAt = id) at the given location. */
function add(index: PendingIndex, id: number, segment: number, offset: number, length: number) {
  return index.add(id, 'H', `M${id}`, undefined, id, 0, segment, offset, length)
}

/** The fields of every entry, walked in order. */
function values(index: PendingIndex) {
  const out = []
  for (let at = index.first(); at !== -1; at = index.next(at)) {
    out.push({
      id: index.idAt(at),
      hostName: index.hostNameAt(at),
      messageId: index.messageIdAt(at),
      appendedAt: index.appendedAtAt(at),
      attempts: index.attemptsAt(at),
    })
  }
  return out
}

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('PendingIndex', () => {
  it('behaves like an ordered map under random adds, lookups and removals (incl. compaction)', () => {
    for (const seed of [1, 2, 3]) {
      const rnd = prng(seed)
      const index = new PendingIndex()
      // The reference: id -> [segment, offset, length], iterated in id order.
      const model = new Map<number, [number, number, number]>()
      let nextId = 1
      for (let step = 0; step < 8_000; step++) {
        const r = rnd()
        if (r < 0.5) {
          // Ids mostly grow (the write path), sometimes skip (a rejected append burns ids).
          nextId += rnd() < 0.1 ? 3 : 1
          const loc: [number, number, number] = [
            1 + (nextId >> 10),
            nextId * 7,
            100 + (nextId % 50),
          ]
          expect(add(index, nextId, ...loc)).toBe(true)
          model.set(nextId, loc)
        } else if (r < 0.55 && model.size > 0) {
          // An id lower than the last (recovery after corruption): inserted in order, or refused
          // if present.
          const id = 1 + Math.floor(rnd() * nextId)
          const added = add(index, id, 9, id, 9)
          expect(added).toBe(!model.has(id))
          if (added) model.set(id, [9, id, 9])
        } else if (model.size > 0) {
          const ids = [...model.keys()]
          // Remove mostly old entries (as completions do), sometimes a random one.
          const id = rnd() < 0.7 ? ids[0]! : ids[Math.floor(rnd() * ids.length)]!
          const at = index.find(id)
          expect(at).not.toBe(-1)
          expect([index.segmentAt(at), index.offsetAt(at), index.lengthAt(at)]).toEqual(
            model.get(id),
          )
          index.removeAt(at)
          model.delete(id)
          expect(index.find(id)).toBe(-1)
        }
        if (step % 997 === 0) {
          const sorted = [...model.keys()].sort((a, b) => a - b)
          expect(index.idList()).toEqual(sorted)
          expect(index.size).toBe(model.size)
          const walked: number[] = []
          for (let at = index.first(); at !== -1; at = index.next(at)) walked.push(index.idAt(at))
          expect(walked).toEqual(sorted)
        }
      }
    }
  })

  it('lets a walk remove entries as it goes, and updates an attempt count in place', () => {
    const index = new PendingIndex()
    for (let id = 1; id <= 3000; id++) add(index, id, 1, id, 1)
    const seen: number[] = []
    for (let at = index.first(); at !== -1; at = index.next(at)) {
      const id = index.idAt(at)
      seen.push(id)
      if (id % 2 === 0) index.removeAt(at)
    }
    expect(seen).toHaveLength(3000)
    expect(index.size).toBe(1500)
    const at = index.find(7)
    index.setAttemptsAt(at, 2)
    expect(values(index)[3]).toEqual({
      id: 7,
      hostName: 'H',
      messageId: 'M7',
      appendedAt: 7,
      attempts: 2,
    })
    expect(index.find(8)).toBe(-1)
    for (let at2 = index.first(); at2 !== -1; at2 = index.next(at2)) index.removeAt(at2)
    expect(index.size).toBe(0)
    expect(index.first()).toBe(-1)
    expect(values(index)).toEqual([])
    expect(add(index, 5, 1, 1, 1)).toBe(true)
    expect(index.idList()).toEqual([5])
  })

  it('keeps every entry across growing to a peak, draining it and growing again', () => {
    const index = new PendingIndex()
    for (let id = 1; id <= 10_000; id++) add(index, id, 1, id, 1)
    // Drain all but one old entry, then keep adding: the arrays move (shrink, then grow).
    for (let id = 2; id <= 10_000; id++) index.removeAt(index.find(id))
    for (let id = 10_001; id <= 13_000; id++) add(index, id, 2, id, 2)
    const ids = index.idList()
    expect(ids).toHaveLength(3001)
    expect(ids[0]).toBe(1)
    expect(ids[3000]).toBe(13_000)
    const at = index.find(12_345)
    expect([index.segmentAt(at), index.offsetAt(at), index.lengthAt(at)]).toEqual([2, 12_345, 2])
    expect(index.find(5000)).toBe(-1)
  })
})
