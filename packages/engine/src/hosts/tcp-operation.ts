/**
 * `EnsLib.HL7.Operation.TCPOperation`: MLLP outbound. Each worker (PoolSize) owns one connection,
 * so with PoolSize 1 messages leave in queue order, one at a time, each waiting for its ACK.
 *
 * ACKs are matched strictly by `MllpClient`: MSA-2 must equal the MSH-10 sent; a late or
 * mismatched ACK is logged (`discardedAck`) and discarded, never applied to the next message.
 * No ACK within ResponseTimeout, or no connection within ConnectTimeout, is a transport error:
 * retried every RetryInterval until FailureTimeout. The ACK itself goes through ReplyCodeActions.
 *
 * Settings: IPAddress, Port, SSLConfig, ConnectTimeout (s, default 5), ResponseTimeout (s, default
 * 30), StayConnected (-1 = stay connected, 0 = disconnect after each message, N = after N idle
 * seconds; default -1), ReplyCodeActions, RetryInterval, FailureTimeout, DefCharEncoding.
 *
 * PipelineWindow (an LI setting, default 1): up to this many messages per connection await their
 * ACKs at once (MLLP pipelining), so a PoolSize 1 operation is no longer limited to one round
 * trip per message. Messages are written in queue order, but a message that is retried is sent
 * again after later ones were already sent: strict FIFO under retries needs PipelineWindow 1.
 * With PoolSize 1, bench/path-profile.mjs delivered 2,184 msg/s end to end with PipelineWindow 8
 * (as fast as the service acknowledged) against 1,549 msg/s with 1, in back-to-back runs.
 */
import { MllpClient, isMllpError } from '@li/hl7'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { Envelope } from '../runtime/envelope.js'
import { errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import { OperationHost } from '../runtime/operation-host.js'
import type { Delivery } from '../runtime/operation-host.js'
import { checkMllpFraming, nodeEncoding } from '../runtime/settings.js'
import { outboundEncoding } from './charset.js'

interface PooledClient {
  client: MllpClient
  idle: NodeJS.Timeout | undefined
  /** Deliveries using the connection now (at most PipelineWindow). */
  users: number
}

/** MLLP outbound operation. */
export class TcpOperationHost extends OperationHost {
  readonly #free: PooledClient[] = []
  readonly #all = new Set<PooledClient>()
  readonly #window: number
  #peerText: string | undefined
  /** DefCharEncoding as written (a leading `!` forces it over MSH-18). */
  readonly #defEnc: string | undefined
  /** The client's encoding for messages whose MSH-18 does not say otherwise. */
  readonly #clientEnc: BufferEncoding

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    checkMllpFraming(item, this.settings.string('Framing'))
    this.#defEnc = this.settings.raw('DefCharEncoding')
    this.#clientEnc = nodeEncoding(this.#defEnc)
    if (this.settings.string('Port') === undefined) {
      throw new EngineError('ENGINE_INVALID_SETTING', `item "${item.name}": Port is not set`)
    }
    const window = this.settings.number('PipelineWindow', 1)
    if (!Number.isInteger(window) || window < 1 || window > 1000) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": PipelineWindow="${window}" must be a whole number from 1 to 1000`,
      )
    }
    this.#window = window
  }

  /** One worker per message in flight: PoolSize connections, each with PipelineWindow of them. */
  protected override get workers(): number {
    return this.poolSize * this.#window
  }

  protected override async deliver(env: Envelope): Promise<Delivery> {
    const pooled = this.#acquire()
    try {
      const enc = outboundEncoding(this.#defEnc, env.raw)
      const ack = await pooled.client.send(
        enc === this.#clientEnc ? env.raw : Buffer.from(env.raw, enc),
      )
      return { reply: ack.raw.toString('latin1'), detail: `${this.#peer()} ${ack.code}` }
    } catch (e) {
      // A failed connection is rebuilt on the next attempt. After an ACK timeout the connection
      // is kept: a late ACK that arrives on it is discarded by the client's strict matching.
      if (!isMllpError(e) || e.code !== 'MLLP_ACK_TIMEOUT') this.#drop(pooled)
      throw e
    } finally {
      pooled.users--
      if (this.#all.has(pooled) && pooled.users === 0) this.#release(pooled)
    }
  }

  /** Stopping: a message waiting for its ACK is abandoned (it goes back to the queue). */
  protected override interrupt(): void {
    for (const p of this.#all) p.client.destroy()
  }

  protected override async release(): Promise<void> {
    const all = [...this.#all]
    this.#all.clear()
    this.#free.length = 0
    await Promise.all(
      all.map(async (p) => {
        if (p.idle !== undefined) clearTimeout(p.idle)
        await p.client.close().catch(() => undefined)
      }),
    )
    this.ctx.metrics?.setConnectionsActive(this.name, 'mllp', 0)
  }

  /** `host:port` of the peer, for the trace (settings do not change while the host exists). */
  #peer(): string {
    this.#peerText ??= `${this.settings.string('IPAddress', '127.0.0.1')}:${this.settings.number('Port', 0)}`
    return this.#peerText
  }

  #acquire(): PooledClient {
    // A connection with room in its window first (pipelining), then an idle one, then a new one.
    if (this.#window > 1) {
      for (const p of this.#all) {
        if (p.users > 0 && p.users < this.#window) {
          p.users++
          return p
        }
      }
    }
    const p = this.#free.pop()
    if (p !== undefined) {
      if (p.idle !== undefined) clearTimeout(p.idle)
      p.idle = undefined
      p.users = 1
      return p
    }
    const s = this.settings
    const ssl = s.string('SSLConfig')
    const client = new MllpClient({
      host: s.string('IPAddress', '127.0.0.1'),
      port: s.number('Port', 0),
      connectTimeoutMs: s.number('ConnectTimeout', 5) * 1000,
      ackTimeoutMs: s.number('ResponseTimeout', 30) * 1000,
      // One connection attempt per delivery attempt: RetryInterval/FailureTimeout pace the retries.
      backoff: { maxAttempts: 1 },
      window: this.#window,
      encoding: this.#clientEnc,
      ...(ssl === undefined ? {} : { tls: this.ctx.tls(ssl) }),
    })
    client.on('discardedAck', (info) => {
      this.logger.warn(
        { reason: info.reason, controlId: info.controlId },
        'discarded ACK (late or mismatched)',
      )
    })
    client.on('error', (e) => this.logger.warn({ err: errorText(e) }, 'mllp client error'))
    client.on('connect', () => this.#connections())
    client.on('disconnect', () => this.#connections())
    const pooled: PooledClient = { client, idle: undefined, users: 1 }
    this.#all.add(pooled)
    return pooled
  }

  #release(p: PooledClient): void {
    const stay = this.settings.number('StayConnected', -1)
    if (stay === 0) {
      this.#drop(p)
      return
    }
    if (stay > 0) {
      p.idle = setTimeout(() => {
        const i = this.#free.indexOf(p)
        if (i >= 0) this.#free.splice(i, 1)
        this.#drop(p)
      }, stay * 1000)
      p.idle.unref()
    }
    this.#free.push(p)
  }

  #drop(p: PooledClient): void {
    this.#all.delete(p)
    if (p.idle !== undefined) clearTimeout(p.idle)
    p.client.destroy()
    this.#connections()
  }

  #connections(): void {
    let n = 0
    for (const p of this.#all) if (p.client.connected) n++
    this.ctx.metrics?.setConnectionsActive(this.name, 'mllp', n)
  }
}
