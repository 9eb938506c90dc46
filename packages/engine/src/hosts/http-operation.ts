/**
 * `EnsLib.HL7.Operation.HTTPOperation`: POSTs each message to HTTPServer:HTTPPort/URL (HTTPS
 * with SSLConfig) and reads the response body as the ACK, which goes through ReplyCodeActions;
 * a 2xx response with an empty body completes the message. A non-2xx status, a connection error
 * no connection within ConnectTimeout or no response within ResponseTimeout is a transport error
 * (retried until FailureTimeout). Settings: HTTPServer, HTTPPort, URL, SSLConfig,
 * ConnectTimeout (s, default 5 as in IRIS: TCP connect plus, with SSLConfig, the TLS handshake;
 * 0 = no limit), ResponseTimeout (s, default 30, -1 = forever: from the connection being open
 * to the response, counted as inactivity), ReplyCodeActions, RetryInterval, FailureTimeout,
 * DefCharEncoding, Credentials (HTTP Basic authentication with the user name and password of the
 * engine's `credentials` entry of that name).
 * A JSON body (a DTL with a non-HL7 target, a routed alert) is posted as `application/json`; a
 * 2xx response to it completes the message unless its body is an HL7 ACK (a JSON API answers
 * JSON, not MSA).
 */
import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { Envelope } from '../runtime/envelope.js'
import type { HostContext } from '../runtime/host-context.js'
import { OperationHost } from '../runtime/operation-host.js'
import type { Delivery } from '../runtime/operation-host.js'
import { outboundEncoding } from './charset.js'

/** HTTP outbound operation. */
export class HttpOperationHost extends OperationHost {
  /** `user:password` for HTTP Basic authentication (Credentials), resolved when built. */
  readonly #auth: string | undefined

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    if (this.settings.string('HTTPServer') === undefined) {
      throw new EngineError('ENGINE_INVALID_SETTING', `item "${item.name}": HTTPServer is not set`)
    }
    const credentials = this.settings.string('Credentials')
    if (credentials !== undefined) {
      const c = ctx.credentials(credentials)
      this.#auth = `${c.username}:${c.password}`
    }
  }

  protected override deliver(env: Envelope, signal: AbortSignal): Promise<Delivery> {
    const s = this.settings
    const ssl = s.string('SSLConfig')
    const secure = ssl !== undefined
    const host = s.string('HTTPServer', '127.0.0.1')
    const port = s.number('HTTPPort', secure ? 443 : 80)
    let urlPath = s.string('URL', '/')
    if (!urlPath.startsWith('/')) urlPath = '/' + urlPath
    const encoding =
      env.format === 'json' ? 'utf8' : outboundEncoding(s.raw('DefCharEncoding'), env.raw)
    const body = Buffer.from(env.raw, encoding)
    const responseS = s.number('ResponseTimeout', 30)
    const timeoutMs = responseS < 0 ? 0 : responseS * 1000
    const connectMs = Math.max(0, s.number('ConnectTimeout', 5)) * 1000
    const where = `${secure ? 'https' : 'http'}://${host}:${port}${urlPath}`
    return new Promise<Delivery>((resolve, reject) => {
      const options: https.RequestOptions = {
        host,
        port,
        path: urlPath,
        method: 'POST',
        headers: {
          'content-type': env.format === 'json' ? 'application/json' : 'x-application/hl7-v2+er7',
          'content-length': body.length,
        },
        signal,
        ...(this.#auth === undefined ? {} : { auth: this.#auth }),
        ...(secure ? this.ctx.tls(ssl) : {}),
      }
      const req = (secure ? https : http).request(options, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status < 200 || status > 299) {
            reject(new EngineError('ENGINE_DELIVERY_FAILED', `${where} answered HTTP ${status}`))
            return
          }
          const text = Buffer.concat(chunks).toString(encoding)
          const ack = env.format === 'json' ? /^\s*MSH/.test(text) : text.trim() !== ''
          resolve({ reply: ack ? text : undefined, detail: `${where} ${status}` })
        })
      })
      // The connection phase (a fresh socket: TCP connect, then the TLS handshake) is bounded by
      // ConnectTimeout; ResponseTimeout starts once the connection is open.
      req.on('socket', (socket: Socket) => {
        const open = (): void => {
          if (timeoutMs > 0) req.setTimeout(timeoutMs)
        }
        if (!socket.connecting) {
          open()
          return
        }
        const timer =
          connectMs > 0
            ? setTimeout(
                () =>
                  req.destroy(
                    new EngineError(
                      'ENGINE_DELIVERY_FAILED',
                      `could not connect to ${where} within ConnectTimeout ${connectMs / 1000} s`,
                    ),
                  ),
                connectMs,
              )
            : undefined
        const ready = secure ? 'secureConnect' : 'connect'
        socket.once(ready, () => {
          clearTimeout(timer)
          open()
        })
        socket.once('close', () => clearTimeout(timer))
      })
      req.on('timeout', () =>
        req.destroy(
          new EngineError(
            'ENGINE_DELIVERY_FAILED',
            `no response from ${where} within ${timeoutMs} ms`,
          ),
        ),
      )
      req.on('error', reject)
      req.end(body)
    })
  }
}
