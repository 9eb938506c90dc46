/**
 * `pnpm loadtest`: end-to-end throughput and latency of the engine, side by side with a bare MLLP
 * forwarder (the ceiling), in one run on 127.0.0.1.
 *
 * What it measures, for each of the two systems under test (each a child process):
 * - `engine`: `li-engine run` with a demo-like production (MLLP in → HL7 router with an IRIS rule
 *   → MLLP out), WAL in fsync mode by default, embedded defaults otherwise;
 * - `forwarder`: the same sockets (`MllpServer`, `MllpClient` of @li/hl7) with no durability: ACK
 *   on receipt, keep the message in memory, forward on one connection.
 * N parallel MLLP senders (default 16) send a fixed count of ~3.3 KB messages; an in-process
 * receiver ACKs every message and notes when each MSH-10 arrived. Reported: throughput (messages
 * per second from the first send to the last arrival at the receiver), ACK latency (sender
 * write → ACK) and end-to-end latency (sender write → arrival at the receiver) p50/p95/p99, CPU
 * seconds of the child (utime+stime from /proc/<pid>/stat) and its peak RSS (VmHWM).
 *
 * CPU is also reported per message, for the child and for the load test process itself, because
 * on a shared machine CPU time per message moves far less than messages per second.
 *
 * `--window N` sets the outbound operation's PipelineWindow (up to N messages awaiting their ACK
 * on its connection) and gives the forwarder's outbound connection the same window, so that the
 * ceiling is not held to one round trip per message when the engine is not.
 *
 * It does not measure anything off 127.0.0.1, and it stops by itself: after the count, when the
 * child exits, or after `--max-seconds` (partial figures are then printed and flagged, exit 1).
 * The load generator shares the machine with the system under test: on 2 cores the figures are a
 * floor, not a ceiling.
 *
 * Usage: node dist/loadtest.js [--count N] [--senders N] [--rate MSG_PER_S] [--size BYTES]
 *        [--sync fsync|async|none] [--pool N] [--window N] [--only engine|forwarder] [--cpu-prof]
 *        [--max-seconds S]
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { MllpClient, MllpServer } from '@li/hl7'

const VT = 0x0b
const FS = 0x1c
const CR = 0x0d

interface Options {
  count: number
  senders: number
  rate: number
  size: number
  sync: string
  pool: number
  window: number
  only: 'engine' | 'forwarder' | undefined
  cpuProf: boolean
  maxSeconds: number
  backlog: boolean
}

interface Result {
  name: string
  sent: number
  acked: number
  arrived: number
  seconds: number
  throughput: number
  /** Messages acknowledged per second (first send to last ACK). */
  ackThroughput: number
  ack: number[]
  e2e: number[]
  /** CPU seconds of the system under test (all its threads) during the measured run. */
  cpuSeconds: number
  /** The part of `cpuSeconds` spent in the kernel (sockets, files, wake-ups). */
  cpuSystemSeconds: number
  /** CPU seconds of the load test process itself (senders and receiver) during the run. */
  loadCpuSeconds: number
  peakRssMb: number
  partial: boolean
  /** Why the run ended before every message arrived (child exited, --max-seconds). */
  stopped: string | undefined
  errors: number
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      count: { type: 'string', default: '20000' },
      senders: { type: 'string', default: '16' },
      rate: { type: 'string', default: '0' },
      size: { type: 'string', default: '3300' },
      sync: { type: 'string', default: 'fsync' },
      pool: { type: 'string', default: '1' },
      window: { type: 'string', default: '1' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'max-seconds': { type: 'string', default: '300' },
      backlog: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(
      'Usage: node apps/engine/dist/loadtest.js [--count N] [--senders N] [--rate MSG_PER_S] [--size BYTES]\n' +
        '       [--sync fsync|async|none] [--pool N] [--window N] [--only engine|forwarder] [--cpu-prof]\n' +
        '       [--max-seconds S]\n' +
        '       node apps/engine/dist/loadtest.js --backlog [--count N] [--senders N] [--size BYTES] [--max-seconds S]\n' +
        '         (receiver down: queue N messages, report memory and disk, SIGKILL, restart, time the\n' +
        '          resume, then start the receiver and check every acknowledged message arrives)\n',
    )
    process.exit(0)
  }
  const int = (v: string, name: string, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`)
    return n
  }
  const only = values.only
  if (only !== undefined && only !== 'engine' && only !== 'forwarder') {
    throw new Error(`--only must be engine or forwarder, got "${only}"`)
  }
  if (!['fsync', 'async', 'none'].includes(values.sync))
    throw new Error(`--sync must be fsync, async or none`)
  return {
    count: int(values.count, 'count', 1),
    senders: int(values.senders, 'senders', 1),
    rate: int(values.rate, 'rate', 0),
    size: int(values.size, 'size', 200),
    sync: values.sync,
    pool: int(values.pool, 'pool', 1),
    window: int(values.window, 'window', 1),
    only,
    cpuProf: values['cpu-prof'],
    maxSeconds: int(values['max-seconds'], 'max-seconds', 1),
    backlog: values.backlog,
  }
}

/**
 * A synthetic ORU of about `size` bytes with control id `id` (no real patient data). The OBX
 * segments do not depend on the id, so they are built once per size (`messageTail`).
 */
function message(id: string, size: number): string {
  return messageHead(id) + messageTail(size)
}

function messageHead(id: string): string {
  return (
    `MSH|^~\\&|LAB|RXX01|EPR|RXX01|20261127120000||ORU^R01^ORU_R01|${id}|P|2.5\r` +
    `PID|1||${id}^^^RXX01^MR~9990000000^^^NHS^NH||LOADTEST^PATIENT^^^MR||19700101|M|||1 Test Street^^Leeds^^LS1 1AA^GBR\r` +
    `OBR|1||${id}|FBC^Full blood count^L|||20261127115500\r`
  )
}

const tails = new Map<number, string>()
function messageTail(size: number): string {
  let tail = tails.get(size)
  if (tail !== undefined) return tail
  const parts: string[] = []
  let len = messageHead('E0000').length
  for (let i = 1; len < size; i++) {
    const obx = `OBX|${i}|TX|NOTE^Result note^L||${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(2)}||||||F\r`
    parts.push(obx)
    len += obx.length
  }
  tail = parts.join('')
  tails.set(size, tail)
  return tail
}

function controlId(frame: Buffer): string {
  // MSH-10 is the 10th field: find the 9th '|' of the first segment.
  let n = 0
  let start = -1
  for (let i = 0; i < frame.length && frame[i] !== CR; i++) {
    if (frame[i] === 0x7c) {
      n++
      if (n === 9) start = i + 1
      else if (n === 10) return frame.subarray(start, i).toString('latin1')
    }
  }
  return ''
}

/** The receiver: a plain `net` MLLP peer that ACKs everything and notes arrival times. */
class Receiver {
  readonly arrivals = new Map<string, number>()
  readonly server: net.Server
  duplicates = 0
  /** First arrivals whose control id starts with the prefix set by `countPrefix`. */
  counted = 0
  #prefix = '\u0000'
  readonly #sockets = new Set<net.Socket>()

  /** Count first arrivals of ids that start with `prefix` from now on (from zero). */
  countPrefix(prefix: string): void {
    this.#prefix = prefix
    this.counted = 0
  }

  constructor() {
    this.server = net.createServer((socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
      socket.setNoDelay(true)
      socket.on('error', () => undefined)
      let buf: Buffer = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        const acks: Buffer[] = []
        for (;;) {
          const s = buf.indexOf(VT)
          if (s < 0) {
            buf = Buffer.alloc(0)
            break
          }
          const e = buf.indexOf(FS, s + 1)
          if (e < 0 || e + 1 >= buf.length) {
            buf = buf.subarray(s)
            break
          }
          const id = controlId(buf.subarray(s + 1, e))
          if (this.arrivals.has(id)) this.duplicates++
          else {
            this.arrivals.set(id, performance.now())
            if (id.startsWith(this.#prefix)) this.counted++
          }
          acks.push(
            Buffer.from(
              `\x0bMSH|^~\\&|EPR|RXX01|LAB|RXX01|20261127120001||ACK^R01^ACK|A${id}|P|2.5\rMSA|AA|${id}\r\x1c\r`,
              'latin1',
            ),
          )
          buf = buf.subarray(e + 2)
        }
        if (acks.length > 0) socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks))
      })
    })
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r))
    return (this.server.address() as net.AddressInfo).port
  }

  /** Stops listening and drops the connections still open (a child that died left them). */
  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    return new Promise((r) => this.server.close(() => r()))
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

function production(inPort: number, outPort: number, pool: number, window: number): string {
  const rules = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Load.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="results to the EPR">
<constraint name="source" value="MLLP.In"></constraint>
<when condition="HL7.{MSH:9.1}=&quot;ORU&quot;">
<send transform="" target="EPR.Out"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`
  const prod = `<Production Name="Load.Production" TestingEnabled="false" LogGeneralTraceEvents="false">
  <Item Name="MLLP.In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">${inPort}</Setting>
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router</Setting>
    <Setting Target="Host" Name="AckMode">Immed</Setting>
  </Item>
  <Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="${pool}" Enabled="true">
    <Setting Target="Host" Name="BusinessRuleName">Load.Rules</Setting>
  </Item>
  <Item Name="EPR.Out" ClassName="EnsLib.HL7.Operation.TCPOperation" PoolSize="${pool}" Enabled="true">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">${outPort}</Setting>
    <Setting Target="Host" Name="RetryInterval">1</Setting>
    <Setting Target="Host" Name="FailureTimeout">-1</Setting>${window > 1 ? `\n    <Setting Target="Host" Name="PipelineWindow">${window}</Setting>` : ''}
  </Item>
</Production>`
  const cls = (name: string, superClass: string, xdata: string, body: string): string =>
    `<Class name="${name}">\n<Super>${superClass}</Super>\n<XData name="${xdata}">\n<Data><![CDATA[\n${body}\n]]></Data>\n</XData>\n</Class>`
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Export generator="IRIS" version="26">\n${cls('Load.Rules', 'Ens.Rule.Definition', 'RuleDefinition', rules)}\n${cls('Load.Production', 'Ens.Production', 'ProductionDefinition', prod)}\n</Export>\n`
}

/** CPU seconds (user + system, and system alone) of a process from /proc/<pid>/stat. */
async function cpuSeconds(pid: number): Promise<{ total: number; system: number }> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const system = Number(fields[12]) / 100
    return { total: Number(fields[11]) / 100 + system, system }
  } catch {
    return { total: Number.NaN, system: Number.NaN }
  }
}

/** Peak resident set size (VmHWM) in MB from /proc/<pid>/status. */
async function peakRssMb(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const m = /VmHWM:\s+(\d+) kB/.exec(status)
    return m === null ? Number.NaN : Number(m[1]) / 1024
  } catch {
    return Number.NaN
  }
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(
      () => reject(new Error(`child did not print ${pattern} within ${timeoutMs} ms:\n${seen}`)),
      timeoutMs,
    )
    const onData = (c: Buffer): void => {
      seen += c.toString()
      if (pattern.test(seen)) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (c: Buffer) => (seen += c.toString()))
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`child exited (${code}) before it was ready:\n${seen}`))
    })
  })
}

/** Children still running, killed if the load test itself is interrupted or fails. */
const children = new Set<ChildProcess>()

function exited(child: ChildProcess): boolean {
  // A child killed by a signal has `signalCode` set and `exitCode` null: waiting for an 'exit'
  // event that had already been emitted is what used to hang the load test after the engine died.
  return child.exitCode !== null || child.signalCode !== null
}

/** SIGTERM (the engine drains), SIGKILL after 30 s; resolves once the child has exited. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (exited(child)) return resolve()
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000)
    // Never wait for ever, even if the 'exit' event was missed.
    const giveUp = setTimeout(done, 35_000)
    function done(): void {
      clearTimeout(kill)
      clearTimeout(giveUp)
      resolve()
    }
    child.once('exit', done)
    child.kill('SIGTERM')
  })
}

/** Drive `inPort` with N senders and wait for every message at the receiver. */
async function drive(
  name: string,
  child: ChildProcess,
  inPort: number,
  receiver: Receiver,
  o: Options,
  prefix: string,
): Promise<Result> {
  const pid = child.pid!
  // The run ends early (and reports partial figures) when the child exits or --max-seconds
  // passes: every client is destroyed, which settles every send still waiting for an ACK.
  let stopped: string | undefined
  const clients = new Set<MllpClient>()
  const stop = (reason: string): void => {
    if (stopped !== undefined) return
    stopped = reason
    for (const c of clients) c.destroy()
  }
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
    stop(`${name} exited (${signal ?? String(code)}) during the run`)
  child.once('exit', onExit)
  const client = (): MllpClient => {
    const c = new MllpClient({ port: inPort, ackTimeoutMs: 60_000 })
    c.on('error', () => undefined)
    clients.add(c)
    return c
  }
  let timer = setTimeout(() => stop('the warm-up did not finish within 60 s'), 60_000)
  try {
    // Warm-up: 1% of the count (at least 200), one sender, not measured.
    const warm = Math.max(200, Math.floor(o.count / 100))
    receiver.countPrefix(`${prefix}W`)
    {
      const c = client()
      for (let i = 0; i < warm && stopped === undefined; i++)
        await c.send(message(`${prefix}W${i}`, o.size)).catch(() => undefined)
      await c.close().catch(() => undefined)
      clients.delete(c)
    }
    while (receiver.counted < warm && stopped === undefined)
      await new Promise((r) => setTimeout(r, 20))
    clearTimeout(timer)
    if (stopped !== undefined) throw new Error(`${name}: ${stopped}`)
    receiver.countPrefix(`${prefix}M`)
    const cpu0 = await cpuSeconds(pid)
    const sentAt = new Map<string, number>()
    const ack: number[] = []
    let acked = 0
    let errors = 0
    let sent = 0
    const self0 = process.cpuUsage()
    const t0 = performance.now()
    timer = setTimeout(() => stop(`--max-seconds ${o.maxSeconds} reached`), o.maxSeconds * 1000)
    const perSender = Math.ceil(o.count / o.senders)
    const interval = o.rate > 0 ? (1000 * o.senders) / o.rate : 0
    const senders = Array.from({ length: o.senders }, async (_, s) => {
      const c = client()
      const start = performance.now()
      for (let i = 0; i < perSender && stopped === undefined; i++) {
        const n = s * perSender + i
        if (n >= o.count) break
        if (interval > 0) {
          const wait = start + i * interval - performance.now()
          if (wait > 1) await new Promise((r) => setTimeout(r, wait))
        }
        const id = `${prefix}M${n}`
        const text = message(id, o.size)
        const at = performance.now()
        sentAt.set(id, at)
        sent++
        try {
          const a = await c.send(text)
          if (a.accepted) acked++
          else errors++
          ack.push(performance.now() - at)
        } catch {
          if (stopped === undefined) errors++
        }
      }
      await c.close().catch(() => undefined)
      clients.delete(c)
    })
    await Promise.all(senders)
    const ackSeconds = (performance.now() - t0) / 1000
    while (receiver.counted < sent && stopped === undefined)
      await new Promise((r) => setTimeout(r, 10))
    const self = process.cpuUsage(self0)
    const e2e: number[] = []
    let last = t0
    for (const [id, at] of sentAt) {
      const arrived = receiver.arrivals.get(id)
      if (arrived === undefined) continue
      e2e.push(arrived - at)
      if (arrived > last) last = arrived
    }
    const cpu1 = await cpuSeconds(pid)
    const seconds = (last - t0) / 1000
    return {
      name,
      sent,
      acked,
      arrived: e2e.length,
      seconds,
      throughput: e2e.length / seconds,
      ackThroughput: acked / ackSeconds,
      ack,
      e2e,
      cpuSeconds: cpu1.total - cpu0.total,
      cpuSystemSeconds: cpu1.system - cpu0.system,
      loadCpuSeconds: (self.user + self.system) / 1e6,
      peakRssMb: await peakRssMb(pid),
      partial: e2e.length < o.count,
      stopped,
      errors,
    }
  } finally {
    clearTimeout(timer)
    child.off('exit', onExit)
    for (const c of clients) c.destroy()
  }
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

function row(r: Result): string {
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-')
  const perMessage = r.arrived > 0 ? (1e6 * r.cpuSeconds) / r.arrived : Number.NaN
  const loadPerMessage = r.sent > 0 ? (1e6 * r.loadCpuSeconds) / r.sent : Number.NaN
  return `| ${r.name}${r.partial ? ' (partial)' : ''} | ${r.arrived}/${r.sent} | ${f(r.seconds, 2)} | ${Math.round(r.ackThroughput)} | ${Math.round(r.throughput)} | ${f(pct(r.ack, 50))} / ${f(pct(r.ack, 95))} / ${f(pct(r.ack, 99))} | ${f(pct(r.e2e, 50))} / ${f(pct(r.e2e, 95))} / ${f(pct(r.e2e, 99))} | ${f(r.cpuSeconds, 2)} (${f((100 * r.cpuSeconds) / r.seconds, 0)}%; ${f((100 * r.cpuSystemSeconds) / r.cpuSeconds, 0)}% system) | ${f(perMessage, 0)} | ${f(loadPerMessage, 0)} | ${f(r.peakRssMb, 0)} |`
}

/** Top functions by self time in a .cpuprofile. */
async function profileSummary(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length === 0) return 'no .cpuprofile written\n'
  const prof = JSON.parse(await readFile(path.join(dir, files[0]!), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
    samples: number[]
  }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const counts = new Map<string, number>()
  for (const s of prof.samples) {
    const n = byId.get(s)
    if (n === undefined) continue
    const url = n.callFrame.url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/(packages|node_modules)\//, '$1/')
    const key = `${n.callFrame.functionName || '(anonymous)'} ${url}${url === '' ? '' : `:${n.callFrame.lineNumber + 1}`}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  const total = prof.samples.length
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)
  return (
    `profile: ${path.join(dir, files[0]!)} (${total} samples)\n` +
    top.map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`).join('\n') +
    '\n'
  )
}

/**
 * Forwarder mode (a child of the load test): ACK on receipt, forward from memory on one
 * connection with up to `window` messages awaiting their ACK (the engine's PipelineWindow), so
 * that its outbound leg is not held to one round trip per message when the engine's is not.
 */
async function forwarder(inPort: number, outPort: number, window: number): Promise<void> {
  const pending: Buffer[] = []
  let head = 0
  let inFlight = 0
  const client = new MllpClient({ port: outPort, ackTimeoutMs: 60_000, window })
  client.on('error', () => undefined)
  const done = (): void => {
    inFlight--
    pump()
  }
  const failed = (e: unknown): void => {
    process.stderr.write(`forwarder: send failed: ${e instanceof Error ? e.message : String(e)}\n`)
    done()
  }
  const pump = (): void => {
    while (inFlight < window && head < pending.length) {
      const next = pending[head++]!
      if (head > 4096 && head * 2 > pending.length) {
        pending.splice(0, head)
        head = 0
      }
      inFlight++
      client.send(next).then(done, failed)
    }
  }
  const server = new MllpServer({
    handler: (frame, ctx) => {
      pending.push(Buffer.from(frame))
      pump()
      return ctx.ack('AA')
    },
  })
  await server.listen(inPort, '127.0.0.1')
  process.stdout.write('forwarder listening\n')
  process.on('SIGTERM', () => {
    client.destroy()
    void server.close().then(() => process.exit(0))
  })
}

/** The `li-engine run` arguments of a load-test engine (HTTP on loopback, info logs). */
function runArgs(
  cli: string,
  file: string,
  dataDir: string,
  httpPort: number,
  sync: string,
): string[] {
  const a = ['run', file, '--data-dir', dataDir, '--http-host', '127.0.0.1']
  return [cli, ...a, '--http-port', String(httpPort), '--sync', sync, '--log-level', 'info']
}

async function runOne(
  kind: 'engine' | 'forwarder',
  o: Options,
  receiver: Receiver,
  outPort: number,
  work: string,
): Promise<{ result: Result; profile?: string }> {
  const inPort = await freePort()
  const self = fileURLToPath(import.meta.url)
  const cli = path.join(path.dirname(self), 'cli.js')
  const profDir = path.join(tmpdir(), `li-loadtest-prof-${kind}-${process.pid}`)
  const nodeArgs = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []
  let child: ChildProcess
  if (kind === 'engine') {
    const file = path.join(work, 'production.xml')
    await writeFile(file, production(inPort, outPort, o.pool, o.window))
    const httpPort = await freePort()
    const env = { ...process.env }
    delete env.LI_REDIS_URL
    child = spawn(
      process.execPath,
      [...nodeArgs, ...runArgs(cli, file, path.join(work, 'data'), httpPort, o.sync)],
      {
        env: { ...env, LI_ADMIN_TOKEN: 'loadtest', LI_DRAIN_TIMEOUT: '5' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
  } else {
    child = spawn(
      process.execPath,
      [...nodeArgs, self, '--forwarder', String(inPort), String(outPort), String(o.window)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
  }
  children.add(child)
  child.once('exit', () => children.delete(child))
  try {
    if (kind === 'engine') await waitForLine(child, /production started/, 60_000)
    else await waitForLine(child, /forwarder listening/, 30_000)
    child.stdout?.resume()
    child.stderr?.resume()
    const result = await drive(kind, child, inPort, receiver, o, kind === 'engine' ? 'E' : 'F')
    return { result }
  } finally {
    await stopChild(child)
    if (o.cpuProf)
      process.stdout.write(
        `\n${kind} ${await profileSummary(profDir).catch((e: Error) => e.message)}`,
      )
  }
}

/** Bytes of the files under `dir` (0 if it does not exist). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  for (const name of names) {
    const p = path.join(dir, name)
    const st = await stat(p).catch(() => undefined)
    if (st === undefined) continue
    total += st.isDirectory() ? await bytesUnder(p) : st.size
  }
  return total
}

/** Current resident set size (VmRSS) in MB. */
async function rssMb(pid: number): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
    return m === null ? Number.NaN : Number(m[1]) / 1024
  } catch {
    return Number.NaN
  }
}

/**
 * Backlog mode: the receiver is down while `count` messages are sent and acknowledged, so they
 * queue up in the engine (a downstream outage). Reports the engine's peak memory and the disk the
 * backlog takes, kills the engine with SIGKILL, restarts it and times the resume of the WAL
 * entries (polling /health/live meanwhile), then starts the receiver and checks that every
 * acknowledged message arrives.
 */
async function backlogRun(o: Options, work: string): Promise<number> {
  const inPort = await freePort()
  const outPort = await freePort()
  const file = path.join(work, 'production.xml')
  await writeFile(file, production(inPort, outPort, o.pool, o.window))
  const dataDir = path.join(work, 'data')
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.js')
  const env: NodeJS.ProcessEnv = { ...process.env, LI_ADMIN_TOKEN: 'loadtest' }
  delete env.LI_REDIS_URL
  const start = async (): Promise<{ child: ChildProcess; httpPort: number; lines: string[] }> => {
    const httpPort = await freePort()
    const child = spawn(process.execPath, runArgs(cli, file, dataDir, httpPort, o.sync), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    child.once('exit', () => children.delete(child))
    const lines: string[] = []
    let rest = ''
    child.stdout?.on('data', (c: Buffer) => {
      const parts = (rest + c.toString()).split('\n')
      rest = parts.pop() ?? ''
      lines.push(...parts)
    })
    child.stderr?.resume()
    return { child, httpPort, lines }
  }
  const sampleRss = (pid: number): { stop: () => number } => {
    let peak = 0
    const t = setInterval(() => void rssMb(pid).then((m) => (peak = Math.max(peak, m || 0))), 250)
    return {
      stop: () => {
        clearInterval(t)
        return peak
      },
    }
  }
  const deadline = Date.now() + o.maxSeconds * 1000
  const until = async (what: string, ok: () => boolean | Promise<boolean>): Promise<void> => {
    while (!(await ok())) {
      if (Date.now() > deadline)
        throw new Error(`--max-seconds ${o.maxSeconds} reached waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  // 1. Receiver down: every message queues up behind EPR.Out.
  const first = await start()
  await until('the engine to start', () =>
    first.lines.some((l) => l.includes('production started')),
  )
  const pid1 = first.child.pid!
  const rss1 = sampleRss(pid1)
  const acked = new Set<string>()
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: o.senders }, async () => {
      const c = new MllpClient({ port: inPort, ackTimeoutMs: 60_000 })
      c.on('error', () => undefined)
      try {
        while (next < o.count && Date.now() < deadline) {
          const id = `B${next++}`
          const a = await c.send(message(id, o.size))
          if (a.accepted) acked.add(id)
        }
      } finally {
        await c.close().catch(() => undefined)
      }
    }),
  )
  const sendSeconds = (performance.now() - t0) / 1000
  await new Promise((r) => setTimeout(r, 2000))
  const peak1 = rss1.stop()
  const spill = await bytesUnder(path.join(dataDir, 'queue-spill'))
  const walBytes = await bytesUnder(path.join(dataDir, 'wal'))
  const exit1 = new Promise((r) => first.child.once('exit', r))
  first.child.kill('SIGKILL')
  await exit1

  // 2. Restart: time the resume; liveness must answer meanwhile.
  const t1 = performance.now()
  const second = await start()
  const pid2 = second.child.pid!
  const rss2 = sampleRss(pid2)
  let liveOk = 0
  let liveFailed = 0
  const started = (): boolean => second.lines.some((l) => l.includes('production started'))
  while (!started()) {
    if (Date.now() > deadline)
      throw new Error(`--max-seconds ${o.maxSeconds} reached during the resume`)
    if (exited(second.child)) throw new Error('the engine exited during the resume')
    try {
      const r = await fetch(`http://127.0.0.1:${second.httpPort}/health/live`, {
        signal: AbortSignal.timeout(1000),
      })
      if (r.status === 200) liveOk++
      else if (liveOk > 0) liveFailed++
    } catch {
      // Before the first answer the process is still booting (loading the production).
      if (liveOk > 0) liveFailed++
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  const startSeconds = (performance.now() - t1) / 1000
  const resumedLine = second.lines.find((l) => l.includes('resumed WAL entries'))
  const resumeMs =
    resumedLine === undefined
      ? Number.NaN
      : Number((JSON.parse(resumedLine) as { durationMs?: number }).durationMs)
  const peak2 = rss2.stop()

  // 3. The receiver comes back: every acknowledged message must arrive.
  const receiver = new Receiver()
  receiver.countPrefix('B')
  await receiver.listen(outPort)
  const t2 = performance.now()
  try {
    await until('every acknowledged message at the receiver', () =>
      [...acked].every((id) => receiver.arrivals.has(id)),
    )
  } catch (e) {
    process.stdout.write(`${e instanceof Error ? e.message : String(e)}\n`)
  }
  const drainSeconds = (performance.now() - t2) / 1000
  const missing = [...acked].filter((id) => !receiver.arrivals.has(id)).length
  await stopChild(second.child)
  await receiver.close()
  const mb = (b: number): string => (b / 1024 / 1024).toFixed(0)
  process.stdout.write(
    `\n| phase | figures |\n|---|---|\n` +
      `| backlog (receiver down) | ${acked.size} of ${o.count} ACKed in ${sendSeconds.toFixed(1)} s; engine peak RSS ${peak1.toFixed(0)} MB; WAL ${mb(walBytes)} MB, queue spill ${mb(spill)} MB on disk |\n` +
      `| restart after SIGKILL | production started after ${startSeconds.toFixed(1)} s (resume ${(resumeMs / 1000).toFixed(1)} s); /health/live answered ${liveOk} of ${liveOk + liveFailed} polls from its first answer on; peak RSS ${peak2.toFixed(0)} MB |\n` +
      `| receiver back | ${acked.size - missing} of ${acked.size} acknowledged messages arrived in ${drainSeconds.toFixed(1)} s; ${receiver.duplicates} duplicates |\n`,
  )
  return missing === 0 && liveFailed === 0 && liveOk > 0 ? 0 : 1
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv[0] === '--forwarder') {
    await forwarder(Number(argv[1]), Number(argv[2]), Number(argv[3] ?? '1'))
    return
  }
  const o = options(argv)
  // Interrupted (Ctrl-C) or failing: no engine or forwarder is left running behind.
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL')
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))
  const work = await mkdtemp(path.join(tmpdir(), 'li-loadtest-'))
  if (o.backlog) {
    process.stdout.write(
      `backlog test: ${o.count} messages of ~${o.size} B from ${o.senders} senders, receiver down; work dir ${work}\n`,
    )
    let code = 1
    try {
      code = await backlogRun(o, work)
    } finally {
      await rm(work, { recursive: true, force: true }).catch(() => undefined)
    }
    process.exit(code)
  }
  const receiver = new Receiver()
  const outPort = await receiver.listen()
  process.stdout.write(
    `load test: ${o.count} messages of ~${o.size} B from ${o.senders} senders${o.rate > 0 ? ` at ${o.rate} msg/s` : ' (unthrottled)'}; engine WAL ${o.sync}, PoolSize ${o.pool}, PipelineWindow ${o.window}; work dir ${work}\n`,
  )
  const results: Result[] = []
  const problems: string[] = []
  try {
    for (const kind of ['forwarder', 'engine'] as const) {
      if (o.only !== undefined && o.only !== kind) continue
      process.stdout.write(`running ${kind}...\n`)
      try {
        results.push((await runOne(kind, o, receiver, outPort, work)).result)
      } catch (e) {
        problems.push(`${kind}: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
  } finally {
    await receiver.close()
    await rm(work, { recursive: true, force: true }).catch(() => undefined)
  }
  process.stdout.write(
    '\n| system | arrived/sent | seconds | msg/s ACKed | msg/s end to end | ACK ms p50 / p95 / p99 | end-to-end ms p50 / p95 / p99 | CPU s (of one core) | CPU µs/msg | load generator CPU µs/msg | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|\n',
  )
  for (const r of results) process.stdout.write(`${row(r)}\n`)
  for (const r of results.filter((x) => x.errors > 0 || x.partial)) {
    problems.push(
      `${r.name}: ${r.errors} send errors, ${r.sent - r.arrived} not arrived${r.stopped === undefined ? '' : ` (${r.stopped})`}`,
    )
  }
  for (const p of problems) process.stdout.write(`${p}\n`)
  if (receiver.duplicates > 0)
    process.stdout.write(`receiver saw ${receiver.duplicates} duplicates\n`)
  // Exit explicitly: a client's reconnect timer or a half-closed socket must not keep the load
  // test running after it reported.
  process.exit(problems.length > 0 ? 1 : 0)
}

main().catch((e: unknown) => {
  process.stderr.write(`loadtest: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
})
