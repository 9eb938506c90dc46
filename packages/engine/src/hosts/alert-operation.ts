/**
 * A stand-in for `EnsLib.EMail.AlertOperation` (and any alert operation named `Ens.Alert`): it
 * receives the alerts the Engine routes to `Ens.Alert` and records them. It sends no e-mail: the
 * SMTP settings (SMTPServer, SMTPPort, Credentials, Recipient, Cc, From) are kept and reported by
 * `checkProduction` as not acted on.
 *
 * Each alert is logged at warn (source host and alert text, never a message body), is already in
 * the message store (alerts travel as messages, WAL first), and, with the LI setting `AlertFile`,
 * is appended to that file as one JSON line and fsynced before the alert counts as delivered.
 */
import { appendFile, mkdir, open } from 'node:fs/promises'
import path from 'node:path'
import type { ProductionItem } from '../production/types.js'
import type { Envelope } from '../runtime/envelope.js'
import type { HostContext } from '../runtime/host-context.js'
import { OperationHost } from '../runtime/operation-host.js'
import type { Delivery } from '../runtime/operation-host.js'

/** Records alerts (log, store, optional JSON-lines file). */
export class AlertOperationHost extends OperationHost {
  readonly #file: string | undefined

  constructor(item: ProductionItem, ctx: HostContext) {
    super(item, ctx)
    this.#file = this.settings.string('AlertFile')
  }

  protected override async prepare(): Promise<void> {
    if (this.#file !== undefined) await mkdir(path.dirname(this.#file), { recursive: true })
  }

  protected override async deliver(env: Envelope): Promise<Delivery> {
    let alert: Record<string, unknown>
    try {
      alert = JSON.parse(env.raw) as Record<string, unknown>
    } catch {
      alert = { SourceConfigName: env.source, AlertText: '(not an alert request)' }
    }
    this.logger.warn(
      { source: alert.SourceConfigName, alert: alert.AlertText, sessionId: env.sessionId },
      'alert received',
    )
    if (this.#file === undefined) return { detail: 'logged' }
    await appendFile(this.#file, JSON.stringify(alert) + '\n')
    const fh = await open(this.#file, 'r')
    try {
      await fh.datasync()
    } finally {
      await fh.close()
    }
    return { detail: this.#file }
  }
}
