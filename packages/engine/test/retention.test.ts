// Retention of the message store through a running Engine: scheduled purges keep unfinished
// sessions, purge requests, one purge at a time, stop() during a purge, metrics.
import { afterEach, describe, expect, it } from 'vitest'
import { Engine, isEngineError } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
  captureLogger,
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
  thrown,
  waitFor,
} from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function engineWithPeer(
  config: Record<string, unknown>,
  reply: (id: string) => string = () => 'AA',
): Promise<Engine> {
  const peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), reply(controlIdOf(m))) }))
  const peerPort = await peer.listen()
  const { engine, dir } = await startEngine(
    [
      tcpService('In', 'Out', 1),
      // AE is a permanent failure here: its session must survive every purge (KeepIntegrity).
      tcpOperation('Out', peerPort, { ResponseTimeout: 5 }, { ReplyCodeActions: ':?E=F' }),
    ],
    { freePorts: ['In'], config },
  )
  cleanups.push(async () => {
    await engine.stop()
    await peer.close()
    await removeDir(dir)
  })
  return engine
}

/** Store `n` completed inbound records straight into the engine's store. */
async function completedRecords(engine: Engine, n: number): Promise<void> {
  const store = engine.store
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await store.store({
        hostName: 'In',
        messageId: `BULK${i}`,
        payload: hl7('ADT^A01', `BULK${i}`),
        messageType: 'ADT^A01',
        correlationId: `BULK${i}`,
        sessionId: `bulk-${i}`,
      })
      await store.markCompleted(r.id)
    }),
  )
}

describe('Engine retention', () => {
  it('purges completed sessions on its timer and keeps a session with a failed message', async () => {
    const { logger, lines } = captureLogger('info')
    const engine = await engineWithPeer(
      // Keep messages 0.4 s; purge every 0.3 s (the first run comes after one interval).
      { retentionDays: 0.4 / 86_400, purgeInterval: 0.3, logger },
      (id) => (id === 'BAD1' ? 'AE' : 'AA'),
    )
    const port = portOf(engine, 'In')
    for (const id of ['OK1', 'OK2', 'BAD1']) {
      expect(msaCode(await sendMllp(port, hl7('ADT^A01', id)))).toBe('AA')
    }
    expect((await finalState(engine, 'In', 'OK1')).state).toBe('completed')
    const bad = await waitFor(async () => {
      const page = await engine.store.query({ correlationId: 'BAD1', limit: 10 })
      return page.records.some((r) => r.state === 'failed') ? page.records : undefined
    }, 'the AE message to fail')
    await waitFor(async () => {
      const page = await engine.store.query({ correlationId: 'OK1', limit: 10 })
      return page.records.length === 0
    }, 'the completed session to be purged')
    expect((await engine.store.query({ correlationId: 'OK2', limit: 10 })).records).toEqual([])
    // Every record of the failed session is still there, the inbound one included.
    const left = await engine.store.query({ correlationId: 'BAD1', limit: 10 })
    expect(left.records.map((r) => r.id).sort()).toEqual(bad.map((r) => r.id).sort())
    const status = (await engine.getStatus()).retention
    expect(status.days).toBeCloseTo(0.4 / 86_400)
    expect(status.intervalSeconds).toBe(0.3)
    expect(status.nextRunAt ?? new Date(0)).toBeInstanceOf(Date)
    // The run's log line comes once the whole run is over, which can be after its deletes are
    // visible to the queries above: wait for it rather than read the lines at once.
    await waitFor(
      () => lines.some((l) => l.msg === 'purge finished' && (l.deleted as number) > 0),
      'the purge run that deleted the sessions to log',
    )
    const runs = lines.filter((l) => l.msg === 'purge finished')
    expect(runs.every((l) => l.trigger === 'schedule' && l.keepIncomplete === true)).toBe(true)
    // Counts and times only: no message content in the purge log lines.
    expect(JSON.stringify(runs)).not.toContain('MSH|')
    const text = await engine.metrics.render()
    expect(Number(/^li_store_purged_messages_total (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0)
    expect(text).toMatch(/^li_store_purge_runs_total\{result="ok"\} [1-9]/m)
    expect(text).toMatch(/^li_store_purge_last_success_timestamp_seconds \d/m)
    const free = Number(/^li_data_volume_free_bytes (\S+)/m.exec(text)?.[1])
    const size = Number(/^li_data_volume_size_bytes (\S+)/m.exec(text)?.[1])
    expect(free).toBeGreaterThan(0)
    expect(size).toBeGreaterThanOrEqual(free)
  })

  it('purges on request, one at a time, and refuses a purge without an age while retention is off', async () => {
    const engine = await engineWithPeer({ retentionDays: 0 })
    expect((await engine.getStatus()).retention).toEqual({
      days: 0,
      intervalSeconds: 3600,
      running: false,
    })
    await expect(engine.purge()).rejects.toMatchObject({ code: 'ENGINE_INVALID_ARGUMENT' })
    await completedRecords(engine, 1200)
    const olderThan = new Date(Date.now() + 60_000)
    const first = engine.purge({ olderThan })
    const second = engine.purge({ olderThan })
    await expect(second).rejects.toMatchObject({ code: 'ENGINE_PURGE_RUNNING' })
    expect((await engine.getStatus()).retention.running).toBe(true)
    const run = await first
    expect(run).toMatchObject({ trigger: 'request', deleted: 1200, keepIncomplete: true })
    expect(run.error).toBeUndefined()
    expect((await engine.store.query({ hostName: 'In', limit: 10 })).records).toEqual([])
    const status = (await engine.getStatus()).retention
    expect(status.running).toBe(false)
    expect(status.lastRun).toMatchObject({ deleted: 1200, trigger: 'request' })
    expect(status.nextRunAt).toBeUndefined()
    // And again, now that the first one is over.
    await expect(engine.purge({ olderThan })).resolves.toMatchObject({ deleted: 0 })
  })

  it('ends a running purge at stop() without an unhandled error and records what it removed', async () => {
    const engine = await engineWithPeer({ retentionDays: 0 })
    await completedRecords(engine, 3000)
    const run = engine.purge({ olderThan: new Date(Date.now() + 60_000) })
    const outcome = run.then(
      (r) => ({ ok: r }),
      (e: unknown) => ({ err: e }),
    )
    await engine.stop()
    const o = await outcome
    // Either the purge finished before the store closed, or it stopped at a chunk boundary, or
    // (every row deleted) while it gave the freed pages back to the volume.
    if ('err' in o) {
      expect(o.err).toMatchObject({ code: 'STORE_CLOSED' })
      const last = (await engine.getStatus()).retention.lastRun
      expect(last?.error).toContain('purge stopped by stop()')
      expect(last?.deleted).toBeLessThanOrEqual(3000)
    } else {
      expect(o.ok.deleted).toBe(3000)
    }
    await expect(engine.purge({ olderThan: new Date() })).rejects.toMatchObject({
      code: 'ENGINE_INVALID_STATE',
    })
  })

  it('refuses bad retention settings when the engine is made', () => {
    for (const config of [
      { retentionDays: -1 },
      { retentionDays: Number.NaN },
      { purgeInterval: 0 },
    ]) {
      const e = thrown(() => new Engine({ dataDir: '/tmp/never-used', ...config }))
      expect(isEngineError(e) && e.code).toBe('ENGINE_INVALID_ARGUMENT')
    }
  })
})
