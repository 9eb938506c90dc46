/**
 * A header peek: the few MSH fields the message path needs (control id, type, ACK types) read
 * from the text without a full parse, so that intake stays cheap and a message that the full
 * parser would reject can still be made durable and traced. Not a parser: routers and operations
 * parse with @li/hl7.
 */

/** MSH fields the runtime needs before (or without) a full parse. */
export interface HeaderPeek {
  /** MSH-10, or '' when absent. */
  controlId: string
  /** MSH-9 as `TYPE^EVENT` (first two components), or ''. */
  messageType: string
  /** MSH-12 first component, or ''. */
  version: string
  /** MSH-15 accept acknowledgment type (AL, NE, ER, SU), or ''. */
  acceptAckType: string
  /** MSH-16 application acknowledgment type, or ''. */
  appAckType: string
  /** Whether the text starts with an MSH segment. */
  hasMsh: boolean
}

/** Read the MSH fields of a message (tolerates `\n` and `\r\n` segment ends). */
export function peekHeader(raw: string): HeaderPeek {
  const start = raw.indexOf('MSH')
  const none: HeaderPeek = {
    controlId: '',
    messageType: '',
    version: '',
    acceptAckType: '',
    appAckType: '',
    hasMsh: false,
  }
  if (start < 0 || raw.length < start + 8) return none
  // The first segment end, with indexOf rather than a regular expression over the whole text.
  const cr = raw.indexOf('\r', start)
  const lf = raw.indexOf('\n', start)
  const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf)
  const msh = end < 0 ? raw.slice(start) : raw.slice(start, end)
  const fs = msh[3] ?? '|'
  const fields = msh.split(fs)
  const cs = (fields[1] ?? '^')[0] ?? '^'
  const f = (n: number): string => fields[n - 1] ?? ''
  const type = f(9).split(cs)
  return {
    controlId: f(10),
    messageType: type
      .slice(0, 2)
      .filter((s) => s !== '')
      .join('^'),
    version: f(12).split(cs)[0] ?? '',
    acceptAckType: f(15).trim().toUpperCase(),
    appAckType: f(16).trim().toUpperCase(),
    hasMsh: true,
  }
}
