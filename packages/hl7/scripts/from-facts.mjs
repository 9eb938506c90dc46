// Builds one version's compact tables (the format of src/schema/load.ts) from a fact file in
// scripts/sources/ (format described at the top of that file). Used by generate-schemas.mjs for
// the versions the npm source does not carry (2.8).
//
// What comes from the fact file: the segment list; per field its position, data type, required /
// optional / withdrawn, repetition (1, N or unbounded) and table; the composite data types with
// their components in order (type, required / optional / withdrawn); every message structure with
// its segments and groups in order, their optionality and repetition, and choices.
//
// What comes from elsewhere, each counted in the returned `notes`:
// - Descriptions. The fact file names fields and components in UPPER_SNAKE form; where the name of
//   the field (component) at the same position in `base` (the 2.7 tables) is the same name up to
//   case and punctuation, its description is used ("DATE_TIME_OF_BIRTH" → "Date/Time of Birth");
//   otherwise the name is written in title case, a trailing own segment ID as " - SEG". Segment, data type and structure descriptions
//   come from `base` (or from `older`, the earlier versions, newest first).
// - Lengths. The fact file has none. A field's (component's) maximum length is carried over from
//   `base` only where name and data type are unchanged; that is the 2.7 value, not read from a 2.8
//   table, and README.md says so.
// - A withdrawn field keeps `base`'s data type (the fact file types it WD), so that paths into
//   it still resolve; composite types that 2.8 withdrew but withdrawn fields still name are copied
//   from `base`. Primitive data types (no components) come from `base`, plus PRIMITIVES below.
// - `optionalityFixes` (given by the caller, each a fact from the standard) override the source's
//   optionality of single fields.
// - Table 9999 is the source's marker for "no table" and is dropped.
// - The source's placeholder for "any segment" (ANY) is dropped, and so is a group left empty.
// - A group the source marks as a choice of single segments is shipped as a choice, except where
//   `base`'s structure of the same name has a group of the same name as a sequence (the source
//   marks e.g. QBP_E03's QUERY_INFORMATION {QPD, RCP} as a choice): then it is a sequence.

/** Names of the segments that are new in 2.8 (the fact file has no descriptions), per the standard. */
const SEGMENT_NAMES = {
  BUI: 'Blood Unit Information',
  CDO: 'Cumulative Dosage',
  DON: 'Donation',
  RXV: 'Pharmacy/Treatment Infusion',
  SGH: 'Segment Group Header',
  SGT: 'Segment Group Trailer',
}

/** Primitive data types that the fact file uses and `base` lacks, with the standard's name. */
const PRIMITIVES = { SNM: 'String of Telephone Number Digits' }

/** Words kept lower case (unless first) or upper case when a name is written in title case. */
const LOWER = new Set([
  'a',
  'an',
  'and',
  'at',
  'by',
  'for',
  'in',
  'of',
  'on',
  'or',
  'the',
  'to',
  'with',
])
const UPPER = new Set([
  'id',
  'oid',
  'uid',
  'ndc',
  'drg',
  'pid',
  'url',
  'uri',
  'dns',
  'ip',
  'mac',
  'ssn',
])

function norm(s) {
  return s.toUpperCase().replace(/[^A-Z0-9]/g, '')
}

function titleCase(name) {
  return name
    .toLowerCase()
    .split('_')
    .filter(Boolean)
    .map((w, i) =>
      UPPER.has(w) ? w.toUpperCase() : i > 0 && LOWER.has(w) ? w : w[0].toUpperCase() + w.slice(1),
    )
    .join(' ')
}

/** Splits a fact file into its sections: `{ segments: [lines], fields: [lines], … }`. */
function sections(text) {
  const out = {}
  let current
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('@')) {
      current = out[line.slice(1)] = []
      continue
    }
    if (!current) throw new Error(`fact line outside a section: ${line}`)
    current.push(line)
  }
  return out
}

/** `r*` → { opt: 'R', reps: 0 }; `o5` → { opt: 'O', reps: 5 }; `w`/`x` → withdrawn. */
function fieldToken(tok) {
  const m = /^([roxw])(\*|\d+)?$/.exec(tok)
  if (!m) throw new Error(`bad field token ${tok}`)
  const opt = { r: 'R', o: 'O', x: 'W', w: 'W' }[m[1]]
  const reps = m[2] === undefined ? 1 : m[2] === '*' ? 0 : Number(m[2])
  return { opt, reps }
}

/** Node token of a structure or group line: name and occurrence flag. */
function nodeToken(tok) {
  const m = /^([A-Z0-9_]+)([?*+]?)$/.exec(tok)
  if (!m) throw new Error(`bad node token ${tok}`)
  return { name: m[1], flag: m[2] }
}

function trimTuple(t, keep) {
  while (t.length > keep && t[t.length - 1] === null) t.pop()
  return t
}

/**
 * The compact tables of `version` from the fact file `text`. `base` is the compact form of the
 * version the descriptions and lengths are matched against (2.7), `older` earlier compact
 * versions (newest first) for descriptions `base` lacks, `byEvent` table 0354 (event → structure);
 * `source` labels the output and `optionalityFixes` (`{ SEG: { n: 'C' } }`) corrects the source's
 * optionality of single fields. Returns `{ json, notes }`.
 */
export function fromFacts(version, text, base, older, byEvent, { source, optionalityFixes = {} }) {
  const s = sections(text)
  const notes = {
    fieldNameFromBase: 0,
    fieldNameTitleCased: 0,
    fieldLengthFromBase: 0,
    componentNameFromBase: 0,
    componentNameTitleCased: 0,
    withdrawnTypesCopied: [],
    table9999Dropped: 0,
    optionalityFixed: [],
    anyDropped: [],
    emptyGroupsDropped: [],
    choicesReadAsSequence: [],
    loneChoices: [],
  }
  const describe = (kind, id) => {
    for (const v of [base, ...older]) if (v[kind][id]) return v[kind][id][0]
    return undefined
  }

  // Fields: SEG_N TYPE TABLE NAME
  const fieldInfo = new Map()
  for (const line of s.fields) {
    const [key, type, table, name] = line.split(' ')
    fieldInfo.set(key, { type, table: table === '-' ? null : Number(table), name })
  }

  // Segments
  const segments = {}
  for (const line of s.segments) {
    const [id, ...toks] = line.split(' ')
    const expanded = []
    for (const t of toks) {
      const [tok, times] = t.split('~')
      for (let i = 0; i < Number(times ?? 1); i++) expanded.push(tok)
    }
    const baseFields = base.segments[id]?.[1] ?? []
    const fields = expanded.map((tok, i) => {
      const { opt: given, reps } = fieldToken(tok)
      const fix = optionalityFixes[id]?.[i + 1]
      if (fix) notes.optionalityFixed.push(`${id}-${i + 1} ${given}→${fix}`)
      const opt = fix ?? given
      const info = fieldInfo.get(`${id}_${i + 1}`)
      const b = baseFields[i]
      const sameName = b !== undefined && info !== undefined && norm(b[0]) === norm(info.name)
      let description
      if (sameName || (info === undefined && b !== undefined)) {
        description = b[0]
        notes.fieldNameFromBase++
      } else if (info !== undefined) {
        // "SET_ID_SGH" → "Set ID - SGH", the standard's way of suffixing the segment ID.
        const own = info.name.endsWith(`_${id}`)
        description = own
          ? `${titleCase(info.name.slice(0, -id.length - 1))} - ${id}`
          : titleCase(info.name)
        notes.fieldNameTitleCased++
      } else {
        description = `${id}-${i + 1}`
      }
      let type = info?.type ?? 'WD'
      if (type === 'WD') type = b?.[1] ?? 'ST'
      if (type === 'varies') type = b?.[1] ?? 'ST'
      let table = info?.table ?? null
      if (table === 9999) {
        table = null
        notes.table9999Dropped++
      }
      let length = null
      if (sameName && b[1] === type && typeof b[4] === 'number') {
        length = b[4]
        notes.fieldLengthFromBase++
      }
      return trimTuple([description, type, opt, reps, length, table], 4)
    })
    segments[id] = [describe('segments', id) ?? SEGMENT_NAMES[id] ?? id, fields]
  }

  // Data types
  const required = new Set()
  const withdrawn = new Set()
  for (const line of s.components) {
    const [kind, ...keys] = line.split(' ')
    for (const k of keys) (kind === 'REQ' ? required : withdrawn).add(k)
  }
  const dataTypes = {}
  for (const line of s.datatypes) {
    const [id, ...comps] = line.split(' ')
    const baseComps = base.dataTypes[id]?.[1] ?? []
    dataTypes[id] = [
      describe('dataTypes', id) ?? id,
      comps.map((c, i) => {
        const [type, name] = c.split(':')
        const key = `${id}_${i + 1}`
        const b = baseComps[i]
        const sameName = b !== undefined && norm(b[0]) === norm(name)
        let description
        if (sameName) {
          description = b[0]
          notes.componentNameFromBase++
        } else {
          description = titleCase(name)
          notes.componentNameTitleCased++
        }
        let t = type
        if (t === 'WD' || t === 'varies') t = b?.[1] ?? 'ST'
        const opt = withdrawn.has(key) ? 'W' : required.has(key) ? 'R' : 'O'
        const same = sameName && b[1] === t
        return trimTuple(
          [description, t, opt, same ? (b[3] ?? null) : null, same ? (b[4] ?? null) : null],
          3,
        )
      }),
    ]
  }
  const used = new Set()
  for (const [, fields] of Object.values(segments)) for (const f of fields) used.add(f[1])
  for (const [, comps] of Object.values(dataTypes)) for (const c of comps) used.add(c[1])
  for (const [id, dt] of Object.entries(base.dataTypes)) {
    if (dataTypes[id]) continue
    if (dt[1].length === 0) dataTypes[id] = dt
    else if (used.has(id)) {
      dataTypes[id] = dt
      notes.withdrawnTypesCopied.push(id)
    }
  }
  for (const id of used) {
    if (dataTypes[id]) continue
    if (!PRIMITIVES[id]) throw new Error(`data type ${id} is used but not defined`)
    dataTypes[id] = [PRIMITIVES[id], []]
  }

  // Groups: =STRUCTURE [%MACRO] blocks and %MACRO blocks
  const macros = {}
  const groupsOf = {}
  let target
  for (const line of s.groups) {
    if (line.startsWith('%')) {
      target = macros[line.slice(1)] = {}
      continue
    }
    if (line.startsWith('=')) {
      const [id, macro] = line.slice(1).split(' ')
      target = groupsOf[id] = {}
      if (macro) Object.assign(target, macros[macro.slice(1)])
      continue
    }
    const m = /^([A-Z0-9_]+):([|~]?) ?(.*)$/.exec(line)
    if (!m) throw new Error(`bad group line ${line}`)
    target[m[1]] = {
      kind: m[2] === '|' ? 'choice' : 'sequence',
      nodes: m[3].split(' ').filter(Boolean),
    }
  }

  /** Whether `base`'s structure `id` has a sequence group named `name`. */
  const baseSequenceGroup = (id, name) => {
    const walk = (nodes) =>
      nodes.some((n) => Array.isArray(n) && ((n[0] === name && n[0] !== '<>') || walk(n[2])))
    return walk(base.structures[id]?.[1] ?? [])
  }

  const structures = {}
  for (const line of s.messages) {
    const [head, rest] = line.split(': ')
    const id = head
    const groups = groupsOf[id] ?? {}
    const encode = (tokens, path, depth, self) => {
      if (depth > 20) throw new Error(`groups nested too deep in ${id}`)
      const out = []
      for (const tok of tokens) {
        const { name, flag } = nodeToken(tok)
        if (name === 'ANY') {
          notes.anyDropped.push(`${path}`)
          continue
        }
        // Inside group PSG, PSG is the segment (EHC_E02's group PSG starts with segment PSG).
        const g = name === self ? undefined : groups[name]
        if (g) {
          let choice = g.kind === 'choice'
          if (choice && baseSequenceGroup(id, name)) {
            choice = false
            notes.choicesReadAsSequence.push(`${id}.${name}`)
          }
          const children = encode(g.nodes, `${path}.${name}`, depth + 1, name)
          if (children.length === 0) {
            notes.emptyGroupsDropped.push(`${path}.${name}`)
            continue
          }
          if (choice && children.length === 1) notes.loneChoices.push(`${path}.${name}`)
          out.push(choice ? ['<>', flag, children] : [name, flag, children])
          continue
        }
        if (!segments[name]) throw new Error(`${id}: ${name} is neither a segment nor a group`)
        out.push(name + flag)
      }
      return out
    }
    structures[id] = [describe('structures', id) ?? '', encode(rest.split(' '), id, 0, undefined)]
  }

  // Events: the structure's own event, then the events `base` maps to a structure 2.8 has, then
  // table 0354's; each only where the structure exists here.
  const events = {}
  for (const id of Object.keys(structures)) {
    const m = /^([A-Z0-9]{3})_([A-Z0-9]{3})$/.exec(id)
    if (m) events[`${m[1]}^${m[2]}`] = id
    else events[id] = id
  }
  for (const [ev, id] of Object.entries(base.events))
    if (!events[ev] && structures[id]) events[ev] = id
  for (const [ev, id] of byEvent) if (!events[ev] && structures[id]) events[ev] = id

  return { json: { version, source, segments, dataTypes, structures, events }, notes }
}
