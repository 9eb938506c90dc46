// The cluster view: three real engines in this process sharing a real Redis (a private queue
// prefix), each with its own SQLite store and its own API on a real HTTP socket, peers given as
// URLs. A message is received by A, routed by B and delivered by C (the other engines' copies of
// those hosts are stopped), so its trace is split across three stores, as in a scale-out
// deployment; any engine's API must find it and show the whole trace.
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { serve } from '@hono/node-server'
import { Engine } from '@li/engine'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/app.js'
import type { PeerSpec } from '../src/config.js'
import {
  EngineProcess,
  MllpPeer,
  MllpSender,
  controlIdOf,
  freePort,
  hl7,
  removeDir,
  tempDir,
  testProduction,
  waitFor,
} from './helpers.js'

const TOKEN = 'cluster-test-token'
const NAMES = ['engine-a', 'engine-b', 'engine-c'] as const

interface Node {
  name: string
  engine: Engine
  inPort: number
  url: string
  close: () => Promise<void>
}

interface Listed {
  id: string
  engine: string
  hostName: string
  correlationId: string
  sessionId: string
  direction?: string
  createdAt: string
}
interface HopJson {
  engine: string
  source: string
  target: string
  state: string
  time: string
}
interface Outcome {
  engine?: string
  url: string | null
  ok: boolean
  error?: string
}

/** Serve `fetch` on 127.0.0.1, a free port; resolves with the URL and a close function. */
async function serveOn(
  fetch: (req: Request) => Response | Promise<Response>,
): Promise<{ url: string; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      const s = server as { closeAllConnections?: () => void; close: (cb: () => void) => void }
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((r) => {
            s.closeAllConnections?.()
            s.close(() => r())
          }),
      })
    })
  })
}

describe('scope=cluster across three engines sharing Redis', { timeout: 90_000 }, () => {
  const nodes: Node[] = []
  let dir: string
  let receiver: MllpPeer
  const apps = new Map<string, ReturnType<typeof createApp>>()

  const get = async <T>(node: Node, url: string, token = TOKEN): Promise<[number, T]> => {
    const r = await fetch(`${node.url}${url}`, { headers: { authorization: `Bearer ${token}` } })
    return [r.status, (await r.json()) as T]
  }
  const A = (): Node => nodes[0]!
  const B = (): Node => nodes[1]!
  const C = (): Node => nodes[2]!

  beforeAll(async () => {
    dir = await tempDir('cluster')
    receiver = new MllpPeer(() => 'AA')
    const outPort = await receiver.listen()
    const queuePrefix = `li:test:${randomUUID()}`
    // HTTP first (ports known), then the apps, which need each other's URLs.
    const served = await Promise.all(
      NAMES.map((name) => serveOn((req) => apps.get(name)!.fetch(req))),
    )
    for (const [i, name] of NAMES.entries()) {
      const inPort = await freePort()
      const engine = new Engine({
        dataDir: path.join(dir, name),
        syncMode: 'async',
        drainTimeout: 0.1,
        redisUrl: redisUrl(),
        queuePrefix,
      })
      await engine.load({
        xml: testProduction({ inPort, outPort, outDir: path.join(dir, `${name}-out`) }),
      })
      await engine.start()
      const peers: PeerSpec = {
        kind: 'urls',
        urls: served.filter((_, j) => j !== i).map((s) => s.url),
      }
      apps.set(name, createApp({ engine, adminToken: TOKEN, instance: name, peers }))
      nodes.push({ name, engine, inPort, url: served[i]!.url, close: served[i]!.close })
    }
    // A only receives, B only routes, C only delivers.
    for (const h of ['Router', 'EPR.Out', 'File.Out']) await A().engine.stopHost(h)
    for (const h of ['EPR.Out', 'File.Out']) await B().engine.stopHost(h)
    await C().engine.stopHost('Router')
  }, 60_000)

  afterAll(async () => {
    for (const n of nodes) {
      await n.close().catch(() => undefined)
      await n.engine.stop()
    }
    await receiver?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  /**
   * Send messages into `via` (default A) and wait until C delivered each (EPR.Out completed in
   * C's trace of its session). Operations store hops, not copies: the inbound record is the only
   * record of a message, in the store of the engine that received it.
   */
  const sendAll = async (ids: string[], via: Node = A()): Promise<void> => {
    const sender = await MllpSender.connect(via.inPort)
    for (const id of ids) expect(await sender.send(hl7('ADT^A01', id))).toBe('AA')
    sender.close()
    for (const id of ids) {
      const rec = await waitFor(
        async () => (await via.engine.store.query({ correlationId: id, limit: 1 })).records[0],
        `${id} stored by ${via.name}`,
      )
      await waitFor(async () => {
        const hops = await C().engine.store.trace(rec.sessionId ?? '')
        return hops.some((h) => h.target === 'EPR.Out' && h.state === 'completed')
      }, `${id} delivered by C`)
    }
  }

  it('names each engine on GET /api/instance', async () => {
    const [status, body] = await get<Record<string, unknown>>(B(), '/api/instance')
    expect(status).toBe(200)
    expect(body).toMatchObject({ instance: 'engine-b', production: 'Test.Production', redis: true })
    expect(typeof body.version).toBe('string')
    expect((await get(B(), '/api/instance', 'wrong'))[0]).toBe(401)
  })

  it('finds a message received by A from any engine, with the whole trace in time order', async () => {
    await sendAll(['CL-1'])
    // Local scope is what it was: B holds only its router's copies, C only its deliveries.
    const [, localB] = await get<{ messages: Listed[] }>(
      B(),
      '/api/messages?property=PatientID&value=cl1',
    )
    expect(localB.messages).toEqual([])
    for (const asker of [B(), C()]) {
      const [status, body] = await get<{ messages: Listed[]; engines: Outcome[] }>(
        asker,
        '/api/messages?property=PatientID&value=cl1&scope=cluster',
      )
      expect(status).toBe(200)
      expect(body.engines.map((e) => [e.engine, e.ok]).sort()).toEqual(NAMES.map((n) => [n, true]))
      expect(body.messages.map((m) => [m.engine, m.hostName, m.correlationId])).toEqual([
        ['engine-a', 'MLLP.In', 'CL-1'],
      ])
    }
    const [, byId] = await get<{ messages: Listed[] }>(
      C(),
      '/api/messages?correlationId=CL-1&scope=cluster',
    )
    expect(byId.messages.map((m) => m.engine)).toEqual(['engine-a'])

    const session = byId.messages[0]!.sessionId
    const [localStatus] = await get(A(), `/api/sessions/${session}`)
    expect(localStatus).toBe(200)
    for (const asker of [A(), B(), C()]) {
      const [status, view] = await get<{
        sessionId: string
        messages: Listed[]
        trace: HopJson[]
        engines: Outcome[]
      }>(asker, `/api/sessions/${session}?scope=cluster`)
      expect(status).toBe(200)
      expect(view.sessionId).toBe(session)
      expect(view.engines.every((e) => e.ok)).toBe(true)
      const hopTimes = view.trace.map((h) => Date.parse(h.time))
      expect(hopTimes).toEqual([...hopTimes].sort((x, y) => x - y))
      const hops = view.trace.map((h) => `${h.engine} ${h.source}->${h.target} ${h.state}`)
      // A received and queued it for the router, B routed it, C delivered it.
      expect(hops).toEqual(
        expect.arrayContaining([
          'engine-a MLLP.In->MLLP.In received',
          'engine-a MLLP.In->Router queued',
          'engine-b Router->EPR.Out queued',
          'engine-b MLLP.In->Router completed',
          'engine-c Router->EPR.Out processing',
          'engine-c Router->EPR.Out completed',
        ]),
      )
      expect(new Set(view.trace.map((h) => h.engine))).toEqual(new Set(NAMES))
      expect(view.messages.every((m) => m.sessionId === session)).toBe(true)
      expect(JSON.stringify(view.messages)).not.toContain('MSH|')
    }
  })

  it('reads another engine’s record by its store id with engine=<name>, body and whole trace', async () => {
    const [, list] = await get<{ messages: Listed[] }>(
      C(),
      '/api/messages?correlationId=CL-1&scope=cluster',
    )
    const received = list.messages.find((m) => m.engine === 'engine-a')!
    expect(received).toBeDefined()
    const [status, detail] = await get<{
      message: Listed & { payload: string; history: unknown[] }
      trace: HopJson[]
      engines: Outcome[]
    }>(C(), `/api/messages/${received.id}?engine=engine-a&scope=cluster`)
    expect(status).toBe(200)
    expect(detail.message).toMatchObject({
      id: received.id,
      engine: 'engine-a',
      hostName: 'MLLP.In',
      correlationId: 'CL-1',
    })
    expect(detail.message.payload).toContain('MSH|')
    expect(detail.message.history.length).toBeGreaterThan(0)
    expect(new Set(detail.trace.map((h) => h.engine))).toEqual(new Set(NAMES))
    // engine= of this engine reads the local store, as without it.
    const [mine] = await get(A(), `/api/messages/${received.id}?engine=engine-a&scope=cluster`)
    expect(mine).toBe(200)
    // Store ids are per store: the same id is another message, or none, in C's own store.
    const [plain, own] = await get<{ message?: { correlationId: string } }>(
      C(),
      `/api/messages/${received.id}`,
    )
    expect(plain === 404 || own.message?.correlationId !== 'CL-1').toBe(true)
    // Without scope=cluster, engine= of another engine is refused; unknown engines are 404.
    expect((await get(C(), `/api/messages/${received.id}?engine=engine-a`))[0]).toBe(400)
    const [unknown, err] = await get<{ error: { code: string; message: string } }>(
      C(),
      `/api/messages/${received.id}?engine=engine-z&scope=cluster`,
    )
    expect(unknown).toBe(404)
    expect(err.error.code).toBe('APP_UNKNOWN_ENGINE')
    expect(err.error.message).toContain('engine-a')
    const [gone, goneBody] = await get<{ error: { code: string } }>(
      C(),
      '/api/messages/999999?engine=engine-a&scope=cluster',
    )
    expect(gone).toBe(404)
    expect(goneBody.error.code).toBe('APP_UNKNOWN_MESSAGE')
    expect((await get(C(), `/api/messages/${received.id}?scope=everywhere`))[0]).toBe(400)
  })

  it('walks every message of the cluster once with a cursor, limit per engine', async () => {
    // Received by each engine: A 4, B 2, C 3 messages, walked 2 per engine and page.
    await sendAll(['CL-2', 'CL-3', 'CL-4'])
    await sendAll(['CL-5', 'CL-6'], B())
    await sendAll(['CL-7', 'CL-8', 'CL-9'], C())
    const expected = new Set<string>()
    for (const n of nodes) {
      const page = await n.engine.store.query({ limit: 1000 })
      for (const r of page.records) expected.add(`${n.name}/${r.id}`)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = `/api/messages?scope=cluster&limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
      const [status, page] = await get<{
        messages: Listed[]
        nextCursor: string | null
        engines: Outcome[]
      }>(B(), q)
      expect(status).toBe(200)
      expect(page.engines.every((e) => e.ok)).toBe(true)
      expect(page.messages.length).toBeLessThanOrEqual(2 * NAMES.length)
      for (const m of page.messages) seen.push(`${m.engine}/${m.id}`)
      cursor = page.nextCursor
      pages++
    } while (cursor !== null && pages < 100)
    expect(cursor).toBeNull()
    expect(seen.length).toBe(new Set(seen).size)
    expect(new Set(seen)).toEqual(expected)
    expect(new Set(seen.map((k) => k.split('/')[0]))).toEqual(new Set(NAMES))
    // A cursor that is not a cluster cursor is refused.
    const [bad, body] = await get<{ error: { code: string } }>(
      B(),
      '/api/messages?scope=cluster&cursor=garbage',
    )
    expect(bad).toBe(400)
    expect(body.error.code).toBe('APP_BAD_CURSOR')
  })

  it('finds peers through DNS (dns:localhost:<port>) and skips itself in the list', async () => {
    const port = Number(new URL(B().url).port)
    const dns: PeerSpec = { kind: 'dns', name: 'localhost', port }
    // Engine A asking localhost:<B's port>: B answers.
    const viaDns = createApp({
      engine: A().engine,
      adminToken: TOKEN,
      instance: 'engine-a',
      peers: dns,
    })
    const r1 = await viaDns.request('/api/messages?scope=cluster&limit=1000', {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(r1.status).toBe(200)
    const b1 = (await r1.json()) as { messages: Listed[]; engines: Outcome[] }
    expect(b1.engines.filter((e) => e.ok).map((e) => e.engine)).toEqual(['engine-a', 'engine-b'])
    expect(b1.engines.find((e) => e.engine === 'engine-b')?.url).toBe(`http://127.0.0.1:${port}`)
    expect(new Set(b1.messages.map((m) => m.engine))).toEqual(new Set(['engine-a', 'engine-b']))
    // Engine B's own name behind the DNS name: it is this engine, asked once (locally).
    const self = createApp({
      engine: B().engine,
      adminToken: TOKEN,
      instance: 'engine-b',
      peers: dns,
    })
    const r2 = await self.request('/api/messages?scope=cluster&limit=1000', {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    const b2 = (await r2.json()) as { messages: Listed[]; engines: Outcome[] }
    expect(b2.engines.filter((e) => e.engine !== undefined)).toEqual([
      { engine: 'engine-b', url: null, ok: true },
    ])
    expect(b2.messages.every((m) => m.engine === 'engine-b')).toBe(true)
    // A name that does not resolve: the answer is this engine's, and says the peers are missing.
    const nowhere = createApp({
      engine: A().engine,
      adminToken: TOKEN,
      instance: 'engine-a',
      peers: { kind: 'dns', name: 'no-such-engine.invalid', port },
    })
    const r3 = await nowhere.request('/api/messages?scope=cluster', {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(r3.status).toBe(200)
    const b3 = (await r3.json()) as { engines: Outcome[] }
    expect(b3.engines).toContainEqual(
      expect.objectContaining({ ok: false, url: `dns:no-such-engine.invalid:${port}` }),
    )
  })

  it('reports a peer that refuses the token, without failing the answer', async () => {
    const app = createApp({
      engine: A().engine,
      adminToken: 'another-token',
      instance: 'engine-a',
      peers: { kind: 'urls', urls: [B().url] },
    })
    const r = await app.request('/api/messages?scope=cluster', {
      headers: { authorization: 'Bearer another-token' },
    })
    expect(r.status).toBe(200)
    const body = (await r.json()) as { engines: Outcome[] }
    expect(body.engines).toContainEqual({ engine: 'engine-a', url: null, ok: true })
    const failed = body.engines.find((e) => e.url === B().url)
    expect(failed?.ok).toBe(false)
    expect(failed?.error).toMatch(/401.*LI_ADMIN_TOKEN/)
  })

  it('answers 404 for a session nobody holds, 400 for a bad scope', async () => {
    const [s1, e1] = await get<{ error: { code: string } }>(A(), '/api/sessions/no-such-session')
    expect(s1).toBe(404)
    expect(e1.error.code).toBe('APP_UNKNOWN_SESSION')
    expect((await get(A(), '/api/sessions/no-such-session?scope=cluster'))[0]).toBe(404)
    expect((await get(A(), '/api/sessions/x?scope=all'))[0]).toBe(400)
    expect((await get(A(), '/api/messages?scope=all'))[0]).toBe(400)
  })

  it('shows which engine retries a queued message, and aborts it from another engine', async () => {
    interface QueueEntryJson {
      id: string
      messageId: string | null
      state: string
      heldBy?: string
      delivery?: { attempts: number; phase: string; lastError: string | null }
    }
    // The receiver stays silent for STUCK messages: C's EPR.Out retries it for ever.
    receiver.behave = (m) => (controlIdOf(m).startsWith('STUCK') ? null : 'AA')
    try {
      const sender = await MllpSender.connect(A().inPort)
      expect(await sender.send(hl7('ADT^A01', 'STUCK-1'))).toBe('AA')
      sender.close()
      const page = await waitFor(async () => {
        const [, body] = await get<{ messages: QueueEntryJson[]; engines: Outcome[] }>(
          B(),
          '/api/queues/EPR.Out?scope=cluster',
        )
        const m = body.messages.find((x) => x.messageId === 'STUCK-1')
        return m?.delivery?.phase === 'retrying' ? body : undefined
      }, 'STUCK-1 retried by C, seen from B')
      const stuck = page.messages.find((x) => x.messageId === 'STUCK-1')!
      expect(stuck).toMatchObject({ state: 'in-flight', heldBy: 'engine-c' })
      expect(stuck.delivery?.lastError).toMatch(/ACK|respon/i)
      expect(page.engines.every((e) => e.ok)).toBe(true)
      // Local scope: the same queue, without what only C knows.
      const [, local] = await get<{ messages: QueueEntryJson[] }>(B(), '/api/queues/EPR.Out')
      const seen = local.messages.find((x) => x.id === stuck.id)
      expect(seen?.state).toBe('in-flight')
      expect(seen?.delivery).toBeUndefined()
      expect(seen?.heldBy).toBeUndefined()
      // Aborted through A's API: C gives it up at its next check.
      const r = await fetch(`${A().url}/api/queues/EPR.Out/messages/${stuck.id}/abort`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'receiver never answers it' }),
      })
      expect(r.status).toBe(200)
      expect(((await r.json()) as { abort: { outcome: string } }).abort.outcome).toBe('aborted')
      const [, after] = await get<{ messages: QueueEntryJson[] }>(C(), '/api/queues/EPR.Out')
      expect(after.messages.map((x) => x.id)).not.toContain(stuck.id)
    } finally {
      receiver.behave = () => 'AA'
    }
  })

  it('reloads the production on every engine with scope=cluster, listing each outcome', async () => {
    const r = await fetch(`${B().url}/api/production/reload?scope=cluster`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    })
    expect(r.status).toBe(200)
    const body = (await r.json()) as { engines: (Outcome & { reload?: unknown })[] }
    const none = {
      rules: [],
      transforms: [],
      processes: [],
      items: [],
      added: [],
      removed: [],
      kept: [],
      restarted: [],
    }
    expect(body.engines.map((e) => [e.engine, e.ok, e.reload])).toEqual([
      ['engine-b', true, none],
      ['engine-a', true, none],
      ['engine-c', true, none],
    ])
    const bad = await fetch(`${B().url}/api/production/reload?scope=all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(bad.status).toBe(400)
  })

  it('runs a host action on every engine with scope=cluster, listing each one’s state', async () => {
    expect(C().engine.getHost('File.Out')?.state).toBe('RUNNING')
    const post = (path: string): Promise<Response> =>
      fetch(`${B().url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    const r = await post('/api/hosts/File.Out/stop?scope=cluster')
    expect(r.status).toBe(200)
    const body = (await r.json()) as {
      engines: (Outcome & { host?: { name: string; state: string } })[]
    }
    expect(body.engines.map((e) => [e.engine, e.ok, e.host?.name, e.host?.state])).toEqual([
      ['engine-b', true, 'File.Out', 'STOPPED'],
      ['engine-a', true, 'File.Out', 'STOPPED'],
      ['engine-c', true, 'File.Out', 'STOPPED'],
    ])
    expect(C().engine.getHost('File.Out')?.state).toBe('STOPPED')
    expect((await post('/api/hosts/Nope/stop?scope=cluster')).status).toBe(404)
    // Back as the other tests expect it: only C delivers.
    const started = await fetch(`${C().url}/api/hosts/File.Out/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(started.status).toBe(200)
    expect(C().engine.getHost('File.Out')?.state).toBe('RUNNING')
  })

  it('li-engine run takes LI_INSTANCE and LI_PEERS', async () => {
    const procDir = await tempDir('cluster-run')
    const proc = await EngineProcess.start(
      procDir,
      testProduction({
        inPort: await freePort(),
        outPort: await freePort(),
        outDir: path.join(procDir, 'out'),
      }),
      { LI_INSTANCE: 'engine-run', LI_PEERS: B().url, LI_ADMIN_TOKEN: TOKEN },
    )
    try {
      const call = async <T>(url: string): Promise<T> => {
        const r = await fetch(`http://127.0.0.1:${proc.httpPort}${url}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
        expect(r.status, url).toBe(200)
        return (await r.json()) as T
      }
      expect(await call('/api/instance')).toMatchObject({ instance: 'engine-run', redis: false })
      const body = await call<{ messages: Listed[]; engines: Outcome[] }>(
        '/api/messages?scope=cluster',
      )
      expect(body.engines).toEqual([
        { engine: 'engine-run', url: null, ok: true },
        { engine: 'engine-b', url: B().url, ok: true },
      ])
      expect(body.messages.every((m) => m.engine === 'engine-b')).toBe(true)
      expect(body.messages.length).toBeGreaterThan(0)
    } finally {
      await proc.stop()
      await removeDir(procDir)
    }
  })

  it('answers 200 with the rest when a peer is down, naming it with ok: false', async () => {
    await C().close()
    const [status, body] = await get<{ messages: Listed[]; engines: Outcome[] }>(
      A(),
      '/api/messages?correlationId=CL-1&scope=cluster',
    )
    expect(status).toBe(200)
    const down = body.engines.find((e) => e.url === C().url)
    expect(down).toMatchObject({ ok: false })
    expect(down?.error).toMatch(/cannot reach|ECONNREFUSED/)
    expect(
      body.engines
        .filter((e) => e.ok)
        .map((e) => e.engine)
        .sort(),
    ).toEqual(['engine-a', 'engine-b'])
    expect(body.messages.some((m) => m.engine === 'engine-a')).toBe(true)
    expect(body.messages.some((m) => m.engine === 'engine-c')).toBe(false)
    const session = body.messages[0]!.sessionId
    const [s, view] = await get<{ trace: HopJson[]; engines: Outcome[] }>(
      B(),
      `/api/sessions/${session}?scope=cluster`,
    )
    expect(s).toBe(200)
    expect(view.engines.some((e) => !e.ok)).toBe(true)
    expect(view.trace.some((h) => h.engine === 'engine-a')).toBe(true)
    // A walk whose only remaining engine is down ends (nextCursor null) with the failure shown.
    let cursor: string | null = null
    let last: Outcome[] = []
    for (let i = 0; i < 100; i++) {
      const url: string = `/api/messages?scope=cluster&limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
      const [, page]: [number, { nextCursor: string | null; engines: Outcome[] }] = await get(
        A(),
        url,
      )
      last = page.engines
      cursor = page.nextCursor
      if (cursor === null) break
    }
    expect(cursor).toBeNull()
    expect(last.some((e) => !e.ok)).toBe(true)
  })
})
