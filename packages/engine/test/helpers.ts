// Shared test helpers: a plain `net` MLLP peer with scripted ACK behaviour, HL7 builders, IRIS
// production XML, temp dirs, a capturing logger and a bounded wait. Not a test file.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { Level, Logger } from 'pino'
import { Engine } from '../src/index.js'
import type { EngineConfig, Production, ProductionItem } from '../src/index.js'
import { loadProduction } from '../src/iris/loader.js'

const VT = 0x0b
const FS = 0x1c
const CR = 0x0d

/** The IRIS fixtures folder (`test/fixtures/iris/`), ending in a slash. */
export const IRIS_FIXTURES = fileURLToPath(new URL('./fixtures/iris/', import.meta.url))

/** A file under `test/fixtures/iris/` as UTF-8 text. */
export function irisFixture(name: string): string {
  return readFileSync(IRIS_FIXTURES + name, 'utf8')
}

/** Frame a message for MLLP. */
export function frame(text: string): Buffer {
  return Buffer.concat([Buffer.of(VT), Buffer.from(text, 'utf8'), Buffer.of(FS, CR)])
}

/** An HL7 v2.5 message with the given type and control id. */
export function hl7(type: string, controlId: string, extra = ''): string {
  const [t, e] = type.split('^')
  return (
    `MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||${t}^${e}^${t}_${e}|${controlId}|P|2.5\r` +
    `EVN|${e}|20261127120000\r` +
    `PID|1||${controlId.replace(/[^0-9A-Z]/gi, '')}^^^RXX^MR||DOE^JOHN||19700101|M\r` +
    extra
  )
}

/** An ACK for `controlId` with MSA-1 `code`. */
export function ackFor(controlId: string, code: string): string {
  return `MSH|^~\\&|EPR|RXX|PAS|RXX|20261127120001||ACK^A01^ACK|ACK${controlId}|P|2.5\rMSA|${code}|${controlId}\r`
}

/** MSH-10 of a message. */
export function controlIdOf(text: string): string {
  const msh = text.split('\r')[0] ?? ''
  return msh.split('|')[9] ?? ''
}

/** What the peer does with one message: answer now, later, or never. */
export type PeerReply = { ack: string; delayMs?: number } | { ack: null }

/** A plain MLLP receiver written on `net`, answering per `behave`. */
export class MllpPeer {
  readonly received: string[] = []
  /** Arrivals by control id (a scan of every message per arrival was quadratic in long runs). */
  readonly #counts = new Map<string, number>()
  /** Connections accepted so far. */
  connections = 0
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  readonly #timers = new Set<NodeJS.Timeout>()
  behave: (message: string, attempt: number) => PeerReply

  constructor(behave: (message: string, attempt: number) => PeerReply) {
    this.behave = behave
    this.#server = net.createServer((socket) => {
      this.connections++
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
      socket.on('error', () => undefined)
      let buf = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk])
        for (;;) {
          const start = buf.indexOf(VT)
          const end = buf.indexOf(FS, start + 1)
          if (start < 0 || end < 0 || buf[end + 1] === undefined) break
          const text = buf.subarray(start + 1, end).toString('utf8')
          buf = buf.subarray(end + 2)
          this.received.push(text)
          const id = controlIdOf(text)
          const attempt = (this.#counts.get(id) ?? 0) + 1
          this.#counts.set(id, attempt)
          const r = this.behave(text, attempt)
          if (r.ack === null) continue
          const reply = frame(r.ack)
          if (r.delayMs === undefined) socket.write(reply)
          else {
            const t = setTimeout(() => {
              this.#timers.delete(t)
              if (!socket.destroyed) socket.write(reply)
            }, r.delayMs)
            this.#timers.add(t)
          }
        }
      })
    })
  }

  /** Listen on a free loopback port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    return (this.#server.address() as net.AddressInfo).port
  }

  /** Messages received with this control id. */
  count(controlId: string): number {
    return this.#counts.get(controlId) ?? 0
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

/** A loopback TCP port free right now (for a production file that must name its port). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })
}

/** Send one framed message on a fresh connection and return the ACK text (or null on timeout). */
export function sendMllp(port: number, text: string, timeoutMs = 10_000): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(null)
    }, timeoutMs)
    socket.on('connect', () => socket.write(frame(text)))
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      const end = buf.indexOf(FS)
      if (end > 0) {
        clearTimeout(timer)
        socket.end()
        resolve(buf.subarray(1, end).toString('latin1'))
      }
    })
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })
}

/**
 * Send one framed message (text as UTF-8, or raw bytes) on a fresh connection and return the raw
 * reply bytes once they hold an FS; after `timeoutMs`, what came so far, or null if nothing did.
 */
export function sendFrame(
  port: number,
  body: string | Buffer,
  timeoutMs: number,
): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(buf.length === 0 ? null : buf)
    }, timeoutMs)
    socket.on('connect', () =>
      socket.write(
        typeof body === 'string'
          ? frame(body)
          : Buffer.concat([Buffer.of(VT), body, Buffer.of(FS, CR)]),
      ),
    )
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (buf.includes(FS)) {
        clearTimeout(timer)
        socket.destroy()
        resolve(buf)
      }
    })
    socket.on('error', reject)
  })
}

/** MSA-1 of an ACK text. */
export function msaCode(ack: string | null): string | undefined {
  if (ack === null) return undefined
  const msa = ack.split('\r').find((s) => s.startsWith('MSA'))
  return msa?.split('|')[1]
}

/** A fresh temp directory; remove it with `rm`. */
export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `li-engine-${prefix}-`))
}

/** Remove a temp directory. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/**
 * Wait until `dir` holds at least `n` files (dot files, such as a writer's temp files, not
 * counted) and return their contents, in file name order.
 */
export async function filesIn(
  dir: string,
  n: number,
  encoding: BufferEncoding = 'utf8',
): Promise<string[]> {
  return waitFor(async () => {
    const names = (await readdir(dir).catch(() => [])).filter((f) => !f.startsWith('.'))
    if (names.length < n) return undefined
    return Promise.all(names.sort().map((f) => readFile(path.join(dir, f), encoding)))
  }, `${n} file(s) in ${dir}`)
}

/** What `fn` throws (undefined when it returns), for assertions on the error's code and text. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

/** Poll `check` until it returns a value other than undefined/false, for at most `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A pino logger that keeps every line (parsed) for assertions; `level` debug unless given. */
export function captureLogger(level: Level = 'debug'): {
  logger: Logger
  lines: Record<string, unknown>[]
} {
  const lines: Record<string, unknown>[] = []
  const logger = pino(
    { level },
    {
      write(s: string): void {
        lines.push(JSON.parse(s) as Record<string, unknown>)
      },
    },
  )
  return { logger, lines }
}

/** A bare production item named `X` of `className` (PoolSize 1, enabled, no settings). */
export function productionItem(className: string): ProductionItem {
  return { name: 'X', className, poolSize: 1, enabled: true, attributes: {}, settings: [] }
}

/** One `<Item>` of a production, with Host and Adapter settings. */
export interface ItemSpec {
  name: string
  className: string
  poolSize?: number
  enabled?: boolean
  host?: Record<string, string | number>
  adapter?: Record<string, string | number>
  /** The item's Schedule attribute. */
  schedule?: string
  foreground?: boolean
}

/** A `TCPService` (MLLP inbound) item sending to `targets`, listening on `port`. */
export function tcpService(
  name: string,
  targets: string,
  port: number,
  host: Record<string, string | number> = {},
  adapter: Record<string, string | number> = {},
): ItemSpec {
  return {
    name,
    className: 'EnsLib.HL7.Service.TCPService',
    host: { TargetConfigNames: targets, ...host },
    adapter: { Port: port, ...adapter },
  }
}

/** A `FileOperation` item writing into `filePath` with `%Q%!+(_a)<ext>` file names. */
export function fileOperation(name: string, filePath: string, ext = '.hl7'): ItemSpec {
  return {
    name,
    className: 'EnsLib.HL7.Operation.FileOperation',
    adapter: { FilePath: filePath, Filename: `%Q%!+(_a)${ext}` },
  }
}

/** A `TCPOperation` (MLLP outbound) item sending to `127.0.0.1:port`. */
export function tcpOperation(
  name: string,
  port: number,
  adapter: Record<string, string | number> = {},
  host?: Record<string, string | number>,
): ItemSpec {
  return {
    name,
    className: 'EnsLib.HL7.Operation.TCPOperation',
    ...(host === undefined ? {} : { host }),
    adapter: { IPAddress: '127.0.0.1', Port: port, ...adapter },
  }
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** A bare `<Production>` element. */
export function productionXml(name: string, items: ItemSpec[]): string {
  const body = items
    .map((it) => {
      const settings = [
        ...Object.entries(it.host ?? {}).map(
          ([k, v]) => `<Setting Target="Host" Name="${k}">${esc(String(v))}</Setting>`,
        ),
        ...Object.entries(it.adapter ?? {}).map(
          ([k, v]) => `<Setting Target="Adapter" Name="${k}">${esc(String(v))}</Setting>`,
        ),
      ].join('\n      ')
      return `  <Item Name="${it.name}" Category="" ClassName="${it.className}" PoolSize="${it.poolSize ?? 1}" Enabled="${it.enabled === false ? 'false' : 'true'}" Foreground="${it.foreground === true ? 'true' : 'false'}" Comment="" LogTraceEvents="false" Schedule="${esc(it.schedule ?? '')}">
      ${settings}
  </Item>`
    })
    .join('\n')
  return `<Production Name="${name}" TestingEnabled="true" LogGeneralTraceEvents="false">
  <Description></Description>
  <ActorPoolSize>2</ActorPoolSize>
${body}
</Production>`
}

/** An IRIS/Studio export holding a production class and a routing rule class. */
export function irisExport(
  productionClass: string,
  production: string,
  ruleClass: string,
  ruleDefinition: string,
): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26" zv="IRIS for UNIX (Ubuntu Server LTS for x86-64) 2024.1">
<Class name="${ruleClass}">
<Super>Ens.Rule.Definition</Super>
<TimeChanged>67000,0</TimeChanged>
<TimeCreated>67000,0</TimeCreated>
<Parameter name="RuleAssistClass">
<Default>EnsLib.HL7.MsgRouter.RuleAssist</Default>
</Parameter>
<XData name="RuleDefinition">
<XMLNamespace>http://www.intersystems.com/rule</XMLNamespace>
<Data><![CDATA[
${ruleDefinition}
]]></Data>
</XData>
</Class>
<Class name="${productionClass}">
<Super>Ens.Production</Super>
<TimeChanged>67000,0</TimeChanged>
<TimeCreated>67000,0</TimeCreated>
<XData name="ProductionDefinition">
<Data><![CDATA[
${production}
]]></Data>
</XData>
</Class>
</Export>
`
}

/** Set (or add) a setting of an item in a loaded production (e.g. Port=0 for a free port). */
export function setSetting(
  p: Production,
  item: string,
  name: string,
  value: string,
  target: 'Host' | 'Adapter' = 'Adapter',
): void {
  const it = p.items.find((i) => i.name === item)
  if (it === undefined) throw new Error(`no item ${item}`)
  const s = it.settings.find((x) => x.name === name)
  if (s !== undefined) s.value = value
  else it.settings.push({ target, name, value })
}

/** One `<Class>` of an IRIS export whose `XData` block holds `data` (a rule, DTL or production). */
function xdataClass(
  name: string,
  superClass: string,
  xdata: string,
  data: string,
  namespace?: string,
): string {
  const ns = namespace === undefined ? '' : `<XMLNamespace>${namespace}</XMLNamespace>\n`
  return `<Class name="${name}">
<Super>${superClass}</Super>
<XData name="${xdata}">
${ns}<Data><![CDATA[
${data}
]]></Data>
</XData>
</Class>`
}

/** Options of `startEngine`. */
export interface StartEngineOptions {
  /** Items whose Port becomes 0 (a free port) after loading. */
  freePorts?: string[]
  /** Extra Engine config. */
  config?: Partial<EngineConfig>
  /** Rule classes as `[className, ruleDefinitionXml]`. */
  rules?: [string, string][]
  /** DTL classes as `[className, transformXml]`. */
  transforms?: [string, string][]
}

/** Load a production built from `items` and start an Engine on a fresh data directory. */
export async function startEngine(
  items: ItemSpec[],
  options: StartEngineOptions = {},
): Promise<{ engine: Engine; dir: string }> {
  const dir = await tempDir('engine')
  const prod = productionXml('Test.Production', items)
  const rules = options.rules ?? []
  const classes = rules
    .map(([name, def]) =>
      xdataClass(
        name,
        'Ens.Rule.Definition',
        'RuleDefinition',
        def,
        'http://www.intersystems.com/rule',
      ),
    )
    .join('\n')
  const dtls = (options.transforms ?? [])
    .map(([name, def]) =>
      xdataClass(name, 'Ens.DataTransformDTL', 'DTL', def, 'http://www.intersystems.com/dtl'),
    )
    .join('\n')
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
${classes}
${dtls}
${xdataClass('Test.Production', 'Ens.Production', 'ProductionDefinition', prod)}
</Export>`
  const production = await loadProduction(xml)
  for (const name of options.freePorts ?? []) setSetting(production, name, 'Port', '0')
  const engine = await runEngine(path.join(dir, 'data'), production, options.config)
  return { engine, dir }
}

/**
 * Load `production` into a new Engine on `dataDir` (polling every 50 ms, plus `config`) and start
 * it; pass an earlier engine's `config.dataDir` to restart on its WAL and store.
 */
export async function runEngine(
  dataDir: string,
  production: Production,
  config: Partial<EngineConfig> = {},
): Promise<Engine> {
  const engine = new Engine({ dataDir, pollMs: 50, ...config })
  await engine.load(production)
  await engine.start()
  return engine
}

/** The bound port of a TCP or HTTP service host. */
export function portOf(engine: Engine, name: string): number {
  const h = engine.getHost(name) as unknown as
    { address(): { port: number } | undefined } | undefined
  const a = h?.address()
  if (a === undefined) throw new Error(`${name} is not listening`)
  return a.port
}

/** The final state (completed/failed) of the inbound record with MSH-10 `controlId` stored by `host`. */
export async function finalState(
  engine: Engine,
  host: string,
  controlId: string,
): Promise<{ state: string; sessionId: string; id: string }> {
  return waitFor(async () => {
    const r = await engine.store.query({ correlationId: controlId, limit: 10 })
    const rec = r.records.find((x) => x.hostName === host)
    return rec !== undefined && (rec.state === 'completed' || rec.state === 'failed')
      ? { state: rec.state, sessionId: rec.sessionId ?? '', id: rec.id }
      : undefined
  }, `final state of ${controlId}`)
}

/**
 * A self-signed certificate for 127.0.0.1 (a day long) written as `key.pem` and `cert.pem` into
 * `dir`, made with openssl so that no key material lives in the repository. Returns the paths.
 */
export function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  )
  return { key, cert }
}
