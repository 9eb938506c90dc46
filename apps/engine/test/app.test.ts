// createApp through app.request(), no HTTP socket: auth, validation, 404s, lookup tables. The
// engine behind it is real (temp data dir, SQLite store, in-process queues, WAL in async mode).
import path from 'node:path'
import { Engine } from '@li/engine'
import type { LookupTables } from '@li/engine'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, tokensEqual } from '../src/app.js'
import {
  MllpSender,
  freePort,
  hl7,
  removeDir,
  tempDir,
  testProduction,
  waitFor,
} from './helpers.js'

const TOKEN = 'unit-test-token'

describe('createApp', { timeout: 30_000 }, () => {
  let dir: string
  let engine: Engine
  let app: ReturnType<typeof createApp>
  let inPort: number
  const saved: LookupTables[] = []

  const call = (
    method: string,
    url: string,
    body?: unknown,
    token: string | null = TOKEN,
  ): Promise<Response> =>
    Promise.resolve(
      app.request(url, {
        method,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          'content-type': 'application/json',
        },
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    )

  beforeAll(async () => {
    dir = await tempDir('app')
    inPort = await freePort()
    // The MLLP operation points at a port nobody listens on: messages wait in its queue.
    const outPort = await freePort()
    engine = new Engine({ dataDir: path.join(dir, 'data'), syncMode: 'async', drainTimeout: 0.1 })
    await engine.load({
      xml: testProduction({ inPort, outPort, outDir: path.join(dir, 'out'), retryInterval: 60 }),
    })
    await engine.start()
    app = createApp({ engine, adminToken: TOKEN, onLookupTablesChanged: (t) => void saved.push(t) })
  }, 30_000)

  afterAll(async () => {
    await engine?.stop()
    await removeDir(dir)
  })

  it('serves health and metrics without a token', async () => {
    expect((await call('GET', '/health/live', undefined, null)).status).toBe(200)
    expect((await call('GET', '/health/ready', undefined, null)).status).toBe(200)
    expect((await call('GET', '/health', undefined, null)).status).toBe(200)
    const m = await call('GET', '/metrics', undefined, null)
    expect(m.status).toBe(200)
    expect(await m.text()).toContain('li_host_status')
  })

  it('refuses /api without the right bearer token', async () => {
    for (const token of [null, 'wrong', '']) {
      const r = await call('GET', '/api/production', undefined, token)
      expect(r.status).toBe(401)
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('APP_UNAUTHORIZED')
    }
    const basic = await app.request('/api/production', {
      headers: { authorization: `Basic ${TOKEN}` },
    })
    expect(basic.status).toBe(401)
    expect((await call('GET', '/api/production')).status).toBe(200)
  })

  it('compares tokens in constant time, whatever their length', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true)
    expect(tokensEqual('abcd', 'abc')).toBe(false)
    expect(tokensEqual('', '')).toBe(false)
  })

  it('lists the production items with class, state, pool size and queue depth', async () => {
    const body = (await (await call('GET', '/api/production')).json()) as {
      name: string
      items: {
        name: string
        className: string
        poolSize: number
        queueDepth: number | null
        enabled: boolean
      }[]
    }
    expect(body.name).toBe('Test.Production')
    const out = body.items.find((i) => i.name === 'EPR.Out')
    expect(out).toMatchObject({
      className: 'EnsLib.HL7.Operation.TCPOperation',
      poolSize: 1,
      enabled: true,
    })
    expect(typeof out?.queueDepth).toBe('number')
  })

  it('finds messages by filters and returns one with its body and trace', async () => {
    const sender = await MllpSender.connect(inPort)
    expect(await sender.send(hl7('ADT^A01', 'UNIT-1'))).toBe('AA')
    sender.close()
    const page = await waitFor(async () => {
      const r = await call(
        'GET',
        '/api/messages?host=MLLP.In&correlationId=UNIT-1&type=ADT%5EA01&limit=10',
      )
      const b = (await r.json()) as { messages: { id: string; payload?: string }[] }
      return b.messages.length === 1 ? b : undefined
    }, 'UNIT-1 in the store')
    expect(page.messages[0]?.payload).toBeUndefined()
    const one = await call('GET', `/api/messages/${page.messages[0]!.id}`)
    const detail = (await one.json()) as {
      message: { payload: string; history: unknown[] }
      trace: unknown[]
    }
    expect(detail.message.payload).toContain('UNIT-1')
    expect(detail.message.history.length).toBeGreaterThan(0)
    expect(detail.trace.length).toBeGreaterThan(0)
    const since = await call(
      'GET',
      '/api/messages?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z',
    )
    expect(since.status).toBe(200)
    // By patient: the service's SearchTableClass indexed PID-3 (UNIT1) and PID-5.
    const props = (await (await call('GET', '/api/search-properties')).json()) as {
      properties: { name: string }[]
    }
    expect(props.properties.map((p) => p.name)).toContain('PatientID')
    for (const q of ['property=PatientID&value=unit1', 'property=PatientName&value=TEST*']) {
      const r = (await (await call('GET', `/api/messages?${q}&limit=10`)).json()) as {
        messages: { id: string }[]
      }
      expect(
        r.messages.map((m) => m.id),
        q,
      ).toContain(page.messages[0]!.id)
    }
    const none = (await (
      await call('GET', '/api/messages?property=PatientID&value=NOBODY')
    ).json()) as { messages: unknown[] }
    expect(none.messages).toEqual([])
    const unknown = await call('GET', '/api/messages?property=Ward&value=x')
    expect(unknown.status).toBe(400)
    expect(((await unknown.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'APP_UNKNOWN_SEARCH_PROPERTY',
      message:
        'no search property "Ward"; the production indexes MSHTypeName, MSHControlID, PatientID, PatientName, PatientAcct',
    })
    expect((await call('GET', '/api/messages?property=PatientID')).status).toBe(400)
    // By text in the body, with no search table: the message that holds it, and not others.
    const text = (await (
      await call('GET', '/api/messages?contains=UNIT-1&host=MLLP.In&limit=10')
    ).json()) as { messages: { id: string }[]; nextCursor: string | null }
    expect(text.messages.map((m) => m.id)).toEqual([page.messages[0]!.id])
    const nothing = (await (
      await call('GET', '/api/messages?contains=NO-SUCH-TEXT&limit=10')
    ).json()) as { messages: unknown[] }
    expect(nothing.messages).toEqual([])
    expect((await call('GET', `/api/messages?contains=${'x'.repeat(201)}`)).status).toBe(400)
  })

  it('answers bad input with 400 and a JSON error, never a stack trace', async () => {
    const bad = [
      '/api/messages?limit=0',
      '/api/messages?limit=abc',
      '/api/messages?state=lost',
      '/api/messages?since=yesterday',
      '/api/messages?bogus=1',
      '/api/dead-letters?limit=-1',
    ]
    for (const url of bad) {
      const r = await call('GET', url)
      expect(r.status, url).toBe(400)
      const text = await r.text()
      expect(text).not.toMatch(/\n\s+at /)
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('APP_BAD_REQUEST')
    }
    const action = await call('POST', '/api/hosts/EPR.Out/explode')
    expect(action.status).toBe(400)
    const json = await call('POST', '/api/messages/1/resend', '{not json')
    expect(json.status).toBe(400)
    const extra = await call('POST', '/api/messages/1/resend', { target: 'EPR.Out', x: 1 })
    expect(extra.status).toBe(400)
    const table = await call('PUT', '/api/lookup-tables/T', { entries: { a: 1 } })
    expect(table.status).toBe(400)
  })

  it('answers unknown hosts, messages and dead letters with 404', async () => {
    const cases: [string, string, unknown?][] = [
      ['POST', '/api/hosts/Nope/restart'],
      ['GET', '/api/messages/999999'],
      ['POST', '/api/messages/999999/resend', {}],
      ['POST', '/api/dead-letters/nope/redrive'],
      ['GET', '/api/dead-letters?host=Nope'],
      ['GET', '/api/lookup-tables/Nope'],
      ['GET', '/api/nothing-here'],
    ]
    for (const [method, url, body] of cases) {
      const r = await call(method, url, body)
      expect(r.status, `${method} ${url}`).toBe(404)
      expect(((await r.json()) as { error: { code: string } }).error.code).toMatch(
        /^(APP|ENGINE|QUEUE)_/,
      )
    }
    const stored = (await (await call('GET', '/api/messages?limit=1')).json()) as {
      messages: { id: string }[]
    }
    const r = await call('POST', `/api/messages/${stored.messages[0]!.id}/resend`, {
      target: 'Nope',
    })
    expect(r.status).toBe(404)
  })

  it('stops, starts, disables and enables a host', async () => {
    const stop = (await (await call('POST', '/api/hosts/File.Out/stop')).json()) as {
      host: { state: string }
    }
    expect(stop.host.state).toBe('STOPPED')
    const disable = (await (await call('POST', '/api/hosts/File.Out/disable')).json()) as {
      host: { enabled: boolean }
    }
    expect(disable.host.enabled).toBe(false)
    const enable = (await (await call('POST', '/api/hosts/File.Out/enable')).json()) as {
      host: { state: string; enabled: boolean }
    }
    expect(enable.host).toMatchObject({ state: 'RUNNING', enabled: true })
    const restart = (await (await call('POST', '/api/hosts/File.Out/restart')).json()) as {
      host: { state: string }
    }
    expect(restart.host.state).toBe('RUNNING')
  })

  it('lists, reads and edits lookup tables, reporting each change', async () => {
    expect(
      (await call('PUT', '/api/lookup-tables/Wards', { entries: { W1: 'Ward 1' } })).status,
    ).toBe(200)
    expect((await call('PUT', '/api/lookup-tables/Wards/W2', { value: 'Ward 2' })).status).toBe(200)
    const list = (await (await call('GET', '/api/lookup-tables')).json()) as {
      tables: { name: string; entries: number }[]
    }
    expect(list.tables).toContainEqual({ name: 'Wards', entries: 2 })
    const got = (await (await call('GET', '/api/lookup-tables/Wards')).json()) as {
      entries: Record<string, string>
    }
    expect(got.entries).toEqual({ W1: 'Ward 1', W2: 'Ward 2' })
    expect(engine.lookupTables.get('Wards')?.get('W2')).toBe('Ward 2')
    expect((await call('DELETE', '/api/lookup-tables/Wards/W1')).status).toBe(204)
    expect((await call('DELETE', '/api/lookup-tables/Wards/W1')).status).toBe(404)
    expect((await call('DELETE', '/api/lookup-tables/Wards')).status).toBe(204)
    expect(saved.length).toBe(4)
  })

  it('logs a failed request above debug without the error text, which may quote a message', async () => {
    const lines: Array<{ level: number; msg: string; err?: string }> = []
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => void lines.push(JSON.parse(line)) },
    )
    const failing = createApp({
      engine,
      adminToken: TOKEN,
      logger,
      onLookupTablesChanged: () => {
        throw new Error('cannot save: PID|1||9434765919^^^NHS^NH||SMITH^JANE')
      },
    })
    const r = await failing.request('/api/lookup-tables/LogCheck', {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ entries: { a: 'b' } }),
    })
    expect(r.status).toBe(500)
    const failed = lines.filter((l) => l.msg.startsWith('api request failed'))
    expect(failed.map((l) => [l.level, l.err])).toEqual([
      [50, 'Error'],
      [20, 'cannot save: PID|1||9434765919^^^NHS^NH||SMITH^JANE'],
    ])
    expect(JSON.stringify(lines.filter((l) => l.level > 20))).not.toContain('SMITH')
  })

  it('shows retention in GET /api/production and purges on POST /api/purge', async () => {
    const prod = (await (await call('GET', '/api/production')).json()) as {
      retention: Record<string, unknown>
    }
    expect(prod.retention).toMatchObject({ days: 30, intervalSeconds: 3600, running: false })
    expect(typeof prod.retention.nextRunAt).toBe('string')
    // A completed message (stored directly), old enough for a purge of everything before now.
    const rec = await engine.store.store({
      hostName: 'PurgeTest',
      messageId: 'PURGE1',
      payload: hl7('ADT^A01', 'PURGE1'),
      messageType: 'ADT^A01',
      correlationId: 'PURGE1',
      sessionId: 'purge-test-session',
    })
    await engine.store.markCompleted(rec.id)
    await new Promise((r) => setTimeout(r, 20))
    const r = await call('POST', '/api/purge', { olderThan: new Date().toISOString() })
    expect(r.status).toBe(200)
    const body = (await r.json()) as { purge: Record<string, unknown> }
    expect(body.purge).toMatchObject({ trigger: 'request', keepIncomplete: true })
    expect(body.purge.deleted as number).toBeGreaterThanOrEqual(1)
    expect((await call('GET', `/api/messages/${rec.id}`)).status).toBe(404)
    const after = (await (await call('GET', '/api/production')).json()) as {
      retention: { lastRun: Record<string, unknown> }
    }
    expect(after.retention.lastRun).toMatchObject({
      trigger: 'request',
      deleted: body.purge.deleted,
    })
    // Messages still waiting in a queue are never purged by default.
    const waiting = await engine.store.query({ state: 'received', limit: 5 })
    for (const m of waiting.records)
      expect((await call('GET', `/api/messages/${m.id}`)).status).toBe(200)
    // Bad input: 400 with a JSON error.
    for (const bad of [
      { days: -1 },
      { olderThan: 'yesterday' },
      { days: 1, olderThan: new Date().toISOString() },
      { keepIncomplete: 'no' },
      { vacuum: true },
      { olderThan: new Date(Date.now() + 86_400_000).toISOString() },
    ]) {
      const res = await call('POST', '/api/purge', bad)
      expect(res.status, JSON.stringify(bad)).toBe(400)
      expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^APP_BAD/)
    }
    // Two at once: the second gets 409.
    const [a, b] = await Promise.all([
      call('POST', '/api/purge', { days: 1 }),
      call('POST', '/api/purge', { days: 1 }),
    ])
    expect([a.status, b.status].sort()).toEqual([200, 409])
    const conflict = a.status === 409 ? a : b
    expect(((await conflict.json()) as { error: { code: string } }).error.code).toBe(
      'ENGINE_PURGE_RUNNING',
    )
  })

  it('resends the failed messages of a host, oldest first, as new sessions', async () => {
    // Three failed inbound records of MLLP.In (as a receiver outage past FailureTimeout leaves them).
    const failedIds: string[] = []
    for (const id of ['BULK-1', 'BULK-2', 'BULK-3']) {
      const r = await engine.store.store({
        hostName: 'MLLP.In',
        messageId: id,
        payload: hl7('ADT^A01', id),
        messageType: 'ADT^A01',
        correlationId: id,
        sessionId: `bulk-${id}`,
        direction: 'inbound',
      })
      await engine.store.markFailed(r.id, 'receiver down past FailureTimeout')
      failedIds.push(r.id)
    }
    const r = await call('POST', '/api/messages/resend', { host: 'MLLP.In', limit: 2 })
    expect(r.status).toBe(202)
    const body = (await r.json()) as {
      resent: { id: string; sessionId: string }[]
      failed: unknown[]
      more: boolean
    }
    // The oldest two, in order; the third is left for the next call.
    expect(body.resent.map((x) => x.id)).toEqual(failedIds.slice(0, 2))
    expect(body.failed).toEqual([])
    expect(body.more).toBe(true)
    for (const { sessionId } of body.resent) {
      expect(sessionId).not.toMatch(/^bulk-/)
      const page = await waitFor(async () => {
        const res = await call('GET', `/api/messages?sessionId=${sessionId}`)
        const b = (await res.json()) as { messages: { correlationId: string }[] }
        return b.messages.length > 0 ? b : undefined
      }, 'the resent session in the store')
      expect(page.messages[0]?.correlationId).toMatch(/^BULK-[12]$/)
    }
    const rest = (await (
      await call('POST', '/api/messages/resend', { host: 'MLLP.In', type: 'ADT^A01', limit: 10 })
    ).json()) as { resent: { id: string }[]; more: boolean }
    expect(rest.resent.map((x) => x.id)).toEqual(failedIds)
    expect(rest.more).toBe(false)
    for (const [bad, status] of [
      [{}, 400],
      [{ host: 'MLLP.In', limit: 0 }, 400],
      [{ host: 'MLLP.In', state: 'lost' }, 400],
      [{ host: 'Nobody' }, 404],
      [{ host: 'MLLP.In', target: 'Nobody' }, 404],
    ] as const) {
      expect((await call('POST', '/api/messages/resend', bad)).status, JSON.stringify(bad)).toBe(
        status,
      )
    }
  })

  it('shows a queue with the held message and why, aborts one message, then the rest', async () => {
    // EPR.Out's receiver is down and FailureTimeout is -1: it holds one ADT between retries and
    // the others wait behind it.
    const sender = await MllpSender.connect(inPort)
    for (const id of ['QUEUE-1', 'QUEUE-2', 'QUEUE-3']) {
      expect(await sender.send(hl7('ADT^A01', id))).toBe('AA')
    }
    sender.close()
    interface Entry {
      id: string
      state: string
      messageId: string | null
      enqueuedAt: string
      delivery?: { attempts: number; phase: string; lastError: string | null }
    }
    const page = await waitFor(async () => {
      const r = await call('GET', '/api/queues/EPR.Out?limit=1000')
      const b = (await r.json()) as { depth: number; inFlight: number; messages: Entry[] }
      const ids = b.messages.map((m) => m.messageId)
      return b.messages[0]?.delivery !== undefined && ids.includes('QUEUE-3') ? b : undefined
    }, 'QUEUE-3 waiting behind a held message')
    const held = page.messages[0] as Entry
    expect(held.state).toBe('in-flight')
    expect(held.delivery?.attempts).toBeGreaterThanOrEqual(1)
    expect(held.delivery?.lastError).toMatch(/connect/)
    expect(Number.isNaN(Date.parse(held.enqueuedAt))).toBe(false)
    expect(page.depth).toBe(page.messages.length)
    const q2 = page.messages.find((m) => m.messageId === 'QUEUE-2') as Entry
    expect(q2.state).toBe('ready')
    // Body never listed.
    expect(JSON.stringify(page)).not.toContain('MSH|')
    // The production status names the message EPR.Out is retrying, and why.
    const prod = (await (await call('GET', '/api/production')).json()) as {
      items: { name: string; retrying?: { queueMessageId: string; lastError: string }[] }[]
    }
    const epr = prod.items.find((i) => i.name === 'EPR.Out')
    expect(epr?.retrying?.map((m) => m.queueMessageId)).toEqual([held.id])
    expect(epr?.retrying?.[0]?.lastError).toMatch(/connect/)
    expect(prod.items.find((i) => i.name === 'Router')?.retrying).toBeUndefined()

    const all = (await (await call('GET', '/api/queues')).json()) as {
      queues: { host: string; depth: number; deadLetters: number }[]
    }
    expect(all.queues.find((q) => q.host === 'EPR.Out')?.depth).toBe(page.depth)
    expect(all.queues.map((q) => q.host)).not.toContain('MLLP.In')

    const ab = await call('POST', `/api/queues/EPR.Out/messages/${q2.id}/abort`, {
      reason: 'duplicate of an earlier admission',
    })
    expect(ab.status).toBe(200)
    expect(((await ab.json()) as { abort: { outcome: string } }).abort.outcome).toBe('aborted')
    const q2Stored = await waitFor(async () => {
      const r = await call('GET', '/api/messages?host=MLLP.In&correlationId=QUEUE-2')
      const m = ((await r.json()) as { messages: { id: string; state: string }[] }).messages[0]
      return m?.state === 'failed' ? m : undefined
    }, 'QUEUE-2 failed')
    const detail = (await (await call('GET', `/api/messages/${q2Stored.id}`)).json()) as {
      trace: { target: string; state: string; detail?: string }[]
    }
    expect(detail.trace).toContainEqual(
      expect.objectContaining({
        target: 'EPR.Out',
        state: 'failed',
        detail: 'aborted by operator: duplicate of an earlier admission',
      }),
    )
    // Gone: a second abort finds nothing.
    expect((await call('POST', `/api/queues/EPR.Out/messages/${q2.id}/abort`)).status).toBe(404)

    for (const [url, body, status] of [
      ['/api/queues/EPR.Out/abort', {}, 400],
      ['/api/queues/EPR.Out/abort', { all: false }, 400],
      [`/api/queues/EPR.Out/messages/${held.id}/abort`, { reason: 7 }, 400],
      ['/api/queues/MLLP.In/abort', { all: true }, 404],
      ['/api/queues/Nobody/messages/x/abort', {}, 404],
    ] as const) {
      expect((await call('POST', url, body)).status, url + JSON.stringify(body)).toBe(status)
    }
    expect((await call('GET', '/api/queues/EPR.Out?limit=0')).status).toBe(400)
    expect((await call('GET', '/api/queues/Nobody')).status).toBe(404)

    // Abort All: the held message and every waiting one.
    const r = await call('POST', '/api/queues/EPR.Out/abort', { all: true, reason: 'cleanup' })
    expect(r.status).toBe(200)
    const res = ((await r.json()) as { abort: { aborted: number; inFlight: number } }).abort
    expect(res.aborted).toBe(page.messages.length - 1)
    expect(res.inFlight).toBe(0)
    await waitFor(async () => {
      const b = (await (await call('GET', '/api/queues/EPR.Out')).json()) as { depth: number }
      return b.depth === 0
    }, 'EPR.Out empty')
  })

  it('resends an edited copy of a stored message, and sends test messages to a host', async () => {
    const sender = await MllpSender.connect(inPort)
    expect(await sender.send(hl7('ORU^R01', 'EDIT-1'))).toBe('AA')
    sender.close()
    const stored = await waitFor(async () => {
      const r = await call('GET', '/api/messages?host=MLLP.In&correlationId=EDIT-1')
      return ((await r.json()) as { messages: { id: string }[] }).messages[0]
    }, 'EDIT-1 stored')
    const original = (
      (await (await call('GET', `/api/messages/${stored.id}`)).json()) as {
        message: { payload: string }
      }
    ).message.payload
    // Edited as an operator would, pasted with \n line ends.
    const edited = original.replace('EDIT-1', 'EDIT-1B').split('\r').join('\n')
    const r = await call('POST', `/api/messages/${stored.id}/resend`, {
      target: 'File.Out',
      message: edited,
    })
    expect(r.status).toBe(202)
    const resent = ((await r.json()) as { resent: { storeId: string } }).resent
    const copy = (await (await call('GET', `/api/messages/${resent.storeId}`)).json()) as {
      message: { payload: string; metadata: Record<string, unknown> }
    }
    expect(copy.message.payload).toContain('EDIT-1B')
    expect(copy.message.payload).not.toContain('\n')
    expect(copy.message.metadata).toMatchObject({ resentFrom: stored.id, edited: true })
    const bad = await call('POST', `/api/messages/${stored.id}/resend`, { message: 'not HL7' })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe(
      'ENGINE_INVALID_ARGUMENT',
    )

    const t = await call('POST', '/api/test-messages', {
      target: 'File.Out',
      message: hl7('ADT^A01', 'TEST-APP-1'),
    })
    expect(t.status).toBe(202)
    const sent = ((await t.json()) as { sent: { storeId: string } }).sent
    const rec = (await (await call('GET', `/api/messages/${sent.storeId}`)).json()) as {
      message: { hostName: string }
    }
    expect(rec.message.hostName).toBe('EnsLib.Testing.Service')
    for (const [body, status] of [
      [{ target: 'MLLP.In', message: hl7('ADT^A01', 'T-2') }, 400],
      [{ target: 'Nobody', message: hl7('ADT^A01', 'T-3') }, 404],
      [{ target: 'File.Out', message: 'garbage' }, 400],
      [{ target: 'File.Out' }, 400],
    ] as const) {
      expect((await call('POST', '/api/test-messages', body)).status, JSON.stringify(body)).toBe(
        status,
      )
    }
  })

  it('lists dead letters (none yet) as JSON', async () => {
    const r = await call('GET', '/api/dead-letters')
    expect(r.status).toBe(200)
    expect(((await r.json()) as { deadLetters: unknown[] }).deadLetters).toEqual([])
  })
})

describe('createApp while the engine starts', { timeout: 30_000 }, () => {
  it('answers liveness, metrics and GET /api/production; readiness and the rest of /api wait', async () => {
    const dir = await tempDir('app-starting')
    try {
      const engine = new Engine({ dataDir: path.join(dir, 'data'), syncMode: 'async' })
      await engine.load({
        xml: testProduction({
          inPort: await freePort(),
          outPort: await freePort(),
          outDir: path.join(dir, 'out'),
        }),
      })
      const app = createApp({ engine, adminToken: TOKEN })
      const get = (url: string, token = true): Promise<Response> =>
        Promise.resolve(
          app.request(url, token ? { headers: { authorization: `Bearer ${TOKEN}` } } : {}),
        )
      expect((await get('/health/live', false)).status).toBe(200)
      expect((await get('/health/ready', false)).status).toBe(503)
      expect((await get('/metrics', false)).status).toBe(200)
      const prod = await get('/api/production')
      expect(prod.status).toBe(200)
      expect(((await prod.json()) as { state: string }).state).toBe('LOADED')
      for (const url of ['/api/messages', '/api/dead-letters', '/api/lookup-tables']) {
        const r = await get(url)
        expect(r.status).toBe(503)
        expect(r.headers.get('retry-after')).toBe('5')
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('APP_STARTING')
      }
      // Without the token it is still 401: the starting answer says nothing to strangers.
      expect((await get('/api/messages', false)).status).toBe(401)
      await engine.start()
      try {
        expect((await get('/health/ready', false)).status).toBe(200)
        expect((await get('/api/messages')).status).toBe(200)
      } finally {
        await engine.stop()
      }
    } finally {
      await removeDir(dir)
    }
  })
})
