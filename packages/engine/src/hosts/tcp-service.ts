/**
 * `EnsLib.HL7.Service.TCPService`: MLLP inbound. Each frame goes through `InboundCore` (WAL
 * first, then the ACK per AckMode). Settings: Port, IPAddress (default all interfaces), SSLConfig
 * (TLS from the engine's `tls` config), AckMode, TargetConfigNames, MessageSchemaCategory,
 * Validation, BadMessageHandler, DefCharEncoding (default Latin1, MSH-18 wins unless `!`), ReadTimeout
 * (idle seconds, -1 = never), StayConnected (-1 = stay connected, 0 = close after each ACK, N > 0 =
 * close after N idle seconds), AlertOnError (alert when a message is NAKed or not accepted), Framing (MLLP/Flexible), AppAckTimeout, and the ACK settings of
 * `inbound-receipt.ts` (NackErrorCode, AddNackERR, LocalFacilityApplication, UseAckCommitCodes,
 * IgnoreInboundAck).
 *
 * One message per connection is in flight at a time (MLLP original mode), so messages of one
 * connection enter the WAL and the queues in the order they arrived. Pause closes the listener
 * (senders see connection refused and retry); resume opens it again.
 */
import { MllpServer } from '@li/hl7'
import type { ProductionItem } from '../production/types.js'
import { errorText } from '../runtime/host.js'
import type { HostContext } from '../runtime/host-context.js'
import { checkMllpFraming } from '../runtime/settings.js'
import { ListeningServiceHost } from './listening-service.js'
import { isInboundAck, receiveInbound } from './inbound-receipt.js'

/** MLLP inbound service. */
export class TcpServiceHost extends ListeningServiceHost {
  #server: MllpServer | undefined

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    checkMllpFraming(item, this.settings.string('Framing'))
  }

  protected override async listen(): Promise<void> {
    const s = this.settings
    const ssl = s.string('SSLConfig')
    const readTimeout = s.number('ReadTimeout', -1)
    // IRIS StayConnected: -1 (default) stay connected, 0 close after each ACK, N > 0 close after
    // N idle seconds. With ReadTimeout too, the shorter idle limit wins.
    const stayConnected = s.number('StayConnected', -1)
    const idle = [readTimeout, stayConnected].filter((n) => n > 0)
    const defEnc = s.raw('DefCharEncoding')
    const server = new MllpServer({
      handler: async (frame, ctx) => {
        if (this.acks.ignoreInboundAck && isInboundAck(ctx.header)) {
          this.logger.debug({ controlId: ctx.header.controlId }, 'inbound ACK ignored')
          return null
        }
        let d
        try {
          d = await receiveInbound(
            this.core,
            frame,
            defEnc,
            ctx.header.charset,
            `${ctx.remoteAddress}:${ctx.remotePort}`,
          )
        } catch (e) {
          // Not accepted (WAL/store refused): a system error, answered per NackErrorCode.
          this.noteError(e)
          this.logger.error({ err: errorText(e) }, 'message not accepted')
          this.core.alertError(`message not accepted: ${errorText(e)}`)
          return this.acks.systemError(ctx.header, `message not accepted: ${errorText(e)}`)
        }
        switch (d.kind) {
          case 'none':
            // No reply at all (AckMode Never, or MSH-15 NE/ER): null tells the server so.
            return null
          case 'byte':
            return Uint8Array.of(0x06)
          case 'ack':
            return this.acks.ack(ctx.header, d)
        }
      },
      ...(ssl === undefined ? {} : { tls: this.ctx.tls(ssl) }),
      idleTimeoutMs: idle.length > 0 ? Math.min(...idle) * 1000 : 0,
      closeAfterAck: stayConnected === 0,
      maxInFlight: 1,
    })
    const track = (): void =>
      this.ctx.metrics?.setConnectionsActive(this.name, 'mllp', server.connectionCount)
    server.on('connection', track)
    server.on('disconnect', track)
    server.on('error', (e) => {
      this.noteError(e)
      this.logger.warn({ err: errorText(e) }, 'mllp server error')
    })
    // After a pause, Port=0 keeps the port it was given first.
    const port = this.port()
    const host = s.string('IPAddress')
    this.bound = await server.listen(
      port,
      host === undefined || host === '' ? undefined : host.replace(/^!/, ''),
    )
    this.#server = server
    this.logger.info({ port: this.bound.port, tls: ssl !== undefined }, 'mllp service listening')
  }

  protected override async close(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    await server.close({ drain: true, timeoutMs: 10_000 })
    this.ctx.metrics?.setConnectionsActive(this.name, 'mllp', 0)
  }
}
