// HTTPService → HTTPOperation over real HTTP: the POST answer is the ACK, the outbound response
// body goes through ReplyCodeActions.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  ackFor,
  controlIdOf,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  startEngine,
} from './helpers.js'

function post(port: number, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1') }),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('HTTPService → HTTPOperation', () => {
  let receiver: http.Server
  const received: string[] = []
  let engine: Engine
  let dir: string

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        received.push(`${req.url ?? ''} ${text}`)
        const id = controlIdOf(text)
        if (id.startsWith('H500')) res.writeHead(500).end()
        else res.writeHead(200).end(ackFor(id, id.startsWith('HAE') ? 'AE' : 'AA'))
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    const port = (receiver.address() as AddressInfo).port
    ;({ engine, dir } = await startEngine(
      [
        {
          name: 'HttpIn',
          className: 'EnsLib.HL7.Service.HTTPService',
          host: { TargetConfigNames: 'HttpOut' },
          adapter: { Port: 1 },
        },
        {
          name: 'HttpNever',
          className: 'EnsLib.HL7.Service.HTTPService',
          host: { TargetConfigNames: 'HttpOut', AckMode: 'Never' },
          adapter: { Port: 2 },
        },
        {
          name: 'HttpDup',
          className: 'EnsLib.HL7.Service.HTTPService',
          host: { TargetConfigNames: 'HttpOut', DuplicateWindow: 300 },
          adapter: { Port: 3 },
        },
        {
          name: 'HttpOut',
          className: 'EnsLib.HL7.Operation.HTTPOperation',
          host: { RetryInterval: 0.1, FailureTimeout: 0.5 },
          adapter: { HTTPServer: '127.0.0.1', HTTPPort: port, URL: '/hl7/in' },
        },
      ],
      { freePorts: ['HttpIn', 'HttpNever', 'HttpDup'] },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await new Promise<void>((r) => receiver.close(() => r()))
    await removeDir(dir)
  })

  it('answers the POST with an AA and delivers to the HTTP receiver', async () => {
    const res = await post(portOf(engine, 'HttpIn'), hl7('ADT^A01', 'H-1'))
    expect(res.status).toBe(200)
    expect(msaCode(res.body)).toBe('AA')
    expect((await finalState(engine, 'HttpIn', 'H-1')).state).toBe('completed')
    expect(received.some((r) => r.startsWith('/hl7/in ') && r.includes('|H-1|'))).toBe(true)
  })

  it('AckMode Never answers 200 with an empty body', async () => {
    const res = await post(portOf(engine, 'HttpNever'), hl7('ADT^A01', 'H-2'))
    expect(res).toEqual({ status: 200, body: '' })
    expect((await finalState(engine, 'HttpNever', 'H-2')).state).toBe('completed')
  })

  it('an AE reply is suspended and a 500 is retried until FailureTimeout, then failed', async () => {
    await post(portOf(engine, 'HttpIn'), hl7('ADT^A01', 'HAE-1'))
    await post(portOf(engine, 'HttpIn'), hl7('ADT^A01', 'H500-1'))
    expect((await finalState(engine, 'HttpIn', 'HAE-1')).state).toBe('failed')
    expect((await finalState(engine, 'HttpIn', 'H500-1')).state).toBe('failed')
    expect(received.filter((r) => r.includes('|H500-1|')).length).toBeGreaterThan(1)
  })

  it('DuplicateWindow: a re-POST of an accepted message is answered AA and not delivered again', async () => {
    const message = hl7('ORU^R01', 'HDUP-1')
    const first = await post(portOf(engine, 'HttpDup'), message)
    expect(msaCode(first.body)).toBe('AA')
    expect((await finalState(engine, 'HttpDup', 'HDUP-1')).state).toBe('completed')
    const again = await post(portOf(engine, 'HttpDup'), message)
    expect(again.status).toBe(200)
    expect(msaCode(again.body)).toBe('AA')
    const stored = await engine.store.query({ correlationId: 'HDUP-1', limit: 10 })
    expect(stored.records.filter((r) => r.hostName === 'HttpDup')).toHaveLength(1)
    expect(received.filter((r) => r.includes('|HDUP-1|'))).toHaveLength(1)
  })

  it('refuses methods other than POST', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: portOf(engine, 'HttpIn'), path: '/' }, (r) => {
          r.resume()
          resolve(r.statusCode ?? 0)
        })
        .on('error', reject)
    })
    expect(res).toBe(405)
  })
})
