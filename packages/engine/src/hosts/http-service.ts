/**
 * `EnsLib.HL7.Service.HTTPService`: HL7 v2 over HTTP POST. The request body is one message; the
 * response body is its ACK (`Content-Type: x-application/hl7-v2+er7`), decided by `InboundCore`
 * exactly as for MLLP. AckMode Never or Byte answers 200 with an empty body. Settings: Port,
 * IPAddress, SSLConfig (HTTPS), AckMode, TargetConfigNames, Validation, MessageSchemaCategory,
 * BadMessageHandler, DefCharEncoding, AlertOnError (alert when a message is NAKed or not accepted).
 * Request bodies are limited to 16 MiB (413 beyond).
 */
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { isHeaderProblem, readHeader } from '@li/hl7/mllp'
import { errorText } from '../runtime/host.js'
import { ListeningServiceHost } from './listening-service.js'
import { isInboundAck, receiveInbound } from './inbound-receipt.js'

const MAX_BODY = 16 * 1024 * 1024

/** HTTP inbound service. */
export class HttpServiceHost extends ListeningServiceHost {
  #server: http.Server | undefined

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > MAX_BODY) {
        res.writeHead(413).end()
        return
      }
      chunks.push(chunk)
    }
    const body = Buffer.concat(chunks)
    const head = readHeader(body)
    const header = isHeaderProblem(head) ? head.partial : head
    if (this.acks.ignoreInboundAck && isInboundAck(header)) {
      res.writeHead(200).end()
      return
    }
    let ack: Buffer
    try {
      const d = await receiveInbound(
        this.core,
        body,
        this.settings.raw('DefCharEncoding'),
        header?.charset ?? '',
        `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
      )
      if (d.kind !== 'ack') {
        res.writeHead(200).end()
        return
      }
      ack = this.acks.ack(header, d)
    } catch (e) {
      this.noteError(e)
      this.logger.error({ err: errorText(e) }, 'message not accepted')
      this.core.alertError(`message not accepted: ${errorText(e)}`)
      ack = this.acks.systemError(header, `message not accepted: ${errorText(e)}`)
    }
    res.writeHead(200, { 'content-type': 'x-application/hl7-v2+er7' }).end(ack)
  }

  protected override async listen(): Promise<void> {
    const ssl = this.settings.string('SSLConfig')
    const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.#handle(req, res).catch((e: unknown) => {
        this.noteError(e)
        this.logger.error({ err: errorText(e) }, 'http request failed')
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
    }
    const server =
      ssl === undefined
        ? http.createServer(listener)
        : https.createServer(this.ctx.tls(ssl), listener)
    const port = this.port()
    const host = this.settings.string('IPAddress')
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host === undefined || host === '' ? undefined : host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.bound = server.address() as AddressInfo
    this.#server = server
    this.logger.info({ port: this.bound.port, tls: ssl !== undefined }, 'http service listening')
  }

  protected override async close(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
    })
  }
}
