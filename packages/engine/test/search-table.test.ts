// IRIS search tables through a running Engine: a service with SearchTableClass indexes what it
// receives; the store finds the messages by patient id; a failure to read values loses nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../src/index.js'
import {
  MllpPeer,
  ackFor,
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
} from './helpers.js'

function adt(id: string, mrn: string, name = 'SMITH^JANE'): string {
  return hl7('ADT^A01', id).replace(
    /\rPID\|1\|\|[^|]*\|\|[^|]*/,
    `\rPID|1||${mrn}^^^RXX^MR||${name}`,
  )
}

describe('Engine with SearchTableClass', () => {
  let engine: Engine
  let dir: string
  let peer: MllpPeer

  beforeAll(async () => {
    peer = new MllpPeer((m) => ({ ack: ackFor(controlIdOf(m), 'AA') }))
    const peerPort = await peer.listen()
    ;({ engine, dir } = await startEngine(
      [
        tcpService('Indexed', 'Out', 1, { SearchTableClass: 'EnsLib.HL7.SearchTable' }),
        tcpService('Plain', 'Out', 2),
        tcpOperation('Out', peerPort),
      ],
      { freePorts: ['Indexed', 'Plain'] },
    ))
  })

  afterAll(async () => {
    await engine?.stop()
    await peer?.close()
    await removeDir(dir)
  })

  it('indexes what a service with SearchTableClass receives, and finds it by patient id and name', async () => {
    const m1 = adt('S1', 'MRN100')
    expect(m1).toContain('PID|1||MRN100^^^RXX^MR||SMITH^JANE')
    expect(msaCode(await sendMllp(portOf(engine, 'Indexed'), m1))).toBe('AA')
    expect(
      msaCode(await sendMllp(portOf(engine, 'Indexed'), adt('S2', 'MRN200', 'JONES^AL'))),
    ).toBe('AA')
    expect(msaCode(await sendMllp(portOf(engine, 'Plain'), adt('S3', 'MRN100')))).toBe('AA')
    for (const id of ['S1', 'S2']) await finalState(engine, 'Indexed', id)
    await finalState(engine, 'Plain', 'S3')
    const byPatient = await engine.store.query({
      search: { name: 'PatientID', value: engine.searchValue('PatientID', 'MRN100') },
      limit: 10,
    })
    // Only the indexed service's message: the other service has no search table.
    expect(byPatient.records.map((r) => [r.hostName, r.messageId])).toEqual([['Indexed', 'S1']])
    const byName = await engine.store.query({
      search: {
        name: 'PatientName',
        value: engine.searchValue('PatientName', 'Jones'),
        prefix: true,
      },
      limit: 10,
    })
    expect(byName.records.map((r) => r.messageId)).toEqual(['S2'])
    const byControlId = await engine.store.query({
      search: { name: 'MSHControlID', value: engine.searchValue('MSHControlID', 'S2') },
      limit: 10,
    })
    expect(byControlId.records.map((r) => r.messageId)).toEqual(['S2'])
    expect(engine.searchProperties()).toEqual([
      { name: 'MSHTypeName', caseSensitive: false },
      { name: 'MSHControlID', caseSensitive: true },
      { name: 'PatientID', caseSensitive: false },
      { name: 'PatientName', caseSensitive: false },
      { name: 'PatientAcct', caseSensitive: false },
    ])
    expect(engine.searchValue('PatientID', 'MRN|1')).toBe('mrn+1')
  })
})
