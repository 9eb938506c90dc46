// Benchmark of @li/health: Kubernetes probes answered over real loopback HTTP, side by side in
// the same run with what a Node user would pick instead.
//
// Contenders, each on its own node:http server on 127.0.0.1 (all four in one server process):
//   li-hono   @li/health as shipped: healthRoutes(registry) (hono) on @hono/node-server's
//             getRequestListener, GET /health/ready and /health/live;
//   li-http   the same HealthRegistry in a hand-written node:http handler (checkReadiness /
//             checkLiveness + JSON.stringify): the registry without hono;
//   terminus  @godaddy/terminus (createTerminus, verbatim) with a readiness function running the
//             same checks with Promise.all, as its README shows (terminus has no per-check
//             registry, critical flag, time limit or cache: the function does what it does);
//   plain     a hand-written node:http handler running the same checks with Promise.all.
// The same 10 checks on every side (fresh instances per side, same code): wal (sync), 4 hosts
// (createHostHealthCheck, sync), 3 queues (createQueueHealthCheck over a fake queue whose
// depth/oldestAgeMs answer after one event-loop turn, like a Redis round trip without Redis;
// non-critical), store (async, one event-loop turn) and a slow-ish downstream check (20 ms of
// waiting) whose result is memoised for 1 s by the user's own wrapper (@li/health has no cache;
// concurrent callers share the refresh in flight; non-critical; @li/health gives it timeoutMs 100
// and every other check timeoutMs 1000: a timer per check per evaluation, its time-limit guarantee).
// Every side answers readiness with the per-check results (name, status) and 200/503; liveness is
// 200 when the process answers (@li/health: after one event-loop turn, its lag check).
//
// Load: this process is the client, the servers run in a child process (one core each on a
// 2-core machine). A keep-alive http.Agent with LI_BENCH_CONCURRENCY (16) sockets issues
// LI_BENCH_REQUESTS (8,000 x LI_BENCH_SCALE) GETs from as many concurrent loops; latency is per
// request as the client sees it (p50/p99), req/s is requests / wall time, and server CPU is the
// child's user+system CPU time over the run divided by the requests (the steadier figure: the
// client is a Node process too and may be the one that saturates). Then, in this process, the
// cost of one readiness evaluation (sequential awaits, µs): registry.checkReadiness() against
// the Promise.all function that terminus and plain run, and that function with hand-written
// per-check timers (what @li/health does for its time limits). Contenders run interleaved, in a
// rotating order, LI_BENCH_ROUNDS (5) rounds; figures are medians (lowest–highest round).
//
// Runs over dist/ (plain Node, no TypeScript loader): `pnpm --filter @li/health bench` builds
// first. Speed is measured only here, never asserted in tests.
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import { cpus, loadavg } from 'node:os'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import { getRequestListener } from '@hono/node-server'
import terminusPkg from '@godaddy/terminus'
import {
  HealthRegistry,
  HealthStatus,
  createHostHealthCheck,
  createQueueHealthCheck,
  healthRoutes,
} from '../dist/index.js'

const { createTerminus, HealthCheckError } = terminusPkg
const SCALE = Number(process.env.LI_BENCH_SCALE ?? '1')
const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? '5')
const REQUESTS = Math.max(100, Math.round(Number(process.env.LI_BENCH_REQUESTS ?? 8000) * SCALE))
const CONCURRENCY = Number(process.env.LI_BENCH_CONCURRENCY ?? '16')
const EVALS = Math.max(1000, Math.round(20_000 * SCALE))
const SLOW_CHECK_MS = 20
const SLOW_CACHE_MS = 1000
const log = (s) => process.stderr.write(`${s}\n`)

// ---------------------------------------------------------------------------------------------
// The checks, the same on every side.

/** Memoises an async check for `ttlMs`; concurrent callers share the evaluation in flight. */
function memoise(check, ttlMs) {
  let value
  let at = -Infinity
  let inFlight
  return () => {
    if (performance.now() - at < ttlMs) return value
    inFlight ??= Promise.resolve()
      .then(check)
      .then(
        (v) => {
          value = v
          at = performance.now()
          inFlight = undefined
          return v
        },
        (e) => {
          inFlight = undefined
          throw e
        },
      )
    return inFlight
  }
}

/** A fresh set of the 10 checks: `{ name, check, critical, timeoutMs }`. */
function makeChecks() {
  const queue = {
    depth: async () => {
      await nextTurn()
      return 120
    },
    oldestAgeMs: async () => {
      await nextTurn()
      return 800
    },
  }
  const host = (name) => createHostHealthCheck({ name, state: 'RUNNING' })
  const queueCheck = (name) =>
    createQueueHealthCheck(queue, name, { maxDepth: 1000, maxAgeMs: 60_000 })
  return [
    { name: 'wal', check: () => true, critical: true, timeoutMs: 1000 },
    { name: 'host:PAS-In', check: host('PAS-In'), critical: true, timeoutMs: 1000 },
    { name: 'host:Router', check: host('Router'), critical: true, timeoutMs: 1000 },
    { name: 'host:EPR-Out', check: host('EPR-Out'), critical: true, timeoutMs: 1000 },
    { name: 'host:LAB-Out', check: host('LAB-Out'), critical: true, timeoutMs: 1000 },
    { name: 'queue:EPR-Out', check: queueCheck('EPR-Out'), critical: false, timeoutMs: 1000 },
    { name: 'queue:LAB-Out', check: queueCheck('LAB-Out'), critical: false, timeoutMs: 1000 },
    { name: 'queue:Router', check: queueCheck('Router'), critical: false, timeoutMs: 1000 },
    {
      name: 'store',
      check: async () => {
        await nextTurn()
        return true
      },
      critical: true,
      timeoutMs: 1000,
    },
    {
      name: 'epr-receiver',
      check: memoise(async () => {
        await sleep(SLOW_CHECK_MS)
        return { status: HealthStatus.HEALTHY, message: 'reachable' }
      }, SLOW_CACHE_MS),
      critical: false,
      timeoutMs: 100,
    },
  ]
}

/** A HealthRegistry with the 10 checks, marked running. */
function makeRegistry() {
  const registry = new HealthRegistry()
  for (const c of makeChecks()) {
    registry.addCheck(c.name, c.check, { critical: c.critical, timeoutMs: c.timeoutMs })
  }
  registry.markRunning()
  return registry
}

const statusOf = (outcome) =>
  outcome === undefined || outcome === true
    ? HealthStatus.HEALTHY
    : outcome === false
      ? HealthStatus.UNHEALTHY
      : typeof outcome === 'string'
        ? outcome
        : outcome.status

/**
 * What terminus and plain users write: every check with Promise.all, each one's failure caught so
 * that the answer lists every check; not ready when a critical one fails. With `timers`, each
 * check also races a hand-written timer (what @li/health does for its time limits).
 */
function makeRunAll({ timers = false } = {}) {
  const checks = makeChecks()
  const one = async (c) => {
    let timer
    try {
      const run = Promise.resolve().then(c.check)
      const outcome = timers
        ? await Promise.race([
            run,
            new Promise((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`timed out after ${c.timeoutMs} ms`)),
                c.timeoutMs,
              )
            }),
          ])
        : await run
      return { name: c.name, status: statusOf(outcome) }
    } catch (e) {
      return { name: c.name, status: HealthStatus.UNHEALTHY, message: String(e?.message ?? e) }
    } finally {
      clearTimeout(timer)
    }
  }
  return async () => {
    const results = await Promise.all(checks.map(one))
    const ready = results.every(
      (r, i) => !checks[i].critical || r.status !== HealthStatus.UNHEALTHY,
    )
    return { ready, checks: results }
  }
}

// ---------------------------------------------------------------------------------------------
// Server process: the four contenders on loopback, ports sent to the parent.

const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))

const sendJson = (res, status, body) => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

async function serverMain() {
  const liHonoRegistry = makeRegistry()
  const liHono = http.createServer(getRequestListener(healthRoutes(liHonoRegistry).fetch))

  const liHttpRegistry = makeRegistry()
  const liHttp = http.createServer((req, res) => {
    const answer = async () => {
      if (req.url === '/health/ready') {
        const r = await liHttpRegistry.checkReadiness()
        sendJson(res, r.ready ? 200 : 503, r)
      } else if (req.url === '/health/live') {
        const r = await liHttpRegistry.checkLiveness()
        sendJson(res, r.status === HealthStatus.HEALTHY ? 200 : 503, r)
      } else sendJson(res, 404, { error: 'not found' })
    }
    answer().catch((e) => sendJson(res, 500, { error: String(e) }))
  })

  const terminusRun = makeRunAll()
  const terminus = http.createServer((_req, res) => sendJson(res, 404, { error: 'not found' }))
  createTerminus(terminus, {
    healthChecks: {
      '/health/ready': async () => {
        const r = await terminusRun()
        if (!r.ready) throw new HealthCheckError('not ready', r.checks)
        return { checks: r.checks }
      },
      // Resolving nothing: terminus answers its fixed {"status":"ok"}. (Resolving an object would
      // merge it into terminus's one shared statusOkResponse, which the readiness answers have
      // already filled with their check list, so liveness would repeat it.)
      '/health/live': async () => {},
      verbatim: true,
    },
  })

  const plainRun = makeRunAll()
  const plain = http.createServer((req, res) => {
    if (req.url === '/health/ready') {
      plainRun().then(
        (r) =>
          sendJson(res, r.ready ? 200 : 503, {
            status: r.ready ? 'ok' : 'error',
            checks: r.checks,
          }),
        (e) => sendJson(res, 500, { error: String(e) }),
      )
    } else if (req.url === '/health/live') sendJson(res, 200, { status: 'ok' })
    else sendJson(res, 404, { error: 'not found' })
  })

  const servers = { 'li-hono': liHono, 'li-http': liHttp, terminus, plain }
  const ports = {}
  for (const [name, s] of Object.entries(servers)) {
    s.keepAliveTimeout = 60_000
    ports[name] = await listen(s)
  }
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage()
      process.send({ cpu: u.user + u.system })
    } else if (m === 'exit') process.exit(0)
  })
  process.send({ ports })
}

// ---------------------------------------------------------------------------------------------
// Client process.

/** One GET on `agent`; resolves `{ status, body }`. */
function get(agent, port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

/** Asks the server process for its CPU time so far (µs). */
function serverCpu(child) {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.cpu))
    child.send('cpu')
  })
}

/** N requests from CONCURRENCY keep-alive loops: req/s, p50/p99 ms, server CPU µs/request. */
async function load(child, port, path, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const latencies = new Float64Array(n)
  let issued = 0
  let bad = 0
  const cpu0 = await serverCpu(child)
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < n) {
        const i = issued++
        const start = performance.now()
        const r = await get(agent, port, path)
        latencies[i] = performance.now() - start
        if (r.status !== 200) bad++
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  const cpu1 = await serverCpu(child)
  agent.destroy()
  if (bad > 0) throw new Error(`${bad} of ${n} GET ${path} on port ${port} did not answer 200`)
  latencies.sort()
  const at = (q) => latencies[Math.min(n - 1, Math.floor(q * n))]
  return { rps: n / seconds, p50: at(0.5), p99: at(0.99), cpu: (cpu1 - cpu0) / n }
}

/** µs per sequential call of `evaluate`, over `n` calls (after a warm-up). */
async function perCall(evaluate, n) {
  for (let i = 0; i < Math.min(2000, n); i++) await evaluate()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await evaluate()
  return ((performance.now() - t0) * 1000) / n
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function clientMain() {
  const require = createRequire(import.meta.url)
  const terminusVersion = require('@godaddy/terminus/package.json').version
  const honoPkg = new URL('../node_modules/hono/package.json', import.meta.url)
  const honoVersion = JSON.parse(readFileSync(honoPkg, 'utf8')).version
  const load0 = loadavg()[0]
  const child = fork(new URL(import.meta.url), ['server'], { stdio: 'inherit' })
  const { ports } = await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)))
  })
  try {
    const paths = { ready: '/health/ready', live: '/health/live' }
    // Sanity, untimed: every side is ready, lists the 10 checks, and each answer's size.
    const bytes = {}
    const agent = new http.Agent({ keepAlive: true })
    for (const [name, port] of Object.entries(ports)) {
      for (const [kind, path] of Object.entries(paths)) {
        const r = await get(agent, port, path)
        const body = JSON.parse(r.body.toString('utf8'))
        if (r.status !== 200) throw new Error(`${name} ${path}: ${r.status} ${r.body.toString()}`)
        if (kind === 'ready' && body.checks?.length !== 10) {
          throw new Error(`${name} ${path} did not list the 10 checks: ${r.body.toString()}`)
        }
        bytes[`${name} ${kind}`] = r.body.length
      }
    }
    agent.destroy()

    const http_ = {}
    const contenders = Object.entries(ports).flatMap(([name, port]) =>
      Object.entries(paths).map(([kind, path]) => ({ key: `${name} ${kind}`, port, path })),
    )
    // Warm-up (JIT, sockets), untimed.
    for (const c of contenders) await load(child, c.port, c.path, Math.min(1000, REQUESTS))
    for (let round = 0; round < ROUNDS; round++) {
      // Rotating order, so that a burst of load from elsewhere does not favour one contender.
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + round) % contenders.length]
        log(`round ${round + 1}/${ROUNDS}: ${c.key}`)
        ;(http_[c.key] ??= []).push(await load(child, c.port, c.path, REQUESTS))
      }
    }

    // In-process: one readiness evaluation, sequential.
    const registry = makeRegistry()
    const runAll = makeRunAll()
    const runAllTimers = makeRunAll({ timers: true })
    const evaluators = {
      'li registry.checkReadiness()': () => registry.checkReadiness(),
      'Promise.all function (terminus, plain)': runAll,
      'Promise.all + a timer per check (hand-written)': runAllTimers,
      'li registry.checkLiveness()': () => registry.checkLiveness(),
    }
    const inProc = {}
    const names = Object.keys(evaluators)
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + round) % names.length]
        log(`round ${round + 1}/${ROUNDS}: in-process ${name}`)
        ;(inProc[name] ??= []).push(await perCall(evaluators[name], EVALS))
      }
    }
    report({ http_, inProc, bytes, load0, terminusVersion, honoVersion })
  } finally {
    child.send('exit')
  }
}

function report({ http_, inProc, bytes, load0, terminusVersion, honoVersion }) {
  const f0 = (n) => Math.round(n).toLocaleString('en-GB')
  const f2 = (n) => n.toFixed(2)
  const f1 = (n) => n.toFixed(1)
  const cell = (xs, fmt) =>
    xs.length > 1
      ? `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`
      : fmt(xs[0])
  const labels = {
    'li-hono': '@li/health healthRoutes (hono on @hono/node-server)',
    'li-http': '@li/health registry in a node:http handler',
    terminus: `@godaddy/terminus ${terminusVersion}, Promise.all`,
    plain: 'plain node:http handler, Promise.all',
  }
  const lines = [
    `Probes over loopback HTTP: ${REQUESTS.toLocaleString('en-GB')} GETs per run from ${CONCURRENCY} keep-alive connections, 10 checks; median of ${ROUNDS} interleaved rounds (lowest–highest); load average ${load0.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end, on ${cpus().length} cores (Node ${process.version}, hono ${honoVersion})`,
    '',
    '| server | probe | req/s | p50 ms | p99 ms | server CPU µs/req | body bytes |',
    '|---|---|---:|---:|---:|---:|---:|',
  ]
  for (const [name, label] of Object.entries(labels)) {
    for (const kind of ['ready', 'live']) {
      const runs = http_[`${name} ${kind}`]
      if (!runs) continue
      lines.push(
        `| ${label} | ${kind} | ${cell(
          runs.map((r) => r.rps),
          f0,
        )} | ${cell(
          runs.map((r) => r.p50),
          f2,
        )} | ${cell(
          runs.map((r) => r.p99),
          f2,
        )} | ${cell(
          runs.map((r) => r.cpu),
          f0,
        )} | ${bytes[`${name} ${kind}`]} |`,
      )
    }
  }
  // Ratios within each round (the contenders of a round ran back to back).
  const ratio = (a, b, pick) =>
    median(http_[a].map((r, i) => pick(r) / pick(http_[b][i]))).toFixed(2)
  lines.push(
    '',
    '| readiness, same round, median ratio | req/s | server CPU/req |',
    '|---|---:|---:|',
    `| li-hono / terminus | ${ratio('li-hono ready', 'terminus ready', (r) => r.rps)}x | ${ratio('li-hono ready', 'terminus ready', (r) => r.cpu)}x |`,
    `| li-http / terminus | ${ratio('li-http ready', 'terminus ready', (r) => r.rps)}x | ${ratio('li-http ready', 'terminus ready', (r) => r.cpu)}x |`,
    `| plain / terminus | ${ratio('plain ready', 'terminus ready', (r) => r.rps)}x | ${ratio('plain ready', 'terminus ready', (r) => r.cpu)}x |`,
    '',
    `One evaluation in-process, ${EVALS.toLocaleString('en-GB')} sequential calls, µs per call, median of ${ROUNDS} rounds (lowest–highest):`,
    '',
    '| evaluation | µs |',
    '|---|---:|',
  )
  for (const [name, xs] of Object.entries(inProc)) lines.push(`| ${name} | ${cell(xs, f1)} |`)
  // The µs move with the machine's load; ratios within a round are the steadier figure.
  const li = inProc['li registry.checkReadiness()']
  const per = (other) => median(li.map((v, i) => v / inProc[other][i])).toFixed(2)
  lines.push(
    '',
    '| checkReadiness() / …, same round, median ratio | |',
    '|---|---:|',
    `| Promise.all function (terminus, plain) | ${per('Promise.all function (terminus, plain)')}x |`,
    `| Promise.all + a timer per check | ${per('Promise.all + a timer per check (hand-written)')}x |`,
  )
  process.stdout.write(`${lines.join('\n')}\n`)
}

if (process.argv[2] === 'server') await serverMain()
else await clientMain()
