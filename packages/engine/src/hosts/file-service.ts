/**
 * `EnsLib.HL7.Service.FileService`: polls FilePath every CallInterval seconds for files matching
 * FileSpec (`*` and `?` wildcards, several patterns separated by `;`), splits each file into
 * messages (batch files: FHS/BHS/BTS/FTS envelopes are dropped and every MSH starts a message, as
 * IRIS BatchHandling=Indiv), hands each message to the message path, then moves the file to
 * ArchivePath (when set) or deletes it.
 *
 * A file is taken once its size and mtime are the same on two consecutive polls, so a file still
 * being written is left alone (writers should still write and rename). Each message is durable
 * in the WAL before the file is archived or deleted; a crash in between reads the file again,
 * so delivery is at least once. Settings: FilePath, FileSpec, ArchivePath, CallInterval,
 * TargetConfigNames, DefCharEncoding/Charset, AlertOnError.
 */
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import { Host, errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import { ItemSettings, nodeEncoding } from '../runtime/settings.js'
import { sleep } from '../runtime/queue-host.js'
import { syncDir } from './file-operation.js'

/** Split the text of an HL7 file (one message or a batch) into messages. */
export function splitHl7File(text: string): string[] {
  const segments = text.split(/\r\n|\r|\n/).filter((s) => s.trim() !== '')
  const messages: string[] = []
  let current: string[] = []
  for (const seg of segments) {
    const name = seg.slice(0, 3)
    if (name === 'FHS' || name === 'BHS' || name === 'BTS' || name === 'FTS') continue
    if (name === 'MSH' && current.length > 0) {
      messages.push(current.join('\r') + '\r')
      current = []
    }
    current.push(seg)
  }
  if (current.length > 0) messages.push(current.join('\r') + '\r')
  return messages
}

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

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx.logger)
    this.#ctx = ctx
    this.#settings = new ItemSettings(item)
    const dir = this.#settings.string('FilePath')
    if (dir === undefined)
      throw new EngineError('ENGINE_INVALID_SETTING', `item "${item.name}": FilePath is not set`)
    this.#dir = dir
  }

  /** Poll once now (tests and `Engine` use it; the loop calls it every CallInterval). */
  async poll(): Promise<number> {
    const spec = this.#settings.string('FileSpec', '*')
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
    let done = 0
    const present = new Set(names)
    for (const k of this.#seen.keys()) if (!present.has(k)) this.#seen.delete(k)
    for (const name of names) {
      if (!this.#running || this.#paused) break
      const file = path.join(this.#dir, name)
      const st = await stat(file).catch(() => undefined)
      if (st === undefined || !st.isFile()) continue
      const sig = `${st.size}:${st.mtimeMs}`
      if (this.#seen.get(name) !== sig) {
        this.#seen.set(name, sig)
        continue
      }
      this.#seen.delete(name)
      await this.#take(file, name)
      done++
    }
    return done
  }

  async #take(file: string, name: string): Promise<void> {
    const encoding = nodeEncoding(
      this.#settings.string('Charset') ?? this.#settings.string('DefCharEncoding'),
    )
    const targets = this.#settings.list('TargetConfigNames')
    try {
      const text = (await readFile(file)).toString(encoding)
      const messages = splitHl7File(text)
      for (const raw of messages) {
        await this.#ctx.path.accept({
          source: this.name,
          raw,
          targets,
          fileName: name,
          metadata: { fileName: name },
        })
      }
      const archive = this.#settings.string('ArchivePath')
      if (archive !== undefined) {
        await mkdir(archive, { recursive: true })
        await rename(file, path.join(archive, name))
        await syncDir(archive)
      } else {
        await unlink(file)
      }
      await syncDir(this.#dir)
      this.logger.info({ file: name, messages: messages.length }, 'file processed')
    } catch (e) {
      this.noteError(e)
      this.#ctx.metrics?.recordMessageFailed(this.name, 'file')
      this.logger.error({ err: errorText(e), file: name }, 'file processing failed')
      if (this.#settings.boolean('AlertOnError', false))
        this.#ctx.alert(this.name, `file ${name}: ${errorText(e)}`)
    }
  }

  protected override async onStart(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
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
