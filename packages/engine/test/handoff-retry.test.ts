// Messages ACKed while Redis is down are delivered once it is back, without restarting the
// engine: the hand-off (enqueue into Redis) is retried from the in-process backlog while the
// message stays pending in the WAL. Real redis-server (private, SIGKILLed and restarted on the
// same port and data directory), real MLLP sockets.
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { startRedisServer } from '@li/vitest-config/redis'
import type { RedisServerHandle } from '@li/vitest-config/redis'
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
  tempDir,
  waitFor,
} from './helpers.js'

const HAS_SQLITE3_CLI = spawnSync('sqlite3', ['-version']).status === 0

// appendfsync always: what Redis acknowledged survives its SIGKILL (the WAL entry is completed
// at the acknowledged enqueue, so Redis must keep it).
const REDIS_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always']

describe('hand-offs that fail after the ACK (Redis down)', () => {
  let engine: Engine | undefined
  let dir: string | undefined
  let redis: RedisServerHandle | undefined
  let redisDir: string | undefined
  let peer: MllpPeer | undefined

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await redis?.stop()
    if (dir !== undefined) await removeDir(dir)
    if (redisDir !== undefined) await removeDir(redisDir)
  })

  it('delivers every message ACKed during the outage once Redis is back, in order', async () => {
    redisDir = await tempDir('handoff-redis')
    redis = await startRedisServer({ dir: redisDir, args: REDIS_ARGS })
    const port = redis.port
    peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
    const peerPort = await peer.listen()
    ;({ engine, dir } = await startEngine(
      [tcpService('In', 'Out', 1), tcpOperation('Out', peerPort, { RetryInterval: 1 })],
      {
        freePorts: ['In'],
        config: {
          redisUrl: redis.url,
          queuePrefix: 'li:test:handoff',
          handOffUnreadyAfter: 1,
          handOffRetryMs: { min: 250, max: 1000 },
        },
      },
    ))
    const e = engine
    const inPort = portOf(e, 'In')
    const acked: string[] = []
    const send = async (id: string): Promise<void> => {
      const code = msaCode(await sendMllp(inPort, hl7('ADT^A01', id)))
      if (code === 'AA') acked.push(id)
    }

    for (let i = 1; i <= 5; i++) await send(`HO-${i}`)
    await waitFor(() => peer?.count('HO-5') === 1, 'delivery before the outage')

    await redis.stop() // SIGKILL
    for (let i = 6; i <= 15; i++) await send(`HO-${i}`)
    // Every message of the outage was ACKed: the WAL holds it.
    expect(acked).toContain('HO-15')
    const during = await waitFor(async () => {
      const s = await e.getStatus()
      return s.handOffBacklog > 0 ? s : undefined
    }, 'a hand-off backlog')
    expect(during.walPending).toBeGreaterThanOrEqual(during.handOffBacklog)
    const health = await e.health.checkAll()
    const check = health.checks.find((c) => c.name === 'hand-off')
    expect(check?.status === 'DEGRADED' || check?.status === 'UNHEALTHY').toBe(true)
    // Failing for longer than handOffUnreadyAfter (1 s): not ready; liveness is unaffected.
    await waitFor(async () => !(await e.health.checkReadiness()).ready, 'not ready')
    expect((await e.health.checkLiveness()).status).toBe('HEALTHY')

    redis = await startRedisServer({ port, dir: redisDir, args: REDIS_ARGS })
    for (let i = 16; i <= 20; i++) await send(`HO-${i}`)

    await waitFor(
      () => acked.every((id) => (peer?.count(id) ?? 0) >= 1),
      'every ACKed message delivered',
      30_000,
    )
    expect(acked).toHaveLength(20)
    await waitFor(async () => {
      const s = await e.getStatus()
      return s.handOffBacklog === 0 && s.walPending === 0
    }, 'backlog and WAL empty')
    await waitFor(async () => (await e.health.checkReadiness()).ready, 'ready again')
    expect(e.state).toBe('RUNNING')
    // The messages of the outage reached the peer in the order they were ACKed.
    const firstSeen = (peer?.received ?? []).map(controlIdOf).filter((id, i, all) => {
      return all.indexOf(id) === i
    })
    expect(firstSeen).toEqual(acked)
  }, 60_000)
})

describe('hand-offs that fail after the ACK (store error, in-process queues)', () => {
  let engine: Engine | undefined
  let dir: string | undefined
  let peer: MllpPeer | undefined

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  // The lock is taken by a second, real SQLite connection: the sqlite3 command-line shell.
  it.skipIf(!HAS_SQLITE3_CLI)(
    'stores and delivers messages ACKed while the store was locked, without a restart',
    async () => {
      peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
      const peerPort = await peer.listen()
      ;({ engine, dir } = await startEngine(
        [tcpService('In', 'Out', 1), tcpOperation('Out', peerPort)],
        {
          freePorts: ['In'],
          config: { handOffRetryMs: { min: 250, max: 1000 }, handOffRefuseAt: 3 },
        },
      ))
      const e = engine
      const inPort = portOf(e, 'In')
      expect(msaCode(await sendMllp(inPort, hl7('ADT^A01', 'ST-1')))).toBe('AA')
      await waitFor(() => peer?.count('ST-1') === 1, 'delivery before the lock')

      // An exclusive transaction held by another connection: the store's writes fail with
      // SQLITE_BUSY once its busy timeout (5 s) has passed.
      const shell = spawn('sqlite3', [path.join(dir, 'data', 'messages.db')], {
        stdio: ['pipe', 'pipe', 'inherit'],
      })
      let out = ''
      shell.stdout.on('data', (d: Buffer) => (out += d.toString()))
      shell.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
      await waitFor(() => out.includes('locked'), 'exclusive lock taken')

      const ids = ['ST-2', 'ST-3', 'ST-4']
      for (const id of ids) expect(msaCode(await sendMllp(inPort, hl7('ADT^A01', id)))).toBe('AA')
      await waitFor(
        async () => (await e.getStatus()).handOffBacklog === ids.length,
        'the hand-offs in the retry backlog',
        30_000,
      )
      const health = await e.health.checkAll()
      expect(health.checks.find((c) => c.name === 'hand-off')?.status).toBe('DEGRADED')
      expect(ids.some((id) => (peer?.count(id) ?? 0) > 0)).toBe(false)
      // handOffRefuseAt (3) waiting: the next message is refused with a system-error NAK (AR,
      // ERR), not ACKed into an ever-growing in-memory backlog; the sender resends it later.
      const refused = await sendMllp(inPort, hl7('ADT^A01', 'ST-X'))
      expect(msaCode(refused)).toBe('AR')
      expect(refused).toMatch(/\rERR\|/)
      expect(refused).toContain('resend it later')

      const exited = new Promise((r) => shell.once('exit', r))
      shell.stdin.end('COMMIT;\n.quit\n')
      await exited

      await waitFor(
        () => ids.every((id) => peer?.count(id) === 1),
        'every ACKed message delivered',
        30_000,
      )
      await waitFor(async () => {
        const s = await e.getStatus()
        return s.handOffBacklog === 0 && s.walPending === 0
      }, 'backlog and WAL empty')
      // Stored and traced like any message.
      for (const id of ids) {
        const r = await e.store.query({ correlationId: id, limit: 5 })
        expect(r.records.some((x) => x.hostName === 'In')).toBe(true)
      }
      // Accepting again once the backlog is gone; the refused message was never taken.
      expect(msaCode(await sendMllp(inPort, hl7('ADT^A01', 'ST-5')))).toBe('AA')
      await waitFor(() => peer?.count('ST-5') === 1, 'ST-5 delivered')
      expect(peer.received.map(controlIdOf)).toEqual(['ST-1', ...ids, 'ST-5'])
    },
    60_000,
  )
})
