/**
 * `EnsLib.EMail.AlertOperation` (and any alert operation named `Ens.Alert`): it receives the
 * alerts the Engine routes to `Ens.Alert`, records them, and e-mails them over SMTP as IRIS does.
 *
 * Recording: each alert is logged at warn (source host and alert text, never a message body), is
 * already in the message store (alerts travel as messages, WAL first), and, with the LI setting
 * `AlertFile`, is appended to that file as one JSON line and fsynced.
 *
 * E-mail, when SMTPServer is set (settings of IRIS's EnsLib.EMail.OutboundAdapter and
 * EnsLib.EMail.AlertOperation):
 * - SMTPServer, SMTPPort (default 25); SSLConfig names the engine's `tls` config entry: TLS from
 *   the first byte, or STARTTLS when the name ends with `*` (as in IRIS); Credentials names the
 *   engine's `credentials` entry (SMTP AUTH user and password).
 * - Recipient, Cc, Bcc: comma- and/or semicolon-separated addresses (at least one Recipient);
 *   From (default `li-engine@<host name>`).
 * - SubjectPrefix, IncludeNodeinSubject (the host name in the subject), IncludeDetails (the
 *   alert's time, session and production in the body besides its text).
 * - ContinueAfterBadSend (default 1): addresses the server refuses are logged and the others get
 *   the alert; with 0 a refused address fails the delivery (the others may have had it already).
 * - A failed send (server down, refused login, TLS) fails the delivery, which is retried as any
 *   operation's (RetryInterval, FailureTimeout). The AlertFile line is written once per alert in
 *   this process, before the e-mail, so that retries of the e-mail do not repeat it.
 * - LI setting `ThrottleSeconds` (default 0: one e-mail per alert, as IRIS): after an e-mail about
 *   an item, further alerts from that item within that many seconds are not e-mailed one by one;
 *   when the interval ends, one summary e-mail says how many there were, with the first texts, and
 *   a new interval starts if any came. A receiver down for an hour then pages the on-call team a
 *   few times, not once per failed message. Every alert is still logged, stored and written to
 *   AlertFile. A summary is not durable: one still pending when the operation stops is logged
 *   (how many alerts it would have covered), not sent; one the relay refuses is logged.
 *
 * What it does not do: managed alerts (IncludeManagedAlertHistory), OAuth 2.0 logins, HTML mail.
 */
import { appendFile, mkdir, open } from 'node:fs/promises'
import { isIP } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createTransport } from 'nodemailer'
import type { Transporter } from 'nodemailer'
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js'
import { EngineError } from '../errors.js'
import type { ProductionItem } from '../production/types.js'
import type { Envelope } from '../runtime/envelope.js'
import type { HostContext } from '../runtime/host-context.js'
import { OperationHost } from '../runtime/operation-host.js'
import type { Delivery } from '../runtime/operation-host.js'

/** How long the SMTP connection, greeting and each reply may take, ms. */
const SMTP_TIMEOUT_MS = 30_000

/** Alert texts quoted in a summary e-mail (the count covers the rest). */
const SUMMARY_TEXTS = 10

/** Alerts from one item held back during its ThrottleSeconds interval. */
interface Throttled {
  /** When the interval ends, ms since the epoch. */
  until: number
  count: number
  first: number
  texts: string[]
  timer: NodeJS.Timeout | undefined
}

/** What an alert e-mail is made of, from the item's settings. */
interface MailSettings {
  server: string
  port: number
  sslConfig: string | undefined
  to: string[]
  cc: string[]
  bcc: string[]
  from: string
  subjectPrefix: string
  includeNode: boolean
  includeDetails: boolean
  continueAfterBadSend: boolean
  /** ThrottleSeconds in ms; 0: an e-mail per alert. */
  throttleMs: number
}

/** Addresses of a Recipient/Cc/Bcc setting: commas and/or semicolons between them. */
export function mailAddresses(value: string | undefined): string[] {
  if (value === undefined) return []
  return value
    .split(/[;,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/**
 * The subject and text of the e-mail for `alert` (an Ens.AlertRequest as JSON fields), as the
 * alert operation sends it. Exported for tests and for users who want to see the format.
 */
export function alertMail(
  alert: Record<string, unknown>,
  o: {
    production: string
    subjectPrefix?: string
    includeNode?: boolean
    includeDetails?: boolean
  },
): { subject: string; text: string } {
  const str = (v: unknown): string =>
    typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : ''
  const source = str(alert.SourceConfigName)
  const node = os.hostname()
  const prefix =
    o.subjectPrefix === undefined || o.subjectPrefix === '' ? '' : `${o.subjectPrefix} `
  const subject = `${prefix}${o.includeNode === true ? `[${node}] ` : ''}LI Engine alert from ${o.production}:${source}`
  const lines = [
    str(alert.AlertText),
    '',
    `Source: ${source}`,
    `Time (UTC): ${str(alert.AlertTime)}`,
  ]
  if (o.includeDetails === true) {
    lines.push(`Session: ${str(alert.SessionId) || '(none)'}`)
    lines.push(`Production: ${o.production}`)
    lines.push(`Node: ${node}`)
  }
  return { subject, text: lines.join('\n') + '\n' }
}

/** An address as nodemailer reports it (a string, or `{ address }`). */
function addressText(a: unknown): string {
  if (typeof a === 'string') return a
  const address = (a as { address?: unknown } | null)?.address
  return typeof address === 'string' ? address : ''
}

/** Records alerts (log, store, optional JSON-lines file) and e-mails them when SMTPServer is set. */
export class AlertOperationHost extends OperationHost {
  readonly #file: string | undefined
  readonly #mail: MailSettings | undefined
  readonly #login: { username: string; password: string } | undefined
  #transport: Transporter<SMTPTransport.SentMessageInfo> | undefined
  /** Alerts whose AlertFile line is written (retries of their e-mail must not write it again). */
  readonly #recorded = new WeakSet<Envelope>()
  /** ThrottleSeconds: by source item, the interval after its last e-mail. */
  readonly #throttled = new Map<string, Throttled>()

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    this.#file = this.settings.string('AlertFile')
    const server = this.settings.string('SMTPServer')
    if (server === undefined || server.trim() === '') return
    const to = mailAddresses(this.settings.string('Recipient'))
    if (to.length === 0) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": SMTPServer is set but Recipient is empty: name at least one address to e-mail the alerts to (or clear SMTPServer)`,
      )
    }
    const port = this.settings.number('SMTPPort', 25)
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": SMTPPort=${port} is not a port number (1-65535)`,
      )
    }
    const credentials = this.settings.string('Credentials')
    this.#login = credentials === undefined ? undefined : ctx.credentials(credentials)
    this.#mail = {
      server: server.trim(),
      port,
      sslConfig: this.settings.string('SSLConfig'),
      to,
      cc: mailAddresses(this.settings.string('Cc')),
      bcc: mailAddresses(this.settings.string('Bcc')),
      from: this.settings.string('From') ?? `li-engine@${os.hostname()}`,
      subjectPrefix: this.settings.string('SubjectPrefix') ?? '',
      includeNode: this.settings.boolean('IncludeNodeinSubject', false),
      includeDetails: this.settings.boolean('IncludeDetails', false),
      continueAfterBadSend: this.settings.boolean('ContinueAfterBadSend', true),
      throttleMs: this.#throttleSetting(item.name) * 1000,
    }
  }

  #throttleSetting(name: string): number {
    const v = this.settings.number('ThrottleSeconds', 0)
    if (!(v >= 0 && v <= 86_400)) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${name}": ThrottleSeconds=${v} must be 0 (an e-mail per alert) to 86400`,
      )
    }
    return v
  }

  protected override async prepare(): Promise<void> {
    if (this.#file !== undefined) await mkdir(path.dirname(this.#file), { recursive: true })
    const m = this.#mail
    if (m === undefined) return
    // Read at start, so that an unknown SSLConfig or an unreadable key file fails the start.
    const starttls = m.sslConfig?.endsWith('*') === true
    const tlsName = m.sslConfig?.replace(/\*$/, '')
    const tls = tlsName === undefined || tlsName === '' ? undefined : this.ctx.tls(tlsName)
    const login = this.#login
    this.#transport = createTransport({
      host: m.server,
      port: m.port,
      // TLS from the first byte unless STARTTLS was asked for; no TLS without an SSLConfig.
      secure: tls !== undefined && !starttls,
      requireTLS: tls !== undefined && starttls,
      ignoreTLS: tls === undefined,
      // SNI only for a name (RFC 6066 forbids an IP address there).
      ...(tls === undefined
        ? {}
        : { tls: isIP(m.server) === 0 ? { ...tls, servername: m.server } : tls }),
      ...(login === undefined ? {} : { auth: { user: login.username, pass: login.password } }),
      connectionTimeout: SMTP_TIMEOUT_MS,
      greetingTimeout: SMTP_TIMEOUT_MS,
      socketTimeout: SMTP_TIMEOUT_MS,
    })
  }

  protected override release(): Promise<void> {
    for (const [source, t] of this.#throttled) {
      if (t.timer !== undefined) clearTimeout(t.timer)
      if (t.count > 0) {
        this.logger.warn(
          { source, alerts: t.count },
          'alert e-mail summary not sent (the operation stopped): those alerts are in the log, the message store and AlertFile',
        )
      }
    }
    this.#throttled.clear()
    this.#transport?.close()
    this.#transport = undefined
    return Promise.resolve()
  }

  protected override async deliver(env: Envelope): Promise<Delivery> {
    let alert: Record<string, unknown>
    try {
      alert = JSON.parse(env.raw) as Record<string, unknown>
    } catch {
      alert = { SourceConfigName: env.source, AlertText: '(not an alert request)' }
    }
    if (!this.#recorded.has(env)) {
      this.logger.warn(
        { source: alert.SourceConfigName, alert: alert.AlertText, sessionId: env.sessionId },
        'alert received',
      )
      if (this.#file !== undefined) await this.#append(alert, this.#file)
      this.#recorded.add(env)
    }
    const m = this.#mail
    if (m === undefined || this.#transport === undefined) return { detail: this.#file ?? 'logged' }
    const source = typeof alert.SourceConfigName === 'string' ? alert.SourceConfigName : env.source
    if (m.throttleMs > 0) {
      const held = this.#hold(source, alert, m.throttleMs)
      if (held !== undefined) return { detail: held }
    }
    const { subject, text } = alertMail(alert, {
      production: this.ctx.production.name,
      subjectPrefix: m.subjectPrefix,
      includeNode: m.includeNode,
      includeDetails: m.includeDetails,
    })
    const info = await this.#send(m, subject, text)
    if (m.throttleMs > 0) {
      const now = Date.now()
      this.#throttled.set(source, {
        until: now + m.throttleMs,
        count: 0,
        first: now,
        texts: [],
        timer: undefined,
      })
    }
    const rejected = info.rejected.map(addressText)
    if (rejected.length > 0) {
      if (!m.continueAfterBadSend) {
        throw new EngineError(
          'ENGINE_DELIVERY_FAILED',
          `the SMTP server refused ${rejected.join(', ')} (ContinueAfterBadSend=0)`,
        )
      }
      this.logger.warn({ refused: rejected }, 'alert e-mail: the SMTP server refused addresses')
    }
    const sent = info.accepted.map(addressText)
    return {
      detail: `e-mail to ${sent.join(', ')}${this.#file === undefined ? '' : `; ${this.#file}`}`,
    }
  }

  async #send(
    m: MailSettings,
    subject: string,
    text: string,
  ): Promise<SMTPTransport.SentMessageInfo> {
    const transport = this.#transport
    if (transport === undefined) {
      throw new EngineError('ENGINE_DELIVERY_FAILED', 'alert e-mail: the operation is stopped')
    }
    try {
      return await transport.sendMail({
        from: m.from,
        to: m.to,
        ...(m.cc.length > 0 ? { cc: m.cc } : {}),
        ...(m.bcc.length > 0 ? { bcc: m.bcc } : {}),
        subject,
        text,
      })
    } catch (e) {
      throw new EngineError(
        'ENGINE_DELIVERY_FAILED',
        `alert e-mail via ${m.server}:${m.port} failed: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      )
    }
  }

  /**
   * ThrottleSeconds: when `source` was e-mailed about less than the interval ago, count this alert
   * for the summary (armed to go when the interval ends) and say so; undefined: e-mail it now.
   */
  #hold(source: string, alert: Record<string, unknown>, throttleMs: number): string | undefined {
    const t = this.#throttled.get(source)
    const now = Date.now()
    if (t === undefined || now >= t.until) return undefined
    t.count++
    if (t.count === 1) t.first = now
    if (t.texts.length < SUMMARY_TEXTS) {
      const text = typeof alert.AlertText === 'string' ? alert.AlertText : ''
      const time = typeof alert.AlertTime === 'string' ? alert.AlertTime : ''
      t.texts.push(`${time} ${text.slice(0, 500)}`)
    }
    t.timer ??= setTimeout(() => void this.#summarise(source, throttleMs), t.until - now)
    return `e-mail held (ThrottleSeconds): ${t.count} alert(s) from ${source} go in one summary at ${new Date(t.until).toISOString()}`
  }

  /** Send the summary of `source`'s held alerts; a new interval starts if there were any. */
  async #summarise(source: string, throttleMs: number): Promise<void> {
    const t = this.#throttled.get(source)
    const m = this.#mail
    if (t === undefined || m === undefined) return
    t.timer = undefined
    if (t.count === 0) {
      this.#throttled.delete(source)
      return
    }
    const production = this.ctx.production.name
    const prefix = m.subjectPrefix === '' ? '' : `${m.subjectPrefix} `
    const node = m.includeNode ? `[${os.hostname()}] ` : ''
    const subject = `${prefix}${node}LI Engine alert from ${production}:${source} (${t.count} more)`
    const lines = [
      `${t.count} more alert(s) from ${source} since ${new Date(t.first).toISOString()}, held by ThrottleSeconds=${throttleMs / 1000}:`,
      '',
      ...t.texts.map((x) => `- ${x}`),
    ]
    if (t.count > t.texts.length) lines.push(`- ... and ${t.count - t.texts.length} more`)
    lines.push('', 'Every alert is in the engine log, the message store and AlertFile (if set).')
    const count = t.count
    const now = Date.now()
    this.#throttled.set(source, {
      until: now + throttleMs,
      count: 0,
      first: now,
      texts: [],
      timer: undefined,
    })
    try {
      await this.#send(m, subject, lines.join('\n') + '\n')
    } catch (e) {
      this.logger.error(
        { source, alerts: count, err: e instanceof Error ? e.message : String(e) },
        'alert e-mail summary could not be sent: those alerts are in the log, the message store and AlertFile',
      )
    }
  }

  async #append(alert: Record<string, unknown>, file: string): Promise<void> {
    await appendFile(file, JSON.stringify(alert) + '\n')
    const fh = await open(file, 'r')
    try {
      await fh.datasync()
    } finally {
      await fh.close()
    }
  }
}
