#!/usr/bin/env node
// Generates src/schema/generated/v*.ts: the HL7 v2 tables (message structures, segments, fields,
// data types, event → structure map) that @li/hl7 ships, one compact module per version.
//
// Source: the npm package `hl7-dictionary` (1.0.1, MIT), which carries the standard's tables as
// data for 2.1 … 2.7.1. What this script does and does not do:
// - It translates that data into our compact format (see `encodeNode` and `encodeField`); it
//   changes no fact, except that it drops structure entries whose segment name is missing in the
//   source (a handful of defects in its 2.7 data; counted and printed), and it restores two field
//   descriptions the source lost (DESCRIPTION_FIXES).
// - The source's `messages` are keyed by event (ADT_A04 …). We name each structure by the
//   standard's table 0354 (ADT_A04 → ADT_A01) only where the source's structure for that event is
//   identical in shape to the one under the 0354 name; otherwise the event keeps its own structure.
// - The source has no distinct 2.7.1 (its 2.7.1 files are byte-identical to 2.7) and no 2.8.
//   2.8 is built from scripts/sources/hl7apy-v2.8.txt, facts transcribed from the hl7apy Python
//   package's v2.8 tables (see scripts/from-facts.mjs for what is read from there and what is
//   matched against 2.7). No source of distinct 2.7.1 tables was found, so 2.7.1 is emitted as
//   `{ "derivedFrom": "2.7" }` (README.md says so); no difference is invented here.
//
// Run: `node packages/hl7/scripts/generate-schemas.mjs` (prints a size summary). Deterministic:
// the same source gives byte-identical output. With `--check` it writes nothing and exits 1 when
// the committed files differ from what it would write (a test runs it that way).
import { createRequire } from 'node:module'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fromFacts } from './from-facts.mjs'

const require = createRequire(import.meta.url)
const dictionary = require('hl7-dictionary')
const sourcePackage = require('hl7-dictionary/package.json')

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, '..', 'src', 'schema', 'generated')

/** Versions read from the source, and versions derived from another one (see header). */
const SOURCE_VERSIONS = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7']
const DERIVED_VERSIONS = { '2.7.1': '2.7' }

/** Versions built from a fact file in scripts/sources (see from-facts.mjs), matched against `base`. */
const FACT_VERSIONS = {
  2.8: {
    file: 'hl7apy-v2.8.txt',
    base: '2.7',
    source: 'hl7apy v2_8 (scripts/sources/hl7apy-v2.8.txt)',
    // Corrections to the source, each a fact from the standard: hl7apy has OBX-2 (Value Type) and
    // OBX-4 (Observation Sub-ID) as required, where the standard's OBX table (2.5 … 2.9, and
    // hl7-dictionary's 2.7) has them conditional (C). Taken as is, every result without a sub-ID
    // would fail validation.
    optionalityFixes: { OBX: { 2: 'C', 4: 'C' } },
  },
}

/**
 * Corrections to the source, each a fact from the standard: the source's 2.3 PID-2 and PID-3 are
 * both "Patient ID", where 2.3 says "Patient ID (External ID)" and "Patient ID (Internal ID)"
 * (IRIS's 2.3 category names PID-3 PatientIDInternalID accordingly).
 */
const DESCRIPTION_FIXES = {
  2.3: { PID: { 2: 'Patient ID (External ID)', 3: 'Patient ID (Internal ID)' } },
}

/** hl7-dictionary codes optionality as numbers; the standard's letters are what we ship. */
const OPTIONALITY = { 1: 'O', 2: 'R', 3: 'C', 4: 'B' }

const dropped = []
const ownStructure = []

/** Occurrence flag: '' required once, '?' optional once, '+' required repeating, '*' optional repeating. */
function flag(node) {
  const required = node.min >= 1
  const repeating = node.max !== 1
  if (node.max > 1) throw new Error(`bounded repetition ${node.max} not supported: ${node.name}`)
  return required ? (repeating ? '+' : '') : repeating ? '*' : '?'
}

/** A segment node becomes "PID?" etc.; a group ["NAME", flag, children]; a choice ["<>", flag, alternatives]. */
function encodeNode(node, where) {
  if (node.compounds) {
    const alternatives = encodeList(node.compounds, where)
    return alternatives.length > 0 ? ['<>', flag(node), alternatives] : undefined
  }
  if (node.children) {
    const children = encodeList(node.children, where)
    return children.length > 0 ? [node.name, flag(node), children] : undefined
  }
  if (typeof node.name !== 'string' || !/^[A-Z][A-Z0-9]{2}$/.test(node.name)) {
    dropped.push(`${where}: ${String(node.name)}`)
    return undefined
  }
  return node.name + flag(node)
}

function encodeList(nodes, where) {
  return nodes.map((n) => encodeNode(n, where)).filter((n) => n !== undefined)
}

/**
 * Shape of a structure, for comparing two events' structures: descriptions ignored, and so are the
 * optional header segments SFT and UAC at the top level, which the source's per-event copies
 * sometimes omit where the standard's structure has them (2.5 ADT_A04 against ADT_A01).
 */
function shape(nodes) {
  const top = nodes.filter((n) => !((n.name === 'SFT' || n.name === 'UAC') && n.min === 0))
  return JSON.stringify(encodeList(top, 'shape'))
}

/** Field tuple: [description, dataType, optionality, repetitions (0 = unbounded), maxLength?, table?]. */
function encodeField(f) {
  const t = [
    f.desc.trim(),
    f.datatype,
    OPTIONALITY[f.opt] ?? 'O',
    f.rep,
    f.len ?? null,
    f.table ?? null,
  ]
  while (t.length > 4 && t[t.length - 1] === null) t.pop()
  return t
}

/** Component tuple: [description, dataType, optionality, maxLength?, table?]. */
function encodeComponent(c) {
  const t = [c.desc.trim(), c.datatype, OPTIONALITY[c.opt] ?? 'O', c.len ?? null, c.table ?? null]
  while (t.length > 3 && t[t.length - 1] === null) t.pop()
  return t
}

/** Table 0354 (message structure → its events), from the source's tables. */
function table0354() {
  const values = dictionary.tables['354']?.values ?? {}
  const byEvent = new Map()
  for (const [structure, events] of Object.entries(values)) {
    const type = structure.slice(0, 3)
    for (const ev of String(events)
      .split(/[,\s]+/)
      .filter(Boolean)) {
      byEvent.set(`${type}^${ev}`, structure)
    }
  }
  return byEvent
}

function sorted(obj) {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

function generate(version, byEvent) {
  const def = dictionary.definitions[version]
  const segments = {}
  for (const [id, seg] of Object.entries(def.segments)) {
    const fixes = DESCRIPTION_FIXES[version]?.[id] ?? {}
    segments[id] = [
      seg.desc.trim(),
      seg.fields.map((f, i) => encodeField(fixes[i + 1] ? { ...f, desc: fixes[i + 1] } : f)),
    ]
  }
  const dataTypes = {}
  for (const [id, dt] of Object.entries(def.fields)) {
    dataTypes[id] = [dt.desc.trim(), (dt.subfields ?? []).map(encodeComponent)]
  }
  const structures = {}
  const events = {}
  for (const [key, msg] of Object.entries(def.messages)) {
    const nodes = msg.segments.segments
    const m = /^([A-Z0-9]{3})_([A-Z0-9]{3})$/.exec(key)
    let id = key
    if (m) {
      const event = `${m[1]}^${m[2]}`
      const named = byEvent.get(event)
      if (named && named !== key && def.messages[named]) {
        if (shape(def.messages[named].segments.segments) === shape(nodes)) id = named
        else ownStructure.push(`${version} ${event} (0354: ${named})`)
      }
      events[event] = id
    } else {
      events[key] = key
    }
    if (!structures[id])
      structures[id] = [(msg.desc ?? '').trim(), encodeList(nodes, `${version} ${key}`)]
  }
  return {
    version,
    source: `${sourcePackage.name}@${sourcePackage.version}`,
    segments: sorted(segments),
    dataTypes: sorted(dataTypes),
    structures: sorted(structures),
    events: sorted(events),
  }
}

function moduleText(version, json) {
  return (
    `// Generated by scripts/generate-schemas.mjs from ${json.source ?? 'a derived version'}. Do not edit.\n` +
    `/** HL7 v${version} tables in the compact format read by src/schema/load.ts. */\n` +
    `export const json: string =\n  ${JSON.stringify(JSON.stringify(json))}\n`
  )
}

function fileName(version) {
  return `v${version.replaceAll('.', '_')}.ts`
}

const check = process.argv.includes('--check')
const stale = []
function emit(version, text) {
  const file = join(outDir, fileName(version))
  if (!check) writeFileSync(file, text)
  else if (!existsSync(file) || readFileSync(file, 'utf8') !== text) stale.push(file)
}

if (!check) {
  mkdirSync(outDir, { recursive: true })
  for (const f of readdirSync(outDir)) if (/^v[\d_]+\.ts$/.test(f)) unlinkSync(join(outDir, f))
}

const byEvent = table0354()
let total = 0
const built = {}
function summary(version, json, text) {
  console.log(
    `${version}: ${Object.keys(json.segments).length} segments, ${Object.keys(json.dataTypes).length} data types, ` +
      `${Object.keys(json.structures).length} structures, ${Object.keys(json.events).length} events, ${(text.length / 1024).toFixed(0)} KiB`,
  )
}
for (const version of SOURCE_VERSIONS) {
  const json = generate(version, byEvent)
  built[version] = json
  const text = moduleText(version, json)
  emit(version, text)
  total += text.length
  summary(version, json, text)
}
for (const [version, spec] of Object.entries(FACT_VERSIONS)) {
  const facts = readFileSync(join(here, 'sources', spec.file), 'utf8')
  const older = SOURCE_VERSIONS.filter((v) => v !== spec.base)
    .reverse()
    .map((v) => built[v])
  const { json, notes } = fromFacts(version, facts, built[spec.base], older, byEvent, spec)
  for (const key of ['segments', 'dataTypes', 'structures', 'events']) json[key] = sorted(json[key])
  const text = moduleText(version, json)
  emit(version, text)
  total += text.length
  summary(version, json, text)
  for (const [k, v] of Object.entries(notes)) {
    console.log(
      `  ${k}: ${Array.isArray(v) ? `${v.length}${v.length ? ` (${v.join('; ')})` : ''}` : v}`,
    )
  }
}
for (const [version, from] of Object.entries(DERIVED_VERSIONS)) {
  const text = moduleText(version, { version, derivedFrom: from })
  emit(version, text)
  total += text.length
  console.log(`${version}: derived from ${from} (no distinct source data)`)
}
console.log(
  `dropped ${dropped.length} structure entries without a segment name: ${dropped.join('; ')}`,
)
console.log(
  `events kept on their own structure (shape differs from table 0354's): ${ownStructure.length}: ${ownStructure.join('; ')}`,
)
console.log(`total ${(total / 1024).toFixed(0)} KiB`)
if (check && stale.length > 0) {
  console.error(`out of date (run the script without --check): ${stale.join(', ')}`)
  process.exit(1)
}
