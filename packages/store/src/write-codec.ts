/**
 * How `WorkerSqliteBackend` posts a write batch to its worker thread and gets the outcomes back.
 *
 * Why: posting the batch as an array of `WriteOp` objects made the structured clone write every
 * property name and rebuild every object and `Date` on the other side; in the engine's write mix
 * (an insert, six hops and a transition per message, 30 to 80 writes a batch) that was about 8%
 * of the main thread. A batch now crosses as one flat array of strings, numbers and nulls (fixed
 * slots per kind, times as epoch ms), and the outcomes come back as one `Float64Array` whose
 * buffer is transferred, not copied.
 *
 * What it does not do: validate (the store did) or change what is written: the worker applies the
 * slots with the same statements, in the same order and in one transaction, as `write()`.
 */
import type { WriteOp } from './backend.js'
import type { MessageMetadata, SearchValue } from './types.js'

/** The first slot of each op in an encoded batch. */
export const OP_INSERT = 0
/** See `OP_INSERT`. */
export const OP_TRANSITION = 1
/** See `OP_INSERT`. */
export const OP_HOP = 2
/** See `OP_INSERT`. */
export const OP_SUPERSEDE = 3

/**
 * Search values as one slot: `name NUL value` pairs joined by SOH (names cannot hold either;
 * a value holding one would split wrongly, so those characters are refused by the store).
 */
export function encodeSearch(search: readonly SearchValue[] | undefined): string | null {
  if (search === undefined || search.length === 0) return null
  let out = ''
  for (let i = 0; i < search.length; i++) {
    const s = search[i] as SearchValue
    out += (i === 0 ? '' : '\u0001') + s.name + '\u0000' + s.value
  }
  return out
}

/** The pairs of an `encodeSearch` slot. */
export function decodeSearch(slot: string | null): SearchValue[] {
  if (slot === null || slot === '') return []
  return slot.split('\u0001').map((pair) => {
    const i = pair.indexOf('\u0000')
    return { name: pair.slice(0, i), value: pair.slice(i + 1) }
  })
}

/** One slot of an encoded batch. */
export type EncodedSlot = string | number | null | MessageMetadata

/**
 * Encodes a batch, op after op:
 * - insert: `OP_INSERT, hostName, messageId, payload, messageType, correlationId, sessionId|null,
 *   direction|null, metadata|null, time, search|null` (search: `encodeSearch`);
 * - transition: `OP_TRANSITION, id, state, time, error|null`;
 * - hop: `OP_HOP, sessionId, messageId|null, source, target, state, time, detail|null`;
 * - supersede: `OP_SUPERSEDE, sessionId, hostName, by, direction|null, correlationId|null,
 *   createdBefore|null, time, detail`.
 */
export function encodeWrites(ops: readonly WriteOp[]): EncodedSlot[] {
  const out: EncodedSlot[] = []
  for (const op of ops) {
    switch (op.kind) {
      case 'insert':
        out.push(
          OP_INSERT,
          op.hostName,
          op.messageId,
          op.payload,
          op.messageType,
          op.correlationId,
          op.sessionId ?? null,
          op.direction ?? null,
          op.metadata ?? null,
          op.time.getTime(),
          encodeSearch(op.search),
        )
        break
      case 'transition':
        out.push(OP_TRANSITION, op.id, op.state, op.time.getTime(), op.error ?? null)
        break
      case 'hop':
        out.push(
          OP_HOP,
          op.sessionId,
          op.messageId ?? null,
          op.source,
          op.target,
          op.state,
          op.time.getTime(),
          op.detail ?? null,
        )
        break
      case 'supersede':
        out.push(
          OP_SUPERSEDE,
          op.sessionId,
          op.hostName,
          op.by,
          op.direction ?? null,
          op.correlationId ?? null,
          op.createdBefore?.getTime() ?? null,
          op.time.getTime(),
          op.detail,
        )
        break
    }
  }
  return out
}

/**
 * The outcomes of an encoded batch: `ids[i]` is the new row id of op `i` (insert or hop), `0`
 * for a transition that succeeded, the number of records closed for a supersede, `-1` for an op
 * that failed alone; its error is in `errors`.
 */
export interface EncodedOutcomes {
  ids: Float64Array
  errors: { index: number; code: string; message: string }[]
}
