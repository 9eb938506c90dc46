/**
 * `EnsLib.HL7.Operation.FileOperation`: writes each message to a file in FilePath, named by the
 * Filename specification (default `%f_%Q%!+(_a)`, see `filename-pattern.ts`).
 *
 * Each file is written to a temporary name, fsynced, then linked to its final name (link fails
 * rather than overwrite, which is how the uniqueness counter stays safe with PoolSize > 1) and the
 * directory fsynced: a reader never sees half a file and a completed message survives power loss.
 * With a name that exists and no counter, Overwrite=1 (default) replaces the file and Overwrite=0
 * appends to it. Settings: FilePath, Filename, Overwrite, DefCharEncoding/Charset, RetryInterval,
 * FailureTimeout, AlertOnError. Not done: IRIS batch output (AutoBatchParentSegments), SegTerminator.
 */
import { randomUUID } from 'node:crypto'
import { constants } from 'node:fs'
import { appendFile, link, mkdir, open, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { Envelope } from '../runtime/envelope.js'
import type { HostContext } from '../runtime/host-context.js'
import { OperationHost } from '../runtime/operation-host.js'
import type { Delivery } from '../runtime/operation-host.js'
import { nodeEncoding } from '../runtime/settings.js'
import { formatFilename } from './filename-pattern.js'

/** Writes messages to files. */
export class FileOperationHost extends OperationHost {
  readonly #dir: string
  readonly #spec: string
  readonly #overwrite: boolean
  readonly #encoding: BufferEncoding

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    const dir = this.settings.string('FilePath')
    if (dir === undefined)
      throw new EngineError('ENGINE_INVALID_SETTING', `item "${item.name}": FilePath is not set`)
    this.#dir = dir
    this.#spec = this.settings.string('Filename', '%f_%Q%!+(_a)')
    this.#overwrite = this.settings.boolean('Overwrite', true)
    this.#encoding = nodeEncoding(
      this.settings.string('Charset') ?? this.settings.string('DefCharEncoding'),
    )
  }

  protected override async prepare(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
  }

  protected override async deliver(env: Envelope): Promise<Delivery> {
    // HL7 files end with a segment terminator; a JSON body (non-HL7 DTL target) is written as is.
    const text = env.format === 'json' || env.raw.endsWith('\r') ? env.raw : env.raw + '\r'
    const body = Buffer.from(text, this.#encoding)
    const names = formatFilename(this.#spec, { originalName: env.fileName, now: new Date() })
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
      for (let n = names.onlyIfExists ? 0 : 1; n < 100_000; n++) {
        const final = path.join(this.#dir, names.name(n))
        try {
          await link(tmp, final)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue
          throw e
        }
        await syncDir(this.#dir)
        return { detail: final }
      }
      throw new EngineError(
        'ENGINE_DELIVERY_FAILED',
        `no free file name for ${this.#spec} in ${this.#dir}`,
      )
    } finally {
      await unlink(tmp).catch(() => undefined)
    }
  }
}

async function writeSynced(file: string, body: Buffer): Promise<void> {
  const fh = await open(file, constants.O_CREAT | constants.O_WRONLY | constants.O_TRUNC, 0o644)
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
