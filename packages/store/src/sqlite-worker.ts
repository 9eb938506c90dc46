/**
 * Entry of the worker thread of `WorkerSqliteBackend`: owns one `SqliteBackend` and runs the calls
 * posted to it one after another, in the order they were posted, replying with the result.
 *
 * What it does not do: batch (MessageStore does) or reorder: a read posted after a write is
 * answered after that write committed. Errors cross the thread as `{ code, message }` and become
 * `StoreError`s again on the other side.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { PurgeChunkRequest, WriteOp, WriteOutcome } from './backend.js'
import { isStoreError } from './errors.js'
import { SqliteBackend, type SqliteBackendOptions } from './sqlite-backend.js'
import type { MessageQuery } from './types.js'
import type { EncodedOutcomes, EncodedSlot } from './write-codec.js'

/** A call posted to the worker. */
export interface WorkerCall {
  id: number
  method:
    | 'open'
    | 'write'
    | 'writeEncoded'
    | 'get'
    | 'history'
    | 'query'
    | 'trace'
    | 'purgeChunk'
    | 'reclaim'
    | 'close'
  args: unknown[]
}

/** An error as it crosses the thread boundary. */
export interface WorkerError {
  code: string
  message: string
}

/** The reply to a call. */
export type WorkerReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WorkerError }

function plain(e: unknown): WorkerError {
  if (isStoreError(e)) return { code: e.code, message: e.message }
  return { code: 'STORE_INTERNAL', message: e instanceof Error ? e.message : String(e) }
}

const port = parentPort
if (port !== null) {
  const backend = new SqliteBackend(workerData as SqliteBackendOptions)
  const run = (call: WorkerCall): Promise<unknown> => {
    const [arg] = call.args
    switch (call.method) {
      case 'open':
        return backend.open()
      case 'write':
        return backend.write(arg as readonly WriteOp[])
      case 'writeEncoded':
        return backend.writeEncoded(arg as readonly EncodedSlot[], call.args[1] as number)
      case 'get':
        return backend.get(arg as string)
      case 'history':
        return backend.history(arg as string)
      case 'query':
        return backend.query(arg as MessageQuery)
      case 'trace':
        return backend.trace(arg as string)
      case 'purgeChunk':
        return backend.purgeChunk(arg as PurgeChunkRequest)
      case 'reclaim':
        return backend.reclaim(arg as number)
      case 'close':
        return backend.close()
    }
  }
  port.on('message', (call: WorkerCall) => {
    run(call).then(
      (value) => {
        const out =
          call.method === 'write'
            ? (value as WriteOutcome[]).map((o) =>
                o.ok ? o : { ok: false, error: plain(o.error) },
              )
            : value
        // An encoded batch's ids go back by transferring their buffer, not by copying it.
        const transfer =
          call.method === 'writeEncoded'
            ? [(value as EncodedOutcomes).ids.buffer as ArrayBuffer]
            : []
        port.postMessage({ id: call.id, ok: true, value: out } satisfies WorkerReply, transfer)
      },
      (e: unknown) =>
        port.postMessage({ id: call.id, ok: false, error: plain(e) } satisfies WorkerReply),
    )
  })
}
