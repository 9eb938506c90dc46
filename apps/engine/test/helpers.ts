// Shared helpers of the app's tests: the built CLI as a child process, a plain `net` MLLP peer,
// HL7 builders, an IRIS export builder, free ports, temp dirs and a bounded wait. Not a test file.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
/** The built CLI. */
export const CLI = path.resolve(here, '../dist/cli.js')
/** The demo production. */
export const DEMO = path.resolve(here, '../examples/demo/production.xml')
/** The demo's sample messages. */
export const DEMO_MESSAGES = path.resolve(here, '../examples/demo/messages')

/** Throws a clear error when the CLI has not been built. */
export function requireBuild(): void {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run pnpm build (the end-to-end tests run the built CLI)`)
  }
}

const VT = 0x0b
const FS = 0x1c
const CR = 0x0d

/** Frame a message for MLLP. */
export function frame(text: string): Buffer {
  return Buffer.concat([Buffer.of(VT), Buffer.from(text, 'utf8'), Buffer.of(FS, CR)])
}

/** An HL7 v2.5 message of `type` (e.g. `ADT^A01`) with control id `id`. */
export function hl7(type: string, id: string): string {
  const [t, e] = type.split('^')
  return (
    `MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||${t}^${e}^${t}_${e}|${id}|P|2.5\r` +
    `EVN|${e}|20261127120000\r` +
    `PID|1||${id.replace(/[^0-9A-Z]/gi, '')}^^^RXX^MR||TEST^PATIENT||19700101|M\r`
  )
}

/** An ACK of `id` with MSA-1 `code`. */
export function ackFor(id: string, code: string): string {
  return `MSH|^~\\&|EPR|RXX|PAS|RXX|20261127120001||ACK^A01^ACK|ACK${id}|P|2.5\rMSA|${code}|${id}\r`
}

/** MSH-10 of a message. */
export function controlIdOf(text: string): string {
  return (text.split('\r')[0] ?? '').split('|')[9] ?? ''
}

/** What the peer answers: an ACK code, or null for no answer. */
export type Behave = (message: string, attempt: number) => string | null

/** A plain MLLP receiver on `net`, answering per `behave`. */
export class MllpPeer {
  readonly received: string[] = []
  /** Arrivals by control id (count() was a scan of every message: quadratic in long runs). */
  readonly #counts = new Map<string, number>()
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  behave: Behave
  /** Milliseconds before each ACK is written. */
  delayMs = 0

  constructor(behave: Behave = () => 'AA') {
    this.behave = behave
    this.#server = net.createServer((socket) => {
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
          this.#counts.set(id, (this.#counts.get(id) ?? 0) + 1)
          const code = this.behave(text, this.count(id))
          if (code === null) continue
          if (this.delayMs === 0) socket.write(frame(ackFor(id, code)))
          else
            setTimeout(
              () => socket.destroyed || socket.write(frame(ackFor(id, code))),
              this.delayMs,
            )
        }
      })
    })
  }

  /** Listen on `port` (0: a free one) on 127.0.0.1. */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve))
    return (this.#server.address() as net.AddressInfo).port
  }

  /** How many times a control id arrived. */
  count(id: string): number {
    return this.#counts.get(id) ?? 0
  }

  /** Distinct control ids received. */
  ids(): Set<string> {
    return new Set(this.#counts.keys())
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

/** A plain MLLP sender on one connection: send, await the ACK text. */
export class MllpSender {
  readonly #socket: net.Socket
  #buf = Buffer.alloc(0)
  #waiting: ((ack: string) => void) | undefined
  #failed: ((e: Error) => void) | undefined

  private constructor(socket: net.Socket) {
    this.#socket = socket
    const fail = (e: Error): void => {
      const f = this.#failed
      this.#waiting = undefined
      this.#failed = undefined
      f?.(e)
    }
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('connection closed')))
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c])
      const end = this.#buf.indexOf(FS)
      if (end > 0 && this.#buf[end + 1] !== undefined) {
        const ack = this.#buf.subarray(1, end).toString('latin1')
        this.#buf = this.#buf.subarray(end + 2)
        const w = this.#waiting
        this.#waiting = undefined
        w?.(ack)
      }
    })
  }

  static connect(port: number): Promise<MllpSender> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new MllpSender(s)))
      s.once('error', reject)
    })
  }

  /** Send and wait (at most 15 s) for the ACK; returns MSA-1. */
  send(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ACK for ${controlIdOf(text)}`)), 15_000)
      this.#failed = (e) => {
        clearTimeout(timer)
        reject(e)
      }
      this.#waiting = (ack) => {
        this.#failed = undefined
        clearTimeout(timer)
        const msa = ack.split('\r').find((s) => s.startsWith('MSA')) ?? ''
        resolve(msa.split('|')[1] ?? '')
      }
      this.#socket.write(frame(text))
    })
  }

  close(): void {
    this.#socket.destroy()
  }
}

/** A free TCP port on 127.0.0.1 (bound and released; a small race, acceptable in tests). */
export async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** A fresh temp directory. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `li-app-${prefix}-`))
}

/** Remove a directory tree. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Poll until `check` returns something other than undefined/false (at most `timeoutMs`). */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Options of the test production. */
export interface TestProductionOptions {
  inPort: number
  outPort: number
  outDir: string
  /** ReplyCodeActions of the MLLP operation. */
  replyCodeActions?: string
  responseTimeout?: number
  retryInterval?: number
  failureTimeout?: number
}

/** An IRIS Studio export: MLLP in → router with an IRIS rule class → MLLP out and file out. */
export function testProduction(o: TestProductionOptions): string {
  const rules = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Test.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="ADT to EPR and file" disabled="false">
<constraint name="source" value="MLLP.In"></constraint>
<constraint name="msgClass" value="EnsLib.HL7.Message"></constraint>
<when condition="HL7.{MSH:9.1}=&quot;ADT&quot;">
<send transform="" target="EPR.Out,File.Out"></send>
<return></return>
</when>
</rule>
<rule name="ORU to file" disabled="false">
<when condition="HL7.{MSH:9.1}=&quot;ORU&quot;">
<send transform="" target="File.Out"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`
  const production = `<Production Name="Test.Production" TestingEnabled="true" LogGeneralTraceEvents="false">
  <Description>app end-to-end test</Description>
  <ActorPoolSize>2</ActorPoolSize>
  <Item Name="MLLP.In" Category="" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true" Foreground="false" Comment="" LogTraceEvents="false" Schedule="">
    <Setting Target="Adapter" Name="Port">${o.inPort}</Setting>
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router</Setting>
    <Setting Target="Host" Name="AckMode">Immed</Setting>
    <Setting Target="Host" Name="SearchTableClass">EnsLib.HL7.SearchTable</Setting>
  </Item>
  <Item Name="Router" Category="" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="true" Foreground="false" Comment="" LogTraceEvents="false" Schedule="">
    <Setting Target="Host" Name="BusinessRuleName">Test.Rules</Setting>
  </Item>
  <Item Name="EPR.Out" Category="" ClassName="EnsLib.HL7.Operation.TCPOperation" PoolSize="1" Enabled="true" Foreground="false" Comment="" LogTraceEvents="false" Schedule="">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">${o.outPort}</Setting>
    <Setting Target="Adapter" Name="ConnectTimeout">2</Setting>
    <Setting Target="Adapter" Name="ResponseTimeout">${o.responseTimeout ?? 5}</Setting>
    <Setting Target="Host" Name="ReplyCodeActions">${o.replyCodeActions ?? ':?R=F,:?E=F,:~=S,:?A=C,:*=S'}</Setting>
    <Setting Target="Host" Name="RetryInterval">${o.retryInterval ?? 0.2}</Setting>
    <Setting Target="Host" Name="FailureTimeout">${o.failureTimeout ?? -1}</Setting>
  </Item>
  <Item Name="File.Out" Category="" ClassName="EnsLib.HL7.Operation.FileOperation" PoolSize="1" Enabled="true" Foreground="false" Comment="" LogTraceEvents="false" Schedule="">
    <Setting Target="Adapter" Name="FilePath">${o.outDir}</Setting>
    <Setting Target="Host" Name="Filename">%Q%!+(_a).hl7</Setting>
  </Item>
</Production>`
  return `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26" zv="IRIS for UNIX (Ubuntu Server LTS for x86-64) 2024.1">
<Class name="Test.Rules">
<Super>Ens.Rule.Definition</Super>
<Parameter name="RuleAssistClass">
<Default>EnsLib.HL7.MsgRouter.RuleAssist</Default>
</Parameter>
<XData name="RuleDefinition">
<XMLNamespace>http://www.intersystems.com/rule</XMLNamespace>
<Data><![CDATA[
${rules}
]]></Data>
</XData>
</Class>
<Class name="Test.Production">
<Super>Ens.Production</Super>
<XData name="ProductionDefinition">
<Data><![CDATA[
${production}
]]></Data>
</XData>
</Class>
</Export>
`
}

/**
 * The environment of a child engine: the embedded defaults. The vitest global setup exports
 * LI_REDIS_URL (a private redis-server shared by every test file); an engine inheriting it would
 * share queue names with other tests' engines.
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  if (extra.LI_REDIS_URL === undefined) delete env.LI_REDIS_URL
  for (const k of [
    'LI_PRODUCTION',
    'LI_DATA_DIR',
    'LI_HTTP_PORT',
    'LI_ADMIN_TOKEN',
    'LI_SYNC_MODE',
  ]) {
    if (extra[k] === undefined) delete env[k]
  }
  return env
}

/** Result of a finished child process. */
export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run the CLI to completion (at most 60 s). */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<Finished> {
  requireBuild()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: childEnv(options.env),
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.end(options.input ?? '')
  })
}

/** Run `li-engine send --host 127.0.0.1 --port <port> ...args` to completion. */
export function sendCli(
  port: number,
  args: string[],
  options: { input?: string } = {},
): Promise<Finished> {
  return runCli(['send', '--host', '127.0.0.1', '--port', String(port), ...args], options)
}

/** A running `li-engine run` child process. */
export class EngineProcess {
  readonly child: ChildProcess
  readonly lines: Record<string, unknown>[] = []
  readonly httpPort: number
  readonly token: string
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  private constructor(child: ChildProcess, httpPort: number, token: string) {
    this.child = child
    this.httpPort = httpPort
    this.token = token
    let partial = ''
    child.stdout?.on('data', (c: Buffer) => {
      partial += c.toString()
      const parts = partial.split('\n')
      partial = parts.pop() ?? ''
      for (const p of parts) {
        try {
          this.lines.push(JSON.parse(p) as Record<string, unknown>)
        } catch {
          this.lines.push({ msg: p })
        }
      }
    })
    child.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString()))
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    )
  }

  /**
   * Write the production into `dir` and start the engine on it; resolves once it logged
   * `until` ('production started' unless given).
   */
  static async start(
    dir: string,
    productionXml: string,
    env: NodeJS.ProcessEnv = {},
    until = 'production started',
  ): Promise<EngineProcess> {
    requireBuild()
    const file = path.join(dir, 'production.xml')
    await writeFile(file, productionXml)
    const httpPort = await freePort()
    const token = 'test-token-0123456789'
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        file,
        '--data-dir',
        path.join(dir, 'data'),
        '--http-host',
        '127.0.0.1',
        '--http-port',
        String(httpPort),
      ],
      {
        env: childEnv({ LI_ADMIN_TOKEN: token, LI_DRAIN_TIMEOUT: '5', ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const p = new EngineProcess(child, httpPort, token)
    let exited = false
    void p.exited.then(() => (exited = true))
    await waitFor(
      () => {
        if (exited) throw new Error(`engine exited during start: ${p.stderr}`)
        return p.lines.some((l) => l.msg === until)
      },
      `the engine to log "${until}"`,
      30_000,
    )
    return p
  }

  /** Call the management API (JSON). */
  async api(
    method: string,
    urlPath: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, json: text === '' ? null : (JSON.parse(text) as unknown) }
  }

  /** Send a signal and wait for the exit (at most 40 s). */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 40_000)
    const r = await this.exited
    clearTimeout(timer)
    return r
  }
}
