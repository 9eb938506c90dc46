// End to end: the built `li-engine run` as a child process with an IRIS production on free ports
// in a temp dir, talked to only over MLLP (a plain `net` sender and receiver) and HTTP.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EngineProcess,
  MllpPeer,
  MllpSender,
  controlIdOf,
  freePort,
  hl7,
  removeDir,
  requireBuild,
  tempDir,
  testProduction,
  waitFor,
} from './helpers.js'

interface Msg {
  id: string
  hostName: string
  messageId: string
  state: string
  sessionId: string
}
interface Hop {
  source: string
  target: string
  state: string
  detail?: string
}

requireBuild()

// The peer answers by the MSH-10 prefix: AE-/AR- with that code, NONE- never, else AA.
function behave(message: string): string | null {
  const kind = controlIdOf(message).split('-')[0]
  if (kind === 'AE' || kind === 'AR') return kind
  if (kind === 'NONE') return null
  return 'AA'
}

async function filesIn(dir: string): Promise<string[]> {
  try {
    // Skip the operation's temporary files (`.li-<uuid>.tmp`, linked to their final name).
    const names = (await readdir(dir)).filter((f) => !f.startsWith('.'))
    return await Promise.all(names.map((f) => readFile(path.join(dir, f), 'utf8')))
  } catch {
    return []
  }
}

async function messageByControlId(engine: EngineProcess, id: string): Promise<Msg | undefined> {
  const r = await engine.api(
    'GET',
    `/api/messages?host=MLLP.In&correlationId=${encodeURIComponent(id)}`,
  )
  return (r.json as { messages: Msg[] }).messages[0]
}

async function traceOf(engine: EngineProcess, storeId: string): Promise<Hop[]> {
  const r = await engine.api('GET', `/api/messages/${storeId}`)
  return (r.json as { trace: Hop[] }).trace
}

describe('li-engine run: routing, traces, resend, ReplyCodeActions', { timeout: 60_000 }, () => {
  let dir: string
  let outDir: string
  let peer: MllpPeer
  let engine: EngineProcess
  let sender: MllpSender

  beforeAll(async () => {
    dir = await tempDir('e2e')
    outDir = path.join(dir, 'out')
    peer = new MllpPeer(behave)
    const outPort = await peer.listen()
    const inPort = await freePort()
    engine = await EngineProcess.start(
      dir,
      testProduction({
        inPort,
        outPort,
        outDir,
        responseTimeout: 1,
        retryInterval: 0.2,
        failureTimeout: 2,
      }),
    )
    sender = await MllpSender.connect(inPort)
  }, 60_000)

  afterAll(async () => {
    sender?.close()
    if (engine !== undefined) expect((await engine.stop('SIGTERM')).code).toBe(0)
    await peer?.close()
    await removeDir(dir)
  }, 60_000)

  it('logs the listening ports and the production items once started', () => {
    const listening = engine.lines.filter((l) => l.msg === 'listening')
    expect(listening.map((l) => l.protocol).sort()).toEqual(['http', 'mllp'])
    const started = engine.lines.find((l) => l.msg === 'production started') as {
      items: { name: string }[]
    }
    expect(started.items.map((i) => i.name).sort()).toEqual([
      'EPR.Out',
      'File.Out',
      'MLLP.In',
      'Router',
    ])
  })

  it('routes ADT to the MLLP receiver and the file directory, ORU to the file directory only', async () => {
    expect(await sender.send(hl7('ADT^A01', 'ADT-1'))).toBe('AA')
    expect(await sender.send(hl7('ORU^R01', 'ORU-1'))).toBe('AA')
    await waitFor(() => peer.count('ADT-1') === 1, 'ADT-1 at the receiver')
    const files = await waitFor(async () => {
      const f = await filesIn(outDir)
      return f.length >= 2 ? f : undefined
    }, 'two files')
    expect(files.map(controlIdOf).sort()).toEqual(['ADT-1', 'ORU-1'])
    expect(peer.count('ORU-1')).toBe(0)
  })

  it('shows the trace of a message through the API', async () => {
    let last: unknown
    const msg = await waitFor(
      async () => {
        const m = await messageByControlId(engine, 'ADT-1')
        last = m
        return m?.state === 'completed' ? m : undefined
      },
      'ADT-1 completed',
      5000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last: ${JSON.stringify(last)}`)
    })
    const detail = await engine.api('GET', `/api/messages/${msg.id}`)
    expect(detail.status).toBe(200)
    const body = detail.json as {
      message: { payload: string; history: { state: string }[] }
      trace: Hop[]
    }
    expect(controlIdOf(body.message.payload)).toBe('ADT-1')
    expect(body.message.history.map((h) => h.state)).toContain('completed')
    const done = body.trace.filter((h) => h.state === 'completed').map((h) => h.target)
    expect(done.sort()).toEqual(['EPR.Out', 'File.Out', 'Router'])
  })

  it('resends a stored message as a new session', async () => {
    const msg = (await messageByControlId(engine, 'ADT-1'))!
    const r = await engine.api('POST', `/api/messages/${msg.id}/resend`, { target: 'EPR.Out' })
    expect(r.status).toBe(202)
    await waitFor(() => peer.count('ADT-1') === 2, 'ADT-1 delivered again')
  })

  it('fails AE and AR replies per ReplyCodeActions and dead-letters them; redrive sends again', async () => {
    expect(await sender.send(hl7('ADT^A08', 'AE-1'))).toBe('AA')
    expect(await sender.send(hl7('ADT^A08', 'AR-1'))).toBe('AA')
    for (const id of ['AE-1', 'AR-1']) {
      const m = await waitFor(async () => {
        const x = await messageByControlId(engine, id)
        return x?.state === 'failed' ? x : undefined
      }, `${id} failed`)
      const hops = await traceOf(engine, m.id)
      const failed = hops.find((h) => h.target === 'EPR.Out' && h.state === 'failed')
      expect(failed?.detail).toContain(id.slice(0, 2))
      // F: no retry.
      expect(peer.count(id)).toBe(1)
    }
    const dl = await engine.api('GET', '/api/dead-letters?host=EPR.Out')
    const letters = (dl.json as { deadLetters: { id: string; messageId: string }[] }).deadLetters
    const ae = letters.find((d) => d.messageId === 'AE-1')
    expect(ae).toBeDefined()
    const rd = await engine.api('POST', `/api/dead-letters/${ae!.id}/redrive`)
    expect(rd.status).toBe(200)
    await waitFor(() => peer.count('AE-1') === 2, 'AE-1 redriven to the receiver')
    // All of EPR.Out's dead letters at once (AR-1, and AE-1 once it failed again).
    await waitFor(async () => {
      const d = await engine.api('GET', '/api/dead-letters?host=EPR.Out')
      const ids = (d.json as { deadLetters: { messageId: string }[] }).deadLetters.map(
        (x) => x.messageId,
      )
      return ids.includes('AE-1') && ids.includes('AR-1')
    }, 'AE-1 dead-lettered again')
    const all = await engine.api('POST', '/api/dead-letters/redrive', { host: 'EPR.Out' })
    expect(all.status).toBe(200)
    expect(all.json).toEqual({ redriven: { host: 'EPR.Out', count: 2 } })
    await waitFor(
      () => peer.count('AR-1') === 2 && peer.count('AE-1') === 3,
      'both redriven to the receiver',
    )
    expect((await engine.api('POST', '/api/dead-letters/redrive', { host: 'Nobody' })).status).toBe(
      404,
    )
  })

  it('retries a message that gets no ACK until FailureTimeout, then fails it', async () => {
    expect(await sender.send(hl7('ADT^A08', 'NONE-1'))).toBe('AA')
    const m = await waitFor(async () => {
      const x = await messageByControlId(engine, 'NONE-1')
      return x?.state === 'failed' ? x : undefined
    }, 'NONE-1 failed after FailureTimeout')
    expect(peer.count('NONE-1')).toBeGreaterThanOrEqual(2)
    const hops = await traceOf(engine, m.id)
    expect(hops.some((h) => h.target === 'EPR.Out' && h.state === 'failed')).toBe(true)
  })

  it('shows the warnings and errors of the failed deliveries in the event log', async () => {
    const r = await engine.api('GET', '/api/events?host=EPR.Out&limit=50')
    expect(r.status).toBe(200)
    const body = r.json as {
      events: { time: string; level: string; host?: string; msg: string }[]
      kept: number
      capacity: number
    }
    expect(body.events.length).toBeGreaterThan(0)
    for (const e of body.events) {
      expect(e.host).toBe('EPR.Out')
      expect(['warn', 'error', 'fatal']).toContain(e.level)
    }
    // The receiver that did not answer NONE-1: its first failed attempt is a warning.
    expect(body.events.map((e) => e.msg)).toContain('delivery will be retried')
    // Newest first, and never a message body.
    const times = body.events.map((e) => e.time)
    expect([...times].sort().reverse()).toEqual(times)
    expect(JSON.stringify(body)).not.toContain('MSH|')
    expect(body.capacity).toBe(10_000)
    const bad = await engine.api('GET', '/api/events?level=info')
    expect(bad.status).toBe(400)
  })

  it('lists the production with queue depths and controls hosts', async () => {
    const p = await engine.api('GET', '/api/production')
    const items = (
      p.json as { items: { name: string; state: string; queueDepth: number | null }[] }
    ).items
    expect(items.find((i) => i.name === 'EPR.Out')).toMatchObject({ state: 'RUNNING' })
    const stop = await engine.api('POST', '/api/hosts/File.Out/stop')
    expect((stop.json as { host: { state: string } }).host.state).toBe('STOPPED')
    const start = await engine.api('POST', '/api/hosts/File.Out/start')
    expect((start.json as { host: { state: string } }).host.state).toBe('RUNNING')
  })

  it('applies an edited routing rule and an item’s settings from the production file without a restart', async () => {
    const file = path.join(dir, 'production.xml')
    const original = await readFile(file, 'utf8')
    const oruToFile = '<send transform="" target="File.Out"></send>'
    expect(original).toContain(oruToFile)
    const retry = '<Setting Target="Host" Name="RetryInterval">'
    expect(original).toContain(retry)
    try {
      // ORU now also goes to the EPR.
      const edited = original.replace(oruToFile, oruToFile.replace('File.Out', 'EPR.Out,File.Out'))
      await writeFile(file, edited)
      const r = await engine.api('POST', '/api/production/reload')
      expect(r.status).toBe(200)
      expect(r.json).toEqual({
        reload: {
          rules: ['Test.Rules'],
          transforms: [],
          processes: [],
          items: [],
          added: [],
          removed: [],
          kept: [],
          restarted: ['Router'],
        },
      })
      expect(await sender.send(hl7('ORU^R01', 'ORU-RELOAD'))).toBe('AA')
      await waitFor(() => peer.count('ORU-RELOAD') === 1, 'ORU-RELOAD at the EPR')
      // A changed setting of EPR.Out (IRIS Apply): that item alone restarts.
      const alerting = edited.replace(
        retry,
        `<Setting Target="Host" Name="AlertOnError">1</Setting>${retry}`,
      )
      await writeFile(file, alerting)
      const applied = await engine.api('POST', '/api/production/reload')
      expect(applied.json).toEqual({
        reload: {
          rules: [],
          transforms: [],
          processes: [],
          items: ['EPR.Out'],
          added: [],
          removed: [],
          kept: [],
          restarted: ['EPR.Out'],
        },
      })
      expect(await sender.send(hl7('ADT^A08', 'ADT-RELOAD'))).toBe('AA')
      await waitFor(() => peer.count('ADT-RELOAD') === 1, 'ADT-RELOAD at the EPR')
      // An OrderingKey is built into the message path at start: 409, nothing applied.
      await writeFile(
        file,
        alerting.replace(
          retry,
          `<Setting Target="Host" Name="OrderingKey">{PID:3.1}</Setting>${retry}`,
        ),
      )
      const refused = await engine.api('POST', '/api/production/reload')
      expect(refused.status).toBe(409)
      expect((refused.json as { error: { code: string } }).error.code).toBe('ENGINE_RELOAD_REFUSED')
    } finally {
      await writeFile(file, original)
      expect((await engine.api('POST', '/api/production/reload')).status).toBe(200)
    }
  })
})

describe('li-engine run: crash and shutdown', { timeout: 60_000 }, () => {
  let dir: string
  let peer: MllpPeer

  beforeAll(async () => {
    dir = await tempDir('crash')
  })

  afterAll(async () => {
    await peer?.close()
    await removeDir(dir)
  })

  /**
   * A receiver that stays silent until `answer()` (so acknowledged messages pile up in the
   * engine), and a production in its own folder `name` that sends to it.
   */
  async function silentReceiver(
    name: string,
  ): Promise<{ sub: string; xml: string; inPort: number; answer: () => void }> {
    await peer?.close()
    let answering = false
    peer = new MllpPeer((m) => (answering ? behave(m) : null))
    const outPort = await peer.listen()
    const inPort = await freePort()
    const sub = path.join(dir, name)
    await mkdir(sub, { recursive: true })
    const xml = testProduction({
      inPort,
      outPort,
      outDir: path.join(sub, 'out'),
      responseTimeout: 30,
    })
    return { sub, xml, inPort, answer: () => (answering = true) }
  }

  it('loses nothing acknowledged when killed with SIGKILL mid-stream and restarted', async () => {
    // The receiver stays silent at first, so acknowledged messages pile up in the engine.
    let answer = false
    peer = new MllpPeer((m) => (answer ? behave(m) : null))
    const outPort = await peer.listen()
    const inPort = await freePort()
    const xml = testProduction({
      inPort,
      outPort,
      outDir: path.join(dir, 'out'),
      responseTimeout: 30,
    })
    const first = await EngineProcess.start(dir, xml)
    // Two senders keep sending while the engine is killed: whatever got an AA must survive.
    const acked: string[] = []
    const stream = async (name: string): Promise<void> => {
      const sender = await MllpSender.connect(inPort)
      try {
        for (let i = 0; i < 500; i++) {
          const id = `K${name}-${i}`
          if ((await sender.send(hl7('ADT^A01', id))) === 'AA') acked.push(id)
        }
      } catch {
        // The connection died with the engine: the message in flight was not acknowledged.
      } finally {
        sender.close()
      }
    }
    const streams = [stream('a'), stream('b')]
    await waitFor(() => acked.length >= 20, '20 acknowledged messages')
    const killed = await first.stop('SIGKILL')
    expect(killed.signal).toBe('SIGKILL')
    await Promise.all(streams)
    expect(acked.length).toBeGreaterThanOrEqual(20)

    answer = true
    const second = await EngineProcess.start(dir, xml)
    // HTTP (liveness, metrics) was up before the resume of the previous run's entries began, so a
    // long resume cannot outlive a startup probe; the resume reports when it is done.
    const at = (pred: (l: Record<string, unknown>) => boolean): number =>
      second.lines.findIndex(pred)
    const http = at((l) => l.msg === 'listening' && l.protocol === 'http')
    const resuming = at((l) => l.msg === 'resuming WAL entries from the previous run')
    const resumed = at((l) => l.msg === 'resumed WAL entries')
    expect(http).toBeGreaterThanOrEqual(0)
    expect(resuming).toBeGreaterThan(http)
    expect(resumed).toBeGreaterThan(resuming)
    await waitFor(
      () => acked.every((id) => peer.count(id) >= 1),
      'every acknowledged message at the receiver',
      60_000,
    )
    let seen = new Set<string>()
    const files = await waitFor(
      async () => {
        const f = await filesIn(path.join(dir, 'out'))
        seen = new Set(f.map(controlIdOf))
        return acked.every((id) => seen.has(id)) ? f : undefined
      },
      'every acknowledged message in the file directory',
      30_000,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; seen ${[...seen].join(',')}; log ${JSON.stringify(second.lines.slice(-20))}`,
      )
    })
    expect(acked.filter((id) => !new Set(files.map(controlIdOf)).has(id))).toEqual([])
    expect((await second.stop('SIGTERM')).code).toBe(0)
  }, 120_000)

  it('exits at once on a second SIGTERM during the drain, and delivers the rest after a restart', async () => {
    const { sub, xml, inPort, answer } = await silentReceiver('twice')
    const first = await EngineProcess.start(sub, xml, { LI_DRAIN_TIMEOUT: '20' })
    const sender = await MllpSender.connect(inPort)
    const ids = ['T-1', 'T-2', 'T-3', 'T-4', 'T-5']
    for (const id of ids) expect(await sender.send(hl7('ADT^A01', id))).toBe('AA')
    sender.close()
    first.child.kill('SIGTERM')
    await waitFor(
      () => first.lines.some((l) => l.msg === 'shutdown: draining'),
      'the drain to begin',
    )
    const exit = await first.stop('SIGTERM')
    expect(exit.code).toBe(1)
    expect(first.lines.some((l) => l.msg === 'second signal during shutdown: exiting now')).toBe(
      true,
    )

    answer()
    const second = await EngineProcess.start(sub, xml)
    await waitFor(
      () => ids.every((id) => peer.count(id) >= 1),
      'every acknowledged message delivered',
    )
    expect((await second.stop('SIGTERM')).code).toBe(0)
  }, 90_000)

  it('stops cleanly (exit 0) on SIGTERM during the resume of a backlog, and delivers it all after a restart', async () => {
    const { sub, xml, inPort, answer } = await silentReceiver('resume-term')
    const first = await EngineProcess.start(sub, xml)
    const acked: string[] = []
    await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (name) => {
        const sender = await MllpSender.connect(inPort)
        for (let i = 0; i < 750; i++) {
          const id = `R${name}-${i}`
          if ((await sender.send(hl7('ADT^A01', id))) === 'AA') acked.push(id)
        }
        sender.close()
      }),
    )
    expect(acked).toHaveLength(3000)
    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL')

    // SIGTERM as soon as the resume of the 3,000 entries begins.
    const second = await EngineProcess.start(
      sub,
      xml,
      {},
      'resuming WAL entries from the previous run',
    )
    second.child.kill('SIGTERM')
    const exit = await second.exited
    expect(exit.code, second.stderr).toBe(0)
    const msgs = second.lines.map((l) => l.msg)
    expect(msgs).toContain('signal during start-up: stopping the start')
    expect(msgs).toContain(
      'stopped during start-up; WAL entries not resumed yet are resumed at the next start',
    )
    expect(msgs).not.toContain('production started')

    answer()
    const third = await EngineProcess.start(sub, xml)
    await waitFor(
      () => acked.every((id) => peer.count(id) >= 1),
      'every acknowledged message delivered',
      60_000,
    ).catch((e: Error) => {
      const missing = acked.filter((id) => peer.count(id) < 1)
      throw new Error(
        `${e.message}: ${missing.length} missing (${missing.slice(0, 5).join(',')}); log ${JSON.stringify(third.lines.slice(-8))}`,
      )
    })
    expect((await third.stop('SIGTERM')).code).toBe(0)
  }, 120_000)

  it('drains on SIGTERM: readiness false, queued messages delivered, exit 0', async () => {
    await peer?.close()
    peer = new MllpPeer(behave)
    // Slow ACKs (10 messages take about a second), so SIGTERM finds messages still queued.
    peer.delayMs = 100
    const outPort = await peer.listen()
    const inPort = await freePort()
    const sub = path.join(dir, 'drain')
    await mkdir(sub, { recursive: true })
    const engine = await EngineProcess.start(
      sub,
      testProduction({ inPort, outPort, outDir: path.join(sub, 'out') }),
    )
    const sender = await MllpSender.connect(inPort)
    const ids: string[] = []
    for (let i = 0; i < 10; i++) {
      ids.push(`D-${i}`)
      expect(await sender.send(hl7('ADT^A01', `D-${i}`))).toBe('AA')
    }
    sender.close()
    const queued = await engine.api('GET', '/api/production')
    const depth = (
      queued.json as { items: { name: string; queueDepth: number | null }[] }
    ).items.find((i) => i.name === 'EPR.Out')
    expect(depth?.queueDepth).toBeGreaterThan(0)
    const exit = await engine.stop('SIGTERM')
    expect(exit.code).toBe(0)
    const missing = ids.filter((id) => peer.count(id) === 0)
    expect(missing, JSON.stringify(engine.lines.slice(-30))).toEqual([])
    const msgs = engine.lines.map((l) => l.msg)
    expect(msgs).toContain('shutdown: stop accepting, readiness false')
    expect(msgs).toContain('shutdown complete')
  }, 90_000)
})

describe('li-engine run --redis-url', { timeout: 60_000 }, () => {
  it('routes through shared Redis queues (the test setup private redis-server)', async () => {
    const redisUrl = process.env.LI_REDIS_URL
    if (redisUrl === undefined)
      throw new Error('LI_REDIS_URL is not set: the vitest global setup starts redis-server')
    const dir = await tempDir('redis')
    const peer = new MllpPeer(behave)
    try {
      const outPort = await peer.listen()
      const inPort = await freePort()
      const engine = await EngineProcess.start(
        dir,
        testProduction({ inPort, outPort, outDir: path.join(dir, 'out') }),
        // A prefix of its own, so that no other test's queues are shared.
        { LI_REDIS_URL: redisUrl, LI_QUEUE_PREFIX: `li-app-test:${process.pid}:${Date.now()}` },
      )
      const started = engine.lines.find((l) => l.msg === 'production started')
      expect(started?.queues).toBe('redis')
      const sender = await MllpSender.connect(inPort)
      expect(await sender.send(hl7('ADT^A01', 'REDIS-1'))).toBe('AA')
      sender.close()
      await waitFor(() => peer.count('REDIS-1') === 1, 'REDIS-1 at the receiver')
      expect((await engine.stop('SIGTERM')).code).toBe(0)
    } finally {
      await peer.close()
      await removeDir(dir)
    }
  })
})
