// The same path over the Redis queue: the hand-off into Redis completes the WAL entry, and a
// second engine process could take the work (here: one engine, real redis-server).
import { randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  fileOperation,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'
import type { ItemSpec } from './helpers.js'

describe('Engine with the Redis queue', () => {
  let engine: Engine
  let dir: string
  let out: string
  let peer: MllpPeer

  beforeAll(async () => {
    out = await tempDir('redis-out')
    peer = new MllpPeer((m) => ({
      ack: ackFor(controlIdOf(m), controlIdOf(m).startsWith('RAE') ? 'AE' : 'AA'),
    }))
    const peerPort = await peer.listen()
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'FileOut,MllpOut', 1),
        fileOperation('FileOut', out),
        tcpOperation('MllpOut', peerPort),
      ],
      {
        freePorts: ['In'],
        config: { redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}` },
      },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await removeDir(dir)
    await removeDir(out)
  })

  it('delivers through Redis, completing the WAL entry at the hand-off', async () => {
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'R-1')))).toBe('AA')
    // Completed once Redis acknowledged the enqueue (which follows the ACK to the sender).
    await waitFor(async () => (await engine.getStatus()).walPending === 0, 'WAL entry completed')
    await waitFor(async () => (await readdir(out)).length === 1, 'file written')
    await waitFor(() => peer.count('R-1') === 1, 'MLLP delivery')
    const { sessionId } = await finalState(engine, 'In', 'R-1')
    const hops = await engine.store.trace(sessionId)
    await waitFor(
      async () =>
        (await engine.store.trace(sessionId)).filter((h) => h.state === 'completed').length === 2,
      'both branches completed',
    )
    expect(hops.length).toBeGreaterThan(0)
  })

  it('a branch that fails later marks the inbound message failed', async () => {
    await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'RAE-1'))
    await waitFor(async () => {
      const r = await engine.store.query({ correlationId: 'RAE-1', limit: 5 })
      return r.records.some((x) => x.hostName === 'In' && x.state === 'failed')
    }, 'inbound marked failed')
    expect(await engine.queue.deadLetters('MllpOut', { limit: 10 })).toHaveLength(1)
  })
})

describe('two engines sharing one Redis queue', () => {
  it('share the work: every message accepted by either engine is delivered exactly once', async () => {
    const peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
    const peerPort = await peer.listen()
    const prefix = `li:test:${randomUUID()}`
    const items: ItemSpec[] = [tcpService('In', 'Out', 1), tcpOperation('Out', peerPort)]
    const a = await startEngine(items, {
      freePorts: ['In'],
      config: { redisUrl: redisUrl(), queuePrefix: prefix },
    })
    const b = await startEngine(items, {
      freePorts: ['In'],
      config: { redisUrl: redisUrl(), queuePrefix: prefix },
    })
    try {
      const ids: string[] = []
      for (let i = 0; i < 10; i++) {
        const id = `TWO-${i}`
        ids.push(id)
        const target = i % 2 === 0 ? a.engine : b.engine
        expect(msaCode(await sendMllp(portOf(target, 'In'), hl7('ADT^A01', id)))).toBe('AA')
      }
      await waitFor(() => ids.every((id) => peer.count(id) >= 1), 'every message delivered')
      expect(ids.map((id) => peer.count(id))).toEqual(ids.map(() => 1))
    } finally {
      await a.engine.stop()
      await b.engine.stop()
      await peer.close()
      await removeDir(a.dir)
      await removeDir(b.dir)
    }
  })
})
