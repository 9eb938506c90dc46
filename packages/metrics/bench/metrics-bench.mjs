// Benchmark of @li/metrics against prom-client used directly, the metrics a user would write
// instead: the same series (names, help, label names, buckets) on a Registry of their own.
//
// (a)/(b) Per-message recording, ns per message. One message is the six calls the engine makes for
//   a message that goes in through a service and out through an operation (packages/engine/src:
//   message-path.ts records received + size in; operation-host.ts records sent + size out +
//   processing time; the router or process records processing time): received(service, type),
//   size(service, in), processing(service), sent(operation, target), size(operation, out),
//   processing(operation). 20 host names, 4 message types, 3 targets, sizes and times drawn once
//   from a fixed seed; both sides replay the same inputs. "li" calls LiMetrics' record* methods;
//   "raw" calls Counter.inc / Histogram.observe with a label object, as prom-client's README does.
//   Diagnostic: "labels only", the eight LabelLimiter.value calls LiMetrics makes per message (the
//   label hygiene: shape check, length cut, distinct-value bound), which is all that li adds; and
//   "raw + labels", raw behind those same calls (what li should cost if the hygiene is its only
//   extra work).
// (c) Rendering /metrics (registry.metrics(), what metricsHandler serves) for productions of 50 and
//   500 hosts, ms per scrape and output size. Both registries hold the same li_ series with the
//   same values: each host has received (4 types), sent, failed, both histograms, connections,
//   status and a tracked queue (read at scrape time, through collect callbacks on both sides), plus
//   the WAL and data-volume gauges; the two outputs are checked byte for byte. prom-client's default
//   process metrics are off on both; "li + defaults" is the engine's own configuration
//   (new LiMetrics() registers them), as a diagnostic.
//
// Contenders run interleaved, in a rotating order, LI_BENCH_ROUNDS (default 11) rounds; figures are
// medians, ratios (li/raw) medians of per-round ratios. LI_BENCH_SCALE (default 1) scales the
// message and scrape counts (the default run takes about a minute on 2 shared cores).
// Runs over dist/ (plain Node): `pnpm --filter @li/metrics bench` builds first.
// Speed is measured only here, never asserted in tests.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))
if (!existsSync(dist)) {
  console.error(`${dist} is missing: run pnpm --filter @li/metrics build first`)
  process.exit(2)
}
const { LiMetrics, LabelLimiter } = await import(dist)
const { MESSAGE_TYPE_SHAPE, NAME_SHAPE } = await import('../dist/labels.js')

const scale = Number(process.env.LI_BENCH_SCALE ?? '1')
const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? '11')
const MESSAGES = Math.max(1000, Math.round(250_000 * scale))
const SCRAPES = {
  50: Math.max(2, Math.round(100 * scale)),
  500: Math.max(2, Math.round(12 * scale)),
}
const promVersion = createRequire(import.meta.url)('prom-client/package.json').version

/** A small deterministic generator (mulberry32), so every run replays the same inputs. */
function rng(seed) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const TYPES = ['ADT_A01', 'ADT_A08', 'ORU_R01', 'ORM_O01']
const TARGETS = ['EPR:2575', 'LAB:2575', 'RIS:2575']
const hostName = (i) => `${['PAS-In', 'Router', 'EPR-Out'][i % 3]}-${String(i).padStart(3, '0')}`

/** The inputs of `n` messages over `hosts` host names (drawn once, untimed). */
function messages(n, hosts) {
  const r = rng(42)
  const names = Array.from({ length: hosts }, (_, i) => hostName(i))
  const pick = (xs) => xs[Math.floor(r() * xs.length)]
  return Array.from({ length: n }, () => ({
    service: pick(names),
    operation: pick(names),
    type: pick(TYPES),
    target: pick(TARGETS),
    sizeIn: Math.round(200 + r() * 8000),
    sizeOut: Math.round(200 + r() * 8000),
    secondsIn: r() * 0.02,
    secondsOut: r() * 0.2,
  }))
}

/**
 * What a user writes instead of LiMetrics: the same metrics on their own registry, recorded with
 * prom-client's label-object API. Help texts are read from `li`'s registry so that the two
 * /metrics outputs can be compared byte for byte; names, labels and buckets are written out here.
 */
function createRaw(li, sources) {
  const registry = new Registry()
  const registers = [registry]
  const help = (name) => li.registry.getSingleMetric(name).help
  const counter = (name, labelNames) =>
    new Counter({ name, help: help(name), labelNames, registers })
  const received = counter('li_messages_received_total', ['host', 'message_type'])
  const sent = counter('li_messages_sent_total', ['host', 'target'])
  const failed = counter('li_messages_failed_total', ['host', 'error_type'])
  const processing = new Histogram({
    name: 'li_message_processing_seconds',
    help: help('li_message_processing_seconds'),
    labelNames: ['host'],
    buckets: [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ],
    registers,
  })
  const size = new Histogram({
    name: 'li_message_size_bytes',
    help: help('li_message_size_bytes'),
    labelNames: ['host', 'direction'],
    buckets: [
      100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
      4_000_000, 16_777_216,
    ],
    registers,
  })
  const connections = new Gauge({
    name: 'li_connections_active',
    help: help('li_connections_active'),
    labelNames: ['host', 'adapter'],
    registers,
  })
  // Read at scrape time, as LiMetrics does (a pushed gauge would be stale between pushes).
  const queueGauge = (name, pick) =>
    new Gauge({
      name,
      help: help(name),
      labelNames: ['host'],
      registers,
      async collect() {
        for (const [host, source] of sources.queues) this.set({ host }, pick(await source()))
      },
    })
  queueGauge('li_queue_depth', (s) => s.depth)
  queueGauge('li_queue_oldest_age_seconds', (s) => s.oldestAgeMs / 1000)
  const status = new Gauge({
    name: 'li_host_status',
    help: help('li_host_status'),
    labelNames: ['host', 'type'],
    registers,
  })
  new Gauge({
    name: 'li_wal_pending',
    help: help('li_wal_pending'),
    registers,
    async collect() {
      this.set(await sources.wal())
    },
  })
  counter('li_store_purge_runs_total', ['result'])
  counter('li_store_purged_messages_total', [])
  new Gauge({
    name: 'li_store_purge_last_success_timestamp_seconds',
    help: help('li_store_purge_last_success_timestamp_seconds'),
    registers,
    collect() {
      this.remove({}) // no purge ran in this bench: absent, as LiMetrics leaves it
    },
  })
  new Histogram({
    name: 'li_store_purge_duration_seconds',
    help: help('li_store_purge_duration_seconds'),
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers,
  })
  for (const [name, pick] of [
    ['li_data_volume_free_bytes', (v) => v.freeBytes],
    ['li_data_volume_size_bytes', (v) => v.sizeBytes],
  ]) {
    new Gauge({
      name,
      help: help(name),
      registers,
      async collect() {
        this.set(pick(await sources.volume()))
      },
    })
  }
  return {
    registry,
    recordMessageReceived: (host, type) => received.inc({ host, message_type: type }),
    recordMessageSent: (host, target) => sent.inc({ host, target }),
    recordMessageFailed: (host, errorType) => failed.inc({ host, error_type: errorType }),
    recordProcessingTime: (host, seconds) => processing.observe({ host }, seconds),
    recordMessageSize: (host, direction, bytes) => size.observe({ host, direction }, bytes),
    setConnectionsActive: (host, adapter, n) => connections.set({ host, adapter }, n),
    setHostStatus: (host, type, running) => status.set({ host, type }, running ? 1 : 0),
  }
}

/** The scrape-time sources both sides read: queues, WAL and data volume. */
function createSources() {
  return {
    queues: new Map(),
    wal: () => 12,
    volume: () => ({ freeBytes: 40e9, sizeBytes: 100e9 }),
  }
}

/** A LiMetrics and its raw twin on the same sources, with no default process metrics. */
function createPair(defaults = false) {
  const li = new LiMetrics({ collectDefaultMetrics: defaults })
  const sources = createSources()
  li.trackWal(sources.wal)
  li.trackDataVolume(sources.volume)
  return { li, raw: createRaw(li, sources), sources }
}

/**
 * A fresh copy of the per-message loop: one message as the engine records it (see the header).
 * Each contender gets its own copy, compiled separately, so that its call sites see one receiver
 * shape, as the engine's do; a shared loop would go megamorphic and slow down whoever ran on it
 * with several shapes (measured: li 3.4 µs, raw + labels 4.3 µs on a shared loop).
 */
function recorder() {
  return new Function(
    'm',
    'inputs',
    `for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i]
      m.recordMessageReceived(x.service, x.type)
      m.recordMessageSize(x.service, 'in', x.sizeIn)
      m.recordProcessingTime(x.service, x.secondsIn)
      m.recordMessageSent(x.operation, x.target)
      m.recordMessageSize(x.operation, 'out', x.sizeOut)
      m.recordProcessingTime(x.operation, x.secondsOut)
    }`,
  )
}

/** The label hygiene LiMetrics applies per message, alone (same limiters, same calls). */
function createLimiters() {
  const names = new LabelLimiter(1000, NAME_SHAPE, 128)
  const types = new LabelLimiter(200, MESSAGE_TYPE_SHAPE)
  let sink = 0
  return {
    run(inputs) {
      for (let i = 0; i < inputs.length; i++) {
        const x = inputs[i]
        sink += names.value(x.service).length + types.value(x.type).length
        sink += names.value(x.service).length + names.value(x.service).length
        sink += names.value(x.operation).length + names.value(x.target).length
        sink += names.value(x.operation).length + names.value(x.operation).length
      }
      return sink
    },
  }
}

/**
 * `raw` behind the same label hygiene as LiMetrics (the same limiters, called the same way): if
 * li's extra cost is its label hygiene, this costs what li costs.
 */
function withLabels(raw) {
  const names = new LabelLimiter(1000, NAME_SHAPE, 128)
  const types = new LabelLimiter(200, MESSAGE_TYPE_SHAPE)
  return {
    recordMessageReceived: (host, type) =>
      raw.recordMessageReceived(names.value(host), types.value(type)),
    recordMessageSent: (host, target) =>
      raw.recordMessageSent(names.value(host), names.value(target)),
    recordProcessingTime: (host, seconds) => raw.recordProcessingTime(names.value(host), seconds),
    recordMessageSize: (host, direction, bytes) =>
      raw.recordMessageSize(names.value(host), direction, bytes),
  }
}

/** Nanoseconds per message of `fn(inputs)`. */
function nsPerMessage(fn, inputs) {
  const t0 = process.hrtime.bigint()
  fn(inputs)
  return Number(process.hrtime.bigint() - t0) / inputs.length
}

/** Milliseconds per scrape of `registry` over `n` scrapes; also the output. */
async function msPerScrape(registry, n) {
  let text = ''
  const t0 = performance.now()
  for (let i = 0; i < n; i++) text = await registry.metrics()
  return { ms: (performance.now() - t0) / n, text }
}

/** Records the state of a production of `hosts` hosts into `m` (untimed). */
function populate(m, sources, hosts, track) {
  const r = rng(7)
  for (let i = 0; i < hosts; i++) {
    const host = hostName(i)
    const kind = ['service', 'process', 'operation'][i % 3]
    for (const type of TYPES) {
      for (let k = 0; k < 3; k++) m.recordMessageReceived(host, type)
    }
    m.recordMessageSent(host, TARGETS[i % TARGETS.length])
    m.recordMessageFailed(host, 'invalid')
    for (let k = 0; k < 20; k++) {
      m.recordProcessingTime(host, r() * 0.5)
      m.recordMessageSize(host, 'in', Math.round(100 + r() * 50_000))
      m.recordMessageSize(host, 'out', Math.round(100 + r() * 50_000))
    }
    if (kind !== 'process') m.setConnectionsActive(host, 'mllp', 1 + (i % 4))
    m.setHostStatus(host, kind, true)
    if (track) {
      const source = () => ({ depth: i % 17, oldestAgeMs: (i % 5) * 250 })
      sources.queues.set(host, source)
      m.trackQueue(host, source)
    }
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ratio = (a, b) => median(a.map((x, i) => x / b[i]))
const fmt = (x, digits = 0) =>
  x.toLocaleString('en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** Runs `contenders` (name → async fn returning a figure) ROUNDS times, order rotating. */
async function interleave(contenders) {
  const names = Object.keys(contenders)
  const res = Object.fromEntries(names.map((k) => [k, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const k = round % names.length
    for (const name of [...names.slice(k), ...names.slice(0, k)]) {
      res[name].push(await contenders[name]())
    }
  }
  return res
}

console.log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} (2+ means other work shares these CPUs)`,
)
console.log(
  `@li/metrics benchmark: node ${process.version}, prom-client ${promVersion}, ${os.cpus().length} CPUs, ${ROUNDS} rounds, scale ${scale}`,
)

// (a)/(b): per-message recording. Fresh registries per side, warmed up once (JIT, and every
// series created) before the timed rounds.
const inputs = messages(MESSAGES, 20)
const rec = createPair()
const limiters = createLimiters()
const hygienic = createPair()
const rawLabels = withLabels(hygienic.raw)
const loops = { li: recorder(), raw: recorder(), rawLabels: recorder() }
const warm = inputs.slice(0, Math.min(inputs.length, 50_000))
loops.li(rec.li, warm)
loops.raw(rec.raw, warm)
loops.rawLabels(rawLabels, warm)
limiters.run(warm)
const perMessage = await interleave({
  li: () => nsPerMessage((xs) => loops.li(rec.li, xs), inputs),
  raw: () => nsPerMessage((xs) => loops.raw(rec.raw, xs), inputs),
  labels: () => nsPerMessage((xs) => limiters.run(xs), inputs),
  rawLabels: () => nsPerMessage((xs) => loops.rawLabels(rawLabels, xs), inputs),
})
const recordRows = [
  {
    'per message (6 record calls)': `20 hosts x 4 types x 3 targets, ${fmt(MESSAGES)} messages`,
    'li ns': fmt(median(perMessage.li)),
    'raw ns': fmt(median(perMessage.raw)),
    'li/raw': ratio(perMessage.li, perMessage.raw).toFixed(2),
    'labels only ns': fmt(median(perMessage.labels)),
    'li - raw ns': fmt(median(perMessage.li.map((x, i) => x - perMessage.raw[i]))),
    'raw + labels ns': fmt(median(perMessage.rawLabels)),
    'li/(raw + labels)': ratio(perMessage.li, perMessage.rawLabels).toFixed(2),
  },
]
console.log(
  'Recording, ns per message (median of interleaved rounds; li/raw = median of per-round ratios; labels only = the LabelLimiter calls LiMetrics adds, alone; raw + labels = raw behind those same calls):',
)
console.table(recordRows)
for (const r of recordRows) console.log(JSON.stringify(r))

// (c): /metrics rendering.
const scrapeRows = []
for (const hosts of [50, 500]) {
  const pair = createPair()
  populate(pair.li, pair.sources, hosts, true)
  populate(pair.raw, pair.sources, hosts, false)
  const engine = createPair(true)
  populate(engine.li, engine.sources, hosts, true)
  const liText = await pair.li.registry.metrics()
  const rawText = await pair.raw.registry.metrics()
  const same = liText === rawText
  if (!same) {
    const a = liText.split('\n')
    const b = rawText.split('\n')
    const at = a.findIndex((line, i) => line !== b[i])
    console.error(`outputs differ at line ${at + 1}:\n  li:  ${a[at]}\n  raw: ${b[at]}`)
  }
  const n = SCRAPES[hosts]
  let defaultsBytes = 0
  const res = await interleave({
    li: async () => (await msPerScrape(pair.li.registry, n)).ms,
    raw: async () => (await msPerScrape(pair.raw.registry, n)).ms,
    defaults: async () => {
      const r = await msPerScrape(engine.li.registry, n)
      defaultsBytes = Buffer.byteLength(r.text)
      return r.ms
    },
  })
  scrapeRows.push({
    hosts,
    'li series lines': liText.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length,
    'li KB': fmt(Buffer.byteLength(liText) / 1024),
    'raw KB': fmt(Buffer.byteLength(rawText) / 1024),
    'same bytes': same,
    'li ms': fmt(median(res.li), 2),
    'raw ms': fmt(median(res.raw), 2),
    'li/raw': ratio(res.li, res.raw).toFixed(2),
    'li + defaults ms': fmt(median(res.defaults), 2),
    'li + defaults KB': fmt(defaultsBytes / 1024),
  })
}
console.log(
  `/metrics rendering, ms per scrape (registry.metrics(); ${SCRAPES[50]} / ${SCRAPES[500]} scrapes per run; li + defaults = with prom-client's process metrics, as new LiMetrics() does):`,
)
console.table(scrapeRows)
for (const r of scrapeRows) console.log(JSON.stringify(r))
