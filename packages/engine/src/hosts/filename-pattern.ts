/**
 * IRIS file name specifications (`Filename`, `ArchivePath` names): `Ens.Util.File.CreateTimestamp`
 * as used by `EnsLib.File.OutboundAdapter`, e.g. the HL7 FileOperation default `%f_%Q%!+(_a)`.
 *
 * Supported codes (others are copied unchanged):
 * - `%f` the original file name (from the FileService), stripped of `|?\/:[]<>&,;` and control
 *   characters; empty when the message did not come from a file.
 * - `%F` the original file name without its extension (LI: IRIS leaves its exact meaning open).
 * - `%Q` the ODBC timestamp with milliseconds (`2026-11-27 13:45:01.123`, so after the character
 *   mapping below `2026-11-27_13.45.01.123`).
 * - `%Y` `%y` `%m` `%d` `%H` `%M` `%S` `%j` date and time parts (two digits, `%#d` etc. without
 *   the leading zero), `%L` milliseconds (three digits), `%%` a literal `%`.
 * - `%+(x)` a uniqueness counter: `x` is the first value (`_a`, `_1`, `-001`); its last letter or
 *   number run increments (`_a`, `_b` … `_z`, `_aa`; `_1`, `_2` …). `%!+(x)` adds the counter only
 *   when the name without it already exists.
 * Time is local time unless `utc` is set. As in IRIS, spaces in the result become `_`, `/` become
 * `-` and `:` become `.`.
 */

// eslint-disable-next-line no-control-regex -- IRIS strips NUL and BEL from file names too
const STRIP = /[|?\\/:[\]<>&,;\x00\x07\t\r\n]/g

/** Inputs of a file name specification. */
export interface FilenameContext {
  /** The original file name (FileService), if any. */
  originalName?: string | undefined
  /** The time to format. */
  now: Date
  /** Format in UTC instead of local time. */
  utc?: boolean | undefined
}

interface Part {
  text: string
}
interface Counter {
  counter: string
  onlyIfExists: boolean
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

function dateParts(
  d: Date,
  utc: boolean,
): { Y: number; m: number; d: number; H: number; M: number; S: number; L: number; j: number } {
  const Y = utc ? d.getUTCFullYear() : d.getFullYear()
  const start = utc ? Date.UTC(Y, 0, 1) : new Date(Y, 0, 1).getTime()
  return {
    Y,
    m: (utc ? d.getUTCMonth() : d.getMonth()) + 1,
    d: utc ? d.getUTCDate() : d.getDate(),
    H: utc ? d.getUTCHours() : d.getHours(),
    M: utc ? d.getUTCMinutes() : d.getMinutes(),
    S: utc ? d.getUTCSeconds() : d.getSeconds(),
    L: utc ? d.getUTCMilliseconds() : d.getMilliseconds(),
    j: Math.floor((d.getTime() - start) / 86_400_000) + 1,
  }
}

function parse(spec: string, ctx: FilenameContext): (Part | Counter)[] {
  const out: (Part | Counter)[] = []
  const t = dateParts(ctx.now, ctx.utc === true)
  const orig = (ctx.originalName ?? '').replace(STRIP, '')
  const dot = orig.lastIndexOf('.')
  let i = 0
  let lit = ''
  const flush = (): void => {
    if (lit !== '') out.push({ text: lit })
    lit = ''
  }
  while (i < spec.length) {
    const ch = spec.charAt(i)
    if (ch !== '%') {
      lit += ch
      i++
      continue
    }
    let j = i + 1
    let noPad = false
    let bang = false
    if (spec.charAt(j) === '!') {
      bang = true
      j++
    }
    if (spec.charAt(j) === '#') {
      noPad = true
      j++
    }
    const code = spec.charAt(j)
    const p = (n: number): string => (noPad ? String(n) : pad(n))
    if (code === '+' && spec.charAt(j + 1) === '(') {
      const close = spec.indexOf(')', j + 2)
      if (close > 0) {
        flush()
        out.push({ counter: spec.slice(j + 2, close), onlyIfExists: bang })
        i = close + 1
        continue
      }
    }
    let v: string | undefined
    switch (code) {
      case 'f':
        v = orig
        break
      case 'F':
        v = dot > 0 ? orig.slice(0, dot) : orig
        break
      case 'Q':
        v = `${t.Y}-${pad(t.m)}-${pad(t.d)} ${pad(t.H)}:${pad(t.M)}:${pad(t.S)}.${pad(t.L, 3)}`
        break
      case 'Y':
        v = String(t.Y)
        break
      case 'y':
        v = pad(t.Y % 100)
        break
      case 'm':
        v = p(t.m)
        break
      case 'd':
        v = p(t.d)
        break
      case 'H':
        v = p(t.H)
        break
      case 'M':
        v = p(t.M)
        break
      case 'S':
        v = p(t.S)
        break
      case 'L':
        v = pad(t.L, 3)
        break
      case 'j':
        v = noPad ? String(t.j) : pad(t.j, 3)
        break
      case '%':
        v = '%'
        break
      default:
        v = undefined
    }
    if (v === undefined) {
      lit += spec.slice(i, j + 1)
    } else {
      lit += v
    }
    i = j + 1
  }
  flush()
  return out
}

/** The n-th value (n ≥ 1) of a counter template: `_a` → `_a`, `_b` …; `_1` → `_1`, `_2` …. */
export function counterValue(template: string, n: number): string {
  const m = /([0-9]+|[a-z]+|[A-Z]+)([^0-9a-zA-Z]*)$/.exec(template)
  if (m === null || m[1] === undefined) return template + String(n)
  const run = m[1]
  const head = template.slice(0, m.index)
  const tail = m[2] ?? ''
  if (/^[0-9]+$/.test(run))
    return head + String(Number(run) + n - 1).padStart(run.length, '0') + tail
  const upper = run === run.toUpperCase()
  const base = 'a'.charCodeAt(0)
  // Bijective base-26 of the run's value plus n - 1 (a=1 … z=26, aa=27).
  let value = 0
  for (const c of run.toLowerCase()) value = value * 26 + (c.charCodeAt(0) - base + 1)
  value += n - 1
  let s = ''
  while (value > 0) {
    const r = (value - 1) % 26
    s = String.fromCharCode(base + r) + s
    value = Math.floor((value - 1) / 26)
  }
  return head + (upper ? s.toUpperCase() : s) + tail
}

function mapChars(s: string): string {
  return s.replace(/ /g, '_').replace(/\//g, '-').replace(/:/g, '.')
}

/** A resolved specification: the name for counter value `n` (0 = without counter). */
export interface FilenameCandidates {
  /** Whether the spec has a uniqueness counter. */
  hasCounter: boolean
  /** Whether the counter applies only when the plain name exists (`%!+`). */
  onlyIfExists: boolean
  /** The name with counter value n (0 = no counter text). */
  name(n: number): string
}

/**
 * Resolve a file name specification for one message.
 * @example formatFilename('%f_%Q%!+(_a)', { originalName: 'adt.hl7', now }).name(0) // 'adt.hl7_2026-11-27_13.45.01.123'
 */
export function formatFilename(spec: string, ctx: FilenameContext): FilenameCandidates {
  const parts = parse(spec, ctx)
  const counters = parts.filter((p): p is Counter => 'counter' in p)
  const onlyIfExists = counters.length > 0 && counters.every((c) => c.onlyIfExists)
  return {
    hasCounter: counters.length > 0,
    onlyIfExists,
    name(n: number): string {
      let s = ''
      for (const p of parts) {
        if ('text' in p) s += p.text
        else if (n > 0) s += counterValue(p.counter, n)
      }
      return mapChars(s)
    },
  }
}
