// The engine's pattern over a spilling memory backend (every body spilled, real files): a router
// takes a queue in batches, sends each message on to two queues (an operation whose receiver is
// down, and an archive that is behind) and acks; the operation keeps retrying the head message:
// it extends the visibility, nacks with requeue, lets the visibility run out, and takes it again,
// many times, while the backlog piles up behind it. Each body must be in the spill files once
// per queue holding it (redeliveries read it back, never write it again), and every copy must be
// gone once everything is acked.
//
// Why: an end-to-end run showed pairs of spill segments holding the same message ids. They were
// the copies of the two queues a router sent each message to (both backlogged), not a second copy
// of the same queue message; this test pins the one-copy-per-queued-message bound.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MessageQueue, isQueueError } from '../src/index.js'
import type { QueueMessage } from '../src/index.js'

let base = ''

beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), 'li-spill-retry-'))
})

afterEach(() => {
  rmSync(base, { recursive: true, force: true })
})

/** Spill segment files under the base and their total size in bytes. */
function spill(): { files: number; bytes: number } {
  let files = 0
  let bytes = 0
  for (const run of readdirSync(base)) {
    for (const f of readdirSync(path.join(base, run))) {
      files++
      bytes += statSync(path.join(base, run, f)).size
    }
  }
  return { files, bytes }
}

const COUNT = 200
const SIZE = 2000

/** A distinct body of SIZE ASCII bytes, as the engine's envelope of an HL7 message. */
function body(i: number): string {
  return `{"v":2,"messageId":"BL${i}","source":"Demo.Router"}\nMSH|^~\\&|PAS|RXX|EPR|RXX|||ADT^A01|BL${i}|P|2.5\r`.padEnd(
    SIZE,
    'X',
  )
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('memory backend spill under the engine retry pattern', () => {
  it('keeps one spilled copy per queued message while the head is retried, and none once acked', async () => {
    const mq = new MessageQueue({
      backend: 'memory',
      memoryLimitBytes: 0,
      spillDirectory: base,
      visibilityTimeout: 30,
      retryDelay: 0,
      maxRetries: 100_000,
    })
    await mq.start()
    try {
      const headers = (i: number): Record<string, string> => ({
        sessionId: `s-${String(i).padStart(6, '0')}`,
        source: 'Demo.Router',
      })
      // Bytes of one spilled record: the body and its headers as JSON.
      const record = SIZE + Buffer.byteLength(JSON.stringify(headers(0)))

      // Intake: batches of 10 into the router's queue.
      const producer = (async () => {
        for (let i = 0; i < COUNT; i += 10) {
          await mq.sendBatch(
            'Demo.Router',
            Array.from({ length: 10 }, (_, k) => ({
              payload: body(i + k),
              headers: headers(i + k),
            })),
          )
          await sleep(1)
        }
      })()

      // Router: two workers, batches of up to 2, fan-out to both targets, then ack.
      let routed = 0
      const router = async (): Promise<void> => {
        while (routed < COUNT) {
          const got = await mq.receiveBatch('Demo.Router', { max: 2, waitMs: 20 })
          for (const m of got) {
            const h = m.headers
            await Promise.all([
              mq.send('EPR.Out', m.payload, { headers: h }),
              mq.send('Archive.Out', m.payload, { headers: h }),
            ])
          }
          if (got.length > 0) await mq.ackMany(got)
          routed += got.length
        }
      }

      // Operation (PoolSize 1): retries the head while the rest piles up behind it.
      let cycles = 0
      let head: string | null = null
      const operation = async (): Promise<void> => {
        let last: QueueMessage | null = null
        while (routed < COUNT || cycles < 300) {
          const m: QueueMessage | null = await mq.receive('EPR.Out', { waitMs: 20 })
          if (m === null) continue
          // The same message every time: retried at the head, the backlog waits behind it.
          head ??= m.payload
          if (m.payload !== head) throw new Error(`head changed after ${cycles} deliveries`)
          if (last !== null) {
            // The previous delivery was taken back after its visibility ran out.
            const stale: unknown = await mq.extendVisibility(last, 1000).catch((e: unknown) => e)
            expect(isQueueError(stale) && stale.code).toBe('QUEUE_STALE_RECEIPT')
            last = null
          }
          cycles++
          await mq.extendVisibility(m, 60_000)
          await mq.extendVisibility(m, 60_000)
          if (cycles % 50 === 0) {
            // Let the delivery expire: the next receive takes it back and delivers it again.
            await mq.extendVisibility(m, 1)
            await sleep(5)
            last = m
          } else {
            await mq.nack(m, { requeue: true, delayMs: 0, error: 'could not connect' })
          }
        }
        expect(cycles).toBeGreaterThanOrEqual(300)
      }

      await Promise.all([producer, router(), router(), operation()])

      const live =
        (await mq.depth('EPR.Out')) +
        (await mq.inFlight('EPR.Out')) +
        (await mq.depth('Archive.Out')) +
        (await mq.inFlight('Archive.Out'))
      expect(live).toBe(2 * COUNT)
      expect(await mq.depth('Demo.Router')).toBe(0)
      const queued = spill()
      const expected = live * record
      // Every body is spilled (budget 0), each once per queue holding it: the head was delivered
      // 300 times and would add 300 records if a redelivery wrote it again.
      expect(queued.bytes).toBeGreaterThanOrEqual(expected)
      expect(queued.bytes).toBeLessThan(1.5 * expected)
      expect(queued.bytes).toBe(expected)

      // Everything is acked: no spill file is left.
      for (const q of ['EPR.Out', 'Archive.Out']) {
        const seen = new Set<string>()
        for (;;) {
          const got = await mq.receiveBatch(q, { max: 50, waitMs: 200 })
          if (got.length === 0) break
          for (const m of got) seen.add(m.payload)
          expect((await mq.ackMany(got)).stale).toEqual([])
        }
        expect(seen.size).toBe(COUNT)
        expect(await mq.oldestAgeMs(q)).toBe(0)
      }
      expect(spill()).toEqual({ files: 0, bytes: 0 })
    } finally {
      await mq.stop()
    }
  })
})
