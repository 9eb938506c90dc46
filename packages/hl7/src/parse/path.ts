// Paths name one element of a message in HL7's own 1-based numbering:
//   PID-5.1        PID, field 5, component 1
//   PID-3[2].1     second repetition of PID-3, component 1
//   OBX[3]-5       field 5 of the third OBX segment
//   PID-3.4.2      field 3, component 4, subcomponent 2
//   5.1            segment-relative form, for Segment.get
// This is the notation of HL7 v2 conformance profiles and of most integration engines; it does
// not support wildcards or group names (ORC/OBR groups are a schema concept, see the validator).
import { Hl7ParseError, quote } from '../errors.js'

/** A parsed path; absent parts are undefined (meaning "first" for indexes, "whole" for levels). */
export interface Hl7Path {
  /** Segment ID, e.g. `PID`; undefined for a segment-relative path such as `5.1`. */
  readonly segment: string | undefined
  /** 1-based occurrence of the segment (`OBX[3]`), undefined when not given. */
  readonly segmentIndex: number | undefined
  /** 1-based field number. */
  readonly field: number
  /** 1-based repetition (`PID-3[2]`), undefined when not given. */
  readonly repetition: number | undefined
  /** 1-based component, undefined for the whole field. */
  readonly component: number | undefined
  /** 1-based subcomponent, undefined for the whole component. */
  readonly subcomponent: number | undefined
}

/** The largest index a path may use; it bounds the memory `set` can allocate in one call. */
export const MAX_PATH_INDEX = 99_999

const PATTERN =
  /^(?:([A-Z][A-Z0-9]{2})(?:\[(\d{1,6})\])?-)?(\d{1,6})(?:\[(\d{1,6})\])?(?:\.(\d{1,6}))?(?:\.(\d{1,6}))?$/

// Parsed paths are cached: engines read the same handful of paths from every message. Bounded so
// that paths built from data cannot grow it without limit.
const cache = new Map<string, Hl7Path>()
const CACHE_LIMIT = 2048

function index(text: string | undefined, path: string, what: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (n < 1 || n > MAX_PATH_INDEX) {
    throw new Hl7ParseError(
      'HL7_BAD_PATH',
      `Path ${quote(path)} has ${what} ${n}; expected a number from 1 to ${MAX_PATH_INDEX} (HL7 ` +
        `numbering is 1-based)`,
    )
  }
  return n
}

/**
 * Parses a path such as `PID-3[2].4.2` or the segment-relative `3[2].4.2`.
 * @example parsePath('OBX[3]-5.1') // { segment: 'OBX', segmentIndex: 3, field: 5, component: 1, … }
 */
export function parsePath(path: string): Hl7Path {
  const hit = cache.get(path)
  if (hit !== undefined) return hit
  const m = typeof path === 'string' ? PATTERN.exec(path) : null
  if (m === null) {
    throw new Hl7ParseError(
      'HL7_BAD_PATH',
      `Path ${quote(String(path))} is not valid; expected SEG[n]-field[rep].component.subcomponent ` +
        `such as "PID-5.1", "PID-3[2].1", "OBX[3]-5" or "PID-3.4.2"`,
    )
  }
  const parsed: Hl7Path = Object.freeze({
    segment: m[1],
    segmentIndex: index(m[2], path, 'segment index'),
    field: index(m[3], path, 'field')!,
    repetition: index(m[4], path, 'repetition'),
    component: index(m[5], path, 'component'),
    subcomponent: index(m[6], path, 'subcomponent'),
  })
  if (cache.size >= CACHE_LIMIT) cache.clear()
  cache.set(path, parsed)
  return parsed
}
