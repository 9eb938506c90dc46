/**
 * `EnsLib.HL7.Service.FileService`: polls FilePath every CallInterval seconds for files matching
 * FileSpec (`*` and `?` wildcards, several patterns separated by `;`), reads each file's messages,
 * hands them to the message path, then moves the file to ArchivePath (when set; AppendTimestamp
 * adds `_<timestamp>` to the archived name) or deletes it.
 *
 * BatchHandling (IRIS values; default `1Session`) decides what a batch file (FHS/BHS … BTS/FTS)
 * becomes:
 * - `Whole`: the batch document is one message (the file as read, headers and trailers
 *   included); routers evaluate their rules on its first child and forward the whole batch.
 * - `1Session`: every child message in one session, then the batch document, same session.
 * - `Batch`: every child in its own session, then the batch document in its own.
 * - `Indiv`: every child in its own session; batch headers and trailers are dropped.
 * Children carry their place in the batch (`Envelope.batch`), so a FileOperation with
 * AutoBatchParentSegs writes them back as a batch. A file without batch segments gives one
 * message per MSH, each in its own session, whatever BatchHandling says.
 *
 * A file is taken once its size and mtime are the same on two consecutive polls
 * (ConfirmComplete 1 "Size", the default here; 0 takes it at first sight; the other IRIS modes
 * are served as Size). With WorkPath, the file is moved there before it is read (files left
 * there by a crash are read again at the next start). Each message is durable in the WAL before
 * the file is archived or deleted; a crash in between reads the file again, so delivery is at
 * least once. Decoding: DefCharEncoding with `!` forces; else the adapter Charset when it names a
 * charset (not `Default`/`Binary`); else MSH-18; else DefCharEncoding (default Latin1).
 * Framing `Flexible`/`MLLP`/`None`/`AsciiLF`/`AsciiCR`: MLLP frame bytes are dropped and
 * messages split on MSH, which reads all of them.
 */
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { BatchRef } from '../runtime/envelope.js'
import { Host, errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import { ItemSettings, knownEncoding, parseBatchHandling } from '../runtime/settings.js'
import type { BatchHandling } from '../runtime/settings.js'
import { sleep } from '../runtime/queue-host.js'
import { parseBatchText } from './batch.js'
import { inboundEncoding, msh18Of } from './charset.js'
import { syncDir } from './file-operation.js'
import { formatFilename } from './filename-pattern.js'

export { splitHl7File } from './batch.js'

/** Whether a file name matches an IRIS FileSpec (`*.hl7;*.txt`). */
export function matchesFileSpec(name: string, spec: string): boolean {
  return spec
    .split(/[;,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .some((p) => {
      const re = new RegExp(
        '^' +
          p
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.') +
          '$',
        process.platform === 'win32' ? 'i' : '',
      )
      return re.test(name)
    })
}

/** Reads HL7 files from a directory. */
export class FileServiceHost extends Host {
  readonly kind = 'service' as const
  readonly #ctx: HostContext
  readonly #settings: ItemSettings
  readonly #dir: string
  #loop: Promise<void> | undefined
  #running = false
  #paused = false
  #abort = new AbortController()
  readonly #seen = new Map<string, string>()
  readonly #batchHandling: BatchHandling
  readonly #work: string | undefined
  readonly #confirm: number
  #recovered = false

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx.logger)
    this.#ctx = ctx
    this.#settings = new ItemSettings(item)
    const dir = this.#settings.string('FilePath')
    if (dir === undefined)
      throw new EngineError('ENGINE_INVALID_SETTING', `item "${item.name}": FilePath is not set`)
    this.#dir = dir
    this.#batchHandling = parseBatchHandling(item, this.#settings.string('BatchHandling'))
    this.#work = this.#settings.string('WorkPath')
    this.#confirm = this.#settings.number('ConfirmComplete', 1)
  }

  /** Poll once now (tests and `Engine` use it; the loop calls it every CallInterval). */
  async poll(): Promise<number> {
    const spec = this.#settings.string('FileSpec', '*')
    let done = 0
    if (!this.#recovered && this.#work !== undefined) {
      // Files a crash left in WorkPath: read again (at least once).
      this.#recovered = true
      const left = (await readdir(this.#work).catch(() => [] as string[]))
        .filter((n) => !n.startsWith('.') && matchesFileSpec(n, spec))
        .sort()
      for (const name of left) {
        await this.#take(path.join(this.#work, name), name)
        done++
      }
    }
    let names: string[]
    try {
      names = (await readdir(this.#dir))
        .filter((n) => !n.startsWith('.') && matchesFileSpec(n, spec))
        .sort()
    } catch (e) {
      this.noteError(e)
      this.logger.error({ err: errorText(e), dir: this.#dir }, 'cannot read FilePath')
      return 0
    }
    const present = new Set(names)
    for (const k of this.#seen.keys()) if (!present.has(k)) this.#seen.delete(k)
    for (const name of names) {
      if (!this.#running || this.#paused) break
      const file = path.join(this.#dir, name)
      const st = await stat(file).catch(() => undefined)
      if (st === undefined || !st.isFile()) continue
      const sig = `${st.size}:${st.mtimeMs}`
      if (this.#confirm !== 0 && this.#seen.get(name) !== sig) {
        this.#seen.set(name, sig)
        continue
      }
      this.#seen.delete(name)
      let from = file
      if (this.#work !== undefined) {
        from = path.join(this.#work, name)
        await rename(file, from)
        await syncDir(this.#work)
        await syncDir(this.#dir)
      }
      await this.#take(from, name)
      done++
    }
    return done
  }

  /** The encoding of a file's bytes (see the module header). */
  #encoding(bytes: Buffer): BufferEncoding {
    const def = this.#settings.raw('DefCharEncoding')
    const charset = knownEncoding(this.#settings.string('Charset'))
    const named = this.#settings.string('Charset')?.toLowerCase()
    if (
      (def === undefined || !def.startsWith('!')) &&
      charset !== undefined &&
      named !== 'default' &&
      named !== 'native' &&
      named !== 'binary'
    )
      return charset
    // MSH-18 is ASCII in every charset we read, so a Latin-1 look at the bytes finds it.
    return inboundEncoding(def, msh18Of(bytes.toString('latin1', 0, Math.min(bytes.length, 65536))))
  }

  async #take(file: string, name: string): Promise<void> {
    const targets = this.#settings.list('TargetConfigNames')
    const category = this.#settings.string('MessageSchemaCategory')
    try {
      const bytes = await readFile(file)
      const parsed = parseBatchText(bytes.toString(this.#encoding(bytes)))
      const base = {
        source: this.name,
        targets,
        fileName: name,
        metadata: { fileName: name },
        docCategory: category,
      }
      const mode: BatchHandling = parsed.isBatch ? this.#batchHandling : 'Indiv'
      const count = parsed.messages.length
      const batchId = randomUUID()
      const ref = (role: 'child' | 'parent', index: number): BatchRef => ({
        id: batchId,
        mode: mode === 'Indiv' ? 'Batch' : mode,
        role,
        index,
        count,
        header: parsed.header,
        trailer: parsed.trailer,
      })
      if (mode === 'Whole') {
        await this.#ctx.path.accept({
          ...base,
          raw: parsed.text,
          batch: ref('parent', count),
        })
      } else {
        const sessionId = mode === '1Session' ? randomUUID() : undefined
        let i = 0
        for (const raw of parsed.messages) {
          i++
          await this.#ctx.path.accept({
            ...base,
            raw,
            sessionId,
            batch: mode === 'Indiv' ? undefined : ref('child', i),
          })
        }
        if (mode !== 'Indiv') {
          await this.#ctx.path.accept({
            ...base,
            raw: parsed.text,
            sessionId,
            batch: ref('parent', count),
          })
        }
      }
      await this.#archive(file, name)
      this.logger.info(
        { file: name, messages: count, batch: parsed.isBatch ? mode : undefined },
        'file processed',
      )
    } catch (e) {
      this.noteError(e)
      this.#ctx.metrics?.recordMessageFailed(this.name, 'file')
      this.logger.error({ err: errorText(e), file: name }, 'file processing failed')
      if (this.#settings.boolean('AlertOnError', false))
        this.#ctx.alert(this.name, `file ${name}: ${errorText(e)}`)
    }
  }

  /** Move a processed file to ArchivePath (AppendTimestamp: `name_<timestamp>`) or delete it. */
  async #archive(file: string, name: string): Promise<void> {
    const archive = this.#settings.string('ArchivePath')
    if (archive !== undefined) {
      await mkdir(archive, { recursive: true })
      const target = this.#settings.boolean('AppendTimestamp', false)
        ? formatFilename('%f_%Q', { originalName: name, now: new Date() }).name(0)
        : name
      await rename(file, path.join(archive, target))
      await syncDir(archive)
    } else {
      await unlink(file)
    }
    await syncDir(path.dirname(file))
  }

  protected override async onStart(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
    if (this.#work !== undefined) await mkdir(this.#work, { recursive: true })
    this.#recovered = false
    this.#running = true
    this.#paused = false
    this.#abort = new AbortController()
    this.#loop = this.#run()
  }

  async #run(): Promise<void> {
    const interval = Math.max(0.01, this.#settings.number('CallInterval', 5)) * 1000
    while (this.#running) {
      if (!this.#paused) await this.poll()
      await sleep(interval, this.#abort.signal)
    }
  }

  protected override async onStop(): Promise<void> {
    this.#running = false
    this.#abort.abort()
    await this.#loop
    this.#loop = undefined
  }

  protected override onPause(): Promise<void> {
    this.#paused = true
    return Promise.resolve()
  }

  protected override onResume(): Promise<void> {
    this.#paused = false
    return Promise.resolve()
  }
}
