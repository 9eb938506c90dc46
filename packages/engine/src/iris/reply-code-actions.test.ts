import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import {
  DEFAULT_REPLY_CODE_ACTIONS,
  ackActionFor,
  parseReplyCodeActions,
} from './reply-code-actions.js'

const ack = (code: string, controlId = 'MSG1', extra = ''): string =>
  `MSH|^~\\&|EPR|RGH|PAS|RGH|20260101120000||ACK^A01^ACK|A1|P|2.5\rMSA|${code}|${controlId}${extra}`

describe('parseReplyCodeActions', () => {
  it('parses the IRIS default list', () => {
    const list = parseReplyCodeActions(DEFAULT_REPLY_CODE_ACTIONS)
    expect(list.map((a) => [a.code, a.actions])).toEqual([
      [':?R', 'RF'],
      [':?E', 'S'],
      [':~', 'S'],
      [':?A', 'C'],
      [':*', 'S'],
      [':I?', 'W'],
      [':T?', 'C'],
    ])
    expect(list[0]).toMatchObject({ retry: true, warn: false, outcome: 'fail' })
    expect(list[5]).toMatchObject({ retry: false, warn: true, outcome: 'complete' })
  })

  it('interprets combinations: R alone retries then fails, RD retries then disables, W warns', () => {
    const [r, rd, rs, w, d, wf] = parseReplyCodeActions(':?R=R,:?E=RD,:X=RS,:?A=W,:Z=D,:Y=WF')
    expect(r).toMatchObject({ retry: true, outcome: 'fail' })
    expect(rd).toMatchObject({ retry: true, outcome: 'disable' })
    expect(rs).toMatchObject({ retry: true, outcome: 'suspend' })
    expect(w).toMatchObject({ retry: false, warn: true, outcome: 'complete' })
    expect(d).toMatchObject({ outcome: 'disable' })
    expect(wf).toMatchObject({ warn: true, outcome: 'fail' })
  })

  it('rejects a pair without "=" or with an unknown action, naming the pair', () => {
    expect(() => parseReplyCodeActions(':?R')).toThrow(/pair ":\?R"/)
    let err: unknown
    try {
      parseReplyCodeActions(':?R=RF,:?E=Q')
    } catch (e) {
      err = e
    }
    expect(isEngineError(err) && err.code).toBe('ENGINE_REPLY_CODE_ACTIONS_INVALID')
    expect((err as Error).message).toContain('unknown action "Q"')
  })
})

describe('ackActionFor', () => {
  const dflt = parseReplyCodeActions(DEFAULT_REPLY_CODE_ACTIONS)

  it('AA/CA complete, AE/CE suspend, AR/CR retry then fail with the default list', () => {
    expect(ackActionFor(dflt, ack('AA')).outcome).toBe('complete')
    expect(ackActionFor(dflt, ack('CA')).outcome).toBe('complete')
    expect(ackActionFor(dflt, ack('AE'))).toMatchObject({
      outcome: 'suspend',
      retry: false,
      ackCode: 'AE',
    })
    expect(ackActionFor(dflt, ack('CE')).outcome).toBe('suspend')
    expect(ackActionFor(dflt, ack('AR'))).toMatchObject({ outcome: 'fail', retry: true })
  })

  it('a reply without MSA matches :~', () => {
    const d = ackActionFor(dflt, 'MSH|^~\\&|EPR|RGH|PAS|RGH|20260101||ACK|A1|P|2.5')
    expect(d).toMatchObject({ outcome: 'suspend', matched: { code: ':~' } })
    expect(ackActionFor(dflt, '').matched?.code).toBe(':~')
  })

  it('MSA-2 that is not the sent control ID matches :I? (warning, completed)', () => {
    const d = ackActionFor(dflt, ack('AA', 'OTHER'), { controlId: 'MSG1' })
    expect(d).toMatchObject({ outcome: 'complete', warn: true, matched: { code: ':I?' } })
    expect(ackActionFor(dflt, ack('AA', 'MSG1'), { controlId: 'MSG1' }).warn).toBe(false)
  })

  it('an unknown MSA-1 code falls to :*', () => {
    expect(ackActionFor(dflt, ack('ZZ'))).toMatchObject({
      outcome: 'suspend',
      matched: { code: ':*' },
    })
  })

  it('empty MSA-1 is an accept unless :_ is given', () => {
    expect(ackActionFor(parseReplyCodeActions(':?A=C,:*=F'), ack('')).outcome).toBe('complete')
    expect(ackActionFor(parseReplyCodeActions(':_=S,:?A=C'), ack('')).outcome).toBe('suspend')
  })

  it('accepts the older form without colon (E=R means AE or CE) and literal MSA-1 codes', () => {
    const list = parseReplyCodeActions('E=R,AR=D')
    expect(ackActionFor(list, ack('AE'))).toMatchObject({ retry: true, outcome: 'fail' })
    expect(ackActionFor(list, ack('CE')).retry).toBe(true)
    expect(ackActionFor(list, ack('AR')).outcome).toBe('disable')
    expect(ackActionFor(list, ack('CR')).outcome).toBe('fail') // no pair: not an accept
  })

  it('a longer code without colon matches text in MSA-3 or ERR', () => {
    const list = parseReplyCodeActions(':?A=C,Duplicate=W,:*=S')
    expect(ackActionFor(list, ack('AE', 'MSG1', '|Duplicate message')).outcome).toBe('complete')
    expect(ackActionFor(list, ack('AE', 'MSG1', '|Duplicate message')).warn).toBe(true)
    expect(ackActionFor(list, ack('AE', 'MSG1', '|Bad PID')).outcome).toBe('suspend')
  })

  it('the first matching MSA-1 pair wins, in the order written', () => {
    const list = parseReplyCodeActions(':AE=D,:?E=S')
    expect(ackActionFor(list, ack('AE')).outcome).toBe('disable')
    expect(ackActionFor(list, ack('CE')).outcome).toBe('suspend')
  })

  it('accepts anything with toString() (an @li/hl7 Message)', () => {
    expect(ackActionFor(dflt, { toString: () => ack('AE') }).outcome).toBe('suspend')
  })

  it(':T? matches a reply of another type when the expected type is given', () => {
    const list = parseReplyCodeActions(':T?=S,:?A=C')
    expect(ackActionFor(list, ack('AA'), { expectedReplyType: 'ACK' }).outcome).toBe('complete')
    expect(ackActionFor(list, ack('AA'), { expectedReplyType: 'ORR' }).outcome).toBe('suspend')
  })
})
