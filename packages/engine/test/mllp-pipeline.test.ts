// TCPOperation with PipelineWindow: several messages await their ACKs on one connection at once.
// The receiver here answers nothing until it holds four messages, so the run completes only if
// the operation pipelines (with PipelineWindow 1 it would wait for the first ACK forever).
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  ackFor,
  controlIdOf,
  finalState,
  frame,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
} from './helpers.js'

describe('TCPOperation PipelineWindow', () => {
  let engine: Engine
  let dir: string
  let receiver: net.Server
  const received: string[] = []
  let connections = 0

  beforeAll(async () => {
    receiver = net.createServer((socket) => {
      connections++
      socket.on('error', () => undefined)
      let buf = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk])
        for (;;) {
          const end = buf.indexOf(0x1c)
          if (end < 0 || buf[end + 1] === undefined) break
          received.push(buf.subarray(1, end).toString('utf8'))
          buf = buf.subarray(end + 2)
          // Hold every ACK until four messages are in, then answer them all (in reverse).
          if (received.length === 4)
            for (const m of [...received].reverse())
              socket.write(frame(ackFor(controlIdOf(m), 'AA')))
        }
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    const port = (receiver.address() as net.AddressInfo).port
    ;({ engine, dir } = await startEngine(
      [tcpService('In', 'Out', 1), tcpOperation('Out', port, {}, { PipelineWindow: 4 })],
      { freePorts: ['In'] },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await new Promise<void>((r) => receiver?.close(() => r()))
    if (dir !== undefined) await removeDir(dir)
  })

  it('sends up to PipelineWindow messages on one connection before their ACKs, in order', async () => {
    const ids = ['PL-1', 'PL-2', 'PL-3', 'PL-4']
    for (const id of ids)
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    for (const id of ids) expect((await finalState(engine, 'In', id)).state).toBe('completed')
    expect(received.map(controlIdOf)).toEqual(ids)
    expect(connections).toBe(1)
  })
})
