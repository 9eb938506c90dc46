// The Queues view and Abort / Abort All: a poison message that an operation retries for ever
// (FailureTimeout -1) is shown with its attempts and the reason, aborted by an operator, and the
// queue behind it moves on. Aborted messages are recorded as failed, not dead-lettered, and a
// restart does not resume them. Embedded (in-process queue) and Redis, real MLLP sockets.
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { redisUrl } from '@li/vitest-config/redis'
import { afterEach, describe, expect, it } from 'vitest'
import type { Engine, EngineConfig, Production, QueueEntry } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  runEngine,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  waitFor,
} from './helpers.js'

const modes: [string, () => Partial<EngineConfig>][] = [
  ['embedded', () => ({})],
  ['redis', () => ({ redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}` })],
]

describe.each(modes)('queue view and abort (%s)', (_mode, config) => {
  let engine: Engine | undefined
  let dir: string | undefined
  let peer: MllpPeer | undefined
  let cfg: Partial<EngineConfig> = {}

  afterEach(async () => {
    await engine?.stop()
    engine = undefined
    await peer?.close()
    peer = undefined
    if (dir !== undefined) await removeDir(dir)
    dir = undefined
  })

  /** A receiver that never answers POISON messages and ACKs everything else. */
  async function start(): Promise<Engine> {
    peer = new MllpPeer((m) =>
      controlIdOf(m).startsWith('POISON') ? { ack: null } : { ack: ackFor(controlIdOf(m), 'AA') },
    )
    const port = await peer.listen()
    cfg = config()
    ;({ engine, dir } = await startEngine(
      [
        tcpService('In', 'Out', 1),
        {
          ...tcpOperation('Out', port, { ResponseTimeout: 1 }),
          host: { RetryInterval: 1, FailureTimeout: -1 },
        },
      ],
      { freePorts: ['In'], config: cfg },
    ))
    return engine
  }

  async function send(e: Engine, ...ids: string[]): Promise<void> {
    for (const id of ids) {
      expect(msaCode(await sendMllp(portOf(e, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    }
  }

  async function entries(e: Engine): Promise<QueueEntry[]> {
    return (await e.queueContents('Out', { limit: 100 })).messages
  }

  it('shows a retried message with its reason, aborts it and one behind it, and the rest flows', async () => {
    const e = await start()
    await send(e, 'POISON-1', 'OK-1', 'OK-2')
    await waitFor(() => (peer?.count('POISON-1') ?? 0) >= 2, 'POISON-1 retried')

    const listed = await waitFor(async () => {
      const m = await entries(e)
      return m.length === 3 && m[0]?.delivery?.phase === 'retrying' ? m : undefined
    }, 'poison held between retries')
    const [poison, ok1, ok2] = listed as [QueueEntry, QueueEntry, QueueEntry]
    expect(poison).toMatchObject({ state: 'in-flight', messageId: 'POISON-1', source: 'In' })
    expect(poison.messageType).toBe('ADT^A01')
    expect(poison.delivery?.attempts).toBeGreaterThanOrEqual(1)
    expect(poison.delivery?.lastError).toMatch(/ACK|respon/i)
    expect(poison.delivery?.nextAttemptAt).not.toBeNull()
    expect([ok1.messageId, ok2.messageId]).toEqual(['OK-1', 'OK-2'])
    expect([ok1.state, ok2.state]).toEqual(['ready', 'ready'])
    // The production status names the retried message too.
    const out = (await e.getStatus()).items.find((i) => i.name === 'Out')
    expect(out?.retrying).toEqual([
      expect.objectContaining({
        queueMessageId: poison.id,
        phase: 'retrying',
        messageId: 'POISON-1',
      }),
    ])
    const page = await e.queueContents('Out')
    expect(page.depth).toBe(3)
    expect(page.inFlight).toBe(1)

    // A waiting message first: it leaves at once and is never delivered.
    expect(await e.abortQueued('Out', ok2.id, 'sent to the wrong system')).toMatchObject({
      outcome: 'aborted',
      sessionId: ok2.sessionId,
    })
    // Then the poison message the operation holds: its retries end, the queue moves on.
    expect(await e.abortQueued('Out', poison.id, 'receiver rejects it')).toMatchObject({
      outcome: 'aborted',
    })
    await waitFor(() => peer?.count('OK-1') === 1, 'OK-1 delivered')
    expect((await finalState(e, 'In', 'OK-1')).state).toBe('completed')

    const p = await finalState(e, 'In', 'POISON-1')
    expect(p.state).toBe('failed')
    const hops = await e.store.trace(p.sessionId)
    expect(hops.some((h) => h.detail === 'aborted by operator: receiver rejects it')).toBe(true)
    const o2 = await finalState(e, 'In', 'OK-2')
    expect(o2.state).toBe('failed')
    expect(
      (await e.store.trace(o2.sessionId)).some(
        (h) => h.state === 'failed' && h.detail === 'aborted by operator: sent to the wrong system',
      ),
    ).toBe(true)

    await waitFor(async () => (await entries(e)).length === 0, 'queue empty')
    expect(await e.queue.deadLetters('Out')).toEqual([])
    expect(peer?.count('OK-2')).toBe(0)
    await expect(e.queueContents('In')).rejects.toMatchObject({ code: 'ENGINE_INVALID_ARGUMENT' })
    await expect(e.abortQueued('Out', 'no-such-id')).rejects.toMatchObject({
      code: 'ENGINE_QUEUE_MESSAGE_NOT_FOUND',
    })
    await expect(e.queueContents('Out', { limit: 0 })).rejects.toMatchObject({
      code: 'ENGINE_INVALID_ARGUMENT',
    })
  }, 60_000)

  it('Abort All empties the queue, and a restart resumes none of the aborted messages', async () => {
    const e = await start()
    await send(e, 'POISON-2', 'A-1', 'A-2', 'A-3')
    await waitFor(async () => {
      const m = await entries(e)
      return m.length === 4 && m[0]?.delivery !== undefined
    }, 'POISON-2 held, three behind it')
    const r = await e.abortQueue('Out', 'bulk cleanup')
    expect(r).toEqual({ host: 'Out', aborted: 4, inFlight: 0, more: false })
    await waitFor(async () => (await e.queueContents('Out')).depth === 0, 'queue empty')
    for (const id of ['POISON-2', 'A-1', 'A-2', 'A-3']) {
      expect((await finalState(e, 'In', id)).state).toBe('failed')
    }
    expect(['A-1', 'A-2', 'A-3'].map((id) => peer?.count(id))).toEqual([0, 0, 0])

    // Restart on the same data: nothing aborted comes back from the WAL.
    const dataDir = path.join(dir as string, 'data')
    await e.stop()
    engine = await runEngine(dataDir, e.production as Production, cfg)
    await send(engine, 'OK-9')
    await waitFor(() => peer?.count('OK-9') === 1, 'OK-9 delivered after the restart')
    expect((await entries(engine)).length).toBe(0)
    expect(['A-1', 'A-2', 'A-3'].map((id) => peer?.count(id))).toEqual([0, 0, 0])
  }, 60_000)
})

describe('queue abort across engine processes sharing Redis queues', () => {
  const engines: Engine[] = []
  const dirs: string[] = []
  let peer: MllpPeer | undefined

  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop()
    await peer?.close()
    for (const d of dirs.splice(0)) await removeDir(d)
  })

  it('an abort asked on the engine that does not hold the message reaches the one that does', async () => {
    peer = new MllpPeer((m) =>
      controlIdOf(m).startsWith('POISON') ? { ack: null } : { ack: ackFor(controlIdOf(m), 'AA') },
    )
    const port = await peer.listen()
    const cfg = { redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}` }
    for (let i = 0; i < 2; i++) {
      const { engine, dir } = await startEngine(
        [
          tcpService('In', 'Out', 1),
          {
            ...tcpOperation('Out', port, { ResponseTimeout: 1 }),
            // A long wait between retries: the request must not wait for the next attempt.
            host: { RetryInterval: 30, FailureTimeout: -1 },
          },
        ],
        { freePorts: ['In'], config: cfg },
      )
      engines.push(engine)
      dirs.push(dir)
    }
    const [a, b] = engines as [Engine, Engine]
    expect(msaCode(await sendMllp(portOf(a, 'In'), hl7('ADT^A01', 'POISON-X')))).toBe('AA')
    // Whichever engine took it holds it between retries; the other sees it in flight only.
    const [holder, other, id] = await waitFor(async () => {
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const m = (await x.queueContents('Out')).messages[0]
        if (m?.delivery?.phase === 'retrying') return [x, y, m.id] as const
      }
      return undefined
    }, 'POISON-X held between retries')
    const seen = (await other.queueContents('Out')).messages[0]
    expect(seen).toMatchObject({ id, state: 'in-flight', messageId: 'POISON-X' })
    expect(seen?.delivery).toBeUndefined()

    const r = await other.abortQueued('Out', id, 'asked on the other pod')
    expect(r.outcome).toBe('aborted')
    expect((await holder.queueContents('Out')).depth).toBe(0)
    expect(await holder.queue.cancelRequest('Out', id)).toBeNull()
    expect(await holder.queue.deadLetters('Out')).toEqual([])
    // The queue moves on, on either engine.
    expect(msaCode(await sendMllp(portOf(b, 'In'), hl7('ADT^A01', 'OK-X')))).toBe('AA')
    await waitFor(() => peer?.count('OK-X') === 1, 'OK-X delivered')
    expect(peer.count('POISON-X')).toBe(1)
  }, 60_000)
})
