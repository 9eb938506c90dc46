// An operation that retries a message for longer than the Redis visibility timeout keeps it
// invisible (extending the visibility while it holds it): no second worker takes the same
// message and delivers it in parallel. Real redis-server, real MLLP sockets.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  waitFor,
} from './helpers.js'

describe('operation retrying past the queue visibility timeout', () => {
  let engine: Engine | undefined
  let dir: string | undefined
  let peer: MllpPeer | undefined

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  it('holds the message (visibility extended) instead of letting a second worker take it', async () => {
    let answering = false
    peer = new MllpPeer((m) => (answering ? { ack: ackFor(controlIdOf(m), 'AA') } : { ack: null }))
    const peerPort = await peer.listen()
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'Out', 1),
        // PoolSize 2: a redelivered message would go to the idle second worker at once.
        {
          ...tcpOperation('Out', peerPort, { ResponseTimeout: 1 }),
          poolSize: 2,
          host: { RetryInterval: 1, FailureTimeout: -1 },
        },
      ],
      {
        freePorts: ['In'],
        config: {
          redisUrl: redisUrl(),
          queuePrefix: `li:test:${randomUUID()}`,
          // Longer than one attempt (ResponseTimeout 1 s), shorter than the whole retrying.
          queueVisibilityTimeout: 2,
        },
      },
    ))
    const e = engine
    expect(msaCode(await sendMllp(portOf(e, 'In'), hl7('ADT^A01', 'VIS-1')))).toBe('AA')
    // Unanswered attempts for well over two visibility timeouts.
    await waitFor(() => (peer?.count('VIS-1') ?? 0) >= 4, 'four unanswered attempts')
    const before = peer.count('VIS-1')
    answering = true
    await waitFor(async () => {
      const r = await e.store.query({ correlationId: 'VIS-1', limit: 10 })
      return r.records.some((x) => x.hostName === 'In' && x.state === 'completed')
    }, 'message completed')
    await waitFor(async () => (await e.queue.inFlight('Out')) === 0, 'nothing in flight')
    expect(await e.queue.depth('Out')).toBe(0)
    // One holder only: the answered attempt is the single one after the peer started answering
    // (a parallel holder would have sent it again within its RetryInterval).
    await new Promise((r) => setTimeout(r, 2500))
    expect(peer.count('VIS-1') - before).toBe(1)
  }, 60_000)
})
