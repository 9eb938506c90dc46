// MLLP round-trip benchmark: our MllpClient -> MllpServer (with an ACK per message) against a bare
// `net` MLLP peer exchanging the same frames and ACKs of the same size, side by side in one run,
// on loopback.
//
// What it measures: messages per second, per-message latency (send -> ACK, p50/p99) and CPU time
// per message (process.cpuUsage of the client process and of the server process, user + system),
// with one message in flight per connection (the HL7 default: the next message waits for the
// previous ACK), over 1 connection and over 8 connections. Messages are the first 1,000 of the
// parse benchmark's generated corpus (bench/corpus.mjs, same seed; mean ~3.3 KB).
//
// - "bare": a net server that answers every complete frame (found by its FS CR) with a ready-made
//   ACK frame, and a net client that writes a pre-framed buffer and waits for the answer's FS CR.
//   The ACK is our server's ACK for a corpus message of median ACK size, so both peers move the
//   same bytes both ways. No HL7 at all: the floor of what Node's sockets cost for this traffic.
//   With `--bare echo` the bare server writes every frame back whole instead (a literal echo: 3.3 KB
//   back per message where our server sends ~150 B, so a cheaper target to beat).
// - "@li/hl7": MllpClient.send(bytes) (reads MSH-10, frames, matches the ACK's MSA-2) to
//   MllpServer, whose handler answers ctx.ack('AA') (a real ACK built from the message's MSH).
//
// The servers run in a child process so that client and server each get a core, as they would on
// two machines. Connections stay open for the whole run. After a warm-up, the run alternates short
// cells (bare, ours, ours, bare, ...) for --rounds rounds, so that a burst of load from other
// processes (this machine is shared) hits both alike; each round's ours/bare ratio compares two
// cells run back to back, and the table shows the median of those ratios with their spread. CPU
// time per message is far less sensitive to other processes than wall time, so the CPU ratio
// (bare CPU per message / ours) is printed too.
//
// Usage (after `pnpm --filter @li/hl7 build`):
//   node bench/mllp.mjs [--seconds 0.4] [--rounds 15] [--messages 1000] [--connections 1,8]
//                       [--bare ack|echo]
import { fork } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { generateCorpus } from './corpus.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : args[i + 1]
}

const FS = 0x1c
const CR = 0x0d
const SEED = 20260315

async function loadLibrary() {
  try {
    return await import('@li/hl7/mllp')
  } catch (e) {
    console.error('Cannot load @li/hl7/mllp from dist/: run `pnpm --filter @li/hl7 build` first.')
    throw e
  }
}

// Our server's ACK for every corpus message, framed; the bare peer answers with the one of median
// size (ACKs differ only by a few bytes: addresses, trigger, version, charset).
function ackFrames(lib, messages) {
  return messages.map((m) => {
    const header = lib.readHeader(m)
    return lib.encodeFrame(Buffer.from(lib.buildMllpAck(header, 'AA'), 'latin1'))
  })
}

function medianAck(frames) {
  return [...frames].sort((a, b) => a.length - b.length)[Math.floor(frames.length / 2)]
}

// ---------------------------------------------------------------------------------------------
// Server side (child process): bare peer + MllpServer; ports and CPU time reported over IPC.

async function serve(count, mode) {
  const lib = await loadLibrary()
  const messages = generateCorpus(SEED, count).map((m) => Buffer.from(m.text, 'utf8'))
  const ack = medianAck(ackFrames(lib, messages))
  const bare = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true)
    let pending = null
    socket.on('data', (chunk) => {
      const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
      let start = 0
      for (;;) {
        const end = buf.indexOf(FS, start)
        if (end === -1 || end + 1 >= buf.length) break
        socket.write(mode === 'echo' ? buf.subarray(start, end + 2) : ack)
        start = end + 2
      }
      pending = start < buf.length ? buf.subarray(start) : null
    })
    socket.on('error', () => {})
  })
  const server = new lib.MllpServer({ handler: (_bytes, ctx) => ctx.ack('AA') })
  await new Promise((resolve) => bare.listen(0, '127.0.0.1', resolve))
  const { port } = await server.listen(0, '127.0.0.1')
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage() })
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ bare: bare.address().port, mllp: port })
}

// ---------------------------------------------------------------------------------------------
// Client side.

function bareConnection(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      socket.setNoDelay(true)
      let waiting = null
      let previous = 0
      socket.on('data', (chunk) => {
        // One frame in flight, so the answer is complete when a chunk ends with its FS CR (FS may
        // have come at the end of the previous chunk).
        const beforeLast = chunk.length >= 2 ? chunk[chunk.length - 2] : previous
        previous = chunk[chunk.length - 1]
        if (beforeLast === FS && previous === CR && waiting) {
          const done = waiting
          waiting = null
          done()
        }
      })
      resolve({
        send(frame) {
          return new Promise((done) => {
            waiting = done
            socket.write(frame)
          })
        },
        close: () => socket.destroy(),
      })
    })
    socket.once('error', reject)
  })
}

async function ourConnection(MllpClient, port) {
  const client = new MllpClient({ port, host: '127.0.0.1' })
  await client.connect()
  return { send: (message) => client.send(message), close: () => client.close() }
}

// Latencies of every measured message, in ms, without per-message allocation.
class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16)
    this.length = 0
  }
  push(value) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.length++] = value
  }
  sorted() {
    return this.values.slice(0, this.length).sort()
  }
}

function cpuOf(child) {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.cpu))
    child.send('cpu')
  })
}

const cpuMicros = (usage) => usage.user + usage.system

// Runs every connection's loop of send -> await ACK for `ms`; returns msg/s and CPU µs per message
// of each process. `next` keeps each connection's place in the corpus from cell to cell.
async function cell(child, connections, payloads, ms, samples) {
  const server0 = await cpuOf(child)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  const stopAt = t0 + ms
  let count = 0
  await Promise.all(
    connections.map(async (connection) => {
      for (;;) {
        const payload = payloads[connection.next++ % payloads.length]
        const t1 = performance.now()
        await connection.send(payload)
        const t2 = performance.now()
        if (t2 >= stopAt) break
        count++
        samples?.push(t2 - t1)
      }
    }),
  )
  const wall = performance.now() - t0
  const client = cpuMicros(process.cpuUsage(client0))
  const server = cpuMicros(await cpuOf(child)) - cpuMicros(server0)
  return { rate: (count / wall) * 1000, clientCpu: client / count, serverCpu: server / count }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const percentile = (sorted, p) =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const quartiles = (values) => {
  const s = [...values].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))]
  return [s[0], q(0.25), q(0.75), s[s.length - 1]]
}
const pct = (x) => `${Math.round(100 * x)}%`

async function main() {
  const seconds = Number(option('seconds', '0.4'))
  const rounds = Number(option('rounds', '15'))
  const count = Number(option('messages', '1000'))
  const connectionCounts = String(option('connections', '1,8')).split(',').map(Number)
  const bareMode = option('bare', 'ack')
  if (bareMode !== 'ack' && bareMode !== 'echo') throw new Error('--bare must be ack or echo')
  const lib = await loadLibrary()
  const messages = generateCorpus(SEED, count).map((m) => Buffer.from(m.text, 'utf8'))
  const frames = messages.map((m) => lib.encodeFrame(m))
  const acks = ackFrames(lib, messages)
  const meanBytes = Math.round(messages.reduce((n, m) => n + m.length, 0) / messages.length)
  const ackSizes = acks.map((a) => a.length).sort((a, b) => a - b)

  const child = fork(fileURLToPath(import.meta.url), ['--serve', String(count), bareMode], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const ports = await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)))
  })

  console.log(
    `MLLP round trip on loopback: ${count} corpus messages (mean ${meanBytes} B), ACK frames ` +
      `${ackSizes[0]}-${ackSizes[ackSizes.length - 1]} B (bare peer: ` +
      `${bareMode === 'echo' ? 'echoes each frame' : `${medianAck(acks).length} B`}), ` +
      `${rounds} rounds x ${seconds} s per cell, node ${process.version}`,
  )
  const results = []
  for (const n of connectionCounts) {
    const bare = await Promise.all(Array.from({ length: n }, () => bareConnection(ports.bare)))
    const ours = await Promise.all(
      Array.from({ length: n }, () => ourConnection(lib.MllpClient, ports.mllp)),
    )
    // Each connection starts at its own place in the corpus, the same for bare and ours.
    bare.forEach((c, i) => (c.next = i * 97))
    ours.forEach((c, i) => (c.next = i * 97))
    const impls = {
      bare: { connections: bare, payloads: frames, samples: new Samples(), cells: [] },
      ours: { connections: ours, payloads: messages, samples: new Samples(), cells: [] },
    }
    // Warm-up: JIT, socket buffers, the server's first connections.
    for (const impl of Object.values(impls)) await cell(child, impl.connections, impl.payloads, 700)
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['bare', 'ours'] : ['ours', 'bare']
      for (const name of order) {
        const impl = impls[name]
        impl.cells.push(
          await cell(child, impl.connections, impl.payloads, seconds * 1000, impl.samples),
        )
      }
    }
    bare.forEach((c) => c.close())
    await Promise.all(ours.map((c) => c.close()))

    const b = impls.bare.cells
    const o = impls.ours.cells
    const ratios = o.map((x, r) => x.rate / b[r].rate)
    const cpuRatios = o.map(
      (x, r) => (b[r].clientCpu + b[r].serverCpu) / (x.clientCpu + x.serverCpu),
    )
    for (const [name, impl] of Object.entries(impls)) {
      const sorted = impl.samples.sorted()
      results.push({
        name,
        connections: n,
        rate: median(impl.cells.map((x) => x.rate)),
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        clientCpu: median(impl.cells.map((x) => x.clientCpu)),
        serverCpu: median(impl.cells.map((x) => x.serverCpu)),
        ratio: name === 'bare' ? undefined : median(ratios),
        spread: name === 'bare' ? undefined : quartiles(ratios),
        cpuRatio: name === 'bare' ? undefined : median(cpuRatios),
        ratios: name === 'bare' ? undefined : ratios,
      })
    }
  }
  child.disconnect()

  const label = {
    bare: bareMode === 'echo' ? 'bare net MLLP echo' : 'bare net MLLP peer',
    ours: '@li/hl7 MllpClient -> MllpServer',
  }
  const rows = [
    [
      'implementation',
      'conns',
      'msg/s',
      'p50 ms',
      'p99 ms',
      'client CPU µs/msg',
      'server CPU µs/msg',
      'msg/s vs bare (min q1-q3 max)',
      'CPU vs bare',
    ],
  ]
  for (const r of results) {
    const [min, q1, q3, max] = r.spread ?? []
    rows.push([
      label[r.name],
      String(r.connections),
      Math.round(r.rate).toLocaleString('en-GB'),
      r.p50.toFixed(3),
      r.p99.toFixed(3),
      r.clientCpu.toFixed(1),
      r.serverCpu.toFixed(1),
      r.ratio === undefined
        ? '100%'
        : `${pct(r.ratio)} (${pct(min)} ${pct(q1)}-${pct(q3)} ${pct(max)})`,
      r.cpuRatio === undefined ? '100%' : pct(r.cpuRatio),
    ])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)))
  const line = (row) => '| ' + row.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
  console.log(line(rows[0]))
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  for (const row of rows.slice(1)) console.log(line(row))
  console.log(
    'msg/s and CPU: median cell; latency: all measured messages; vs bare: median of the per-round ' +
      'ratios of back-to-back cells, with their spread; CPU vs bare: bare (client + server) CPU ' +
      'per message / ours, median round.',
  )
  for (const r of results.filter((x) => x.ratios !== undefined)) {
    console.log(
      `per-round msg/s ratios, ${r.connections} conn: ` +
        r.ratios.map((x) => Math.round(100 * x)).join(' '),
    )
  }
}

if (args[0] === '--serve') await serve(Number(args[1]), args[2])
else await main()
