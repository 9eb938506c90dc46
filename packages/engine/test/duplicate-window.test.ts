// DuplicateWindow (LI setting of inbound HL7 services): a sender's resend of a message the
// service already accepted is answered AA and not processed again, also after a restart; other
// messages, NAKed ones and resends past the window are processed. Real MLLP sockets, files, WAL
// and SQLite store.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import { redisUrl, startRedisServer } from '@li/vitest-config/redis'
import type { RedisServerHandle } from '@li/vitest-config/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import { DuplicateFilter, contentKey } from '../src/runtime/duplicates.js'
import {
  captureLogger,
  fileOperation,
  filesIn,
  finalState,
  hl7,
  msaCode,
  portOf,
  productionXml,
  removeDir,
  runEngine,
  sendMllp,
  setSetting,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'
import { loadProduction } from '../src/index.js'
import type { ItemSpec } from './helpers.js'

describe('DuplicateFilter', () => {
  it('finds a key within the window only, and forgets the oldest past its limit', () => {
    const f = new DuplicateFilter(60, 3)
    f.remember('a', 's-a', 1_000)
    expect(f.find('a', 1_000 + 60_000)).toEqual({ sessionId: 's-a', at: 1_000 })
    expect(f.find('a', 1_000 + 60_001)).toBeUndefined()
    expect(f.find('b', 2_000)).toBeUndefined()
    // Past the window, remembering anything drops the expired ones.
    f.remember('b', 's-b', 100_000)
    expect(f.size).toBe(1)
    expect(f.remember('c', 's-c', 100_001)).toBe(false)
    expect(f.remember('d', 's-d', 100_002)).toBe(false)
    // Full: the oldest goes, and the first time says so.
    expect(f.remember('e', 's-e', 100_003)).toBe(true)
    expect(f.find('b', 100_003)).toBeUndefined()
    expect(f.find('e', 100_003)?.sessionId).toBe('s-e')
    expect(f.remember('f', 's-f', 100_004)).toBe(false)
    f.forget('f')
    expect(f.find('f', 100_004)).toBeUndefined()
  })

  it('keys messages by their exact text', () => {
    expect(contentKey(hl7('ADT^A01', 'K1'))).toBe(contentKey(hl7('ADT^A01', 'K1')))
    expect(contentKey(hl7('ADT^A01', 'K1'))).not.toBe(contentKey(hl7('ADT^A01', 'K2')))
  })
})

describe('DuplicateWindow on an MLLP service', () => {
  let dir: string
  let engine: Engine
  const items = (): ItemSpec[] => [
    tcpService('In', 'Out', 1, { DuplicateWindow: 600 }),
    fileOperation('Out', path.join(dir, 'out')),
    // AckMode App in front of a receiver that is down: the sender gets AE and may resend.
    tcpService('AppIn', 'Down', 2, { DuplicateWindow: 600, AckMode: 'App' }),
    tcpOperation('Down', 1, { ConnectTimeout: 1 }, { FailureTimeout: 0 }),
  ]
  const start = async (): Promise<Engine> => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Export generator="IRIS" version="26"><Class name="Test.Production"><Super>Ens.Production</Super><XData name="ProductionDefinition"><Data><![CDATA[${productionXml('Test.Production', items())}]]></Data></XData></Class></Export>`
    const production = await loadProduction(xml)
    for (const name of ['In', 'AppIn']) setSetting(production, name, 'Port', '0')
    return runEngine(path.join(dir, 'data'), production)
  }

  beforeAll(async () => {
    dir = await tempDir('duplicates')
    engine = await start()
  })

  afterAll(async () => {
    await engine?.stop()
    await removeDir(dir)
  })

  it('answers a resend AA without processing it again, and says so in the trace', async () => {
    const message = hl7('ORU^R01', 'DUP-1')
    expect(msaCode(await sendMllp(portOf(engine, 'In'), message))).toBe('AA')
    const { sessionId } = await finalState(engine, 'In', 'DUP-1')
    expect(await filesIn(path.join(dir, 'out'), 1)).toHaveLength(1)
    // The sender did not see the ACK and sends the very same bytes again.
    expect(msaCode(await sendMllp(portOf(engine, 'In'), message))).toBe('AA')
    const hop = await waitFor(async () => {
      const hops = await engine.store.trace(sessionId)
      return hops.find((h) => h.state === 'discarded')
    }, 'the discarded hop')
    expect(hop).toMatchObject({ source: 'In', target: 'In' })
    expect(hop.detail).toMatch(
      /the same message again from \S+ \(DuplicateWindow\): answered AA, not processed again/,
    )
    // A different message (same patient, new MSH-10) is processed.
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ORU^R01', 'DUP-2')))).toBe('AA')
    expect(await filesIn(path.join(dir, 'out'), 2)).toHaveLength(2)
    const stored = await engine.store.query({ correlationId: 'DUP-1', limit: 10 })
    expect(stored.records.filter((r) => r.hostName === 'In')).toHaveLength(1)
  })

  it('processes the resend of a message that got AE (AckMode App, delivery failed)', async () => {
    const message = hl7('ADT^A01', 'DUP-AE')
    expect(msaCode(await sendMllp(portOf(engine, 'AppIn'), message))).toBe('AE')
    expect(msaCode(await sendMllp(portOf(engine, 'AppIn'), message))).toBe('AE')
    await waitFor(async () => {
      const r = await engine.store.query({ correlationId: 'DUP-AE', limit: 10 })
      return r.records.filter((x) => x.hostName === 'AppIn').length === 2
    }, 'both attempts stored')
  })

  it('still knows the accepted messages after a restart', async () => {
    await engine.stop()
    engine = await start()
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ORU^R01', 'DUP-1')))).toBe('AA')
    const { sessionId } = await finalState(engine, 'In', 'DUP-2')
    // DUP-2 resent after the restart: not processed again either.
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ORU^R01', 'DUP-2')))).toBe('AA')
    await waitFor(async () => {
      const hops = await engine.store.trace(sessionId)
      return hops.some((h) => h.state === 'discarded')
    }, 'the discarded hop after the restart')
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ORU^R01', 'DUP-3')))).toBe('AA')
    expect(await filesIn(path.join(dir, 'out'), 3)).toHaveLength(3)
    for (const id of ['DUP-1', 'DUP-2']) {
      const r = await engine.store.query({ correlationId: id, limit: 10 })
      expect(r.records.filter((x) => x.hostName === 'In')).toHaveLength(1)
    }
  })
})

describe('DuplicateWindow with engines sharing Redis', () => {
  const engines: Engine[] = []
  const dirs: string[] = []

  afterAll(async () => {
    for (const e of engines) await e.stop()
    for (const d of dirs) await removeDir(d)
  })

  it('recognises a resend that reaches another engine than the first send', async () => {
    const out = await tempDir('dup-redis-out')
    dirs.push(out)
    const cfg = { redisUrl: redisUrl(), queuePrefix: `li:test:${randomUUID()}` }
    for (const name of ['a', 'b']) {
      const { engine, dir } = await startEngine(
        [
          tcpService('In', 'Out', 1, { DuplicateWindow: 600 }),
          fileOperation('Out', path.join(out, name)),
        ],
        { freePorts: ['In'], config: cfg },
      )
      engines.push(engine)
      dirs.push(dir)
    }
    const [a, b] = engines as [Engine, Engine]
    const message = hl7('ORU^R01', 'DUP-R1')
    expect(msaCode(await sendMllp(portOf(a, 'In'), message))).toBe('AA')
    const { sessionId } = await finalState(a, 'In', 'DUP-R1')
    // The sender reconnects through the Service and reaches B with the same bytes.
    expect(msaCode(await sendMllp(portOf(b, 'In'), message))).toBe('AA')
    await waitFor(async () => {
      const hops = await b.store.trace(sessionId)
      return hops.some((h) => h.state === 'discarded')
    }, 'the resend discarded on B')
    expect((await b.store.query({ correlationId: 'DUP-R1', limit: 5 })).records).toEqual([])
    // A different message sent to B is processed there.
    expect(msaCode(await sendMllp(portOf(b, 'In'), hl7('ORU^R01', 'DUP-R2')))).toBe('AA')
    expect((await finalState(b, 'In', 'DUP-R2')).state).toBe('completed')
  })
})

describe('DuplicateWindow while Redis is down', () => {
  let engine: Engine | undefined
  let dir: string | undefined
  let redis: RedisServerHandle | undefined
  let redisDir: string | undefined
  let out: string | undefined

  afterAll(async () => {
    await engine?.stop()
    await redis?.stop()
    for (const d of [dir, redisDir, out]) if (d !== undefined) await removeDir(d)
  })

  it('processes a message it cannot check with the other engines, and says so', async () => {
    redisDir = await tempDir('dup-redis-down')
    redis = await startRedisServer({ dir: redisDir, args: ['--appendonly', 'yes'] })
    const port = redis.port
    const { logger, lines } = captureLogger('warn')
    out = await tempDir('dup-redis-down-out')
    ;({ engine, dir } = await startEngine(
      [tcpService('In', 'Out', 1, { DuplicateWindow: 600 }), fileOperation('Out', out)],
      {
        freePorts: ['In'],
        config: { redisUrl: redis.url, queuePrefix: 'li:test:dup-down', logger },
      },
    ))
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'DOWN-1')))).toBe('AA')
    await redis.stop()
    // Never seen by this engine, and Redis cannot say whether another engine took it: it is
    // accepted (WAL first) and processed, not dropped on doubt.
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'DOWN-2')))).toBe('AA')
    expect(
      lines.some((l) =>
        String(l.msg).startsWith('DuplicateWindow: could not ask the other engines'),
      ),
    ).toBe(true)
    // Seen by this engine a moment ago: its own memory still answers, without Redis.
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'DOWN-1')))).toBe('AA')
    redis = await startRedisServer({ port, dir: redisDir, args: ['--appendonly', 'yes'] })
    // While Redis was down the hand-off failed and the record says so (`failed`); the message
    // stays in the WAL and its retry completes it once Redis is back: wait for that, not for
    // the first final-looking state.
    const running = engine
    await waitFor(async () => {
      const r = await running.store.query({ correlationId: 'DOWN-2', limit: 5 })
      return r.records.some((x) => x.hostName === 'In' && x.state === 'completed')
    }, 'DOWN-2 completed after Redis came back')
    const stored = await engine.store.query({ correlationId: 'DOWN-1', limit: 5 })
    expect(stored.records).toHaveLength(1)
  })
})

/**
 * A connection of its own to the Redis on 127.0.0.1:`port` (RESP, no client library), connected
 * when this resolves. `command` resolves with the one-line reply (+OK, +PONG, :n), rejects on an
 * error reply; replies come back in the order the commands were sent.
 */
async function redisConnection(
  port: number,
): Promise<{ command(...args: string[]): Promise<string>; close(): void }> {
  const socket = net.connect({ host: '127.0.0.1', port })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const waiting: { args: string[]; resolve(line: string): void; reject(e: Error): void }[] = []
  let buf = ''
  socket.on('data', (c: Buffer) => {
    buf += c.toString('latin1')
    for (let end = buf.indexOf('\r\n'); end >= 0; end = buf.indexOf('\r\n')) {
      const line = buf.slice(0, end)
      buf = buf.slice(end + 2)
      const w = waiting.shift()
      if (w === undefined) continue
      if (line.startsWith('-')) w.reject(new Error(`Redis ${w.args.join(' ')}: ${line.slice(1)}`))
      else w.resolve(line)
    }
  })
  socket.on('error', (e) => {
    for (const w of waiting.splice(0)) w.reject(e)
  })
  return {
    command: (...args) =>
      new Promise((resolve, reject) => {
        waiting.push({ args, resolve, reject })
        const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`)
        socket.write(`*${args.length}\r\n${parts.join('')}`)
      }),
    close: () => socket.end(),
  }
}

describe('DuplicateWindow while Redis is slow', () => {
  const engines: Engine[] = []
  const dirs: string[] = []
  let redis: RedisServerHandle | undefined

  afterAll(async () => {
    for (const e of engines) await e.stop()
    await redis?.stop()
    for (const d of dirs) await removeDir(d)
  })

  it('does not hold the ACK for a Redis that does not answer, and still shares afterwards', async () => {
    const redisDir = await tempDir('dup-redis-slow')
    dirs.push(redisDir)
    // DEBUG is off by default since Redis 7; `local` allows it from loopback connections only.
    redis = await startRedisServer({ dir: redisDir, args: ['--enable-debug-command', 'local'] })
    const cfg = { redisUrl: redis.url, queuePrefix: `li:test:${randomUUID()}` }
    const { logger, lines } = captureLogger('warn')
    const out = await tempDir('dup-redis-slow-out')
    dirs.push(out)
    for (const name of ['a', 'b']) {
      const { engine, dir } = await startEngine(
        [
          tcpService('In', 'Out', 1, { DuplicateWindow: 600 }),
          fileOperation('Out', path.join(out, name)),
        ],
        { freePorts: ['In'], config: name === 'a' ? { ...cfg, logger } : cfg },
      )
      engines.push(engine)
      dirs.push(dir)
    }
    const [a, b] = engines as [Engine, Engine]
    const first = hl7('ORU^R01', 'SLOW-1')
    expect(msaCode(await sendMllp(portOf(a, 'In'), first))).toBe('AA')
    const { sessionId } = await finalState(a, 'In', 'SLOW-1')

    // Redis is slow, not down: the connections stay up, nothing answers for 3 s.
    // The DEBUG connection is up (and answers) before the message is sent, so that the DEBUG
    // command is already in Redis's hands when the engine's lookup arrives behind it.
    const debug = await redisConnection(redis.port)
    expect(await debug.command('PING')).toBe('+PONG')
    const events: string[] = []
    const sleeping = debug.command('DEBUG', 'SLEEP', '3').then((reply) => {
      events.push('Redis awake')
      return reply
    })
    // Never seen by A, and Redis cannot say in time whether another engine took it: it is
    // answered and processed (not dropped on doubt) while Redis still sleeps.
    const ack = await sendMllp(portOf(a, 'In'), hl7('ORU^R01', 'SLOW-2'))
    events.push('SLOW-2 answered')
    expect(msaCode(ack)).toBe('AA')
    expect(await sleeping).toBe('+OK')
    debug.close()
    expect(events).toEqual(['SLOW-2 answered', 'Redis awake'])
    const abandoned = lines.filter((l) =>
      String(l.msg).startsWith('DuplicateWindow: could not ask the other engines (Redis)'),
    )
    expect(abandoned).toHaveLength(1)
    expect(abandoned[0]).toMatchObject({
      host: 'In',
      err: 'no answer within 1000 ms',
      msg: 'DuplicateWindow: could not ask the other engines (Redis); the message is processed',
    })
    expect((await finalState(a, 'In', 'SLOW-2')).state).toBe('completed')
    // The Out queue is shared too: either engine's Out may have written a message.
    const written = async (): Promise<string[]> => [
      ...(await filesIn(path.join(out, 'a'), 0)),
      ...(await filesIn(path.join(out, 'b'), 0)),
    ]
    await waitFor(async () => (await written()).length >= 2, 'SLOW-1 and SLOW-2 written')

    // Redis is awake: the same bytes as SLOW-1 reach B, which never saw them; Redis tells B that
    // A accepted them, so B answers AA without processing them.
    expect(msaCode(await sendMllp(portOf(b, 'In'), first))).toBe('AA')
    await waitFor(async () => {
      const hops = await b.store.trace(sessionId)
      return hops.some((h) => h.state === 'discarded')
    }, 'the resend discarded on B')
    // SLOW-2's marker, written while Redis slept, arrived too: its resend to B is not processed.
    const second = await finalState(a, 'In', 'SLOW-2')
    expect(msaCode(await sendMllp(portOf(b, 'In'), hl7('ORU^R01', 'SLOW-2')))).toBe('AA')
    await waitFor(async () => {
      const hops = await b.store.trace(second.sessionId)
      return hops.some((h) => h.state === 'discarded')
    }, 'the resend of SLOW-2 discarded on B')
    for (const id of ['SLOW-1', 'SLOW-2']) {
      expect((await b.store.query({ correlationId: id, limit: 5 })).records).toEqual([])
      const onA = await a.store.query({ correlationId: id, limit: 5 })
      expect(onA.records.filter((r) => r.hostName === 'In')).toHaveLength(1)
    }
    const files = await written()
    expect(files).toHaveLength(2)
    for (const id of ['SLOW-1', 'SLOW-2']) {
      expect(files.filter((f) => f.includes(`|${id}|`))).toHaveLength(1)
    }
    // Nothing else gave up on Redis: no other lookup, and sharing SLOW-2 (sent while Redis slept)
    // succeeded once it woke.
    expect(lines.filter((l) => String(l.msg).startsWith('DuplicateWindow: could not'))).toEqual(
      abandoned,
    )
  })
})
