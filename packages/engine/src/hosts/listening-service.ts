/**
 * The shape both inbound listeners share (MLLP `TCPService`, `HTTPService`): settings, the
 * `InboundCore` that writes to the WAL and decides the ACK, and a listener that is opened on start
 * and resume and closed on stop and pause (senders see connection refused and retry). Subclasses
 * say only how to open and close their own kind of listener.
 */
import type { AddressInfo } from 'node:net'
import type { ProductionItem } from '../production/types.js'
import { Host } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import { InboundCore } from '../runtime/inbound.js'
import { ItemSettings } from '../runtime/settings.js'
import { AckShaper } from './inbound-receipt.js'

/** An inbound service host that owns one listening socket. */
export abstract class ListeningServiceHost extends Host {
  readonly kind = 'service' as const
  protected readonly ctx: HostContext
  protected readonly settings: ItemSettings
  protected readonly core: InboundCore
  /** Builds this service's ACKs (NackErrorCode, AddNackERR, LocalFacilityApplication …). */
  protected readonly acks: AckShaper
  /** Where the listener is bound, kept across pause/resume. */
  protected bound: AddressInfo | undefined

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx.logger)
    this.ctx = ctx
    this.settings = new ItemSettings(item)
    this.core = new InboundCore(item, ctx)
    this.acks = new AckShaper(item, this.settings)
  }

  /** The bound address while listening (Port=0 picks a free port). */
  address(): AddressInfo | undefined {
    return this.bound
  }

  /** The Port setting, or the port bound before, so a Port=0 listener keeps its port on resume. */
  protected port(): number {
    return this.settings.number('Port', 0) || (this.bound?.port ?? 0)
  }

  /** Open the listener and set `bound`. */
  protected abstract listen(): Promise<void>

  /** Close the listener, letting requests in progress finish. */
  protected abstract close(): Promise<void>

  protected override async onStart(): Promise<void> {
    await this.listen()
  }

  protected override async onStop(): Promise<void> {
    await this.close()
  }

  protected override async onPause(): Promise<void> {
    await this.close()
  }

  protected override async onResume(): Promise<void> {
    await this.listen()
  }
}
