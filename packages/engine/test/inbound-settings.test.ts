// IRIS settings of the inbound HL7 services over real sockets: NackErrorCode, AddNackERR,
// LocalFacilityApplication, UseAckCommitCodes, IgnoreInboundAck, AppAckTimeout,
// DefCharEncoding (Latin1 default, MSH-18 precedence, `!` forcing) and Framing.
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  fileOperation,
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  sendFrame,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'

/** Send raw bytes in one MLLP frame; the reply as Latin-1 text, or null after `ms`. */
async function sendBytes(port: number, body: Buffer, ms = 5000): Promise<string | null> {
  const reply = await sendFrame(port, body, ms)
  return reply?.includes(0x1c) === true ? reply.toString('latin1') : null
}

const INVALID = 'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|%ID%|P|2.5\rZZZ|1\r'

describe('inbound service settings', () => {
  let engine: Engine
  let dir: string
  let out: string
  const silent = new MllpPeer(() => ({ ack: null }))

  beforeAll(async () => {
    out = await tempDir('inbound-out')
    const silentPort = await silent.listen()
    const v = { Validation: 'dm-z', MessageSchemaCategory: '2.5' }
    ;({ engine, dir } = await startEngine(
      [
        tcpService('ContentR', 'Out', 1, { ...v, NackErrorCode: 'ContentR' }),
        tcpService('NoErr', 'Out', 2, { ...v, AddNackERR: 0 }),
        tcpService('Facility', 'Out', 3, { LocalFacilityApplication: 'RGH:LIENGINE' }),
        tcpService('NoCommit', 'Out', 4, { AckMode: 'Msh', UseAckCommitCodes: 0 }),
        tcpService('AckIn', 'Out', 5),
        tcpService('AppSlow', 'Silent', 6, { AckMode: 'App', AppAckTimeout: 1 }),
        tcpService('Latin', 'Out', 7),
        tcpService('Forced', 'Out', 8, { DefCharEncoding: '!latin1' }),
        tcpService('BadFraming', 'Out', 9, { Framing: 'AsciiLF' }),
        fileOperation('Out', path.join(out, 'files')),
        tcpOperation('Silent', silentPort, { ResponseTimeout: 30 }, { FailureTimeout: -1 }),
      ],
      {
        freePorts: [
          'ContentR',
          'NoErr',
          'Facility',
          'NoCommit',
          'AckIn',
          'AppSlow',
          'Latin',
          'Forced',
          'BadFraming',
        ],
      },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await silent.close()
    if (dir !== undefined) await removeDir(dir)
    await removeDir(out)
  })

  it('NackErrorCode ContentR answers a content error with AR', async () => {
    const ack = await sendMllp(portOf(engine, 'ContentR'), INVALID.replace('%ID%', 'NC-1'))
    expect(msaCode(ack)).toBe('AR')
    expect(ack).toContain('\rERR|')
  })

  it('AddNackERR=0 leaves the ERR segment out of a NACK', async () => {
    const ack = await sendMllp(portOf(engine, 'NoErr'), INVALID.replace('%ID%', 'NE-1'))
    expect(msaCode(ack)).toBe('AE')
    expect(ack).not.toContain('ERR|')
  })

  it('LocalFacilityApplication sets MSH-3/MSH-4 of the ACK', async () => {
    const ack = (await sendMllp(portOf(engine, 'Facility'), hl7('ADT^A01', 'LF-1'))) ?? ''
    expect(ack.split('\r')[0]?.split('|').slice(2, 6)).toEqual(['LIENGINE', 'RGH', 'PAS', 'RXX'])
  })

  it('UseAckCommitCodes=0 answers an enhanced-mode sender with AA instead of CA', async () => {
    const al = hl7('ADT^A01', 'UC-1').replace('|P|2.5\r', '|P|2.5|||AL|NE\r')
    expect(msaCode(await sendMllp(portOf(engine, 'NoCommit'), al))).toBe('AA')
  })

  it('IgnoreInboundAck (default on): an inbound ACK is neither answered nor stored', async () => {
    const ack = 'MSH|^~\\&|EPR|RXX|PAS|RXX|20261127120001||ACK^A01^ACK|IA-1|P|2.5\rMSA|AA|X-1\r'
    expect(await sendBytes(portOf(engine, 'AckIn'), Buffer.from(ack, 'latin1'), 700)).toBeNull()
    const r = await engine.store.query({ correlationId: 'IA-1', limit: 5 })
    expect(r.records).toHaveLength(0)
  })

  it('AckMode App answers AE with an ERR segment after AppAckTimeout, and keeps the message', async () => {
    const ack = (await sendMllp(portOf(engine, 'AppSlow'), hl7('ADT^A01', 'AT-1'))) ?? ''
    expect(msaCode(ack)).toBe('AE')
    expect(ack).toContain('AppAckTimeout')
    // The message is durable and its delivery goes on: the silent peer keeps receiving it.
    const { records } = await engine.store.query({ correlationId: 'AT-1', limit: 5 })
    expect(records.find((r) => r.hostName === 'AppSlow')).toBeDefined()
    await waitFor(() => silent.count('AT-1') >= 1, 'the message at the peer')
  })

  it('DefCharEncoding: Latin1 by default, MSH-18 takes precedence, `!` forces the setting', async () => {
    const text = hl7('ADT^A01', 'CE-1').replace('DOE^JOHN', 'DOÉ^JOSÉ')
    expect(msaCode(await sendBytes(portOf(engine, 'Latin'), Buffer.from(text, 'latin1')))).toBe(
      'AA',
    )
    const utf = hl7('ADT^A01', 'CE-2')
      .replace('|P|2.5\r', '|P|2.5||||||UNICODE UTF-8\r')
      .replace('DOE^JOHN', 'DOÉ^JOSÉ')
    expect(msaCode(await sendBytes(portOf(engine, 'Latin'), Buffer.from(utf, 'utf8')))).toBe('AA')
    const forced = utf.replace('CE-2', 'CE-3')
    expect(msaCode(await sendBytes(portOf(engine, 'Forced'), Buffer.from(forced, 'utf8')))).toBe(
      'AA',
    )
    const payload = async (host: string, id: string): Promise<string> => {
      const f = await finalState(engine, host, id)
      return (await engine.store.get(f.id))?.payload ?? ''
    }
    expect(await payload('Latin', 'CE-1')).toContain('DOÉ^JOSÉ')
    expect(await payload('Latin', 'CE-2')).toContain('DOÉ^JOSÉ')
    // UTF-8 bytes read as Latin-1: each É is two characters.
    expect(await payload('Forced', 'CE-3')).toContain('DOÃ\u0089^JOSÃ\u0089')
  })

  it('Framing other than MLLP/Flexible puts the service in ERROR with a clear error', () => {
    const s = engine.getHost('BadFraming')?.status()
    expect(s?.state).toBe('ERROR')
    expect(s?.lastError).toContain('Framing="AsciiLF" is not supported')
  })
})
