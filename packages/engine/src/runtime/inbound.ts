/**
 * What every inbound HL7 service does with a message, whatever the transport (MLLP, HTTP):
 * decode → optional validation → `MessagePath.admit` (WAL first) → the ACK decision per AckMode.
 * The ACK waits for the WAL append only (the durability promise); storing the audit record and
 * enqueueing to the targets follow without holding it (AckMode App waits for them, and more).
 *
 * AckMode (IRIS values): `Immed` ACKs once the message is durable in the WAL (the store record
 * and the enqueues follow, retried until they succeed if the store or queue fails); `App` waits until
 * every branch has finished and answers AA, or AE if a branch failed (with a shared Redis queue
 * the hand-off to Redis is the commit point, so App behaves as Immed); `Msh` follows MSH-15
 * (AL/SU or empty: immediate; NE: none; ER: only on errors) and, when MSH-15 is empty and MSH-16
 * is set, MSH-16 as App; `Byte` answers the single MLLP commit byte (0x06); `Never` sends none.
 * Enhanced-mode senders (MSH-15/16 valued) get CA/CE/CR commit codes for immediate ACKs.
 *
 * Bad messages (no MSH, parse failure, validation errors when Validation is set) are stored as
 * failed and NAKed with AR (CR); with BadMessageHandler they are routed there instead and NAKed
 * with AE (CE).
 */
import { parseMessage, validate } from '@li/hl7'
import { EngineError } from '../errors.js'
import { DuplicateFilter, MAX_DUPLICATE_WINDOW, MAX_REMEMBERED, contentKey } from './duplicates.js'
import type { Remembered } from './duplicates.js'
import type { Hl7ErrorConditionCode } from '@li/hl7'
import type { ProductionItem } from '../production/types.js'
import { peekHeader } from './hl7-peek.js'
import type { HeaderPeek } from './hl7-peek.js'
import { errorText } from './host.js'
import type { HostContext } from './host-context.js'
import type { Admitted } from './message-path.js'
import type { AckMode } from './settings.js'
import { ItemSettings, parseAckMode } from './settings.js'

/** Longest wait for Redis's answer on whether a message was accepted by another engine, ms. */
const SHARED_LOOKUP_MS = 1000

/** HL7 table 0008 acknowledgment codes. */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR'

/** What the transport should answer. */
export type AckDecision =
  | { kind: 'none' }
  | { kind: 'byte' }
  | {
      kind: 'ack'
      code: AckCode
      text?: string
      errorCode?: Hl7ErrorConditionCode
      /** Why an error ACK: the message content (NackErrorCode applies), or the App ACK timed out. */
      reason?: 'content' | 'timeout'
    }

/** The transport-independent part of an inbound HL7 service. */
export class InboundCore {
  readonly #name: string
  readonly #ctx: HostContext
  readonly #settings: ItemSettings
  readonly ackMode: AckMode
  readonly #targets: string[]
  readonly #validation: string
  readonly #category: string | undefined
  readonly #bad: string | undefined
  readonly #appAckTimeout: number
  readonly #alertOnError: boolean
  /** DuplicateWindow (see `duplicates.ts`); undefined when off. */
  readonly #duplicates: DuplicateFilter | undefined
  /** Reading back what the service stored within the window, once, at its first message. */
  #warmed: Promise<void> | undefined

  constructor(item: ProductionItem, ctx: HostContext) {
    this.#name = item.name
    this.#ctx = ctx
    this.#settings = new ItemSettings(item)
    this.ackMode = parseAckMode(item, this.#settings.string('AckMode'))
    this.#targets = this.#settings.list('TargetConfigNames')
    this.#validation = this.#settings.string('Validation', '')
    this.#category = this.#settings.string('MessageSchemaCategory')
    this.#bad = this.#settings.string('BadMessageHandler')
    this.#appAckTimeout = this.#settings.number('AppAckTimeout', 25)
    this.#alertOnError = this.#settings.boolean('AlertOnError', false)
    const window = this.#settings.number('DuplicateWindow', 0)
    if (!(window >= 0 && window <= MAX_DUPLICATE_WINDOW)) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": DuplicateWindow=${window} must be 0 (off) to ${MAX_DUPLICATE_WINDOW} seconds`,
      )
    }
    this.#duplicates = window > 0 ? new DuplicateFilter(window) : undefined
  }

  /**
   * AlertOnError: raise an alert (routed to Ens.Alert like an operation's) when the service
   * answers with an error ACK (AE/AR/CE/CR) or could not accept a message. No-op when unset.
   */
  alertError(text: string, sessionId?: string): void {
    if (this.#alertOnError) this.#ctx.alert(this.#name, text, sessionId)
  }

  /** Make one inbound message durable, route it, and decide the ACK. */
  async receive(raw: string, metadata: Record<string, unknown>): Promise<AckDecision> {
    const header = peekHeader(raw)
    const enhanced = header.acceptAckType !== '' || header.appAckType !== ''
    const filter = this.#duplicates
    let key: string | undefined
    if (filter !== undefined && header.hasMsh) {
      await (this.#warmed ??= this.#warmUp(filter))
      key = contentKey(raw)
      const prior = filter.find(key) ?? (await this.#sharedPrior(key))
      if (prior !== undefined) return this.#duplicate(prior, header, enhanced, metadata)
    }
    const decision = await this.#receive(raw, metadata, header, enhanced)
    if (filter !== undefined && key !== undefined && decision.accepted !== undefined) {
      if (filter.remember(key, decision.accepted)) {
        this.#ctx.logger.warn(
          { host: this.#name, remembered: filter.size },
          'DuplicateWindow: too many messages to remember; the oldest are forgotten early',
        )
      }
      // Shared with the other engines on the same Redis, without holding the ACK: a resend that
      // reaches another engine within the next moments is processed (at least once, never lost).
      this.#ctx.sharedAccepted
        ?.set(this.#name, key, decision.accepted, filter.windowMs)
        .catch((e: unknown) => {
          this.#ctx.logger.warn(
            { host: this.#name, err: errorText(e) },
            'DuplicateWindow: could not share an accepted message with the other engines',
          )
        })
    }
    return decision.ack
  }

  /**
   * An accepted message with this key that another engine on the same Redis recorded, or
   * undefined. Redis unreachable: undefined (the message is processed: never dropped on doubt).
   */
  async #sharedPrior(key: string): Promise<Remembered | undefined> {
    const shared = this.#ctx.sharedAccepted
    if (shared === undefined) return undefined
    let timer: NodeJS.Timeout | undefined
    try {
      // A slow Redis must not hold the ACK for long: past the limit the message is processed.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${SHARED_LOOKUP_MS} ms`)),
          SHARED_LOOKUP_MS,
        )
      })
      const sessionId = await Promise.race([shared.get(this.#name, key), late])
      return sessionId === null ? undefined : { sessionId, at: Date.now() }
    } catch (e) {
      this.#ctx.logger.warn(
        { host: this.#name, err: errorText(e) },
        'DuplicateWindow: could not ask the other engines (Redis); the message is processed',
      )
      return undefined
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }

  /** `receive` without the duplicate filter; `accepted` is the session of a positive answer. */
  async #receive(
    raw: string,
    metadata: Record<string, unknown>,
    header: HeaderPeek,
    enhanced: boolean,
  ): Promise<{ ack: AckDecision; accepted?: string }> {
    const problem = this.#check(raw, header)
    if (problem !== undefined) {
      this.#ctx.metrics?.recordMessageFailed(this.#name, 'invalid')
      const bad = this.#bad
      const admitted = await this.#ctx.path.admit({
        source: this.#name,
        raw,
        targets: bad === undefined ? [] : [bad],
        metadata,
        error: problem,
        header,
        docCategory: this.#category,
      })
      // Rejected (AR/CR, error 100) when nothing takes it; with a BadMessageHandler, an error
      // (AE/CE, error 207).
      const rejected = bad === undefined
      const code = rejected ? (enhanced ? 'CR' : 'AR') : enhanced ? 'CE' : 'AE'
      this.alertError(`bad message NAKed: ${problem}`, admitted.sessionId)
      return {
        ack: {
          kind: 'ack',
          code,
          text: problem,
          errorCode: rejected ? 100 : 207,
          reason: 'content',
        },
      }
    }
    const accepted = await this.#ctx.path.admit({
      source: this.#name,
      raw,
      targets: this.#targets,
      metadata,
      header,
      docCategory: this.#category,
    })
    const ack = await this.#decide(header, enhanced, accepted)
    const positive = ack.kind !== 'ack' || ack.code === 'AA' || ack.code === 'CA'
    return positive ? { ack, accepted: accepted.sessionId } : { ack }
  }

  /** The answer per AckMode to an admitted message (to a duplicate: `admitted` undefined). */
  async #decide(
    header: HeaderPeek,
    enhanced: boolean,
    admitted: Admitted | undefined,
  ): Promise<AckDecision> {
    const immediate: AckDecision = { kind: 'ack', code: enhanced ? 'CA' : 'AA' }
    switch (this.ackMode) {
      case 'Never':
        return { kind: 'none' }
      case 'Byte':
        return { kind: 'byte' }
      case 'Immed':
        return immediate
      case 'App':
        return admitted === undefined ? immediate : this.#appAck(admitted)
      case 'Msh': {
        const at = header.acceptAckType
        if (at === 'NE' || at === 'ER') return { kind: 'none' }
        if (at === '' && header.appAckType !== '' && header.appAckType !== 'NE')
          return admitted === undefined ? immediate : this.#appAck(admitted)
        return immediate
      }
    }
  }

  /**
   * A resend of a message accepted within DuplicateWindow: answered as it was (AA/CA per
   * AckMode), not admitted again; the original session's trace gets a `discarded` hop.
   */
  async #duplicate(
    prior: Remembered,
    header: HeaderPeek,
    enhanced: boolean,
    metadata: Record<string, unknown>,
  ): Promise<AckDecision> {
    const ack = await this.#decide(header, enhanced, undefined)
    const answer =
      ack.kind === 'ack' ? ack.code : ack.kind === 'byte' ? 'the commit byte' : 'nothing'
    const peer = typeof metadata.peer === 'string' ? ` from ${metadata.peer}` : ''
    this.#ctx.path.hopLater(
      prior.sessionId,
      undefined,
      this.#name,
      this.#name,
      'discarded',
      `the same message again${peer} (DuplicateWindow): answered ${answer}, not processed again`,
    )
    this.#ctx.logger.info(
      { host: this.#name, controlId: header.controlId, sessionId: prior.sessionId },
      'duplicate of an accepted message: not processed again',
    )
    return ack
  }

  /** Remember what this service accepted within the window before this start (stored records). */
  async #warmUp(filter: DuplicateFilter): Promise<void> {
    const ctx = this.#ctx
    if (ctx.receivedSince === undefined) return
    const since = new Date(Date.now() - filter.windowMs)
    const found: { key: string; sessionId: string; at: number }[] = []
    try {
      for await (const r of ctx.receivedSince(this.#name, since)) {
        // Newest first: past what the filter can hold, the rest would be forgotten anyway.
        if (found.length >= MAX_REMEMBERED) break
        if (r.state === 'failed' || r.sessionId === undefined) continue
        found.push({
          key: contentKey(r.payload),
          sessionId: r.sessionId,
          at: r.createdAt.getTime(),
        })
      }
    } catch (e) {
      // Without the history the filter only knows what arrives from now on: say so, go on.
      this.#ctx.logger.warn(
        { host: this.#name, err: errorText(e) },
        'DuplicateWindow: could not read the messages stored before this start',
      )
    }
    found.sort((a, b) => a.at - b.at)
    for (const f of found) filter.remember(f.key, f.sessionId, f.at)
  }

  /**
   * AckMode App: wait for every branch, at most AppAckTimeout seconds (LI setting, default 25,
   * -1 = no limit). On timeout the sender gets AE with an ERR segment; the message is durable in
   * the WAL and its delivery goes on (a sender that resends on AE will send a duplicate).
   */
  async #appAck(admitted: Admitted): Promise<AckDecision> {
    const limit = this.#appAckTimeout
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      if (limit >= 0) timer = setTimeout(() => resolve('timeout'), limit * 1000)
    })
    const finished = admitted.handedOff.then(() => this.#ctx.path.whenFinished(admitted.walId))
    let outcome: 'completed' | 'failed' | 'timeout'
    try {
      outcome = await Promise.race([finished, timedOut])
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
    if (outcome === 'timeout') {
      finished.catch(() => undefined)
      this.alertError(
        `NAKed: no application acknowledgement within AppAckTimeout ${limit} s`,
        admitted.sessionId,
      )
      return {
        kind: 'ack',
        code: 'AE',
        text: `no application acknowledgement within AppAckTimeout ${limit} s; the message is kept and its delivery goes on`,
        errorCode: 207,
        reason: 'timeout',
      }
    }
    if (outcome === 'completed') return { kind: 'ack', code: 'AA' }
    this.alertError('NAKed: delivery failed', admitted.sessionId)
    return { kind: 'ack', code: 'AE', text: 'delivery failed', errorCode: 207 }
  }

  /** Why the message is bad, or undefined. */
  #check(raw: string, header: HeaderPeek): string | undefined {
    if (!header.hasMsh) return 'no MSH segment'
    if (this.#validation === '' || this.#validation.toLowerCase() === 'none') return undefined
    try {
      const message = parseMessage(raw)
      const version =
        this.#category !== undefined && /^2\.\d/.test(this.#category) ? this.#category : undefined
      const issues = validate(message, version === undefined ? {} : { version })
      const errors = issues.filter((i) => i.severity === 'error')
      if (errors.length === 0) return undefined
      return errors
        .slice(0, 5)
        .map((i) => `${i.path}: ${i.message}`)
        .join('; ')
    } catch (e) {
      return `parse error: ${errorText(e)}`
    }
  }
}
