// EnsLib.EMail.AlertOperation e-mails alerts over SMTP (real loopback SMTP sessions: plain with
// AUTH, STARTTLS, a server that refuses a while, a refused recipient), and Credentials are read
// from the engine's credentials config (SMTP AUTH, HTTP Basic on an HTTP operation).
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine, EngineConfig } from '../src/index.js'
import { alertMail, mailAddresses } from '../src/hosts/alert-operation.js'
import {
  finalState,
  hl7,
  msaCode,
  portOf,
  removeDir,
  selfSignedCert,
  sendMllp,
  startEngine,
  tcpOperation,
  tcpService,
  tempDir,
  waitFor,
} from './helpers.js'
import type { ItemSpec } from './helpers.js'
import { SmtpSink } from './smtp-sink.js'

/** An MLLP service `In` whose operation `Down` refuses at once and raises an alert per message. */
const failing: ItemSpec[] = [
  tcpService('In', 'Down', 1),
  tcpOperation('Down', 1, { ConnectTimeout: 1 }, { FailureTimeout: 0, AlertOnError: 1 }),
]

const alertItem = (
  adapter: Record<string, string | number>,
  host: Record<string, string | number> = {},
): ItemSpec => ({
  name: 'Ens.Alert',
  className: 'EnsLib.EMail.AlertOperation',
  host: { RetryInterval: 1, FailureTimeout: -1, ...host },
  adapter,
})

/** Header `name` of a sunk mail (unfolded). */
function header(data: string, name: string): string | undefined {
  const head = data.split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ')
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'))
  return line?.slice(name.length + 1).trim()
}

/** The text body of a sunk mail (quoted-printable soft breaks undone). */
function body(data: string): string {
  return data
    .slice(data.indexOf('\r\n\r\n') + 4)
    .replace(/=\r\n/g, '')
    .replace(/=3D/g, '=')
}

describe('mailAddresses and alertMail', () => {
  it('splits Recipient lists on commas and semicolons', () => {
    expect(mailAddresses(' a@x.nhs.uk; b@x.nhs.uk,c@x.nhs.uk ,, ')).toEqual([
      'a@x.nhs.uk',
      'b@x.nhs.uk',
      'c@x.nhs.uk',
    ])
    expect(mailAddresses(undefined)).toEqual([])
  })

  it('puts the prefix, the production and the source in the subject, details only when asked', () => {
    const alert = {
      SourceConfigName: 'EPR.Out',
      AlertText: 'failed: could not connect',
      AlertTime: '2026-11-28 01:00:00.000',
      SessionId: 's-1',
    }
    const plain = alertMail(alert, { production: 'Trust.Prod' })
    expect(plain.subject).toBe('LI Engine alert from Trust.Prod:EPR.Out')
    expect(plain.text).toContain('failed: could not connect')
    expect(plain.text).toContain('Time (UTC): 2026-11-28 01:00:00.000')
    expect(plain.text).not.toContain('s-1')
    const full = alertMail(alert, {
      production: 'Trust.Prod',
      subjectPrefix: '[PROD]',
      includeDetails: true,
    })
    expect(full.subject).toBe('[PROD] LI Engine alert from Trust.Prod:EPR.Out')
    expect(full.text).toContain('Session: s-1')
  })
})

describe('EnsLib.EMail.AlertOperation over SMTP', () => {
  let certDir: string
  const running: { engine: Engine; dir: string }[] = []
  const sinks: SmtpSink[] = []

  const start = async (items: ItemSpec[], config: Partial<EngineConfig> = {}): Promise<Engine> => {
    const r = await startEngine(items, { freePorts: ['In'], config })
    running.push(r)
    return r.engine
  }
  const sink = async (
    o: ConstructorParameters<typeof SmtpSink>[0] = {},
  ): Promise<[SmtpSink, number]> => {
    const s = new SmtpSink(o)
    sinks.push(s)
    return [s, await s.listen()]
  }
  const alertOnce = async (engine: Engine, id: string): Promise<string> => {
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    return (await finalState(engine, 'In', id)).sessionId
  }

  beforeAll(async () => {
    certDir = await tempDir('smtp-tls')
    selfSignedCert(certDir)
  })

  afterAll(async () => {
    for (const { engine, dir } of running) {
      await engine.stop()
      await removeDir(dir)
    }
    for (const s of sinks) await s.close()
    await removeDir(certDir)
  })

  it('e-mails each alert to Recipient and Cc, logged in with Credentials, and writes AlertFile once', async () => {
    const [smtp, port] = await sink({ login: 'alerts:s3cret' })
    const alertFile = path.join(certDir, 'alerts.jsonl')
    const engine = await start(
      [
        ...failing,
        alertItem(
          {
            SMTPServer: '127.0.0.1',
            SMTPPort: port,
            Credentials: 'TrustMail',
            Recipient: 'oncall@trust.nhs.uk; integration@trust.nhs.uk',
            Cc: 'manager@trust.nhs.uk',
            From: 'li-engine@trust.nhs.uk',
          },
          { SubjectPrefix: '[LIVE]', IncludeDetails: 1, AlertFile: alertFile },
        ),
      ],
      { credentials: { TrustMail: { username: 'alerts', password: 's3cret' } } },
    )
    const sessionId = await alertOnce(engine, 'MAIL-1')
    const mail = await waitFor(() => smtp.mails[0], 'the alert e-mail')
    expect(mail.auth).toBe('alerts:s3cret')
    expect(mail.from).toBe('li-engine@trust.nhs.uk')
    expect(mail.to.sort()).toEqual([
      'integration@trust.nhs.uk',
      'manager@trust.nhs.uk',
      'oncall@trust.nhs.uk',
    ])
    expect(header(mail.data, 'Subject')).toBe('[LIVE] LI Engine alert from Test.Production:Down')
    expect(header(mail.data, 'Cc')).toBe('manager@trust.nhs.uk')
    const text = body(mail.data)
    expect(text).toMatch(/failed/)
    expect(text).toContain(`Session: ${sessionId}`)
    // No message body in the alert.
    expect(text).not.toContain('MSH|')
    await waitFor(
      async () => (await readFile(alertFile, 'utf8').catch(() => '')).includes('"Down"'),
      'the AlertFile line',
    )
    expect((await readFile(alertFile, 'utf8')).trim().split('\n')).toHaveLength(1)
  })

  it('retries while the SMTP server refuses, and sends once it accepts', async () => {
    const [smtp, port] = await sink({ failMail: '451 4.3.0 try again later' })
    const alertFile = path.join(certDir, 'retry.jsonl')
    const engine = await start([
      ...failing,
      alertItem(
        { SMTPServer: '127.0.0.1', SMTPPort: port, Recipient: 'oncall@trust.nhs.uk' },
        { AlertFile: alertFile },
      ),
    ])
    await alertOnce(engine, 'MAIL-2')
    await waitFor(
      async () => (await readFile(alertFile, 'utf8').catch(() => '')).includes('"Down"'),
      'the AlertFile line',
    )
    // The server says 451: the alert is held and retried (RetryInterval 1), not lost.
    await waitFor(async () => {
      const q = await engine.queueContents('Ens.Alert')
      return q.messages.some((m) => (m.delivery?.lastError ?? '').includes('451'))
    }, 'a retried alert')
    expect(smtp.mails).toHaveLength(0)
    smtp.o.failMail = undefined
    const mail = await waitFor(() => smtp.mails[0], 'the e-mail after the server recovered')
    expect(mail.to).toEqual(['oncall@trust.nhs.uk'])
    // The AlertFile line is not repeated by the retries.
    expect((await readFile(alertFile, 'utf8')).trim().split('\n')).toHaveLength(1)
  })

  it('uses STARTTLS when the SSLConfig name ends with *, and TLS settings from the tls config', async () => {
    const [smtp, port] = await sink({
      tls: {
        key: await readFile(path.join(certDir, 'key.pem')),
        cert: await readFile(path.join(certDir, 'cert.pem')),
      },
      requireTls: true,
    })
    const engine = await start(
      [
        ...failing,
        alertItem({
          SMTPServer: '127.0.0.1',
          SMTPPort: port,
          SSLConfig: 'Mail*',
          Recipient: 'oncall@trust.nhs.uk',
        }),
      ],
      { tls: { Mail: { ca: path.join(certDir, 'cert.pem') } } },
    )
    await alertOnce(engine, 'MAIL-3')
    const mail = await waitFor(() => smtp.mails[0], 'the e-mail over STARTTLS')
    expect(mail.tls).toBe(true)
  })

  it('sends to the addresses the server accepts and logs the refused ones (ContinueAfterBadSend)', async () => {
    const [smtp, port] = await sink({ refuse: /^nobody@/ })
    const engine = await start([
      ...failing,
      alertItem({
        SMTPServer: '127.0.0.1',
        SMTPPort: port,
        Recipient: 'nobody@trust.nhs.uk,oncall@trust.nhs.uk',
      }),
    ])
    await alertOnce(engine, 'MAIL-4')
    const mail = await waitFor(() => smtp.mails[0], 'the e-mail')
    expect(mail.to).toEqual(['oncall@trust.nhs.uk'])
    // Delivered (not retried): the alert leaves the queue and no second e-mail follows.
    await waitFor(async () => (await engine.queueContents('Ens.Alert')).depth === 0, 'queue empty')
    expect(smtp.mails).toHaveLength(1)
  })

  it('with ContinueAfterBadSend=0 a refused address fails the delivery, which is retried', async () => {
    const [, port] = await sink({ refuse: /^nobody@/ })
    const engine = await start([
      ...failing,
      alertItem({
        SMTPServer: '127.0.0.1',
        SMTPPort: port,
        Recipient: 'nobody@trust.nhs.uk,oncall@trust.nhs.uk',
        ContinueAfterBadSend: 0,
      }),
    ])
    await alertOnce(engine, 'MAIL-5')
    await waitFor(async () => {
      const q = await engine.queueContents('Ens.Alert')
      return q.messages.some((m) =>
        (m.delivery?.lastError ?? '').includes(
          'refused nobody@trust.nhs.uk (ContinueAfterBadSend=0)',
        ),
      )
    }, 'the alert retried')
  })

  it('ThrottleSeconds: one e-mail, then one summary of the alerts held back, all still recorded', async () => {
    const [smtp, port] = await sink()
    const alertFile = path.join(certDir, 'throttled.jsonl')
    const engine = await start([
      ...failing,
      alertItem(
        { SMTPServer: '127.0.0.1', SMTPPort: port, Recipient: 'oncall@trust.nhs.uk' },
        { ThrottleSeconds: 2, AlertFile: alertFile },
      ),
    ])
    // Three failures in a row (a receiver down): three alerts within the interval.
    for (const id of ['T-1', 'T-2', 'T-3'])
      expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    await waitFor(
      async () =>
        (await readFile(alertFile, 'utf8').catch(() => '')).trim().split('\n').length === 3,
      'three AlertFile lines',
    )
    const summary = await waitFor(() => smtp.mails[1], 'the summary e-mail')
    expect(smtp.mails).toHaveLength(2)
    expect(header(smtp.mails[0]!.data, 'Subject')).toBe('LI Engine alert from Test.Production:Down')
    expect(header(summary.data, 'Subject')).toBe(
      'LI Engine alert from Test.Production:Down (2 more)',
    )
    expect(body(summary.data)).toMatch(/2 more alert\(s\) from Down since .*ThrottleSeconds=2/)
    // Past the interval with nothing more, the next alert is e-mailed on its own again.
    await new Promise((r) => setTimeout(r, 2100))
    await alertOnce(engine, 'T-4')
    const next = await waitFor(() => smtp.mails[2], 'the next e-mail')
    expect(header(next.data, 'Subject')).toBe('LI Engine alert from Test.Production:Down')
  })

  it('refuses to build an alert operation without Recipient, or with unknown Credentials', async () => {
    const engine = await start([
      ...failing,
      alertItem({ SMTPServer: '127.0.0.1', SMTPPort: 25 }),
      {
        name: 'Other',
        className: 'EnsLib.EMail.AlertOperation',
        adapter: { SMTPServer: '127.0.0.1', Recipient: 'a@b.nhs.uk', Credentials: 'Missing' },
      },
    ])
    const status = await engine.getStatus()
    const byName = Object.fromEntries(status.items.map((i) => [i.name, i]))
    expect(byName['Ens.Alert']!.state).toBe('ERROR')
    expect(byName['Ens.Alert']!.lastError).toContain('Recipient is empty')
    expect(byName.Other!.state).toBe('ERROR')
    expect(byName.Other!.lastError).toContain('Credentials "Missing" is not defined')
  })
})

describe('Credentials on an HTTP operation', () => {
  let server: http.Server
  const seen: (string | undefined)[] = []
  let result: { engine: Engine; dir: string } | undefined

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers.authorization)
      req.resume()
      req.on('end', () => res.writeHead(200).end())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  })

  afterAll(async () => {
    await result?.engine.stop()
    if (result !== undefined) await removeDir(result.dir)
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('sends HTTP Basic authentication with the user name and password of its Credentials', async () => {
    result = await startEngine(
      [
        tcpService('In', 'Web', 1),
        {
          name: 'Web',
          className: 'EnsLib.HL7.Operation.HTTPOperation',
          adapter: {
            HTTPServer: '127.0.0.1',
            HTTPPort: (server.address() as AddressInfo).port,
            URL: '/hl7',
            Credentials: 'EprApi',
          },
        },
      ],
      {
        freePorts: ['In'],
        config: { credentials: { EprApi: { username: 'li', password: 'p@ss:word' } } },
      },
    )
    const engine = result.engine
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'WEB-1')))).toBe('AA')
    expect((await finalState(engine, 'In', 'WEB-1')).state).toBe('completed')
    expect(seen).toEqual([`Basic ${Buffer.from('li:p@ss:word').toString('base64')}`])
  })
})
