/**
 * The keyset cursor of `browse`, shared by both backends. A queue is listed in four sections, each
 * walked in (score, id) order of an ordered structure the backend already keeps:
 * 0 in flight (score: visibility deadline), 1 ready (score: -priority * 1e12 + send sequence, as
 * the Redis ready set), 2 blocked behind the head of their ordering key (score: send sequence),
 * 3 delayed (score: due time). A cursor is the (section, score, id) of the last message listed; the
 * next page starts strictly after it, so it needs no server-side state and stays valid when that
 * message is received or removed. Ids compare by UTF-16 code unit, which for the ASCII ids `send`
 * makes is byte order, as Redis orders members of equal score.
 */
import { QueueError } from './errors.js'

/** Where a page of `browse` ends: the last message listed. */
export interface BrowseCursor {
  /** 0 in flight, 1 ready, 2 blocked behind its ordering key, 3 delayed. */
  section: number
  /** The message's score within its section. */
  score: number
  /** The message's id (tie-break among equal scores). */
  id: string
}

/** Number of browse sections (see the module header). */
export const BROWSE_SECTIONS = 4

const VERSION = 1

/** The opaque string form of a cursor. */
export function encodeBrowseCursor(c: BrowseCursor): string {
  return Buffer.from(JSON.stringify([VERSION, c.section, c.score, c.id]), 'utf8').toString(
    'base64url',
  )
}

/** Parses a cursor from `encodeBrowseCursor`; throws QUEUE_INVALID_ARGUMENT on anything else. */
export function decodeBrowseCursor(s: string): BrowseCursor {
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'))
  } catch {
    v = null
  }
  if (
    Array.isArray(v) &&
    v.length === 4 &&
    v[0] === VERSION &&
    Number.isInteger(v[1]) &&
    (v[1] as number) >= 0 &&
    (v[1] as number) < BROWSE_SECTIONS &&
    typeof v[2] === 'number' &&
    Number.isFinite(v[2]) &&
    typeof v[3] === 'string'
  ) {
    return { section: v[1] as number, score: v[2], id: v[3] }
  }
  throw new QueueError(
    'QUEUE_INVALID_ARGUMENT',
    `browse cursor ${JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)} is not a cursor returned by browse; pass null for the first page.`,
  )
}

/** Whether (score, id) comes strictly after the cursor position (score, id) within a section. */
export function isAfter(score: number, id: string, c: { score: number; id: string }): boolean {
  return score > c.score || (score === c.score && id > c.id)
}
