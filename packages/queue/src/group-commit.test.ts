import { describe, expect, it } from 'vitest'
import { GroupCommit } from './group-commit.js'

/** A `run` that records each group and answers `item * 10`, or fails for a group holding -1. */
function recorder(): { runs: { key: string; items: number[] }[]; gc: GroupCommit<number, number> } {
  const runs: { key: string; items: number[] }[] = []
  const gc = new GroupCommit<number, number>(async (key, items) => {
    runs.push({ key, items: [...items] })
    await new Promise((r) => setImmediate(r))
    if (items.includes(-1)) throw new Error('group failed')
    return items.map((i) => i * 10)
  }, 5)
  return { runs, gc }
}

describe('GroupCommit', () => {
  it('merges calls made together into one run, in call order, each caller getting its slice', async () => {
    const { runs, gc } = recorder()
    const results = await Promise.all([
      gc.submit('q', [1]),
      gc.submit('q', [2, 3]),
      gc.submit('q', [4]),
    ])
    expect(results).toEqual([[10], [20, 30], [40]])
    expect(runs).toEqual([{ key: 'q', items: [1, 2, 3, 4] }])
  })

  it('merges calls made while a group is running into the next group; keys run apart', async () => {
    const { runs, gc } = recorder()
    const first = gc.submit('q', [1])
    await new Promise((r) => setImmediate(r)) // the first group is now running
    const later = [gc.submit('q', [2]), gc.submit('q', [3]), gc.submit('other', [9])]
    expect(await Promise.all([first, ...later])).toEqual([[10], [20], [30], [90]])
    expect(runs).toContainEqual({ key: 'q', items: [1] })
    expect(runs).toContainEqual({ key: 'q', items: [2, 3] })
    expect(runs).toContainEqual({ key: 'other', items: [9] })
  })

  it('never splits a call, keeps groups within maxItems otherwise, and fails only the failed group', async () => {
    const { runs, gc } = recorder()
    const calls = [
      gc.submit('q', [1, 2, 3]),
      gc.submit('q', [4, 5, 6]),
      gc.submit('q', [-1]),
      gc.submit('q', [7, 8, 9, 10, 11, 12]),
    ]
    const settled = await Promise.allSettled(calls)
    expect(runs.map((r) => r.items)).toEqual([
      [1, 2, 3],
      [4, 5, 6, -1],
      [7, 8, 9, 10, 11, 12],
    ])
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    await gc.drain()
  })

  it('lets closed groups leave beside the one in flight, up to the window, in order; an open group waits', async () => {
    const started: number[][] = []
    const finish: (() => void)[] = []
    const gc = new GroupCommit<number, number>(
      (_key, items) => {
        started.push([...items])
        return new Promise((resolve) => finish.push(() => resolve(items.map((i) => i * 10))))
      },
      2,
      2,
    )
    const ticks = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    }
    const calls = [
      gc.submit('q', [1, 2]),
      gc.submit('q', [3, 4]),
      gc.submit('q', [5, 6]),
      gc.submit('q', [7]),
    ]
    await ticks()
    expect(started).toEqual([
      [1, 2],
      [3, 4],
    ])
    finish.shift()!()
    await ticks()
    // [5, 6] is full and the window has room again; [7] could still grow, so it waits.
    expect(started).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ])
    calls.push(gc.submit('q', [8]))
    finish.shift()!()
    finish.shift()!()
    await ticks()
    expect(started.at(-1)).toEqual([7, 8])
    finish.shift()!()
    expect(await Promise.all(calls)).toEqual([[10, 20], [30, 40], [50, 60], [70], [80]])
    await gc.drain()
  })
})
