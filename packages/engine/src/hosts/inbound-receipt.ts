/**
 * What the HTTP and MLLP inbound services both do with one received message: decode its bytes
 * (DefCharEncoding or MSH-18), hand it to `InboundCore` with the sender's address, and shape an
 * `ack` decision into the options the ACK builders take. It does not frame, read or answer.
 */
import type { Hl7ErrorConditionCode } from '@li/hl7'
import type { AckDecision, InboundCore } from '../runtime/inbound.js'
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
