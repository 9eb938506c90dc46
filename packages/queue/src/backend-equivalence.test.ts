// Model check: random sequences of operations run against the memory backend and the Redis
// backend side by side must give the same observable results (what is delivered, in which order,
// with which attempt count; nack outcomes; depth, in flight and dead letters; what browse lists,
// page by page, and what remove does). Timeouts are kept
// out of play (long visibility timeout, zero delays) so both runs are deterministic.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MessageQueue } from './index.js'
import type { BrowseResult, QueueMessage, QueuedMessageInfo } from './index.js'

type Op =
  | { kind: 'send'; priority: number; key: string | null }
  | { kind: 'receive'; max: number }
  | { kind: 'ack'; pick: number }
  | { kind: 'nack'; pick: number; requeue: boolean }
  | { kind: 'redrive' }
  | { kind: 'browse'; limit: number }
  | { kind: 'remove'; pick: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('send' as const),
    priority: fc.integer({ min: 0, max: 2 }),
    key: fc.constantFrom(null, 'A', 'B'),
  }),
  fc.record({ kind: fc.constant('receive' as const), max: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('ack' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('nack' as const), pick: fc.nat(), requeue: fc.boolean() }),
  fc.record({ kind: fc.constant('redrive' as const) }),
  fc.record({ kind: fc.constant('browse' as const), limit: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
)

/** Every page of browse; in-flight messages sorted by payload (ties of their deadline are by id, and ids differ between runs). */
async function listed(mq: MessageQueue, limit: number): Promise<QueuedMessageInfo[]> {
  const all: QueuedMessageInfo[] = []
  let cursor: string | null = null
  do {
    const page: BrowseResult = await mq.browse('q', { limit, cursor, payloads: true })
    all.push(...page.messages)
    cursor = page.cursor
  } while (cursor !== null)
  const flight = all.filter((m) => m.state === 'in-flight')
  flight.sort((a, b) => (a.payload! < b.payload! ? -1 : 1))
  return [...flight, ...all.filter((m) => m.state !== 'in-flight')]
}

/** Runs `ops` on one queue and returns a transcript of everything observable. */
async function transcript(mq: MessageQueue, ops: Op[]): Promise<unknown[]> {
  const out: unknown[] = []
  const held: QueueMessage[] = []
  let n = 0
  for (const op of ops) {
    switch (op.kind) {
      case 'send':
        await mq.send('q', `m${n++}`, {
          priority: op.priority,
          ...(op.key === null ? {} : { orderingKey: op.key }),
        })
        break
      case 'receive': {
        const got = await mq.receiveBatch('q', { max: op.max })
        held.push(...got)
        out.push(['got', got.map((m) => `${m.payload}#${m.attempts}`)])
        break
      }
      case 'ack':
      case 'nack': {
        if (held.length === 0) break
        const [m] = held.splice(op.pick % held.length, 1)
        if (op.kind === 'ack') await mq.ack(m!)
        else out.push(['nack', m!.payload, await mq.nack(m!, { requeue: op.requeue, delayMs: 0 })])
        break
      }
      case 'redrive':
        out.push(['redrive', await mq.redrive('q')])
        break
      case 'browse':
        out.push([
          'browse',
          (await listed(mq, op.limit)).map(
            (m) => `${m.state}:${m.payload}#${m.attempts}:${m.payloadSize}:${m.lastError}`,
          ),
        ])
        break
      case 'remove': {
        // Any message, waiting, in flight or dead, picked by payload (ids differ between runs).
        const all = [
          ...(await listed(mq, 1000)).map((m) => ({ id: m.id, payload: m.payload! })),
          ...(await mq.deadLetters('q')).map((d) => ({ id: d.id, payload: d.payload })),
        ].sort((a, b) => (a.payload < b.payload ? -1 : 1))
        if (all.length === 0) break
        const pick = all[op.pick % all.length]!
        const r = await mq.remove('q', pick.id)
        out.push([
          'remove',
          pick.payload,
          r.outcome,
          r.outcome === 'removed' ? `${r.from}:${r.message.payload}#${r.message.attempts}` : '',
        ])
        // A removed message is gone; the holder of an in-flight one keeps it.
        if (r.outcome === 'removed')
          expect(await mq.remove('q', pick.id)).toEqual({ outcome: 'not-found' })
        break
      }
      default: {
        const never: never = op
        throw new Error(`unknown op ${JSON.stringify(never)}`)
      }
    }
    out.push([await mq.depth('q'), await mq.inFlight('q')])
  }
  out.push(['dead', (await mq.deadLetters('q')).map((d) => `${d.payload}#${d.attempts}`)])
  return out
}

describe('memory (also spilling every body) and Redis backends', () => {
  it('give the same results for random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const config = { visibilityTimeout: 600, maxRetries: 1, retryDelay: 0 }
        const memory = new MessageQueue({ ...config, backend: 'memory' })
        // Every body through a spill file: the same transcript again.
        const spilling = new MessageQueue({ ...config, backend: 'memory', memoryLimitBytes: 0 })
        const redis = new MessageQueue({
          ...config,
          redisUrl: redisUrl(),
          queuePrefix: `eq:${randomUUID()}`,
        })
        await Promise.all([memory.start(), spilling.start(), redis.start()])
        try {
          const expected = await transcript(redis, ops)
          expect(await transcript(memory, ops)).toEqual(expected)
          expect(await transcript(spilling, ops)).toEqual(expected)
        } finally {
          await Promise.all([memory.stop(), spilling.stop(), redis.stop()])
        }
      }),
      { numRuns: 40 },
    )
  })
})
