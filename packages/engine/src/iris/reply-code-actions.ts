/**
 * IRIS `ReplyCodeActions`: what an HL7 business operation does with the reply (ACK) it gets back
 * for a message it sent. Syntax and meaning follow the InterSystems class reference for
 * `EnsLib.HL7.Operation.ReplyStandard` (setting ReplyCodeActions).
 *
 * The setting is a comma-separated list of `code=actions` pairs, e.g. the IRIS default
 * `:?R=RF,:?E=S,:~=S,:?A=C,:*=S,:I?=W,:T?=C`.
 *
 * Codes (matched against the reply):
 * - `:?A` MSA-1 is AA or CA (accept); `:?E` AE or CE (error); `:?R` AR or CR (reject).
 *   After `:`, `?` is a one-character wildcard, so `:AE` or `:C?` also work as literals.
 * - `:_` MSA-1 is empty (without this pair, an empty MSA-1 is treated as an accept).
 * - `:*` any MSA-1 value not matched by another pair (the default action for it is F).
 * - `:~` the reply has no MSA segment.
 * - `:I?` MSA-2 does not equal the control ID (MSH-10) of the message that was sent.
 * - `:T?` the reply's message type does not match the one declared for it (we accept the code
 *   and match it when `expectedReplyType` is given; IRIS checks it against the schema).
 * - A code without `:` is the older form: a one- or two-letter MSA-1 code (`E=R` means `:?E=R`,
 *   `AE=S` means `:AE=S`); anything longer is matched as text inside MSA-3 or ERR.
 *
 * Actions (letters, combinable, e.g. `RF`):
 * - `C` treat the message as completed OK.
 * - `W` log a warning, and treat as completed OK unless another letter says otherwise.
 * - `R` retry every RetryInterval until FailureTimeout; then do the other letter (S, D or F),
 *   which defaults to F.
 * - `S` suspend the message (kept for resend), log an error, move on to the next message.
 * - `D` disable the operation, log an error, keep the message at the front of the queue.
 * - `F` fail the message with an error, move on to the next message.
 *
 * Matching order (ours; IRIS documents the codes, not the order): `:I?`, then `:T?`, then `:~`
 * (no MSA), then MSA-1 pairs in the order written, then text pairs, then `:*` (which, as in IRIS,
 * also catches an AA that no pair matched). With no match at all an accept (AA/CA or empty MSA-1)
 * completes and anything else fails (F).
 *
 * This module does not send, time or retry anything: it only decides.
 */
import { EngineError } from '../errors.js'
import { Hl7Doc, getSegmentValue } from './hl7-doc.js'

/** One action letter of ReplyCodeActions. */
export type ReplyActionLetter = 'C' | 'W' | 'R' | 'S' | 'D' | 'F'

/** What finally happens to the message (after retries, when `retry` is set). */
export type ReplyOutcome = 'complete' | 'suspend' | 'disable' | 'fail'

/** One parsed `code=actions` pair. */
export interface ReplyCodeAction {
  /** The code as written, e.g. `:?R`, `E`, `:*`. */
  code: string
  /** The action letters as written, e.g. `RF`. */
  actions: string
  /** `R`: retry until FailureTimeout before the outcome applies. */
  retry: boolean
  /** `W`: log a warning. */
  warn: boolean
  /** What happens in the end. */
  outcome: ReplyOutcome
}

/** The decision for one reply. */
export interface ReplyDecision {
  /** The pair that matched, or undefined when the built-in default applied. */
  matched?: ReplyCodeAction
  retry: boolean
  warn: boolean
  outcome: ReplyOutcome
  /** MSA-1 of the reply ('' when absent). */
  ackCode: string
  /** Why, for the log and the message trace. */
  reason: string
}

/** Extra facts about the exchange that some codes need. */
export interface ReplyContext {
  /** MSH-10 of the message that was sent (for `:I?`). */
  controlId?: string
  /** The reply message type expected, e.g. `ACK` (for `:T?`). */
  expectedReplyType?: string
}

/** The IRIS default ReplyCodeActions of `EnsLib.HL7.Operation.TCPOperation`. */
export const DEFAULT_REPLY_CODE_ACTIONS = ':?R=RF,:?E=S,:~=S,:?A=C,:*=S,:I?=W,:T?=C'

const LETTERS = new Set(['C', 'W', 'R', 'S', 'D', 'F'])

/**
 * Parses an IRIS ReplyCodeActions string. Throws `ENGINE_REPLY_CODE_ACTIONS_INVALID` naming the
 * pair that is wrong.
 * @example parseReplyCodeActions(':?R=RF,:?A=C')[0] // { code: ':?R', actions: 'RF', retry: true, outcome: 'fail', ... }
 */
export function parseReplyCodeActions(s: string): ReplyCodeAction[] {
  const out: ReplyCodeAction[] = []
  for (const rawPair of s.split(',')) {
    const pair = rawPair.trim()
    if (pair === '') continue
    const eq = pair.lastIndexOf('=')
    if (eq <= 0) {
      throw new EngineError(
        'ENGINE_REPLY_CODE_ACTIONS_INVALID',
        `ReplyCodeActions: pair "${pair}" in "${s}" is not of the form code=actions (e.g. :?E=S)`,
      )
    }
    const code = pair.slice(0, eq).trim()
    const actions = pair
      .slice(eq + 1)
      .trim()
      .toUpperCase()
    if (actions === '') {
      throw new EngineError(
        'ENGINE_REPLY_CODE_ACTIONS_INVALID',
        `ReplyCodeActions: pair "${pair}" has no action; expected letters from C, W, R, S, D, F`,
      )
    }
    for (const ch of actions) {
      if (!LETTERS.has(ch)) {
        throw new EngineError(
          'ENGINE_REPLY_CODE_ACTIONS_INVALID',
          `ReplyCodeActions: pair "${pair}" has unknown action "${ch}"; expected letters from C, W, R, S, D, F`,
        )
      }
    }
    out.push({ code, actions, ...interpret(actions) })
  }
  return out
}

function interpret(actions: string): { retry: boolean; warn: boolean; outcome: ReplyOutcome } {
  const retry = actions.includes('R')
  const warn = actions.includes('W')
  let outcome: ReplyOutcome
  if (actions.includes('D')) outcome = 'disable'
  else if (actions.includes('S')) outcome = 'suspend'
  else if (actions.includes('F')) outcome = 'fail'
  else if (retry) outcome = 'fail'
  else outcome = 'complete'
  return { retry, warn, outcome }
}

function matchesMsaCode(pattern: string, ackCode: string): boolean {
  if (pattern.length !== ackCode.length) return false
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern.charAt(i)
    if (p !== '?' && p !== ackCode.charAt(i)) return false
  }
  return true
}

/**
 * Decides what to do with a reply. `ack` is the reply as text or anything whose `toString()` is
 * ER7 (an `@li/hl7` Message); `''` means a reply without content (matches `:~`).
 * @example ackActionFor(parseReplyCodeActions(':?E=S'), 'MSH|^~\\&|...\rMSA|AE|123').outcome // 'suspend'
 */
export function ackActionFor(
  actions: ReplyCodeAction[],
  ack: string | { toString(): string },
  context: ReplyContext = {},
): ReplyDecision {
  const doc = Hl7Doc.parse(typeof ack === 'string' ? ack : ack.toString())
  const msa = doc.first('MSA')
  const ackCode = msa ? getSegmentValue(doc, msa, { field: 1, comp: 1 }).toUpperCase() : ''
  const decide = (a: ReplyCodeAction, reason: string): ReplyDecision => ({
    matched: a,
    retry: a.retry,
    warn: a.warn,
    outcome: a.outcome,
    ackCode,
    reason,
  })
  const find = (code: string): ReplyCodeAction | undefined => actions.find((a) => a.code === code)

  if (msa && context.controlId !== undefined) {
    const msa2 = getSegmentValue(doc, msa, { field: 2, comp: 1 })
    const a = find(':I?')
    if (a && msa2 !== context.controlId) {
      return decide(a, `MSA-2 "${msa2}" does not match the sent control ID "${context.controlId}"`)
    }
  }
  if (context.expectedReplyType !== undefined) {
    const msh = doc.first('MSH')
    const type = msh ? getSegmentValue(doc, msh, { field: 9, comp: 1 }) : ''
    const a = find(':T?')
    if (a && type !== context.expectedReplyType) {
      return decide(a, `reply type "${type}" is not the expected "${context.expectedReplyType}"`)
    }
  }
  if (!msa) {
    const a = find(':~') ?? find('~')
    if (a) return decide(a, 'the reply has no MSA segment')
    return {
      retry: false,
      warn: false,
      outcome: 'fail',
      ackCode,
      reason: 'the reply has no MSA segment',
    }
  }
  let effective = ackCode
  if (effective === '') {
    const a = find(':_') ?? find('_')
    if (a) return decide(a, 'MSA-1 is empty')
    effective = 'AA'
  }
  for (const a of actions) {
    const code = a.code
    if (code.startsWith(':')) {
      const p = code.slice(1).toUpperCase()
      if (p === '*' || p === '~' || p === '_' || p === 'I?' || p === 'T?') continue
      if (matchesMsaCode(p, effective)) return decide(a, `MSA-1 "${effective}" matches ${code}`)
    } else if (/^[A-Za-z?]{1,2}$/.test(code)) {
      const p = (code.length === 1 ? '?' + code : code).toUpperCase()
      if (matchesMsaCode(p, effective)) return decide(a, `MSA-1 "${effective}" matches ${code}`)
    }
  }
  const text = [
    getSegmentValue(doc, msa, { field: 3 }),
    ...doc.segments.filter((s) => s.name === 'ERR').map((s) => doc.encodeSegment(s)),
  ].join('\r')
  for (const a of actions) {
    const code = a.code
    if (
      code.startsWith(':') ||
      /^[A-Za-z?]{1,2}$/.test(code) ||
      code === '*' ||
      code === '~' ||
      code === '_'
    )
      continue
    if (text.includes(code)) return decide(a, `reply text contains "${code}"`)
  }
  const star = find(':*') ?? find('*')
  if (star) return decide(star, `MSA-1 "${effective}" matched by ${star.code}`)
  if (effective === 'AA' || effective === 'CA') {
    return {
      retry: false,
      warn: false,
      outcome: 'complete',
      ackCode,
      reason: `MSA-1 "${effective}" is an accept`,
    }
  }
  return {
    retry: false,
    warn: false,
    outcome: 'fail',
    ackCode,
    reason: `MSA-1 "${effective}" matched no pair`,
  }
}
