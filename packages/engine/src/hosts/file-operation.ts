/**
 * `EnsLib.HL7.Operation.FileOperation`: writes each message to a file in FilePath, named by the
 * Filename specification (default `%f_%Q%!+(_a)`, see `filename-pattern.ts`).
 *
 * One message, one new file: written to a temporary name, fsynced, then linked to its final name
 * (link fails rather than overwrite, which is how the uniqueness counter stays safe with
 * PoolSize > 1) and the directory fsynced: a reader never sees half a file and a completed
 * message survives power loss. When the name exists and has no counter, Overwrite=0 (the IRIS
 * default) appends to it and Overwrite=1 replaces it (atomically, by rename).
 *
 * Batches (messages read from an HL7 batch file with BatchHandling Whole, 1Session or Batch):
 * - the batch document itself (its `raw` is the whole batch) is written as one file, headers and
 *   trailers included, unless this operation already opened that batch (below);
 * - AutoBatchParentSegs=1 (IRIS default 0): a child message opens its batch in the file its
 *   Filename names (the FHS/BHS headers first), the next children of the batch are appended to
 *   it, and the batch document closes it with BTS/FTS trailers whose counts are the children
 *   written; a child whose file name differs (or of another batch) closes the open batch first.
 *   Batch files grow by appends, each fsynced: a reader sees a partial batch until the trailer
 *   is there. The open batch is remembered in memory only: after a restart its batch document
 *   is written as a whole file again.
 * - AutoBatchParentSegs=0: children are written one per file like any message, and the batch
 *   document again as a whole (IRIS's "double output").
 *
 * Encoding: JSON bodies UTF-8; HL7 text in the adapter Charset when it names a charset (not
 * `Default`/`Binary`), else DefCharEncoding with `!` forced, else MSH-18, else DefCharEncoding
 * (default Latin1). Separators: characters after the first five (`|^~\&`) are the segment
 * terminator, with `\r` and `\n` escapes (default CR); other delimiters are not re-encoded.
 * Framing: None/Flexible (default, nothing added), AsciiLF / AsciiCR (a LF or CR after each
 * message), MLLP (each message in an MLLP frame). Other settings: FilePath, Filename, RetryInterval,
 * FailureTimeout, AlertOnError.
 */
import { randomUUID } from 'node:crypto'
import { constants } from 'node:fs'
import { appendFile, link, mkdir, open, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { BatchRef, Envelope } from '../runtime/envelope.js'
import type { HostContext } from '../runtime/host-context.js'
import { OperationHost } from '../runtime/operation-host.js'
import type { Delivery } from '../runtime/operation-host.js'
import { isMllpFraming, knownEncoding } from '../runtime/settings.js'
import { batchTrailer } from './batch.js'
import { outboundEncoding } from './charset.js'
import { formatFilename } from './filename-pattern.js'

/** The bytes a file Framing adds around each message. */
export interface FileFraming {
  prefix: string
  suffix: string
}

/** Parse a FileOperation Framing value (see the module header); unknown values throw. */
export function fileFraming(item: ProductionItem, value: string | undefined): FileFraming {
  const v = (value ?? '').trim().toLowerCase()
  if (v === '' || v === 'none' || v === 'flexible') return { prefix: '', suffix: '' }
  if (v === 'asciilf') return { prefix: '', suffix: '\n' }
  if (v === 'asciicr') return { prefix: '', suffix: '\r' }
  if (isMllpFraming(v)) return { prefix: '\x0b', suffix: '\x1c\r' }
  throw new EngineError(
    'ENGINE_INVALID_SETTING',
    `item "${item.name}": Framing="${value ?? ''}" is not supported on a file operation (None, Flexible, AsciiLF, AsciiCR, MLLP)`,
  )
}

/** The segment terminator of an IRIS Separators value (characters after the fifth), default CR. */
export function segmentTerminator(value: string | undefined): string {
  const rest = (value ?? '').slice(5)
  if (rest === '') return '\r'
  return rest.replaceAll('\\r', '\r').replaceAll('\\n', '\n')
}

/** A batch this operation is writing into one file (AutoBatchParentSegs). */
interface OpenBatch {
  id: string
  /** The Filename result the children of this batch map to. */
  name: string
  /** The file written (the name, or the name with its counter). */
  file: string
  header: string
  trailer: string
  count: number
}

/** Writes messages to files. */
export class FileOperationHost extends OperationHost {
  readonly #dir: string
  readonly #spec: string
  readonly #overwrite: boolean
  readonly #defEnc: string | undefined
  readonly #charset: BufferEncoding | undefined
  readonly #autoBatch: boolean
  readonly #framing: FileFraming
  readonly #terminator: string
  #open: OpenBatch | undefined
  /** Batch writes one at a time (PoolSize > 1 shares the open batch). */
  #batchChain: Promise<unknown> = Promise.resolve()

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    const dir = this.settings.string('FilePath')
    if (dir === undefined)
      throw new EngineError('ENGINE_INVALID_SETTING', `item "${item.name}": FilePath is not set`)
    this.#dir = dir
    this.#spec = this.settings.string('Filename', '%f_%Q%!+(_a)')
    this.#overwrite = this.settings.boolean('Overwrite', false)
    this.#defEnc = this.settings.raw('DefCharEncoding')
    const named = this.settings.string('Charset')?.toLowerCase()
    this.#charset =
      named === undefined || named === 'default' || named === 'native' || named === 'binary'
        ? undefined
        : knownEncoding(named)
    this.#autoBatch = this.settings.boolean('AutoBatchParentSegs', false)
    this.#framing = fileFraming(item, this.settings.string('Framing'))
    this.#terminator = segmentTerminator(this.settings.raw('Separators'))
  }

  protected override async prepare(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
  }

  protected override deliver(env: Envelope): Promise<Delivery> {
    const batch = env.batch
    if (env.format !== 'json' && batch !== undefined && this.#autoBatch) {
      const run = this.#batchChain.then(() => this.#batchWrite(env, batch))
      this.#batchChain = run.catch(() => undefined)
      return run
    }
    // A batch document whose batch this operation did not open: the whole batch, one file.
    return this.#writeOne(env, this.#body(env, env.raw, true))
  }

  /** HL7 text with the configured segment terminator (and framing per message), encoded. */
  #body(env: Envelope, text: string, frame: boolean): Buffer {
    if (env.format === 'json') return Buffer.from(text, 'utf8')
    const segs = text.split(/\r\n|\r|\n/).filter((x) => x !== '')
    let out = segs.join(this.#terminator) + (segs.length > 0 ? this.#terminator : '')
    if (frame) out = this.#framing.prefix + out + this.#framing.suffix
    return Buffer.from(out, this.#charset ?? outboundEncoding(this.#defEnc, text))
  }

  #names(env: Envelope): ReturnType<typeof formatFilename> {
    return formatFilename(this.#spec, { originalName: env.fileName, now: new Date() })
  }

  async #writeOne(env: Envelope, body: Buffer): Promise<Delivery> {
    const names = this.#names(env)
    const tmp = path.join(this.#dir, `.li-${randomUUID()}.tmp`)
    await writeSynced(tmp, body)
    try {
      if (!names.hasCounter) {
        const final = path.join(this.#dir, names.name(0))
        if (this.#overwrite) await rename(tmp, final)
        else {
          await appendFile(final, body)
          await syncFile(final)
        }
        await syncDir(this.#dir)
        return { detail: final }
      }
      return { detail: await this.#linkFree(tmp, names) }
    } finally {
      await unlink(tmp).catch(() => undefined)
    }
  }

  /** Link `tmp` to the first free name of a counter pattern; returns the final path. */
  async #linkFree(tmp: string, names: ReturnType<typeof formatFilename>): Promise<string> {
    for (let n = names.onlyIfExists ? 0 : 1; n < 100_000; n++) {
      const final = path.join(this.#dir, names.name(n))
      try {
        await link(tmp, final)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue
        throw e
      }
      await syncDir(this.#dir)
      return final
    }
    throw new EngineError(
      'ENGINE_DELIVERY_FAILED',
      `no free file name for ${this.#spec} in ${this.#dir}`,
    )
  }

  /** AutoBatchParentSegs: open, append to, or close the batch this message belongs to. */
  async #batchWrite(env: Envelope, batch: BatchRef): Promise<Delivery> {
    const open = this.#open
    if (batch.role === 'parent') {
      if (open === undefined || open.id !== batch.id)
        return this.#writeOne(env, this.#body(env, env.raw, true))
      await this.#close(env)
      return { detail: `${open.file} (batch of ${open.count} closed)` }
    }
    const name = this.#names(env)
    const candidate = name.name(name.hasCounter && !name.onlyIfExists ? 1 : 0)
    const child = this.#body(env, env.raw, true)
    if (open !== undefined && open.id === batch.id && open.name === candidate) {
      await writeSynced(open.file, child, 'append')
      open.count++
      return { detail: open.file }
    }
    if (open !== undefined) await this.#close(env)
    const first = Buffer.concat([this.#body(env, batch.header, false), child])
    let file: string
    if (name.hasCounter) {
      const tmp = path.join(this.#dir, `.li-${randomUUID()}.tmp`)
      await writeSynced(tmp, first)
      try {
        file = await this.#linkFree(tmp, name)
      } finally {
        await unlink(tmp).catch(() => undefined)
      }
    } else {
      file = path.join(this.#dir, candidate)
      if (this.#overwrite) await writeSynced(file, first)
      else await writeSynced(file, first, 'append')
      await syncDir(this.#dir)
    }
    this.#open = {
      id: batch.id,
      name: candidate,
      file,
      header: batch.header,
      trailer: batch.trailer,
      count: 1,
    }
    return { detail: file }
  }

  /** Write the open batch's trailers (counts of what was written) and forget it. */
  async #close(env: Envelope): Promise<void> {
    const open = this.#open
    if (open === undefined) return
    this.#open = undefined
    const trailer = batchTrailer(open.header, open.trailer, open.count)
    if (trailer !== '') await writeSynced(open.file, this.#body(env, trailer, false), 'append')
  }
}

/** Write `body` to `file` (created if missing; appended to, or replacing it) and datasync it. */
async function writeSynced(
  file: string,
  body: Buffer,
  mode: 'append' | 'replace' = 'replace',
): Promise<void> {
  const flags =
    constants.O_CREAT |
    constants.O_WRONLY |
    (mode === 'append' ? constants.O_APPEND : constants.O_TRUNC)
  const fh = await open(file, flags, 0o644)
  try {
    await fh.writeFile(body)
    await fh.datasync()
  } finally {
    await fh.close()
  }
}

async function syncFile(file: string): Promise<void> {
  const fh = await open(file, 'r')
  try {
    await fh.datasync()
  } finally {
    await fh.close()
  }
}

/** fsync a directory so that a rename or link in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } catch {
    // Some platforms/filesystems refuse fsync on a directory; the data itself is synced.
  } finally {
    await fh.close()
  }
}
