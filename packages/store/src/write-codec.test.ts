// The flat write-batch encoding applied by SqliteBackend.writeEncoded, on a real file: same rows
// and outcomes as write(), a failed op fails alone, a malformed batch commits nothing.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { WriteOp } from './backend.js'
import { isStoreError } from './errors.js'
import { SqliteBackend } from './sqlite-backend.js'
import { OP_HOP, encodeWrites } from './write-codec.js'

let dir: string
let backend: SqliteBackend

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'li-store-codec-'))
  backend = new SqliteBackend({ path: join(dir, 'messages.db') })
  await backend.open()
})

afterEach(async () => {
  await backend.close()
  rmSync(dir, { recursive: true, force: true })
})

const time = new Date('2026-11-27T12:00:00.500Z')

const insert: WriteOp = {
  kind: 'insert',
  hostName: 'PAS.In',
  messageId: 'MSG1',
  payload: 'MSH|^~\\&|PAS|RXH|EPR|RXH|20260101120000||ADT^A01|MSG1|P|2.4',
  messageType: 'ADT^A01',
  correlationId: 'c1',
  sessionId: 'S1',
  direction: 'inbound',
  metadata: { walId: '3' },
  time,
}

describe('encodeWrites + SqliteBackend.writeEncoded', () => {
  it('writes what write() writes and returns one id slot per op', async () => {
    const ops: WriteOp[] = [
      insert,
      { kind: 'transition', id: '1', state: 'completed', time },
      { kind: 'transition', id: '77', state: 'failed', time, error: 'x' },
      {
        kind: 'hop',
        sessionId: 'S1',
        messageId: '1',
        source: 'A',
        target: 'B',
        state: 'sent',
        time,
      },
    ]
    const { ids, errors } = await backend.writeEncoded(encodeWrites(ops), ops.length)
    expect([...ids]).toEqual([1, 0, -1, 1])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ index: 2, code: 'STORE_NOT_FOUND' })
    const detail = await backend.get('1')
    expect(detail).toMatchObject({
      sessionId: 'S1',
      direction: 'inbound',
      metadata: { walId: '3' },
      state: 'completed',
      createdAt: time,
    })
    expect(detail?.history.map((h) => h.state)).toEqual(['received', 'completed'])
    expect(await backend.trace('S1')).toEqual([
      { id: '1', sessionId: 'S1', messageId: '1', source: 'A', target: 'B', state: 'sent', time },
    ])
  })

  it('applies a supersede after the ops before it and returns how many records it closed', async () => {
    const ops: WriteOp[] = [
      insert,
      { ...insert, direction: 'outbound' },
      insert,
      {
        kind: 'supersede',
        sessionId: 'S1',
        hostName: 'PAS.In',
        by: '3',
        direction: 'inbound',
        correlationId: 'c1',
        createdBefore: new Date(time.getTime() + 1),
        time,
        detail: 'superseded by 3',
      },
    ]
    const { ids, errors } = await backend.writeEncoded(encodeWrites(ops), ops.length)
    expect([...ids]).toEqual([1, 2, 3, 1])
    expect(errors).toEqual([])
    expect((await backend.get('1'))?.state).toBe('completed')
    expect((await backend.get('2'))?.state).toBe('received')
    expect((await backend.get('3'))?.state).toBe('received')
    expect(await backend.trace('S1')).toEqual([
      {
        id: '1',
        sessionId: 'S1',
        messageId: '1',
        source: 'PAS.In',
        target: 'PAS.In',
        state: 'completed',
        time,
        detail: 'superseded by 3',
      },
    ])
    // write() applies the same op object alike.
    const [again] = await backend.write([{ ...(ops[3] as WriteOp), by: '1' } as WriteOp])
    expect(again).toEqual({ ok: true, closed: 1 })
    expect((await backend.get('3'))?.state).toBe('completed')
  })

  it('commits nothing of a batch with a malformed op', async () => {
    const slots = [...encodeWrites([insert]), OP_HOP + 40, 'S1']
    const e = await backend.writeEncoded(slots, 2).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isStoreError(e) && e.code).toBe('STORE_INTERNAL')
    expect(await backend.get('1')).toBeUndefined()
  })
})
