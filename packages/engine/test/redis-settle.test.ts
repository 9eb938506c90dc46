// Two engine processes sharing Redis queues, each with its own message store: store ids are per
// store, so the id of an inbound record of one engine names another message in the other. A
// branch that fails on the engine that did not receive the message must not mark that engine's
// unrelated record failed; it is recorded there as a failed outbound record of its own.
// Real redis-server, real MLLP sockets.
import { randomUUID } from 'node:crypto'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  finalState,
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

describe('a branch failing on another engine than the one that received the message', () => {
  const engines: Engine[] = []
  const dirs: string[] = []
  let peer: MllpPeer | undefined

  afterAll(async () => {
    for (const e of engines) await e.stop()
    await peer?.close()
    for (const d of dirs) await removeDir(d)
  })

  it('leaves the other engine’s record with the same store id alone', async () => {
    peer = new MllpPeer((m) => ({
      ack: ackFor(controlIdOf(m), controlIdOf(m).startsWith('FAIL') ? 'AE' : 'AA'),
    }))
    const port = await peer.listen()
    const cfg = { redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}` }
    for (let i = 0; i < 2; i++) {
      const { engine, dir } = await startEngine(
        [
          tcpService('In', 'Out', 1),
          { ...tcpOperation('Out', port), host: { ReplyCodeActions: ':?E=F,:?A=C' } },
        ],
        { freePorts: ['In'], config: cfg },
      )
      engines.push(engine)
      dirs.push(dir)
    }
    const [a, b] = engines as [Engine, Engine]
    // B's first message: its store id is the same as A's first one.
    expect(msaCode(await sendMllp(portOf(b, 'In'), hl7('ADT^A01', 'OK-B')))).toBe('AA')
    const okB = await finalState(b, 'In', 'OK-B')
    expect(okB.state).toBe('completed')
    // Only B's operation runs: A's message is delivered (and fails) on B.
    await a.stopHost('Out')
    expect(msaCode(await sendMllp(portOf(a, 'In'), hl7('ADT^A01', 'FAIL-A')))).toBe('AA')
    const failA = await waitFor(
      async () => (await a.store.query({ correlationId: 'FAIL-A', limit: 1 })).records[0],
      'FAIL-A stored by A',
    )
    expect(failA.id).toBe(okB.id)
    const session = failA.sessionId ?? ''
    await waitFor(async () => {
      const hops = await b.store.trace(session)
      return hops.some((h) => h.target === 'Out' && h.state === 'failed')
    }, 'FAIL-A failed on B')
    // B's store applies writes in order: once a later message of B is completed, any write the
    // failure made before it has landed.
    expect(msaCode(await sendMllp(portOf(b, 'In'), hl7('ADT^A01', 'OK-B2')))).toBe('AA')
    expect((await finalState(b, 'In', 'OK-B2')).state).toBe('completed')
    expect((await b.store.get(okB.id))?.state).toBe('completed')
    // The failed branch is recorded on B, where it failed, with its body: a search for failed
    // messages there finds it, and it can be resent from there.
    const failed = (await b.store.query({ state: 'failed', limit: 10 })).records
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({
      hostName: 'Out',
      sessionId: session,
      correlationId: 'FAIL-A',
      direction: 'outbound',
    })
    const detail = await b.store.get(failed[0]!.id)
    expect(detail?.payload).toContain('FAIL-A')
    expect(detail?.error ?? '').toMatch(/AE/)
    expect(detail?.metadata).toMatchObject({ receivedElsewhere: true, rootStoreId: failA.id })
  }, 60_000)
})
