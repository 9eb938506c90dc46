/**
 * What the HTTP and MLLP inbound services both do with one received message: decode its bytes
 * (DefCharEncoding or MSH-18), hand it to `InboundCore` with the sender's address, and shape an
 * `ack` decision into the ACK bytes the IRIS settings ask for. It does not frame, read or answer.
 *
 * ACK settings (IRIS names and defaults):
 * - NackErrorCode `ContentE` (default): content errors (no MSH, parse or validation failure) are
 *   answered AE, system errors (the message could not be made durable) AR; `ContentR` the
 *   reverse; `AllE` / `AllR` one code for both.
 * - AddNackERR (LI default 1; IRIS 0): error ACKs carry an ERR segment (table 0357 code + text).
 * - LocalFacilityApplication `Facility:Application`: MSH-4/MSH-3 of the ACKs this service builds
 *   (default: the inbound MSH-6/MSH-5, as HL7 says; IRIS defaults to `ISC:EnsembleHL7`).
 * - UseAckCommitCodes (default 1): enhanced-mode senders (MSH-15/16 valued) get CA/CE/CR commit
 *   codes for immediate ACKs; 0 answers AA/AE/AR instead.
 * - IgnoreInboundAck (default 1): an inbound ACK message is not routed and gets no reply (no ACK
 *   feedback loops); it is logged at debug.
 */
import { buildMllpAck } from '@li/hl7/mllp'
import type { MllpAckCode, MllpHeader } from '@li/hl7/mllp'
import type { Hl7ErrorConditionCode } from '@li/hl7'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { AckDecision, InboundCore } from '../runtime/inbound.js'
import type { ItemSettings } from '../runtime/settings.js'
import { inboundEncoding } from './charset.js'

/** Decode one inbound message's bytes and let `core` make it durable and decide the ACK. */
export function receiveInbound(
  core: InboundCore,
  bytes: Buffer,
  defCharEncoding: string | undefined,
  msh18: string,
  peer: string,
): Promise<AckDecision> {
  return core.receive(bytes.toString(inboundEncoding(defCharEncoding, msh18)), { peer })
}

/** The ACK text and ERR condition code of an `ack` decision, without undefined keys. */
export function ackOptions(d: Extract<AckDecision, { kind: 'ack' }>): {
  text?: string
  errorCode?: Hl7ErrorConditionCode
} {
  const opts: { text?: string; errorCode?: Hl7ErrorConditionCode } = {}
  if (d.text !== undefined) opts.text = d.text
  if (d.errorCode !== undefined) opts.errorCode = d.errorCode
  return opts
}

/** IRIS NackErrorCode values. */
export type NackErrorCode = 'ContentE' | 'ContentR' | 'AllE' | 'AllR'

/** Builds the ACKs of one inbound service from its settings (see the module header). */
export class AckShaper {
  readonly #nack: NackErrorCode
  readonly #addErr: boolean
  readonly #commitCodes: boolean
  readonly #facility: string | undefined
  readonly #application: string | undefined
  /** IgnoreInboundAck: drop inbound ACK messages without routing or answering them. */
  readonly ignoreInboundAck: boolean

  constructor(item: ProductionItem, s: ItemSettings) {
    const nack = s.string('NackErrorCode', 'ContentE')
    const known: NackErrorCode[] = ['ContentE', 'ContentR', 'AllE', 'AllR']
    const match = known.find((k) => k.toLowerCase() === nack.toLowerCase())
    if (match === undefined) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": NackErrorCode="${nack}" is not one of ContentE, ContentR, AllE, AllR`,
      )
    }
    this.#nack = match
    this.#addErr = s.boolean('AddNackERR', true)
    this.#commitCodes = s.boolean('UseAckCommitCodes', true)
    this.ignoreInboundAck = s.boolean('IgnoreInboundAck', true)
    const lfa = s.string('LocalFacilityApplication')
    if (lfa !== undefined) {
      const i = lfa.indexOf(':')
      this.#facility = i < 0 ? lfa : lfa.slice(0, i)
      this.#application = i < 0 ? '' : lfa.slice(i + 1)
    }
  }

  /** The ACK bytes (Latin-1, as `buildMllpAck` builds them) for an `ack` decision. */
  ack(header: MllpHeader | undefined, d: Extract<AckDecision, { kind: 'ack' }>): Buffer {
    let code: MllpAckCode = d.code
    if (d.reason === 'content' && code !== 'AA' && code !== 'CA')
      code = withLetter(code, this.#nack === 'ContentE' || this.#nack === 'AllE' ? 'E' : 'R')
    return this.#build(header, code, ackOptions(d))
  }

  /** The ACK for a system error (the message could not be accepted): AR under ContentE. */
  systemError(header: MllpHeader | undefined, text: string): Buffer {
    const letter = this.#nack === 'ContentR' || this.#nack === 'AllE' ? 'E' : 'R'
    const base: MllpAckCode = header?.enhancedMode === true ? 'CE' : 'AE'
    return this.#build(header, withLetter(base, letter), { text, errorCode: 207 })
  }

  #build(
    header: MllpHeader | undefined,
    code0: MllpAckCode,
    opts: { text?: string; errorCode?: Hl7ErrorConditionCode },
  ): Buffer {
    let code = code0
    if (!this.#commitCodes && code.startsWith('C')) code = ('A' + code.slice(1)) as MllpAckCode
    let h = header
    if (h !== undefined && this.#facility !== undefined) {
      h = { ...h, receivingFacility: this.#facility, receivingApplication: this.#application ?? '' }
    }
    let text = buildMllpAck(h, code, opts)
    if (!this.#addErr) text = text.replace(/\rERR[^\r]*(?=\r)/g, '')
    return Buffer.from(text, 'latin1')
  }
}

function withLetter(code: MllpAckCode, letter: 'E' | 'R'): MllpAckCode {
  return (code.charAt(0) + letter) as MllpAckCode
}

/** Whether an inbound message is itself an ACK (MSH-9.1 `ACK`). */
export function isInboundAck(header: MllpHeader | undefined): boolean {
  if (header === undefined) return false
  const cs = header.encodingCharacters.charAt(0) || '^'
  return (header.messageType.split(cs)[0] ?? '').toUpperCase() === 'ACK'
}
