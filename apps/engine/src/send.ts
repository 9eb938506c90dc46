/**
 * `li-engine send --host H --port P [--tls] <files…|->`: reads HL7 v2 files (one message,
 * concatenated messages, or FHS/BHS batches) and sends every message over MLLP with `MllpClient`,
 * one at a time, waiting for each ACK. Prints a summary of the ACK codes on stdout, a progress
 * bar on stderr for long runs when stderr is a terminal, and exits 0 only when every message got
 * AA (or CA). Never prints message bodies; failures name the file, the message's position and
 * its MSH-10.
 */
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { MllpClient, parseBatch } from '@li/hl7'
import { parsePort, strictParse } from './config.js'
import { AppError } from './errors.js'

/** Options of `li-engine send`. */
export const SEND_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  timeout: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parsed `send` arguments. */
export interface SendConfig {
  host: string
  port: number
  tls: boolean
  ca?: string
  insecure: boolean
  timeoutSeconds: number
  quiet: boolean
  inputs: string[]
}

/** One message to send, with where it came from. */
interface Outgoing {
  text: string
  where: string
  controlId: string
}

/** What `send` did. */
export interface SendSummary {
  sent: number
  /** Count per MSA-1 code, plus `NO_ACK` for timeouts and connection failures. */
  codes: Record<string, number>
  failures: { where: string; controlId: string; code: string; text: string }[]
  durationMs: number
}

function bad(message: string): AppError {
  return new AppError('APP_BAD_ARGUMENT', message)
}

/** Parse `send` arguments (after `send`). */
export function parseSendConfig(args: string[]): SendConfig {
  const { values, positionals } = strictParse(args, SEND_OPTIONS)
  if (values.host === undefined || values.host === '')
    throw bad('send needs --host H (the receiver). See --help.')
  if (values.port === undefined) throw bad('send needs --port P (the receiver). See --help.')
  const port = parsePort(values.port, '--port')
  let timeoutSeconds = 30
  if (values.timeout !== undefined) {
    const n = Number(values.timeout)
    if (values.timeout.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw bad(`--timeout must be a positive number of seconds, got "${values.timeout}"`)
    }
    timeoutSeconds = n
  }
  if ((values.ca !== undefined || values.insecure === true) && values.tls !== true) {
    throw bad('--ca and --insecure only apply with --tls')
  }
  if (positionals.length === 0)
    throw bad('send needs at least one file (or - for stdin). See --help.')
  const config: SendConfig = {
    host: values.host,
    port,
    tls: values.tls === true,
    insecure: values.insecure === true,
    timeoutSeconds,
    quiet: values.quiet === true,
    inputs: positionals,
  }
  if (values.ca !== undefined) config.ca = values.ca
  return config
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** Read every input into messages; throws AppError APP_UNREADABLE_INPUT naming the file. */
export async function readMessages(inputs: string[]): Promise<Outgoing[]> {
  const out: Outgoing[] = []
  for (const input of inputs) {
    const name = input === '-' ? '<stdin>' : input
    let bytes: Buffer
    try {
      bytes = input === '-' ? await readStdin() : await readFile(input)
    } catch (e) {
      throw new AppError(
        'APP_UNREADABLE_INPUT',
        `cannot read ${name}: ${e instanceof Error ? e.message : String(e)}`,
      )
    }
    let messages
    try {
      messages = parseBatch(bytes).messages
    } catch (e) {
      throw new AppError(
        'APP_UNREADABLE_INPUT',
        `${name}: not HL7 v2: ${e instanceof Error ? e.message : String(e)}`,
      )
    }
    if (messages.length === 0)
      throw new AppError('APP_UNREADABLE_INPUT', `${name}: no HL7 messages found`)
    messages.forEach((m, i) => {
      out.push({
        text: m.toString(),
        where: `${name} message ${i + 1}`,
        controlId: m.controlId ?? '',
      })
    })
  }
  return out
}

function progress(done: number, total: number, codes: Record<string, number>): string {
  const width = 30
  const filled = Math.round((done / total) * width)
  const tally = Object.entries(codes)
    .map(([k, v]) => `${k} ${v}`)
    .join(' ')
  return `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${tally}`
}

/** Sends every message and returns the summary (does not exit). */
export async function sendMessages(config: SendConfig, messages: Outgoing[]): Promise<SendSummary> {
  let tls: ConnectionOptions | undefined
  if (config.tls) {
    // SNI takes host names only (RFC 6066): an IP address is verified against the certificate's IP SANs.
    tls = {
      rejectUnauthorized: !config.insecure,
      ...(isIP(config.host) === 0 ? { servername: config.host } : {}),
    }
    if (config.ca !== undefined) {
      try {
        tls.ca = await readFile(config.ca)
      } catch (e) {
        throw new AppError(
          'APP_UNREADABLE_INPUT',
          `cannot read --ca ${config.ca}: ${e instanceof Error ? e.message : String(e)}`,
        )
      }
    }
  }
  const client = new MllpClient({
    host: config.host,
    port: config.port,
    ackTimeoutMs: config.timeoutSeconds * 1000,
    connectTimeoutMs: config.timeoutSeconds * 1000,
    backoff: { maxAttempts: 3, initialDelayMs: 200 },
    ...(tls === undefined ? {} : { tls }),
  })
  client.on('error', () => undefined)
  const started = Date.now()
  const summary: SendSummary = { sent: 0, codes: {}, failures: [], durationMs: 0 }
  const bar = !config.quiet && process.stderr.isTTY && messages.length >= 20
  let lastDraw = 0
  try {
    try {
      await client.connect()
    } catch (e) {
      throw new AppError(
        'APP_STARTUP_FAILED',
        `cannot connect to ${config.host}:${config.port}: ${e instanceof Error ? e.message : String(e)}`,
      )
    }
    for (const m of messages) {
      let code: string
      let text = ''
      try {
        const ack = await client.send(m.text)
        code = ack.code === '' ? 'NO_MSA' : ack.code
        text = ack.text
      } catch (e) {
        code = 'NO_ACK'
        text = e instanceof Error ? e.message : String(e)
      }
      summary.sent++
      summary.codes[code] = (summary.codes[code] ?? 0) + 1
      if (code !== 'AA' && code !== 'CA')
        summary.failures.push({ where: m.where, controlId: m.controlId, code, text })
      if (bar && (Date.now() - lastDraw > 100 || summary.sent === messages.length)) {
        lastDraw = Date.now()
        process.stderr.write(progress(summary.sent, messages.length, summary.codes))
      }
    }
    if (bar) process.stderr.write('\n')
  } finally {
    await client.close().catch(() => undefined)
  }
  summary.durationMs = Date.now() - started
  return summary
}

/** The summary as text for stdout. */
export function formatSendSummary(config: SendConfig, s: SendSummary): string {
  const codes = Object.entries(s.codes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  const lines = [
    `sent ${s.sent} message${s.sent === 1 ? '' : 's'} to ${config.host}:${config.port} in ${(s.durationMs / 1000).toFixed(2)} s: ${codes}`,
  ]
  for (const f of s.failures.slice(0, 20)) {
    lines.push(
      `  ${f.code}  ${f.where} (MSH-10 ${f.controlId})${f.text === '' ? '' : `: ${f.text}`}`,
    )
  }
  if (s.failures.length > 20) lines.push(`  ... and ${s.failures.length - 20} more`)
  return lines.join('\n') + '\n'
}
