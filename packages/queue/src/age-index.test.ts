import { describe, expect, it } from 'vitest'
import { AgeIndex } from './age-index.js'

interface Item {
  enqueuedAt: number
  indexed: boolean
  gone: boolean
}

const item = (enqueuedAt: number): Item => ({ enqueuedAt, indexed: false, gone: false })

describe('AgeIndex', () => {
  it('gives the oldest live item as items in send order go, across the shift of its list', () => {
    const idx = new AgeIndex<Item>((i) => i.gone)
    const items = Array.from({ length: 20_000 }, (_, i) => item(1000 + Math.floor(i / 3)))
    for (const it of items) idx.add(it)
    for (let i = 0; i < items.length; i++) {
      expect(idx.oldest()).toBe(items[i]!.enqueuedAt)
      items[i]!.gone = true
    }
    expect(idx.oldest()).toBeNull()
    expect(idx.size).toBe(0)
    expect(items.every((i) => !i.indexed)).toBe(true)
  })

  it('puts items older than the newest (redrive, clock stepped back) beside the list, and re-adds an item once', () => {
    const idx = new AgeIndex<Item>((i) => i.gone)
    const a = item(100)
    const b = item(200)
    const late = item(50)
    idx.add(a)
    idx.add(b)
    idx.add(late)
    idx.add(late)
    expect(idx.size).toBe(3)
    expect(idx.oldest()).toBe(50)
    late.gone = true
    expect(idx.oldest()).toBe(100)
    // Back from the dead letters after its entry was dropped: it is the oldest again.
    late.gone = false
    idx.add(late)
    expect(idx.oldest()).toBe(50)
  })

  it('drops entries of gone items once they outnumber the live ones, without being asked for the oldest', () => {
    const idx = new AgeIndex<Item>((i) => i.gone)
    const items = Array.from({ length: 10_000 }, (_, i) => item(i))
    let live = 0
    for (const it of items) {
      idx.add(it)
      live++
      // The newest half stays; everything else goes.
      if (it.enqueuedAt >= 10) {
        const old = items[it.enqueuedAt - 10]!
        if (old.enqueuedAt % 2 === 0) {
          old.gone = true
          live--
        }
      }
      idx.compact(live, 16)
      expect(idx.size).toBeLessThanOrEqual(2 * live + 16)
    }
    expect(idx.oldest()).toBe(1)
  })
})
