/**
 * The end of a business process's work on one message (routers and BPL processes alike): hand
 * its outputs on, record its hop (`completed`, or `discarded` when it sent nothing) with what it
 * did and its `<trace>` texts, record the processing time and settle its branch.
 */
import type { Envelope } from '../runtime/envelope.js'
import type { HostContext } from '../runtime/host-context.js'
import type { ForwardOutput } from '../runtime/message-path.js'
import type { Disposition } from '../runtime/queue-host.js'

/**
 * Forwards `outputs`, records the hop of `host` (`sent`: whether it sent anything, the outputs
 * or earlier hand-overs), and settles `env` as completed.
 */
export async function completeProcessed(
  ctx: HostContext,
  host: string,
  env: Envelope,
  outputs: readonly ForwardOutput[],
  sent: boolean,
  detail: string,
  traces: readonly string[],
  started: number,
): Promise<Disposition> {
  const { path } = ctx
  await path.forward(env, host, outputs)
  const text = traces.length > 0 ? `${detail}; trace: ${traces.join(' | ')}` : detail
  path.hopLater(
    env.sessionId,
    env.storeId,
    env.source,
    host,
    sent ? 'completed' : 'discarded',
    text,
  )
  ctx.metrics?.recordProcessingTime(host, (performance.now() - started) / 1000)
  await path.settle(env, 'completed')
  return { ack: true }
}
