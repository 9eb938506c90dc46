/**
 * `EnsLib.HL7.Service.TCPService`: MLLP inbound. Each frame goes through `InboundCore` (WAL
 * first, then the ACK per AckMode). Settings: Port, IPAddress (default all interfaces), SSLConfig
 * (TLS from the engine's `tls` config), AckMode, TargetConfigNames, MessageSchemaCategory,
 * Validation, BadMessageHandler, DefCharEncoding, ReadTimeout (idle seconds, -1 = never).
 *
 * One message per connection is in flight at a time (MLLP original mode), so messages of one
 * connection enter the WAL and the queues in the order they arrived. Pause closes the listener
 * (senders see connection refused and retry); resume opens it again.
 */
import { MllpServer } from '@li/hl7'
import { errorText } from '../runtime/host.js'
import { ListeningServiceHost } from './listening-service.js'
import { ackOptions, receiveInbound } from './inbound-receipt.js'

/** MLLP inbound service. */
export class TcpServiceHost extends ListeningServiceHost {
  #server: MllpServer | undefined

  protected override async listen(): Promise<void> {
    const s = this.settings
    const ssl = s.string('SSLConfig')
    const readTimeout = s.number('ReadTimeout', -1)
    const defEnc = s.raw('DefCharEncoding')
    const server = new MllpServer({
      handler: async (frame, ctx) => {
        const d = await receiveInbound(
          this.core,
          frame,
          defEnc,
          ctx.header.charset,
          `${ctx.remoteAddress}:${ctx.remotePort}`,
        )
        switch (d.kind) {
          case 'none':
            // No reply at all (AckMode Never, or MSH-15 NE/ER): null tells the server so.
            return null
          case 'byte':
            return Uint8Array.of(0x06)
          case 'ack':
            return ctx.ack(d.code, ackOptions(d))
        }
      },
      ...(ssl === undefined ? {} : { tls: this.ctx.tls(ssl) }),
      idleTimeoutMs: readTimeout > 0 ? readTimeout * 1000 : 0,
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
