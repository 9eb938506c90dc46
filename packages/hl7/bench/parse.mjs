// Parse benchmark: @li/hl7 side by side with the HL7 v2 parsers on npm, in one run.
//
// What it measures, per library, on the same deterministic corpus (bench/corpus.mjs, 10,000
// messages, mean 3.3 KB): parse each message and read MSH-9.1, MSH-9.2, PID-3.1, PID-5.1 and every
// OBX-5.1. One warm-up pass over the whole corpus, then timed passes; the figure is the median
// pass. Each library runs in its own child process, so JIT state and heap from one library never
// favour or penalise another. Also, untimed: serialising an unmodified message (toString) against
// the input (round trip), serialisation speed, and every value read against the generator's
// ground truth (decoded text: escapes resolved, formatting commands such as \.br\ kept).
//
// What it does not measure: writing, validation, MLLP (see bench/mllp*), memory.
//
// Usage: node bench/parse.mjs [--messages=10000] [--passes=3] [--only=ours,naive] [--clock=cpu]
// (@li/hl7 is loaded from dist/: run `pnpm build` first, or use `pnpm bench`.)
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateCorpus } from './corpus.mjs'

const require = createRequire(import.meta.url)
const SEED = 20260315

// Each adapter: parse(text) → handle; read(handle, emit) emits MSH-9.1, MSH-9.2, PID-3.1, PID-5.1,
// then each OBX-5.1, in that order; serialize(handle) → string. `fixInput`/`fixOutput` hold a
// library's documented workaround, applied in timed and untimed passes alike.
const ADAPTERS = {
  ours: {
    label: '@li/hl7 (this package)',
    async load() {
      const { parseMessage } = await import('../dist/index.js')
      return {
        parse: (text) => parseMessage(text),
        read(m, emit) {
          emit(m.get('MSH-9.1'))
          emit(m.get('MSH-9.2'))
          emit(m.get('PID-3.1'))
          emit(m.get('PID-5.1'))
          for (const obx of m.segments('OBX')) emit(obx.get('5.1'))
        },
        serialize: (m) => m.toString(),
      }
    },
  },
  naive: {
    label: 'naive split on segment and field separators (not a library)',
    async load() {
      // Split into segments and fields; components and repetitions only for the fields read.
      // No escape decoding, no delimiters from MSH-2: what a quick hand-written script does.
      return {
        parse: (text) => text.split('\r').map((s) => s.split('|')),
        read(segs, emit) {
          for (const f of segs) {
            const name = f[0]
            if (name === 'MSH') {
              const t = (f[8] ?? '').split('^')
              emit(t[0])
              emit(t[1])
            } else if (name === 'PID') {
              emit((f[3] ?? '').split('~')[0].split('^')[0])
              emit((f[5] ?? '').split('^')[0])
            } else if (name === 'OBX') {
              emit((f[5] ?? '').split('~')[0].split('^')[0])
            }
          }
        },
        serialize: (segs) => segs.map((f) => f.join('|')).join('\r'),
      }
    },
  },
  hl7parser: {
    label: 'hl7parser 1.0.1 (lazy; final CR stripped before parsing, added back)',
    async load() {
      const hl7parser = require('hl7parser')
      return {
        // Workaround: hl7parser throws "Segment must have a name." on a message ending with CR.
        parse: (text) => hl7parser.create(text.endsWith('\r') ? text.slice(0, -1) : text),
        read(m, emit) {
          emit(m.get('MSH.9.1').toString())
          emit(m.get('MSH.9.2').toString())
          emit(m.get('PID.3.1').toString())
          emit(m.get('PID.5.1').toString())
          m.get('OBX').forEach((s) => emit(s.get('OBX.5.1').toString()))
        },
        serialize: (m) => `${m.toString()}\r`,
      }
    },
    probe(text) {
      try {
        require('hl7parser').create(text)
        return undefined
      } catch (e) {
        return `throws on a standard final CR (${e.message})`
      }
    },
  },
  medplum: {
    label: '@medplum/core 4.5 Hl7Message',
    async load() {
      const { Hl7Message } = await import('@medplum/core')
      return {
        parse: (text) => Hl7Message.parse(text),
        read(m, emit) {
          const msh = m.getSegment('MSH')
          emit(msh.getField(9).getComponent(1))
          emit(msh.getField(9).getComponent(2))
          const pid = m.getSegment('PID')
          emit(pid.getComponent(3, 1))
          emit(pid.getComponent(5, 1))
          for (const s of m.getAllSegments('OBX')) emit(s.getComponent(5, 1))
        },
        serialize: (m) => m.toString(),
      }
    },
  },
  'simple-hl7': {
    label: 'simple-hl7 3.3',
    async load() {
      const hl7 = require('simple-hl7')
      const parser = new hl7.Parser()
      return {
        parse: (text) => parser.parse(text),
        read(m, emit) {
          // simple-hl7 numbers MSH fields from MSH-3 (its header.getComponent(7) is MSH-9).
          emit(m.header.getComponent(7, 1))
          emit(m.header.getComponent(7, 2))
          const pid = m.getSegment('PID')
          emit(pid.getComponent(3, 1))
          emit(pid.getComponent(5, 1))
          for (const s of m.getSegments('OBX')) emit(s.getComponent(5, 1))
        },
        serialize: (m) => m.toString(),
      }
    },
  },
  'node-hl7-client': {
    label: 'node-hl7-client 3.2 Message',
    async load() {
      const { Message } = await import('node-hl7-client')
      return {
        parse: (text) => new Message({ text }),
        read(m, emit) {
          emit(m.get('MSH.9.1').toString())
          emit(m.get('MSH.9.2').toString())
          emit(m.get('PID.3.1').toString())
          emit(m.get('PID.5.1').toString())
          // Its get('OBX') returns an empty node whose forEach throws when there is no OBX.
          const obx = m.get('OBX')
          if (obx.length > 0) obx.forEach((s) => emit(s.get('5.1').toString()))
        },
        serialize: (m) => m.toString(),
      }
    },
  },
  hl7v2: {
    label: 'hl7v2 1.9',
    async load() {
      const { HL7Message } = await import('hl7v2')
      return {
        parse: (text) => HL7Message.parse(text),
        read(m, emit) {
          emit(m.header.field(9).getValue(1))
          emit(m.header.field(9).getValue(2))
          const pid = m.getSegment('PID')
          emit(pid.field(3).getValue(1))
          emit(pid.field(5).getValue(1))
          for (const s of m.segments) if (s.segmentType === 'OBX') emit(s.field(5).getValue(1))
        },
        serialize: (m) => m.toHL7String(),
      }
    },
  },
}

const ORDER = ['naive', 'hl7parser', 'medplum', 'simple-hl7', 'node-hl7-client', 'hl7v2', 'ours']

function args() {
  const out = {}
  for (const a of process.argv.slice(2)) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a)
    if (m) out[m[1]] = m[2] ?? 'true'
  }
  return out
}

const FIELD_NAMES = ['MSH-9.1', 'MSH-9.2', 'PID-3.1', 'PID-5.1', 'OBX-5.1']

// The part of two strings around their first difference, for the report.
function around(want, got) {
  let c = 0
  while (c < want.length && want[c] === got[c]) c++
  const from = Math.max(0, c - 30)
  return { want: want.slice(from, c + 30), got: got.slice(from, c + 30) }
}

// Libraries return undefined, '' or non-strings (numbers, dates, objects); compare as text.
function asText(v) {
  if (v === undefined || v === null) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'object' && !(v instanceof Date)) return JSON.stringify(v)
  return String(v)
}

async function child(id, corpusFile, passes, clock) {
  const corpus = JSON.parse(readFileSync(corpusFile, 'utf8'))
  const adapter = ADAPTERS[id]
  const lib = await adapter.load()
  let sink = 0
  const emitLength = (v) => {
    sink += v === undefined || v === null ? 0 : typeof v === 'string' ? v.length : 1
  }
  // Wall time by default; `--clock=cpu` counts this process's CPU time instead (all its threads,
  // so GC helper threads included), which moves far less when other jobs share the machine.
  const pass =
    clock === 'cpu'
      ? () => {
          const t0 = process.cpuUsage()
          for (let i = 0; i < corpus.length; i++) lib.read(lib.parse(corpus[i].text), emitLength)
          const d = process.cpuUsage(t0)
          return (d.user + d.system) / 1e6
        }
      : () => {
          const t0 = process.hrtime.bigint()
          for (let i = 0; i < corpus.length; i++) lib.read(lib.parse(corpus[i].text), emitLength)
          return Number(process.hrtime.bigint() - t0) / 1e9
        }
  pass() // warm-up
  const times = []
  for (let p = 0; p < passes; p++) times.push(pass())
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]

  // Untimed: correctness against ground truth and round trip.
  let fields = 0
  let correct = 0
  let firstWrong
  let exact = 0
  let dropsFinalCr = 0
  let threw = 0
  let firstDiff
  for (const { text, truth } of corpus) {
    let m
    try {
      m = lib.parse(text)
    } catch (e) {
      threw++
      fields += 4 + truth.obx.length
      firstWrong ??= { text: text.slice(0, 80), error: String(e?.message ?? e) }
      continue
    }
    const got = []
    try {
      lib.read(m, (v) => got.push(asText(v)))
    } catch (e) {
      firstWrong ??= { text: text.slice(0, 80), error: String(e?.message ?? e) }
    }
    const want = [truth.type, truth.trigger, truth.pid3, truth.pid5, ...truth.obx]
    fields += want.length
    for (let k = 0; k < want.length; k++) {
      if (got[k] === want[k]) correct++
      else firstWrong ??= { field: FIELD_NAMES[Math.min(k, 4)], ...around(want[k], String(got[k])) }
    }
    const out = lib.serialize(m)
    if (out === text) exact++
    else if (out === text.slice(0, -1)) dropsFinalCr++
    else if (firstDiff === undefined) {
      const a = text.split('\r')
      const b = out.split('\r')
      const k = a.findIndex((s, j) => s !== b[j])
      firstDiff = { segment: k + 1, ...around(a[k] ?? '', b[k] ?? '') }
    }
  }

  // Serialisation of unmodified messages, timed in chunks (holding 10,000 parsed documents of
  // the heavier libraries at once would measure the garbage collector).
  let serializeTime = 0
  const chunk = 500
  for (let i = 0; i < corpus.length; i += chunk) {
    const parsed = corpus.slice(i, i + chunk).map((c) => lib.parse(c.text))
    const t0 = process.hrtime.bigint()
    for (const m of parsed) sink += lib.serialize(m).length
    serializeTime += Number(process.hrtime.bigint() - t0) / 1e9
  }

  const note = adapter.probe?.(corpus[0].text)
  process.stdout.write(
    JSON.stringify({
      id,
      rate: corpus.length / median,
      times,
      fields,
      correct,
      firstWrong,
      exact,
      dropsFinalCr,
      threw,
      firstDiff,
      serializeRate: corpus.length / serializeTime,
      note,
      sink,
    }) + '\n',
  )
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-GB')
}

async function main() {
  const a = args()
  if (a.child) return child(a.child, a.corpus, Number(a.passes), a.clock)
  const count = Number(a.messages ?? 10_000)
  const passes = Number(a.passes ?? 3)
  const only = a.only ? a.only.split(',') : ORDER
  const clock = a.clock === 'cpu' ? 'cpu' : 'wall'
  const corpus = generateCorpus(SEED, count)
  const bytes = corpus.reduce((s, c) => s + Buffer.byteLength(c.text), 0)
  const dir = mkdtempSync(join(tmpdir(), 'li-hl7-bench-'))
  const file = join(dir, 'corpus.json')
  writeFileSync(file, JSON.stringify(corpus))
  console.log(
    `HL7 parse benchmark: ${count.toLocaleString('en-GB')} messages (seed ${SEED}), mean ` +
      `${(bytes / count / 1024).toFixed(2)} KiB; 1 warm-up + ${passes} timed passes per library ` +
      `(${clock === 'cpu' ? 'CPU' : 'wall'} time), ` +
      `one process each; Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
  )
  const results = []
  try {
    for (const id of only) {
      if (!ADAPTERS[id])
        throw new Error(`unknown library ${id}; expected one of ${ORDER.join(', ')}`)
      const r = spawnSync(
        process.execPath,
        [
          fileURLToPath(import.meta.url),
          `--child=${id}`,
          `--corpus=${file}`,
          `--passes=${passes}`,
          `--clock=${clock}`,
        ],
        { encoding: 'utf8', maxBuffer: 1 << 26 },
      )
      if (r.status !== 0) {
        // Libraries shipped minified print whole bundles in stack traces: keep the tail.
        console.error(`${id} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`)
        results.push({ id, failed: true })
        continue
      }
      const res = JSON.parse(r.stdout.trim().split('\n').pop())
      results.push(res)
      process.stderr.write(`  ${id}: ${fmt(res.rate)} msg/s\n`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }

  const hl7parser = results.find((r) => r.id === 'hl7parser' && !r.failed)
  const naive = results.find((r) => r.id === 'naive' && !r.failed)
  const rows = results.map((r) => {
    if (r.failed) return [ADAPTERS[r.id].label, 'failed', '', '', '']
    const rt =
      r.exact === count
        ? 'exact'
        : r.dropsFinalCr === count
          ? 'drops final CR'
          : `${((100 * r.exact) / count).toFixed(1)}% exact` +
            (r.dropsFinalCr
              ? `, ${((100 * r.dropsFinalCr) / count).toFixed(1)}% drop final CR`
              : '')
    const ok = `${((100 * r.correct) / r.fields).toFixed(1)}%`
    return [
      ADAPTERS[r.id].label,
      fmt(r.rate),
      fmt(r.serializeRate),
      rt + (r.note ? `; ${r.note}` : ''),
      ok,
    ]
  })
  const head = ['library', 'parse+read msg/s', 'toString msg/s', 'round trip', 'fields correct']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)))
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`
  console.log()
  console.log(line(head))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const row of rows) console.log(line(row))
  console.log()
  for (const r of results) {
    if (r.failed) continue
    if (r.firstWrong) console.log(`${r.id}: first wrong field: ${JSON.stringify(r.firstWrong)}`)
    if (r.firstDiff)
      console.log(`${r.id}: first round-trip difference: ${JSON.stringify(r.firstDiff)}`)
  }
  const ours = results.find((r) => r.id === 'ours' && !r.failed)
  if (ours) {
    const targets = []
    if (hl7parser)
      targets.push(`${(ours.rate / hl7parser.rate).toFixed(1)}x hl7parser (target >= 3x)`)
    if (naive) targets.push(`${(ours.rate / naive.rate).toFixed(2)}x naive split (target > 1x)`)
    if (targets.length) console.log(`@li/hl7: ${targets.join(', ')}`)
  }
}

await main()
