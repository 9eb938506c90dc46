// Behaviour of Wal against real files with real fsync, in temporary directories. Crash recovery
// after SIGKILL of a child process is in test/kill9.integration.test.ts; here "crashes" are
// simulated by writing records (or garbage) straight into the segment a stopped log would replay.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { WalError, isWalError } from './errors.js'
import type { WalErrorCode } from './errors.js'
import { encodeAppend, encodeDone } from './record.js'
import type { WalConfig, WalEntry, WalIo } from './types.js'
import { Wal } from './wal.js'

const dirs: string[] = []
const open: Wal[] = []

afterEach(async () => {
  for (const w of open.splice(0)) await w.stop()
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'li-wal-test-'))
  dirs.push(d)
  return d
}

/** A log over `directory`, tracked so that afterEach stops it. */
function makeWal(directory: string, config: WalConfig = {}): Wal {
  const w = new Wal({ directory, checkpointInterval: 0, ...config })
  open.push(w)
  return w
}

async function started(directory: string, config: WalConfig = {}): Promise<Wal> {
  const w = makeWal(directory, config)
  await w.start()
  return w
}

async function reopen(w: Wal, config: WalConfig = {}): Promise<Wal> {
  await w.stop()
  return started(w.directory, config)
}

function msg(i: number): { hostName: string; messageId: string; payload: string } {
  return {
    hostName: 'PAS-In',
    messageId: `MSG${i}`,
    payload: `MSH|^~\\&|PAS|RXX|||${i}||ADT^A01|MSG${i}|P|2.4`,
  }
}

async function expectCode(p: Promise<unknown>, code: WalErrorCode): Promise<WalError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(isWalError(e), `expected a WalError ${code}, got ${String(e)}`).toBe(true)
  expect((e as WalError).code).toBe(code)
  return e as WalError
}

/** Highest-numbered segment file: the one a stopped log replays first on the next start. */
function lastSegment(dir: string): string {
  const segs = fs
    .readdirSync(dir)
    .filter((n) => n.startsWith('seg-'))
    .sort()
  return path.join(dir, segs[segs.length - 1]!)
}

/** Polls until `cond()` holds (bounded), for background timers; no timing is asserted. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25))
  expect(cond(), what).toBe(true)
}

describe('Wal basics', () => {
  it('appends, completes and recovers pending entries in order with increasing ids', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const a = await w.append({ ...msg(1), metadata: { peer: '10.0.0.1', attempt: 1 } })
    const b = await w.append(msg(2))
    const c = await w.append({ ...msg(3), payload: 'PID|1||^^^NHS||ZOË^RENÉE|€ 2 ✓' })
    expect(b.id).toBeGreaterThan(a.id)
    expect(c.id).toBeGreaterThan(b.id)
    expect(a).toMatchObject({ ...msg(1), metadata: { peer: '10.0.0.1', attempt: 1 }, attempts: 0 })
    await w.complete(b.id)
    expect(w.pending().map((e) => e.id)).toEqual([a.id, c.id])
    expect(w.stats()).toMatchObject({
      pending: 2,
      appended: 3,
      completed: 1,
      oldestPendingAt: a.appendedAt,
    })

    const w2 = await reopen(w)
    expect(w2.pending()).toEqual([a, c])
    const d = await w2.append(msg(4))
    expect(d.id).toBeGreaterThan(c.id)
    expect(w2.stats().recovery).toMatchObject({
      pending: 2,
      checkpointUsed: true,
      corruptRecords: 0,
    })
  })

  it('rejects calls before start, after stop, for unknown ids and bad input with typed errors', async () => {
    const dir = tempDir()
    const w = makeWal(dir)
    await expectCode(w.append(msg(1)), 'WAL_NOT_STARTED')
    await w.start()
    await expectCode(w.complete(999), 'WAL_UNKNOWN_ENTRY')
    await expectCode(w.fail(999, new Error('x')), 'WAL_UNKNOWN_ENTRY')
    await expectCode(
      w.append({ hostName: '', messageId: 'm', payload: 'p' }),
      'WAL_INVALID_ARGUMENT',
    )
    await expectCode(
      w.append({ hostName: 'h', messageId: 'm', payload: Buffer.from('p') as unknown as string }),
      'WAL_INVALID_ARGUMENT',
    )
    const circular: Record<string, unknown> = {}
    circular.self = circular
    await expectCode(w.append({ ...msg(1), metadata: circular }), 'WAL_INVALID_ARGUMENT')
    await expectCode(
      w.append({ ...msg(1), payload: 'x'.repeat(64 * 1024 * 1024) }),
      'WAL_INVALID_ARGUMENT',
    )
    const e = await w.append(msg(1))
    await w.complete(e.id)
    await expectCode(w.complete(e.id), 'WAL_UNKNOWN_ENTRY')
    await expectCode(started(dir), 'WAL_LOCKED')
    await w.stop()
    await expectCode(w.append(msg(2)), 'WAL_CLOSED')
    await w.stop()
    expect(() => new Wal({ maxFileSize: 0 })).toThrow(WalError)
    expect(() => new Wal({ syncMode: 'sometimes' as 'fsync' })).toThrow(/syncMode/)
  })

  it('shares writes between many concurrent callers (group commit) and keeps every entry', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const callers = 200
    const perCaller = 5
    const ids = await Promise.all(
      Array.from({ length: callers }, async (_, c) => {
        const got: number[] = []
        for (let i = 0; i < perCaller; i++) got.push((await w.append(msg(c * perCaller + i))).id)
        return got
      }),
    )
    const all = ids.flat()
    expect(new Set(all).size).toBe(callers * perCaller)
    const s = w.stats()
    expect(s.recordsWritten).toBe(callers * perCaller)
    expect(s.groupCommits).toBeLessThan((callers * perCaller) / 10)
    const pending = w.pending().map((e) => e.id)
    expect(pending).toEqual([...all].sort((x, y) => x - y))
    const w2 = await reopen(w)
    expect(w2.pending().map((e) => e.id)).toEqual(pending)
  })

  it('writes large groups of 256 callers one write at a time, in id order, and recovers them', async () => {
    const dir = tempDir()
    // Counts writes in flight at once: group writes must never overlap.
    let inFlight = 0
    let maxInFlight = 0
    const io: Partial<WalIo> = {
      write: (fd, data, position) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight)
        return new Promise((resolve, reject) => {
          fs.write(fd, data, 0, data.length, position, (e, n) => {
            inFlight--
            if (e) reject(e)
            else resolve(n)
          })
        })
      },
    }
    const w = await started(dir, { io })
    const payload = 'MSH|^~\\&|PAS|RXX'.padEnd(1024, 'X')
    const callers = 256
    const rounds = 6
    const ids = await Promise.all(
      Array.from({ length: callers }, async (_, c) => {
        const got: number[] = []
        for (let i = 0; i < rounds; i++) {
          got.push((await w.append({ hostName: 'H', messageId: `M${c}-${i}`, payload })).id)
        }
        return got
      }),
    )
    const all = ids.flat().sort((x, y) => x - y)
    expect(maxInFlight).toBe(1)
    expect(w.stats().groupCommits).toBeLessThan((callers * rounds) / 10)
    expect(w.pending().map((e) => e.id)).toEqual(all)
    const w2 = await reopen(w)
    expect(w2.pending().map((e) => e.id)).toEqual(all)
    expect(w2.pending()[0]!.payload).toBe(payload)
  })
})

describe('configuration defaults', () => {
  it('uses the documented defaults: ./wal, fsync, 100 MiB, 1 s, 60 s, 3 retries, 3600 s', async () => {
    const w = new Wal()
    expect(w.directory).toBe(path.resolve('./wal'))
    expect(w.syncMode).toBe('fsync')
    // The numeric defaults are private (converted to ms); read them to pin the documented units.
    const internal = w as unknown as Record<string, unknown>
    expect(internal['maxFileSize']).toBe(100 * 1024 * 1024)
    expect(internal['syncIntervalMs']).toBe(1000)
    expect(internal['checkpointIntervalMs']).toBe(60_000)
    expect(internal['ttlMs']).toBe(3_600_000)
    expect(internal['maxRetries']).toBe(3)

    // And the retry default as behaviour: true, true, then false on the third failure.
    const log = await started(tempDir())
    const e = await log.append(msg(1))
    expect(await log.fail(e.id, 'a')).toBe(true)
    expect(await log.fail(e.id, 'b')).toBe(true)
    expect(await log.fail(e.id, 'c')).toBe(false)
    expect(log.pending()).toEqual([])
  })
})

describe('retries, permanent failure and TTL', () => {
  it('says retry until maxRetries, then fails permanently with an event; attempts survive restart', async () => {
    const dir = tempDir()
    const w = await started(dir, { maxRetries: 3 })
    const failed: [WalEntry, unknown][] = []
    w.on('failed', (entry, error) => failed.push([entry, error]))
    const a = await w.append(msg(1))
    const b = await w.append(msg(2))
    expect(await w.fail(a.id, new Error('timeout'))).toBe(true)
    expect(await w.fail(a.id, 'refused')).toBe(true)
    expect(await w.fail(b.id, 'refused')).toBe(true)
    expect(w.pending().map((e) => [e.id, e.attempts])).toEqual([
      [a.id, 2],
      [b.id, 1],
    ])

    // Replay path: attempts come back from fail records in the segment after the checkpoint.
    const w2 = await reopen(w, { maxRetries: 3 })
    w2.on('failed', (entry, error) => failed.push([entry, error]))
    expect(w2.pending().map((e) => e.attempts)).toEqual([2, 1])
    expect(await w2.fail(a.id, new Error('third'))).toBe(false)
    expect(failed).toHaveLength(1)
    expect(failed[0]![0]).toMatchObject({ id: a.id, attempts: 3 })
    expect(w2.stats()).toMatchObject({ failed: 1, pending: 1 })
    await expectCode(w2.fail(a.id, 'again'), 'WAL_UNKNOWN_ENTRY')

    // Checkpoint path: attempts come back from the checkpoint itself.
    const w3 = await reopen(w2)
    expect(w3.pending().map((e) => [e.id, e.attempts])).toEqual([[b.id, 1]])
  })

  it('expires entries older than entryTtl with an event, and they stay expired after restart', async () => {
    const dir = tempDir()
    const w = await started(dir, { entryTtl: 0.1 })
    const expired: number[] = []
    w.on('expired', (e) => expired.push(e.id))
    const a = await w.append(msg(1))
    const b = await w.append(msg(2))
    await w.complete(b.id)
    await until(() => expired.length === 1, 'the entry expired')
    expect(expired).toEqual([a.id])
    expect(w.pending()).toEqual([])
    expect(w.stats().expired).toBe(1)
    await expectCode(w.complete(a.id), 'WAL_UNKNOWN_ENTRY')
    const w2 = await reopen(w, { entryTtl: 3600 })
    expect(w2.pending()).toEqual([])
  })

  it('expires entries that were already too old when the log starts', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const a = await w.append(msg(1))
    await w.stop()
    await new Promise((r) => setTimeout(r, 30))
    const w2 = makeWal(dir, { entryTtl: 0.01 })
    const expired: WalEntry[] = []
    w2.on('expired', (e) => expired.push(e))
    await w2.start()
    expect(expired.map((e) => e.id)).toEqual([a.id])
    expect(w2.pending()).toEqual([])
  })
})

describe('rotation and checkpoints', () => {
  it('rotates across many small segments, deletes fully completed ones, and recovers the rest', async () => {
    const dir = tempDir()
    const config: WalConfig = { maxFileSize: 1024 }
    const w = await started(dir, config)
    const kept: WalEntry[] = []
    for (let i = 0; i < 300; i++) {
      const e = await w.append(msg(i))
      if (i % 50 === 0) kept.push(e)
      else await w.complete(e.id)
    }
    const s = w.stats()
    expect(s.checkpoints).toBeGreaterThan(25)
    // Only segments that hold a kept entry, plus the few written since the last checkpoint, remain.
    expect(s.segments).toBeLessThan(kept.length + 5)
    const files = fs.readdirSync(dir)
    expect(files.filter((n) => n.startsWith('seg-')).length).toBe(s.segments)
    expect(files.filter((n) => n.endsWith('.ckpt'))).toHaveLength(1)

    const w2 = await reopen(w, config)
    expect(w2.pending()).toEqual(kept)
    for (const e of kept) await w2.complete(e.id)
    const w3 = await reopen(w2, config)
    expect(w3.pending()).toEqual([])
    expect(w3.stats().segments).toBeLessThanOrEqual(2)
  })

  it('checkpoints periodically (checkpointInterval) and after it recovers from the checkpoint', async () => {
    const dir = tempDir()
    const w = await started(dir, { checkpointInterval: 0.05 })
    const a = await w.append(msg(1))
    await until(() => w.stats().checkpoints >= 2, 'a periodic checkpoint ran')
    const w2 = await reopen(w)
    expect(w2.pending()).toEqual([a])
    expect(w2.stats().recovery?.checkpointUsed).toBe(true)
  })

  it('syncs in the background in async mode', async () => {
    const dir = tempDir()
    const w = await started(dir, { syncMode: 'async', syncInterval: 0.02 })
    const a = await w.append(msg(1))
    await until(() => w.stats().syncs >= 1, 'a background fdatasync ran')
    const w2 = await reopen(w)
    expect(w2.pending()).toEqual([a])
  })
})

describe('recovery from damaged files', () => {
  it('truncates a torn record at the tail and keeps everything before it', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const a = await w.append(msg(1))
    await w.stop()
    // As if a crash hit while the log was writing: two whole records, then half of a third.
    const seg = lastSegment(dir)
    const b = encodeAppend(a.id + 1, Date.now(), 'PAS-In', 'MSG2', '', 'second, ZOË')
    const c = encodeAppend(a.id + 2, Date.now(), 'PAS-In', 'MSG3', '', 'third, torn')
    fs.appendFileSync(seg, Buffer.concat([b, encodeDone('complete', a.id), c.subarray(0, 20)]))
    const corrupt: WalError[] = []
    const w2 = makeWal(dir)
    w2.on('corrupt', (e) => corrupt.push(e))
    const report = await w2.start()
    expect(corrupt).toEqual([])
    expect(report).toMatchObject({ truncatedBytes: 20, corruptRecords: 0, pending: 1 })
    expect(w2.pending().map((e) => [e.id, e.payload])).toEqual([[a.id + 1, 'second, ZOË']])
    expect(fs.statSync(seg).size).toBe(b.length + 21)
    expect((await w2.append(msg(4))).id).toBe(a.id + 2)
  })

  it('reads trailing zeros (preallocated space) as the end of a segment, in any segment', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const a = await w.append(msg(1))
    // While open, the active segment is zero-filled ahead of the data; stop() gives that back.
    const active = lastSegment(dir)
    const used = w.stats().activeSegmentBytes
    expect(fs.statSync(active).size).toBeGreaterThan(used)
    await w.stop()
    expect(fs.statSync(active).size).toBe(used)
    // As after a crash: every segment ends in zeros. Without the checkpoint, recovery replays
    // them all: a closed segment and the last one.
    for (const n of fs.readdirSync(dir)) {
      if (n.startsWith('seg-')) fs.appendFileSync(path.join(dir, n), Buffer.alloc(70_000))
      if (n.endsWith('.ckpt')) fs.rmSync(path.join(dir, n))
    }
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('seg-')).length).toBeGreaterThan(1)
    const corrupt: WalError[] = []
    const w2 = makeWal(dir)
    w2.on('corrupt', (e) => corrupt.push(e))
    const report = await w2.start()
    expect(corrupt).toEqual([])
    expect(report).toMatchObject({ truncatedBytes: 0, corruptRecords: 0, pending: 1 })
    expect(w2.pending()).toEqual([a])
  })

  it('reports a corrupt record in the middle with file and offset, and recovers what follows', async () => {
    const dir = tempDir()
    const w = await started(dir)
    await w.stop()
    const seg = lastSegment(dir)
    const recs = [1, 2, 3, 4].map((i) =>
      encodeAppend(i, Date.now(), 'PAS-In', `MSG${i}`, '', `payload ${i}`),
    )
    const bytes = Buffer.concat(recs)
    const badOffset = recs[0]!.length
    bytes[badOffset + 30]! ^= 0xff // inside record 2's body
    fs.writeFileSync(seg, bytes)
    const corrupt: WalError[] = []
    const w2 = makeWal(dir)
    w2.on('corrupt', (e) => corrupt.push(e))
    const report = await w2.start()
    expect(corrupt).toHaveLength(1)
    expect(corrupt[0]!.code).toBe('WAL_CORRUPT_RECORD')
    expect(corrupt[0]!.location).toEqual({ file: seg, offset: badOffset })
    expect(corrupt[0]!.message).toContain(`offset ${badOffset}`)
    expect(report.corruptRecords).toBe(1)
    expect(w2.pending().map((e) => e.id)).toEqual([1, 3, 4])
  })

  it('reports a corrupt record that the checkpoint points at, and recovers the others', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const entries = [await w.append(msg(1)), await w.append(msg(2)), await w.append(msg(3))]
    await w.stop()
    // The entries live in the first segment; the checkpoint names them by offset.
    const first = path.join(
      dir,
      fs
        .readdirSync(dir)
        .filter((n) => n.startsWith('seg-'))
        .sort()[0]!,
    )
    const bytes = fs.readFileSync(first)
    const second = encodeAppend(entries[0]!.id, 0, 'PAS-In', 'MSG1', '', entries[0]!.payload).length
    bytes[second + 40]! ^= 0x10
    fs.writeFileSync(first, bytes)
    const corrupt: WalError[] = []
    const w2 = makeWal(dir)
    w2.on('corrupt', (e) => corrupt.push(e))
    await w2.start()
    expect(corrupt.map((e) => [e.code, e.location])).toEqual([
      ['WAL_CORRUPT_RECORD', { file: first, offset: second }],
    ])
    expect(w2.pending().map((e) => e.id)).toEqual([entries[0]!.id, entries[2]!.id])
  })

  it('falls back to replaying every segment when the checkpoint is corrupt, and says so', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const a = await w.append(msg(1))
    const b = await w.append(msg(2))
    await w.complete(a.id)
    await w.stop()
    const ckpt = path.join(
      dir,
      fs.readdirSync(dir).find((n) => n.endsWith('.ckpt'))!,
    )
    const bytes = fs.readFileSync(ckpt)
    bytes[bytes.length - 1]! ^= 1
    fs.writeFileSync(ckpt, bytes)
    const corrupt: WalError[] = []
    const w2 = makeWal(dir)
    w2.on('corrupt', (e) => corrupt.push(e))
    const report = await w2.start()
    expect(corrupt.map((e) => e.location?.file)).toEqual([ckpt])
    expect(report.checkpointUsed).toBe(false)
    expect(w2.pending()).toEqual([b])
  })
})

describe('disk faults', () => {
  /** Real writes, but while `failing` is set each call writes half its bytes and fails with `code`. */
  function faultyIo(code: string): { io: Partial<WalIo>; failing: (on: boolean) => void } {
    let failing = false
    return {
      failing: (on) => {
        failing = on
      },
      io: {
        write: async (fd, data, position) => {
          if (!failing) {
            return new Promise((resolve, reject) => {
              fs.write(fd, data, 0, data.length, position, (e, n) => (e ? reject(e) : resolve(n)))
            })
          }
          fs.writeSync(fd, data, 0, Math.floor(data.length / 2), position)
          throw Object.assign(new Error(`${code}: injected fault, write`), { code })
        },
      },
    }
  }

  it.each([
    ['ENOSPC', 'WAL_DISK_FULL'],
    ['EIO', 'WAL_IO'],
  ] as const)(
    '%s rejects the affected appends with %s and leaves the log consistent',
    async (errno, code) => {
      const dir = tempDir()
      const fault = faultyIo(errno)
      const w = await started(dir, { io: fault.io })
      const before = await w.append(msg(1))
      const toComplete = await w.append(msg(2))
      fault.failing(true)
      // The complete record shares the failing group; its effect stays and it is written later.
      const results = await Promise.allSettled([
        w.complete(toComplete.id),
        w.append(msg(3)),
        w.append(msg(4)),
      ])
      for (const r of results) {
        expect(r.status).toBe('rejected')
        if (r.status === 'rejected') expect((r.reason as WalError).code).toBe(code)
      }
      await expectCode(w.append(msg(5)), code)
      expect(w.stats().diskErrors).toBe(3)
      // Space is back: appends work again.
      fault.failing(false)
      const after = await w.append(msg(6))
      expect(w.pending()).toEqual([before, after])
      const corrupt: WalError[] = []
      await w.stop()
      const w2 = makeWal(dir)
      w2.on('corrupt', (e) => corrupt.push(e))
      await w2.start()
      expect(corrupt).toEqual([])
      expect(w2.pending()).toEqual([before, after])
    },
  )

  it('a fault amid large concurrent groups rejects exactly the appends of the failed write', async () => {
    const dir = tempDir()
    let writes = 0
    const io: Partial<WalIo> = {
      write: (fd, data, position) => {
        // The 4th group write (256 callers of 1 KiB, 4 rounds) half-writes and fails with
        // ENOSPC; every other write is real. Zero-filling writes are not counted.
        if (data[0] !== 0 && ++writes === 4) {
          fs.writeSync(fd, data, 0, Math.floor(data.length / 2), position)
          return Promise.reject(Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' }))
        }
        return new Promise((resolve, reject) => {
          fs.write(fd, data, 0, data.length, position, (e, n) => (e ? reject(e) : resolve(n)))
        })
      },
    }
    const w = await started(dir, { io, maxFileSize: 64 * 1024 * 1024 })
    const payload = 'MSH|^~\\&|PAS|RXX'.padEnd(1024, 'Y')
    const resolved: number[] = []
    let rejected = 0
    await Promise.all(
      Array.from({ length: 256 }, async (_, c) => {
        for (let i = 0; i < 4; i++) {
          try {
            resolved.push((await w.append({ hostName: 'H', messageId: `M${c}-${i}`, payload })).id)
          } catch (e) {
            expect((e as WalError).code).toBe('WAL_DISK_FULL')
            rejected++
          }
        }
      }),
    )
    expect(rejected).toBeGreaterThan(0)
    expect(resolved.length + rejected).toBe(256 * 4)
    resolved.sort((x, y) => x - y)
    expect(w.pending().map((e) => e.id)).toEqual(resolved)
    const corrupt: WalError[] = []
    await w.stop()
    const w2 = makeWal(dir)
    w2.on('corrupt', (e) => corrupt.push(e))
    await w2.start()
    expect(corrupt).toEqual([])
    expect(w2.pending().map((e) => e.id)).toEqual(resolved)
  })

  it('a failed rotation keeps the log writable and reports a fault', async () => {
    const dir = tempDir()
    const w = await started(dir, { maxFileSize: 512 })
    const faults: WalError[] = []
    w.on('fault', (e) => faults.push(e))
    await w.append(msg(1))
    // A directory where the next segment file should go makes the rotation fail (EEXIST).
    const next = Number(/seg-(\d+)/.exec(lastSegment(dir))![1]) + 1
    fs.mkdirSync(path.join(dir, `seg-${String(next).padStart(10, '0')}.wal`))
    const entries = []
    for (let i = 0; i < 10; i++)
      entries.push(await w.append({ ...msg(i), payload: 'x'.repeat(100) }))
    expect(faults.length).toBeGreaterThan(0)
    expect(faults[0]!.code).toBe('WAL_IO')
    expect(w.pending()).toHaveLength(11)
    fs.rmdirSync(path.join(dir, `seg-${String(next).padStart(10, '0')}.wal`))
    const w2 = await reopen(w, { maxFileSize: 512 })
    expect(w2.pending()).toHaveLength(11)
  })
})

describe('payloads stay on disk', () => {
  /** A payload per entry: ASCII for even `i`, UTF-8 with multi-byte characters for odd. */
  function text(i: number): string {
    return i % 2 === 0
      ? `MSH|^~\\&|PAS|RXX|||${i}||ADT^A01|MSG${i}|P|2.4\rPID|1||${i}`.padEnd(300, 'A')
      : `MSH|^~\\&|PAS|RXX|||${i}||ADT^A01|MSG${i}|P|2.4\rPID|1||^^^NHS||ZOË^RENÉE|€ ${i} ✓`
  }

  it('append resolves with the caller payload; pending() reads each payload from disk', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const payload = text(1)
    const a = await w.append({ hostName: 'PAS-In', messageId: 'M1', payload, metadata: { k: 1 } })
    // The caller gets a plain value back, no disk read.
    expect(Object.getOwnPropertyDescriptor(a, 'payload')?.value).toBe(payload)
    const [p] = w.pending()
    const d = Object.getOwnPropertyDescriptor(p, 'payload')
    expect(typeof d?.get, 'pending() payload is an accessor').toBe('function')
    expect(d?.enumerable).toBe(true)
    expect(p!.payload).toBe(payload)
    // Read again: still from disk, same text; a spread copy reads it like any other field.
    expect(p!.payload).toBe(payload)
    expect({ ...p }).toEqual({ ...a })
    expect(p).toEqual(a)
  })

  it('pending() payloads equal the appended ones across rotation, checkpoint and replay restarts', async () => {
    const dir = tempDir()
    // Small segments: entries spread over many segments, several checkpoints on the way.
    const config: WalConfig = { maxFileSize: 4096 }
    const w = await started(dir, config)
    const kept: WalEntry[] = []
    for (let i = 0; i < 120; i++) {
      const e = await w.append({
        hostName: 'PAS-In',
        messageId: `MSG-${i}`,
        payload: text(i),
        metadata: { i },
      })
      if (i % 3 === 0) await w.complete(e.id)
      else kept.push(e)
    }
    expect(w.stats().segments).toBeGreaterThan(3)
    expect(w.pending()).toEqual(kept)

    // Replay: a copy of the live directory (no final checkpoint) recovers the entries written
    // since the last checkpoint by reading the segments record by record.
    const copy = tempDir()
    fs.cpSync(dir, copy, { recursive: true })
    fs.rmSync(path.join(copy, 'LOCK'))
    const fromReplay = await started(copy, config)
    expect(fromReplay.stats().recovery?.segmentsReplayed).toBeGreaterThan(0)
    expect(fromReplay.pending()).toEqual(kept)
    expect(fromReplay.pending().map((e) => e.payload)).toEqual(kept.map((e) => e.payload))

    // Checkpoint: a clean stop writes a checkpoint naming every pending entry.
    const w2 = await reopen(w, config)
    expect(w2.stats().recovery).toMatchObject({ checkpointUsed: true, segmentsReplayed: 1 })
    expect(w2.pending()).toEqual(kept)
    // Half of them completed now: the rest still read back, also after one more restart.
    for (const e of kept.filter((_, k) => k % 2 === 0)) await w2.complete(e.id)
    const rest = kept.filter((_, k) => k % 2 === 1)
    const w3 = await reopen(w2, config)
    expect(w3.pending()).toEqual(rest)
  })

  it('a payload read after complete() and the deletion of its segment throws WAL_ENTRY_GONE', async () => {
    const dir = tempDir()
    const w = await started(dir, { maxFileSize: 1024 })
    const a = await w.append(msg(1))
    const [held] = w.pending()
    // Read once, so that the reader holds a descriptor of the segment.
    expect(held!.payload).toBe(a.payload)
    await w.complete(a.id)
    // Still readable while its segment exists.
    expect(held!.payload).toBe(a.payload)
    // Fill segments until the one holding `a` is rotated out and deleted.
    const segmentOfA = lastSegment(dir)
    for (let i = 2; fs.existsSync(segmentOfA); i++) await w.complete((await w.append(msg(i))).id)
    let e: unknown
    try {
      void held!.payload
    } catch (err) {
      e = err
    }
    expect(isWalError(e)).toBe(true)
    expect((e as WalError).code).toBe('WAL_ENTRY_GONE')
    expect((e as WalError).message).toContain(`entry ${a.id}`)
    // The caller's own entry from append() keeps its payload.
    expect(a.payload).toBe(msg(1).payload)
  })

  it('reads payloads of pending entries after stop(), and throws WAL_ENTRY_GONE once deleted', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const a = await w.append(msg(1))
    const b = await w.append(msg(2))
    const [pa, pb] = w.pending()
    await w.complete(a.id)
    await w.stop()
    // b is still pending, so its segment is kept.
    expect(pb!.payload).toBe(b.payload)
    expect(pa!.payload).toBe(a.payload)
    // Entries from a later run: a's segment goes once b is done too.
    const w2 = await started(dir)
    await w2.complete(b.id)
    await w2.stop()
    expect(() => pb!.payload).toThrow(expect.objectContaining({ code: 'WAL_ENTRY_GONE' }))
  })

  it('a pending entry whose record was corrupted on disk throws WAL_CORRUPT_RECORD with its location', async () => {
    const dir = tempDir()
    const w = await started(dir)
    await w.append(msg(1))
    const b = await w.append(msg(2))
    const file = lastSegment(dir)
    const [, pb] = w.pending()
    // Flip one byte of b's payload in place (the last byte of its payload text).
    const bytes = fs.readFileSync(file)
    const at = bytes.indexOf(Buffer.from(b.payload)) + b.payload.length - 1
    const fd = fs.openSync(file, 'r+')
    fs.writeSync(fd, Buffer.from([bytes[at]! ^ 0x01]), 0, 1, at)
    fs.closeSync(fd)
    let e: unknown
    try {
      void pb!.payload
    } catch (err) {
      e = err
    }
    expect((e as WalError).code).toBe('WAL_CORRUPT_RECORD')
    expect((e as WalError).location?.file).toBe(file)
    expect((e as WalError).location?.offset).toBeLessThan(at)
    // The other entry still reads, and the log still works.
    expect(w.pending()[0]!.payload).toBe(msg(1).payload)
    await w.complete(b.id)
  })

  it('failed and expired events carry entries whose payload reads back', async () => {
    const dir = tempDir()
    const w = await started(dir, { maxRetries: 2, entryTtl: 0.1 })
    const failedPayloads: string[] = []
    const expiredPayloads: string[] = []
    w.on('failed', (entry) => failedPayloads.push(entry.payload))
    w.on('expired', (entry) => expiredPayloads.push(entry.payload))
    const a = await w.append({ ...msg(1), payload: text(1) })
    expect(await w.fail(a.id, 'first')).toBe(true)
    expect(w.pending()).toEqual([{ ...a, attempts: 1 }])
    expect(await w.fail(a.id, 'second')).toBe(false)
    expect(failedPayloads).toEqual([text(1)])
    const b = await w.append({ ...msg(2), payload: text(2) })
    await until(() => expiredPayloads.length === 1, 'the entry expired')
    expect(expiredPayloads).toEqual([b.payload])
  })

  it('keeps a copy of a long messageId, not the caller string', async () => {
    const dir = tempDir()
    const w = await started(dir)
    const payload = text(4)
    // A slice of the payload (V8 may keep such a slice as a view of the whole payload).
    const messageId = payload.slice(0, 20)
    await w.append({ hostName: 'PAS-In', messageId, payload })
    expect(w.pending()[0]!.messageId).toBe(messageId)
    const w2 = await reopen(w)
    expect(w2.pending()[0]).toMatchObject({ messageId, payload })
  })
})
