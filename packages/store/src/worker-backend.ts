/**
 * `WorkerSqliteBackend`: the embedded SQLite backend in a worker thread. The main thread posts
 * each call (a whole write batch, a read, a purge chunk) and awaits the reply, so commits and WAL
 * checkpoints no longer hold the event loop: in the benchmark's engine write mix the loop's share
 * fell from 22 to about 5 µs per write, for about 20% more CPU in all (structured clone of each
 * batch, two thread hops). A write batch is posted as one flat array (write-codec.ts), which
 * halves the cost of that clone against posting the op objects.
 *
 * Ordering: the worker runs calls one after another in posting order, on one connection, and
 * `MessageStore` posts a read only after the writes queued before it, so a read still sees every
 * resolved write and never half a batch.
 *
 * What it does not do: batch (MessageStore does) or survive the worker's death: if the worker
 * exits or throws, every pending and later call rejects with `STORE_IO` (restart the store). The
 * worker is referenced only while a call is pending, so an idle store does not keep the process
 * alive, like the in-thread backend.
 */
import { Worker } from 'node:worker_threads'
import type {
  PurgeChunkRequest,
  PurgeChunkResult,
  ReclaimResult,
  StoreBackend,
  WriteOp,
  WriteOutcome,
} from './backend.js'
import { StoreError, type StoreErrorCode } from './errors.js'
import type { SqliteBackendOptions } from './sqlite-backend.js'
import type { WorkerCall, WorkerError, WorkerReply } from './sqlite-worker.js'
import { encodeWrites, type EncodedOutcomes } from './write-codec.js'
import type { Hop, MessageDetail, MessageQuery, QueryResult, StateChange } from './types.js'

/**
 * Inside this monorepo, tests and typecheck load the TypeScript sources (the `@li/source`
 * condition), which Node 20 cannot run in a worker: there the worker gets the sources' entry and
 * test/ts-loader.mjs (a type-stripping loader over the workspace's `typescript`). The built
 * package always runs dist/sqlite-worker.js.
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts')

interface PendingCall {
  resolve: (value: unknown) => void
  reject: (error: StoreError) => void
}

function toError(e: WorkerError): StoreError {
  return new StoreError(e.code as StoreErrorCode, e.message)
}

/** The SQLite backend run in a worker thread (`MessageStore` option `worker: true`). */
export class WorkerSqliteBackend implements StoreBackend {
  readonly path: string
  readonly #options: SqliteBackendOptions
  #worker: Worker | undefined
  #dead: StoreError | undefined
  #next = 0
  readonly #pending = new Map<number, PendingCall>()

  constructor(options: SqliteBackendOptions) {
    if (typeof options.path !== 'string' || options.path === '') {
      throw new StoreError('STORE_INVALID_ARGUMENT', 'WorkerSqliteBackend needs a non-empty `path`')
    }
    this.path = options.path
    this.#options = options
  }

  open(): Promise<void> {
    if (this.#worker !== undefined) return Promise.resolve()
    const entry = new URL(
      FROM_SOURCE ? './sqlite-worker.ts' : './sqlite-worker.js',
      import.meta.url,
    )
    const worker = new Worker(entry, {
      workerData: { ...this.#options },
      execArgv: FROM_SOURCE
        ? ['--import', new URL('../test/ts-loader.mjs', import.meta.url).href]
        : undefined,
    })
    worker.unref()
    worker.on('message', (reply: WorkerReply) => this.#settle(reply))
    worker.on('error', (e) => this.#fail(`the store's worker thread failed: ${e.message}`))
    worker.on('exit', (code) => this.#fail(`the store's worker thread exited (code ${code})`))
    this.#worker = worker
    this.#dead = undefined
    return this.#call('open', []).then(
      () => undefined,
      async (e: unknown) => {
        // A file that cannot be opened or migrated leaves no thread behind.
        this.#worker = undefined
        worker.removeAllListeners()
        await worker.terminate()
        throw e
      },
    )
  }

  /** Posts the batch as one flat array (see write-codec.ts) and maps the ids back to outcomes. */
  async write(ops: readonly WriteOp[]): Promise<WriteOutcome[]> {
    const { ids, errors } = (await this.#call('writeEncoded', [
      encodeWrites(ops),
      ops.length,
    ])) as EncodedOutcomes
    const outcomes: WriteOutcome[] = new Array<WriteOutcome>(ids.length)
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number
      if (ops[i]?.kind === 'supersede') outcomes[i] = { ok: true, closed: id }
      else outcomes[i] = id > 0 ? { ok: true, id: String(id) } : { ok: true }
    }
    for (const e of errors) outcomes[e.index] = { ok: false, error: toError(e) }
    return outcomes
  }

  get(id: string): Promise<MessageDetail | undefined> {
    return this.#call('get', [id]) as Promise<MessageDetail | undefined>
  }

  history(id: string): Promise<StateChange[]> {
    return this.#call('history', [id]) as Promise<StateChange[]>
  }

  query(query: MessageQuery): Promise<QueryResult> {
    return this.#call('query', [query]) as Promise<QueryResult>
  }

  trace(sessionId: string): Promise<Hop[]> {
    return this.#call('trace', [sessionId]) as Promise<Hop[]>
  }

  purgeChunk(request: PurgeChunkRequest): Promise<PurgeChunkResult> {
    return this.#call('purgeChunk', [request]) as Promise<PurgeChunkResult>
  }

  reclaim(maxPages: number): Promise<ReclaimResult> {
    return this.#call('reclaim', [maxPages]) as Promise<ReclaimResult>
  }

  async close(): Promise<void> {
    const worker = this.#worker
    if (worker === undefined) return
    try {
      await this.#call('close', [])
    } finally {
      this.#worker = undefined
      this.#dead = new StoreError('STORE_CLOSED', `the SQLite backend for ${this.path} is not open`)
      worker.removeAllListeners()
      await worker.terminate()
    }
  }

  #call(method: WorkerCall['method'], args: unknown[]): Promise<unknown> {
    const worker = this.#worker
    if (worker === undefined || this.#dead !== undefined) {
      return Promise.reject(
        this.#dead ??
          new StoreError('STORE_CLOSED', `the SQLite backend for ${this.path} is not open`),
      )
    }
    return new Promise((resolve, reject) => {
      const id = this.#next++
      if (this.#pending.size === 0) worker.ref()
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ id, method, args } satisfies WorkerCall)
    })
  }

  #settle(reply: WorkerReply): void {
    const call = this.#pending.get(reply.id)
    if (call === undefined) return
    this.#pending.delete(reply.id)
    if (this.#pending.size === 0) this.#worker?.unref()
    if (reply.ok) call.resolve(reply.value)
    else call.reject(toError(reply.error))
  }

  #fail(message: string): void {
    this.#dead = new StoreError('STORE_IO', `${message}; ${this.path} needs a restart of the store`)
    for (const call of this.#pending.values()) call.reject(this.#dead)
    this.#pending.clear()
    this.#worker?.unref()
  }
}
