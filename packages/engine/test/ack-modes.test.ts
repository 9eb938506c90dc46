// AckMode (Immed, App, Msh, Byte, Never), Validation and BadMessageHandler on the MLLP service.
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  fileOperation,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendFrame,
  sendMllp,
  startEngine,
  tcpService,
  tempDir,
} from './helpers.js'
import type { ItemSpec } from './helpers.js'

describe('AckMode, Validation and BadMessageHandler', () => {
  let engine: Engine
  let dir: string
  let out: string

  beforeAll(async () => {
    out = await tempDir('ack-out')
    const fileOut = (name: string, sub: string): ItemSpec =>
      fileOperation(name, path.join(out, sub))
    const svc = (name: string, port: number, host: Record<string, string>): ItemSpec =>
      tcpService(name, 'FileOut', port, host)
    ;({ engine, dir } = await startEngine(
      [
        svc('InApp', 1, { AckMode: 'App' }),
        svc('InMsh', 2, { AckMode: 'Msh' }),
        svc('InByte', 3, { AckMode: 'Byte' }),
        svc('InNever', 6, { AckMode: 'Never' }),
        svc('InValid', 4, { AckMode: 'Immed', Validation: 'dm-z', MessageSchemaCategory: '2.5' }),
        svc('InBad', 5, {
          AckMode: 'Immed',
          Validation: 'dm-z',
          MessageSchemaCategory: '2.5',
          BadMessageHandler: 'BadOut',
        }),
        fileOut('FileOut', 'good'),
        fileOut('BadOut', 'bad'),
      ],
      { freePorts: ['InApp', 'InMsh', 'InByte', 'InNever', 'InValid', 'InBad'] },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await removeDir(dir)
    await removeDir(out)
  })

  it('App: the ACK comes only after every branch finished (the file is already written)', async () => {
    const ack = await sendMllp(portOf(engine, 'InApp'), hl7('ADT^A01', 'APP-1'))
    expect(msaCode(ack)).toBe('AA')
    expect((await readdir(path.join(out, 'good'))).length).toBe(1)
  })

  it('Msh: MSH-15 AL gets a commit ACK (CA); NE gets none', async () => {
    const al = hl7('ADT^A01', 'MSH-AL').replace('|P|2.5\r', '|P|2.5|||AL|NE\r')
    expect(msaCode(await sendMllp(portOf(engine, 'InMsh'), al))).toBe('CA')
    const ne = hl7('ADT^A01', 'MSH-NE').replace('|P|2.5\r', '|P|2.5|||NE|NE\r')
    expect(await sendFrame(portOf(engine, 'InMsh'), ne, 700)).toBeNull()
    expect((await finalState(engine, 'InMsh', 'MSH-NE')).state).toBe('completed')
  })

  it('Byte: answers the single MLLP commit byte', async () => {
    const reply = await sendFrame(portOf(engine, 'InByte'), hl7('ADT^A01', 'BYTE-1'), 5000)
    expect(reply).toEqual(Buffer.of(0x0b, 0x06, 0x1c, 0x0d))
  })

  it('Never: sends no reply at all, and the message is still processed', async () => {
    expect(await sendFrame(portOf(engine, 'InNever'), hl7('ADT^A01', 'NEVER-1'), 700)).toBeNull()
    expect((await finalState(engine, 'InNever', 'NEVER-1')).state).toBe('completed')
  })

  it('Validation: a message that fails the schema is stored as failed and answered AE (NackErrorCode ContentE, the IRIS default)', async () => {
    const bad = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|VAL-1|P|2.5\rZZZ|1\r'
    const ack = await sendMllp(portOf(engine, 'InValid'), bad)
    expect(msaCode(ack)).toBe('AE')
    expect((await finalState(engine, 'InValid', 'VAL-1')).state).toBe('failed')
    const ok = await sendMllp(portOf(engine, 'InValid'), hl7('ADT^A01', 'VAL-2', 'PV1|1|I\r'))
    expect(msaCode(ok), ok ?? '').toBe('AA')
  })

  it('BadMessageHandler: an invalid message is routed there and answered AE', async () => {
    const bad = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|BAD-1|P|2.5\rZZZ|1\r'
    expect(msaCode(await sendMllp(portOf(engine, 'InBad'), bad))).toBe('AE')
    await finalState(engine, 'InBad', 'BAD-1')
    const names = await (async () => {
      for (let i = 0; i < 200; i++) {
        const n = await readdir(path.join(out, 'bad')).catch(() => [])
        if (n.length > 0) return n
        await new Promise((r) => setTimeout(r, 25))
      }
      return []
    })()
    expect(names).toHaveLength(1)
  })
})
