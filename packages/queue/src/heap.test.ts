// Heap.pageAfter against a sorted copy: random scores with many ties, some entries not kept
// (stale), every cursor position and page size; the pages must be the sorted kept entries after
// the cursor, in (score, id) order.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Heap } from './heap.js'

interface Item {
  s: number
  id: string
  keep: boolean
}

const cmp = (a: Item, b: Item): number => a.s - b.s || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

describe('Heap.pageAfter', () => {
  it('pages the kept entries in (score, id) order from any cursor', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ s: fc.integer({ min: 0, max: 6 }), keep: fc.boolean() }), {
          maxLength: 80,
        }),
        fc.integer({ min: 1, max: 9 }),
        (raw, n) => {
          const items: Item[] = raw.map((r, i) => ({ ...r, id: `id${String(i).padStart(3, '0')}` }))
          const heap = new Heap<Item>((a, b) => a.s < b.s)
          for (const it of items) heap.push(it)
          const sorted = items.filter((it) => it.keep).sort(cmp)
          const page = (after: Item | null): Item[] =>
            heap.pageAfter(
              after === null ? null : { score: after.s, id: after.id },
              n,
              (it) => it.s,
              (it) => it.id,
              (it) => it.keep,
            )
          expect(page(null)).toEqual(sorted.slice(0, n))
          // From every position, also one of an entry that is not kept (or gone).
          for (const at of items) {
            const expected = sorted.filter((it) => cmp(it, at) > 0).slice(0, n)
            expect(page(at)).toEqual(expected)
          }
          // Walking page by page lists each kept entry once.
          const walked: Item[] = []
          let cursor: Item | null = null
          for (;;) {
            const p = page(cursor)
            walked.push(...p)
            if (p.length < n) break
            cursor = p.at(-1)!
          }
          expect(walked).toEqual(sorted)
        },
      ),
      { numRuns: 300 },
    )
  })
})
