// Memory, for real: 2,000 pending entries of 256 KiB (500 MiB of payloads) are appended, then
// recovered after a restart, and at neither point does this process hold their payloads. The
// measure is V8's `heapUsed + external` after a full collection (payload strings live on the
// heap; Buffers and external strings count as external), taken against a baseline just before.
// The test runs in its own worker (vitest forks one per file), and `gc` is exposed at run time.
// Nothing about time is asserted.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, describe, expect, it } from 'vitest'
import { Wal } from '../src/index.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const ENTRIES = 2_000
const PAYLOAD_BYTES = 256 * 1024
/** 500 MiB of payloads; the process may hold a small fraction of that (index, buffers). */
const PAYLOAD_TOTAL = ENTRIES * PAYLOAD_BYTES
/** Far below PAYLOAD_TOTAL: the group and read buffers are at most a few MiB each. */
const LIMIT = 64 * 1024 * 1024

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'li-wal-memory-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** A fresh, flat 256 KiB string for entry `i` (not a view of a shared string). */
function payloadOf(i: number): string {
  const buf = Buffer.alloc(PAYLOAD_BYTES, 'X')
  buf.write(
    `MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|CTRL-${String(i).padStart(12, '0')}|`,
  )
  buf.write(`|END${i}`, PAYLOAD_BYTES - 16)
  return buf.toString('latin1')
}

/** `heapUsed + external` after full collections, in bytes. */
function retained(): number {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

describe('pending payloads are not held in memory', () => {
  it('after appends and after recovery, 500 MiB of pending payloads take a few MiB', async () => {
    const w = new Wal({ directory: dir, syncMode: 'none', checkpointInterval: 0, entryTtl: 0 })
    await w.start()
    const base = retained()
    for (let i = 0; i < ENTRIES; i++) {
      const payload = payloadOf(i)
      // messageId is a slice of the payload, as MSH-10 taken from the message would be.
      const start = payload.indexOf('CTRL-')
      await w.append({
        hostName: 'PAS-In',
        messageId: payload.slice(start, start + 17),
        payload,
        metadata: { i },
      })
    }
    expect(w.stats().pending).toBe(ENTRIES)
    const afterAppends = retained() - base
    expect(afterAppends, `retained after appends of ${PAYLOAD_TOTAL} payload bytes`).toBeLessThan(
      LIMIT,
    )
    await w.stop()

    const base2 = retained()
    const w2 = new Wal({ directory: dir, checkpointInterval: 0, entryTtl: 0 })
    const report = await w2.start()
    expect(report).toMatchObject({ pending: ENTRIES, checkpointUsed: true, corruptRecords: 0 })
    const afterRecovery = retained() - base2
    expect(afterRecovery, `retained after recovery of ${PAYLOAD_TOTAL} payload bytes`).toBeLessThan(
      LIMIT,
    )

    // Every payload still reads back intact, one at a time.
    const pending = w2.pending()
    expect(pending).toHaveLength(ENTRIES)
    for (let i = 0; i < ENTRIES; i++) {
      const e = pending[i]!
      expect(e.messageId).toBe(`CTRL-${String(i).padStart(12, '0')}`)
      expect(e.metadata).toEqual({ i })
      const p = e.payload
      expect(p.length).toBe(PAYLOAD_BYTES)
      if (p !== payloadOf(i)) expect.fail(`payload of entry ${e.id} (#${i}) differs`)
    }
    await w2.stop()
  }, 300_000)
})
