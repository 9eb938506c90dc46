// MLLP round-trip benchmark: our MllpClient -> MllpServer (with an ACK per message) against a bare
// `net` MLLP echo of the same frames, side by side in one run, on loopback.
//
// What it measures: messages per second and per-message latency (send -> ACK, p50/p99) with one
// message in flight per connection (the HL7 default: the next message waits for the previous
// ACK), over 1 connection and over 8 connections. Messages are the first 1,000 of the parse
// benchmark's generated corpus (bench/corpus.mjs, same seed; mean ~3.3 KB).
//
// - "bare echo": a net server that writes every frame straight back, and a net client that writes
//   a pre-framed buffer and waits for the echoed frame. No HL7 at all: the floor of what Node's
//   sockets cost for this traffic pattern.
// - "@li/hl7": MllpClient.send() (reads MSH-10, frames, matches the ACK's MSA-2) to MllpServer,
//   whose handler answers ctx.ack('AA') (a real ACK built from the message's MSH).
//
// Servers run in a child process so that client and server each get a core, as they would on two
// machines. Runs alternate (bare, ours, bare, ours, ...) and are short and many, so that a burst
// of load from other processes (this machine is shared) hits both alike and the median round
// ignores it; the table shows the median round's throughput, latency over all rounds, and the
// median of the per-round ours/bare ratios.
//
// Usage (after `pnpm --filter @li/hl7 build`): node bench/mllp.mjs [--seconds 1.5] [--rounds 7]
import { spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { generateCorpus } from './corpus.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(args[i + 1])
}

const FS = 0x1c
const CR = 0x0d

async function loadLibrary() {
  try {
    return await import('@li/hl7/mllp')
  } catch (e) {
    console.error('Cannot load @li/hl7/mllp from dist/: run `pnpm --filter @li/hl7 build` first.')
    throw e
  }
}

// ---------------------------------------------------------------------------------------------
// Server side (child process): bare echo + MllpServer, ports reported on stdout as JSON.

async function serve() {
  const { MllpServer } = await loadLibrary()
  const echo = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true)
    let pending = null
    socket.on('data', (chunk) => {
      let buf = pending === null ? chunk : Buffer.concat([pending, chunk])
      let start = 0
      for (;;) {
        const end = buf.indexOf(FS, start)
        if (end === -1 || end + 1 >= buf.length) break
        socket.write(buf.subarray(start, end + 2))
        start = end + 2
      }
      pending = start < buf.length ? buf.subarray(start) : null
    })
    socket.on('error', () => {})
  })
  const server = new MllpServer({ handler: (_bytes, ctx) => ctx.ack('AA') })
  await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve))
  const { port } = await server.listen(0, '127.0.0.1')
  process.stdout.write(JSON.stringify({ echo: echo.address().port, mllp: port }) + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
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
        // One frame in flight, so the echo is complete when a chunk ends with its FS CR (FS may
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

// Runs `connections` loops of send -> await ACK for `seconds` after a warm-up; returns msg/s and
// the latencies (ms) of the measured part.
async function run(connections, payloads, seconds) {
  const warmupUntil = performance.now() + 500
  const stopAt = warmupUntil + seconds * 1000
  let measured = 0
  const latencies = []
  await Promise.all(
    connections.map(async (connection, c) => {
      let i = c * 97
      for (;;) {
        const payload = payloads[i++ % payloads.length]
        const t0 = performance.now()
        await connection.send(payload)
        const t1 = performance.now()
        if (t1 >= stopAt) break
        if (t0 >= warmupUntil) {
          measured++
          latencies.push(t1 - t0)
        }
      }
    }),
  )
  return { rate: measured / seconds, latencies }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function main() {
  const seconds = option('seconds', 1.5)
  const rounds = option('rounds', 7)
  const count = option('messages', 1000)
  const { MllpClient, encodeFrame } = await loadLibrary()
  const corpus = generateCorpus(20260315, count)
  const messages = corpus.map((m) => Buffer.from(m.text, 'utf8'))
  const frames = messages.map((m) => encodeFrame(m))
  const meanBytes = Math.round(messages.reduce((n, m) => n + m.length, 0) / messages.length)

  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const ports = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve(JSON.parse(out))
    })
    child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)))
  })

  console.log(
    `MLLP round trip on loopback: ${count} corpus messages (mean ${meanBytes} B), ` +
      `${rounds} rounds x ${seconds} s per cell, node ${process.version}`,
  )
  const results = []
  for (const n of [1, 8]) {
    const cells = { bare: [], ours: [] }
    for (let r = 0; r < rounds; r++) {
      const bare = await Promise.all(Array.from({ length: n }, () => bareConnection(ports.echo)))
      cells.bare.push(await run(bare, frames, seconds))
      bare.forEach((c) => c.close())
      const ours = await Promise.all(
        Array.from({ length: n }, () => ourConnection(MllpClient, ports.mllp)),
      )
      cells.ours.push(await run(ours, messages, seconds))
      await Promise.all(ours.map((c) => c.close()))
    }
    // Each round's ours/bare ratio compares two runs made back to back; their median is what the
    // "vs bare" column shows (steadier under shared-machine load than a ratio of medians).
    const ratios = cells.ours.map((x, r) => x.rate / cells.bare[r].rate).sort((a, b) => a - b)
    for (const [name, runs] of Object.entries(cells)) {
      const rates = runs.map((x) => x.rate).sort((a, b) => a - b)
      const all = runs.flatMap((x) => x.latencies).sort((a, b) => a - b)
      results.push({
        name,
        connections: n,
        rate: rates[Math.floor(rates.length / 2)],
        p50: percentile(all, 50),
        p99: percentile(all, 99),
        ratio: name === 'bare' ? 1 : ratios[Math.floor(ratios.length / 2)],
        ratios: name === 'bare' ? [] : ratios,
      })
    }
  }
  child.stdin.end()

  const label = { bare: 'bare net MLLP echo', ours: '@li/hl7 MllpClient -> MllpServer' }
  const rows = [['implementation', 'conns', 'msg/s', 'p50 ms', 'p99 ms', 'vs bare']]
  for (const r of results) {
    rows.push([
      label[r.name],
      String(r.connections),
      Math.round(r.rate).toLocaleString('en-GB'),
      r.p50.toFixed(3),
      r.p99.toFixed(3),
      `${Math.round(100 * r.ratio)}%`,
    ])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)))
  const line = (row) => '| ' + row.map((cell, i) => cell.padEnd(widths[i])).join(' | ') + ' |'
  console.log(line(rows[0]))
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  for (const row of rows.slice(1)) console.log(line(row))
  console.log(
    'msg/s: median round; latency: all rounds; vs bare: median of per-round ratios (' +
      results
        .filter((r) => r.name === 'ours')
        .map((r) => `${r.connections} conn: ${r.ratios.map((x) => Math.round(100 * x)).join(' ')}`)
        .join('; ') +
      ')',
  )
}

if (args.includes('--serve')) await serve()
else await main()
