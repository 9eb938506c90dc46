// Benchmark of @li/engine's IRIS layer, per message: the work of one routing decision plus one
// transform, on a 3.3 KB ADT^A01 (from "PAS In") and a 1.6 KB ORU^R01 (from "Lab In"), done three
// ways side by side in the same run:
//   (a) router: what the routing engine host runs for an HL7 message (hosts/routing-engine.ts):
//       parseMessage, the IRIS routing rule class Bench.Rules.Router evaluated by
//       `compileRules(...).evaluate(...)` (4 rules: Contains, In, !=, a Lookup), then for each
//       send its DTL Bench.DTL.ToEPR by `compileTransform(...).applyText(...)` (create="copy",
//       13 assigns, two of them in an if/else: a Lookup, ConvertDateTime, ToUpper, ReplaceStr,
//       Translate);
//   (b) BPL: the same decisions and the same DTL in the BPL process Bench.BPL.Router, run by
//       `compileProcess(...).run(...)` as the BPL process host does (if, assign, transform, call);
//   (c) by hand: what a user without the engine would write: the same decisions and field
//       changes in plain JavaScript on @li/hl7 (parseMessage, get, set, toString). The baseline.
// All three must send the same messages to the same targets (the EPR copy, and for the ADT the
// bed-board copy as received): checked once before timing, the run fails if they differ. The
// one difference allowed is the CR after the last segment: a DTL writes none, @li/hl7 keeps the
// input's (both are the same HL7 message; MLLP framing adds its own end).
// Fixtures (production, rule class, DTL, BPL, lookup table, messages) are in bench/fixtures/.
//
// Each round times 1,500 messages (x LI_BENCH_SCALE) per contender and message type, in turn (a
// synchronous loop for (a) and (c); for (b) one awaited run per message, as its host does).
// Contenders run interleaved in a rotating order; µs per message is the median over the rounds
// (min–max of rounds beside it), the ratio to (c) the median of per-round ratios. The same for
// CPU time (process.cpuUsage, user + system): on a shared machine it is the steadier figure.
//
// Runs over dist/ (plain Node, no TypeScript loader): `pnpm --filter @li/engine bench` builds
// first. LI_BENCH_SCALE (default 1) scales the message counts, LI_BENCH_ROUNDS (default 7) sets
// the rounds, LI_BENCH_ONLY=router|bpl|hand runs one contender (for `node --cpu-prof`).
// Speed is measured only here, never asserted in tests.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseMessage } from '@li/hl7'
import {
  compileProcess,
  compileRules,
  compileTransform,
  loadProductionFile,
} from '../dist/index.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = (name) => path.join(here, 'fixtures', name)
const SCALE = Number(process.env.LI_BENCH_SCALE ?? '1')
const ROUNDS = Number(process.env.LI_BENCH_ROUNDS ?? '7')
const ONLY = process.env.LI_BENCH_ONLY
const COUNT = Math.max(50, Math.round(1_500 * SCALE))
const WARMUP = Math.max(50, Math.round(1_000 * SCALE))

const production = await loadProductionFile(fixture('Bench.Production.cls'))
const rules = compileRules(production.rules.get('Bench.Rules.Router'), production)
// One compiled DTL, shared by the router and the process (the engine caches them the same way).
const transforms = new Map()
const transform = (className) => {
  let t = transforms.get(className)
  if (t === undefined) {
    t = compileTransform(production.transforms.get(className), production)
    transforms.set(className, t)
  }
  return t
}
const bplProcess = compileProcess(production.processes.get('Bench.BPL.Router'), production, {
  transform,
})
const lookupTables = production.lookupTables

/**
 * (a) One message through the router's path (RoutingEngineHost.handle, HL7, no batch): parse,
 * evaluate the rules against the text and the parsed message, run each send's transforms on the
 * text. Returns what it would forward.
 */
function viaRouter(raw, source) {
  const base = { source, now: new Date(), lookupTables }
  const message = parseMessage(raw)
  const result = rules.evaluate({ ...base, raw, message })
  const out = []
  for (const action of result.actions) {
    if (action.type === 'delete') continue
    let text = raw
    for (const cls of action.transforms) {
      const r = transform(cls).applyText(text, base)
      if (r.text === undefined) throw new Error(`${cls} made no HL7 message`)
      text = r.text
    }
    out.push({ target: action.target, raw: text })
  }
  return out
}

/** (b) One message through the BPL process, as the BPL process host runs it. */
async function viaBpl(raw, source) {
  const r = await bplProcess.run({ request: raw, source, now: new Date(), lookupTables })
  return r.calls.map((c) => ({ target: c.target, raw: c.raw }))
}

// (c) The same routing and changes, hand-written. The ward table is the user's own literal (the
// run checks it matches bench/fixtures/Bench-Wards.lut).
const WARDS = new Map([
  ['WARD5', 'Ward 5 Respiratory'],
  ['WARD6', 'Ward 6 Elderly Care'],
  ['WARD7', 'Ward 7 Cardiology'],
  ['WARD8', 'Ward 8 Surgical'],
  ['CCU', 'Coronary Care Unit'],
])
const EPR_EVENTS = new Set(['A01', 'A02', 'A03', 'A08'])
const INPATIENT = new Set(['I', 'E'])

/** (c) One message by hand on @li/hl7. */
function byHand(raw) {
  const msg = parseMessage(raw)
  if ((msg.get('PID-5.1') ?? '').includes('ZZTEST')) return []
  const type = msg.get('MSH-9.1')
  const ward = msg.get('PV1-3.1') ?? ''
  const patientClass = msg.get('PV1-2') ?? ''
  const toEpr =
    (type === 'ADT' && EPR_EVENTS.has(msg.get('MSH-9.2') ?? '') && INPATIENT.has(patientClass)) ||
    (type === 'ORU' &&
      (msg.get('PID-3.1') ?? '') !== '' &&
      (msg.get('OBR-4.2') ?? '').includes('blood'))
  const toBeds = type === 'ADT' && WARDS.has(ward)
  const out = []
  if (toEpr) {
    // The copy: the parsed message itself (`raw` stays as received for the bed board).
    const sent = msg.get('MSH-7') ?? ''
    msg.set('MSH-3', 'LI')
    msg.set('MSH-4', 'NWH-LI')
    msg.set('MSH-5', 'EPR')
    msg.set('MSH-6', 'NWHEPR')
    msg.set('MSH-7', /^\d{14}$/.test(sent) ? sent.slice(0, 12) : sent)
    msg.set('MSH-10', `${msg.get('MSH-10') ?? ''}-EPR`)
    msg.set('MSH-12', '2.4')
    msg.set('PID-5.1', (msg.get('PID-5.1') ?? '').toUpperCase())
    msg.set('PID-11.1', (msg.get('PID-11.1') ?? '').replaceAll('STREET', 'ST'))
    msg.set('PID-11.5', (msg.get('PID-11.5') ?? '').replaceAll(' ', ''))
    msg.set('PV1-3.9', WARDS.get(ward) ?? 'UNKNOWN WARD')
    msg.set('PV1-18', patientClass === 'I' ? 'INPATIENT' : 'OUTPATIENT')
    out.push({ target: 'EPR Out', raw: msg.toString() })
  }
  if (toBeds) out.push({ target: 'Bed Out', raw })
  return out
}

const MESSAGES = [
  { name: 'ADT^A01', file: 'adt-a01.hl7', source: 'PAS In' },
  { name: 'ORU^R01', file: 'oru-r01.hl7', source: 'Lab In' },
].map((m) => ({ ...m, raw: readFileSync(fixture(m.file), 'utf8') }))

const CONTENDERS = [
  { key: 'router', label: '(a) router: rules + DTL', sync: viaRouter },
  { key: 'bpl', label: '(b) BPL process', async: viaBpl },
  { key: 'hand', label: '(c) by hand on @li/hl7', sync: byHand },
].filter((c) => ONLY === undefined || ONLY === c.key)
if (CONTENDERS.length === 0) throw new Error(`LI_BENCH_ONLY=${ONLY}: expected router, bpl or hand`)

// The three must do the same thing: same targets, same messages, byte for byte (but the last CR).
const table = lookupTables.get('Bench-Wards')
if (JSON.stringify([...(table ?? [])]) !== JSON.stringify([...WARDS])) {
  throw new Error('bench/fixtures/Bench-Wards.lut and the hand-written WARDS differ')
}
/** Sends as compared: target and ER7 text without a CR after the last segment. */
const comparable = (out) => JSON.stringify(out.map((x) => [x.target, x.raw.replace(/\r$/, '')]))
for (const m of MESSAGES) {
  const expected = byHand(m.raw)
  const got = {
    router: viaRouter(m.raw, m.source),
    bpl: await viaBpl(m.raw, m.source),
  }
  for (const [key, out] of Object.entries(got)) {
    if (comparable(out) !== comparable(expected)) {
      const show = (o) => o.map((x) => `${x.target}:\n${x.raw.replaceAll('\r', '\n')}`).join('\n')
      throw new Error(
        `${m.name}: ${key} does not send what the hand-written code sends.\n--- ${key}:\n${show(out)}\n--- by hand:\n${show(expected)}`,
      )
    }
  }
  if (expected.length === 0 || expected[0].raw === m.raw) {
    throw new Error(`${m.name}: the bench message is not routed and changed; check the fixtures`)
  }
  m.targets = expected.map((x) => x.target).join(' + ')
}

let sink = 0
/** Runs `c` on `m` `n` times; returns wall-clock and CPU (user + system) µs per message. */
async function time(c, m, n) {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  if (c.sync !== undefined) {
    for (let i = 0; i < n; i++) sink += c.sync(m.raw, m.source).length
  } else {
    for (let i = 0; i < n; i++) sink += (await c.async(m.raw, m.source)).length
  }
  const wall = ((performance.now() - t0) * 1000) / n
  const cpu = process.cpuUsage(cpu0)
  return { wall, cpu: (cpu.user + cpu.system) / n }
}

console.log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} (2+ means other work shares these CPUs)`,
)
console.log(
  `@li/engine IRIS per-message benchmark: node ${process.version}, ${os.cpus().length} CPUs, ${COUNT} messages per contender per round, ${ROUNDS} rounds, warm-up ${WARMUP}`,
)
for (const m of MESSAGES) for (const c of CONTENDERS) await time(c, m, WARMUP)

const res = new Map()
for (const m of MESSAGES) for (const c of CONTENDERS) res.set(`${m.name}|${c.key}`, [])
for (let round = 0; round < ROUNDS; round++) {
  const k = round % CONTENDERS.length
  const order = [...CONTENDERS.slice(k), ...CONTENDERS.slice(0, k)]
  for (const m of MESSAGES) {
    for (const c of order) res.get(`${m.name}|${c.key}`).push(await time(c, m, COUNT))
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const us = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1))
const rows = []
for (const m of MESSAGES) {
  const hand = res.get(`${m.name}|hand`)
  for (const c of CONTENDERS) {
    const rs = res.get(`${m.name}|${c.key}`)
    const wall = rs.map((r) => r.wall)
    const cpu = rs.map((r) => r.cpu)
    const ratio = (k) => `${median(rs.map((r, i) => r[k] / hand[i][k])).toFixed(1)}x`
    rows.push({
      message: `${m.name} ${(m.raw.length / 1000).toFixed(1)} KB`,
      contender: c.label,
      'µs/msg': us(median(wall)),
      'min–max': `${us(Math.min(...wall))}–${us(Math.max(...wall))}`,
      'msg/s': Math.round(1e6 / median(wall)).toLocaleString('en-GB'),
      'x (c)': hand === undefined ? '' : ratio('wall'),
      'CPU µs/msg': us(median(cpu)),
      'CPU x (c)': hand === undefined ? '' : ratio('cpu'),
      sends: m.targets,
    })
  }
}
console.log(
  `µs per message (routing + transform, output as ER7 text), median of ${ROUNDS} interleaved rounds (min–max of rounds); x (c) = median of per-round ratios to the hand-written code; CPU = process user+system time, steadier than wall time when other work shares the CPUs:`,
)
console.table(rows)
for (const r of rows) console.log(JSON.stringify(r))
if (sink === 0) console.log('(nothing was sent)')
