// A small SMTP server for tests, on a real loopback TCP socket: ESMTP with optional STARTTLS and
// AUTH PLAIN/LOGIN, recipients it refuses (550) by pattern, and every accepted mail kept as
// { from, to, auth, data, tls } so tests can read what the engine sent.
import net from 'node:net'
import tls from 'node:tls'
import type { AddressInfo } from 'node:net'

/** One mail the sink accepted. */
export interface SunkMail {
  from: string
  to: string[]
  /** `user:password` of the AUTH the client gave, if any. */
  auth: string | undefined
  /** The message as sent (headers and body), dot-stuffing undone, CRLF line ends. */
  data: string
  /** Whether the session was encrypted when the mail was sent (STARTTLS). */
  tls: boolean
}

/** Options of `SmtpSink`. */
export interface SmtpSinkOptions {
  /** Key and certificate: STARTTLS is offered (and required before MAIL when `requireTls`). */
  tls?: { key: Buffer; cert: Buffer }
  requireTls?: boolean
  /** Only this `user:password` may log in; mail without AUTH is refused (530) when set. */
  login?: string
  /** Recipients matching it are refused with 550. */
  refuse?: RegExp
  /** Answer every MAIL with this reply instead (e.g. `451 try later`). */
  failMail?: string
}

/** A loopback SMTP server that keeps what it receives. */
export class SmtpSink {
  readonly mails: SunkMail[] = []
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()

  constructor(readonly o: SmtpSinkOptions = {}) {
    this.#server = net.createServer((s) => this.#session(s))
  }

  /** Listens on 127.0.0.1 and resolves to the port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    return (this.#server.address() as AddressInfo).port
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #session(raw: net.Socket): void {
    let socket: net.Socket = raw
    this.#sockets.add(raw)
    raw.on('close', () => this.#sockets.delete(raw))
    raw.on('error', () => undefined)
    let buffer = ''
    let secure = false
    let auth: string | undefined
    let from: string | undefined
    let to: string[] = []
    let inData = false
    let data: string[] = []
    let authStep: 'login-user' | 'login-pass' | undefined
    let loginUser = ''
    const reply = (line: string): void => {
      socket.write(line + '\r\n')
    }
    const ehlo = (): void => {
      const ext = ['250-li-test-smtp']
      if (this.o.tls !== undefined && !secure) ext.push('250-STARTTLS')
      ext.push('250-AUTH PLAIN LOGIN')
      ext.push('250 8BITMIME')
      reply(ext.join('\r\n'))
    }
    const onLine = (line: string): void => {
      if (inData) {
        if (line === '.') {
          inData = false
          this.mails.push({ from: from ?? '', to, auth, data: data.join('\r\n'), tls: secure })
          from = undefined
          to = []
          data = []
          reply('250 2.0.0 queued')
        } else data.push(line.startsWith('..') ? line.slice(1) : line)
        return
      }
      if (authStep === 'login-user') {
        loginUser = Buffer.from(line, 'base64').toString()
        authStep = 'login-pass'
        reply('334 UGFzc3dvcmQ6')
        return
      }
      if (authStep === 'login-pass') {
        authStep = undefined
        const given = `${loginUser}:${Buffer.from(line, 'base64').toString()}`
        if (this.o.login !== undefined && given !== this.o.login)
          return reply('535 5.7.8 bad login')
        auth = given
        return reply('235 2.7.0 ok')
      }
      const [verb = '', ...rest] = line.split(' ')
      const arg = rest.join(' ')
      switch (verb.toUpperCase()) {
        case 'EHLO':
        case 'HELO':
          return ehlo()
        case 'STARTTLS': {
          if (this.o.tls === undefined) return reply('502 not offered')
          reply('220 2.0.0 go ahead')
          raw.removeListener('data', onData)
          const wrapped = new tls.TLSSocket(socket, {
            isServer: true,
            key: this.o.tls.key,
            cert: this.o.tls.cert,
          })
          wrapped.on('error', () => undefined)
          secure = true
          buffer = ''
          socket = wrapped
          wrapped.on('data', onData)
          return
        }
        case 'AUTH': {
          const [mech = '', initial] = arg.split(' ')
          if (mech.toUpperCase() === 'LOGIN') {
            authStep = 'login-user'
            return reply('334 VXNlcm5hbWU6')
          }
          if (mech.toUpperCase() !== 'PLAIN' || initial === undefined)
            return reply('504 unsupported')
          const parts = Buffer.from(initial, 'base64').toString().split('\u0000')
          const given = `${parts[1] ?? ''}:${parts[2] ?? ''}`
          if (this.o.login !== undefined && given !== this.o.login)
            return reply('535 5.7.8 bad login')
          auth = given
          return reply('235 2.7.0 ok')
        }
        case 'MAIL':
          if (this.o.failMail !== undefined) return reply(this.o.failMail)
          if (this.o.requireTls === true && !secure) return reply('530 5.7.0 STARTTLS first')
          if (this.o.login !== undefined && auth === undefined)
            return reply('530 5.7.0 authentication required')
          from = /<([^>]*)>/.exec(arg)?.[1] ?? ''
          to = []
          return reply('250 2.1.0 ok')
        case 'RCPT': {
          const who = /<([^>]*)>/.exec(arg)?.[1] ?? ''
          if (this.o.refuse?.test(who) === true) return reply(`550 5.1.1 <${who}> no such user`)
          to.push(who)
          return reply('250 2.1.5 ok')
        }
        case 'DATA':
          if (to.length === 0) return reply('554 no valid recipients')
          inData = true
          return reply('354 end with .')
        case 'RSET':
          from = undefined
          to = []
          return reply('250 ok')
        case 'NOOP':
          return reply('250 ok')
        case 'QUIT':
          reply('221 bye')
          socket.end()
          return
        default:
          return reply('500 unknown command')
      }
    }
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8')
      let i: number
      while ((i = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        const before = socket
        onLine(line)
        // After STARTTLS the rest arrives on the TLS socket.
        if (socket !== before) return
      }
    }
    raw.on('data', onData)
    reply('220 li-test-smtp ESMTP')
  }
}
