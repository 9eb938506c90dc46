// The built `li-engine` as a child process: help, version, bad options, check exit codes, send.
import { spawn, spawnSync } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import tls from 'node:tls'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EngineProcess,
  ackFor,
  freePort,
  frame,
  DEMO,
  CLI,
  DEMO_MESSAGES,
  MllpPeer,
  controlIdOf,
  hl7,
  removeDir,
  requireBuild,
  runCli,
  sendCli,
  tempDir,
  testProduction,
} from './helpers.js'

requireBuild()

describe('li-engine: help, version, bad arguments', { timeout: 60_000 }, () => {
  it('prints help for the command and for each subcommand, exit 0', async () => {
    const main = await runCli(['--help'])
    expect(main.code).toBe(0)
    expect(main.stdout).toMatch(/li-engine run/)
    for (const [cmd, text] of [
      ['run', '--data-dir'],
      ['check', 'Exit status'],
      ['send', '--host'],
    ] as const) {
      const r = await runCli([cmd, '--help'])
      expect(r.code, cmd).toBe(0)
      expect(r.stdout).toContain(text)
    }
  })

  it('prints the version', async () => {
    const r = await runCli(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('refuses unknown commands, unknown options and bad values with a clear message and exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['run', DEMO, '--bogus'], /Unknown option '--bogus'/],
      [['run', DEMO, '--http-port', 'eighty'], /--http-port must be a port number/],
      [['run', DEMO, '--sync', 'sometimes'], /--sync must be one of fsync, async, none/],
      [['run'], /run needs a production file/],
      [['send', '--port', '2575', 'x.hl7'], /send needs --host/],
      [['send', '--host', 'h', '--port', '0', 'x.hl7'], /--port must be a port number/],
      [
        ['send', '--host', 'h', '--port', '1', '--timeout', 'soon', 'x.hl7'],
        /--timeout must be a positive number/,
      ],
      [['check'], /expected one production file/],
      [['check', 'a.xml', '--strict'], /Unknown option '--strict'/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(args, { env: { LI_PRODUCTION: '' } })
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr, args.join(' ')).toMatch(message)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
  })

  it('exits 1 with a message when the production cannot be loaded', async () => {
    const dir = await tempDir('badrun')
    try {
      const r = await runCli([
        'run',
        path.join(dir, 'missing.xml'),
        '--data-dir',
        path.join(dir, 'data'),
      ])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/cannot load production .*missing\.xml/)
    } finally {
      await removeDir(dir)
    }
  })
})

describe('li-engine check', { timeout: 60_000 }, () => {
  let dir: string
  beforeAll(async () => {
    dir = await tempDir('check')
  })
  afterAll(async () => {
    await removeDir(dir)
  })

  it('exits 0 for the demo production, listing its items and rule', async () => {
    const r = await runCli(['check', DEMO])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('production Demo.Production')
    expect(r.stdout).toMatch(/item\s+Demo\.Router: supported/)
    expect(r.stdout).toMatch(/rule\s+Demo\.RoutingRules: supported/)
    expect(r.stdout).toMatch(/, 0 not supported/)
  })

  it('exits 1 when an item class is not supported', async () => {
    const file = path.join(dir, 'custom.xml')
    const xml = testProduction({ inPort: 2575, outPort: 6661, outDir: '/tmp/x' }).replace(
      'EnsLib.HL7.Operation.FileOperation',
      'Trust.Custom.Operation',
    )
    await writeFile(file, xml)
    const r = await runCli(['check', file])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/item\s+File\.Out: NOT SUPPORTED/)
    expect(r.stdout).toContain('Trust.Custom.Operation')
  })

  it('exits 1 when an item has a setting LI does not act on, naming it', async () => {
    const file = path.join(dir, 'setting.xml')
    const xml = (await readFile(DEMO, 'utf8')).replace(
      '<Setting Target="Adapter" Name="FilePath">',
      '<Setting Target="Host" Name="FrobnicateMode">7</Setting><Setting Target="Adapter" Name="FilePath">',
    )
    expect(xml).toContain('FrobnicateMode')
    await writeFile(file, xml)
    const r = await runCli(['check', file])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/item\s+Archive\.Out: NOT SUPPORTED/)
    expect(r.stdout).toMatch(/setting FrobnicateMode .*not supported/)
  })

  it('checks the SSLConfig and Credentials names against --tls-config and --credentials', async () => {
    const file = path.join(dir, 'secured.xml')
    const xml = (await readFile(DEMO, 'utf8')).replace(
      '<Setting Target="Adapter" Name="FilePath">',
      '<Setting Target="Adapter" Name="SSLConfig">TrustTLS</Setting><Setting Target="Adapter" Name="FilePath">',
    )
    await writeFile(file, xml)
    const tls = path.join(dir, 'tls.json')
    const creds = path.join(dir, 'credentials.json')
    await writeFile(tls, JSON.stringify({ OtherTLS: { ca: 'ca.pem' } }))
    await writeFile(creds, JSON.stringify({ Mail: { username: 'u', password: 'p' } }))
    // Without the files, as before: check cannot know them.
    const plain = await runCli(['check', file])
    expect(plain.stdout).not.toMatch(/is not defined in/)
    const r = await runCli(['check', file, '--tls-config', tls, '--credentials', creds])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/item\s+Archive\.Out: NOT SUPPORTED/)
    expect(r.stdout).toContain(`SSLConfig "TrustTLS" is not defined in ${tls}`)
    await writeFile(tls, JSON.stringify({ TrustTLS: { ca: 'ca.pem' } }))
    const ok = await runCli(['check', file, '--tls-config', tls])
    expect(ok.stdout).not.toMatch(/is not defined in/)
    const unreadable = await runCli(['check', file, '--credentials', path.join(dir, 'none.json')])
    expect(unreadable.code).toBe(2)
    expect(unreadable.stderr).toMatch(/credentials file .*none\.json: cannot read it/)
  })

  it('exits 2 on unreadable input, saying where', async () => {
    const missing = await runCli(['check', path.join(dir, 'nope.xml')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/unreadable input: cannot read .*nope\.xml/)
    const broken = path.join(dir, 'broken.xml')
    await writeFile(broken, '<Export>\n<Class name="X">\n<Super>Ens.Production</Super>\n</Clas>\n')
    const r = await runCli(['check', broken])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/broken\.xml/)
  })
})

describe('li-engine send', { timeout: 60_000 }, () => {
  let peer: MllpPeer
  let port: number
  let dir: string
  beforeAll(async () => {
    dir = await tempDir('send')
    peer = new MllpPeer((m) => (controlIdOf(m).startsWith('BAD') ? 'AE' : 'AA'))
    port = await peer.listen()
  })
  afterAll(async () => {
    await peer.close()
    await removeDir(dir)
  })

  it('sends the demo messages (single messages and a batch) and summarises the ACKs, exit 0', async () => {
    const files = (await readdir(DEMO_MESSAGES)).map((f) => path.join(DEMO_MESSAGES, f))
    const r = await sendCli(port, files)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^sent 5 messages to 127\.0\.0\.1:\d+ in [\d.]+ s: AA 5\n$/)
    expect(peer.ids()).toEqual(
      new Set(['DEMO0001', 'DEMO0002', 'DEMO0003', 'DEMO0101', 'DEMO0102']),
    )
  })

  it('reads stdin, and exits 1 when any ACK is not AA, naming the message', async () => {
    const input = hl7('ADT^A01', 'OK-1') + hl7('ADT^A01', 'BAD-1')
    const r = await sendCli(port, ['-'], { input })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/AA 1, AE 1/)
    expect(r.stdout).toMatch(/AE\s+<stdin> message 2 \(MSH-10 BAD-1\)/)
  })

  it('exits 2 on a file that is not HL7, and 1 when the receiver is not there', async () => {
    const junk = path.join(dir, 'junk.hl7')
    await writeFile(junk, 'hello world\n')
    const r = await sendCli(port, [junk])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/junk\.hl7/)
    const ok = path.join(dir, 'ok.hl7')
    await writeFile(ok, hl7('ADT^A01', 'X-1'))
    const closed = new MllpPeer()
    const closedPort = await closed.listen()
    await closed.close()
    const down = await sendCli(closedPort, ['--timeout', '2', ok])
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/cannot connect to 127\.0\.0\.1/)
  })
  it('draws a progress bar on a terminal (25 messages under a pseudo-terminal), none when piped', async () => {
    const file = path.join(dir, 'many.hl7')
    await writeFile(
      file,
      Array.from({ length: 25 }, (_, i) => hl7('ADT^A01', `PROG-${i}`)).join(''),
    )
    // script(1) (util-linux) runs the CLI on a pseudo-terminal, so stderr.isTTY is true there.
    const command = [
      process.execPath,
      CLI,
      'send',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      file,
    ]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ')
    const tty = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString()))
      child.stderr.on('data', (c: Buffer) => (out += c.toString()))
      child.on('error', reject)
      child.on('close', (code) => resolve({ code, out }))
    })
    expect(tty.code).toBe(0)
    // The last frame of the bar: full, 25 of 25, the tally; then the summary on its own line.
    expect(tty.out).toContain(`\r[${'#'.repeat(30)}] 25/25 AA 25`)
    expect(tty.out).toMatch(/sent 25 messages to 127\.0\.0\.1:\d+ in [\d.]+ s: AA 25/)
    // Piped (not a terminal): no bar, only the summary.
    const piped = await sendCli(port, [file])
    expect(piped.code).toBe(0)
    expect(piped.stderr).toBe('')
    expect(piped.stdout).not.toContain('#')
  })
})

describe('li-engine send --tls', { timeout: 60_000 }, () => {
  let dir: string
  let server: tls.Server
  let port: number
  const received: string[] = []

  beforeAll(async () => {
    dir = await tempDir('tls')
    // A throwaway self-signed certificate for 127.0.0.1, made with the openssl CLI.
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
      ],
      { cwd: dir, encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
    const key = await readFile(path.join(dir, 'key.pem'))
    const cert = await readFile(path.join(dir, 'cert.pem'))
    server = tls.createServer({ key, cert }, (socket) => {
      socket.on('error', () => undefined)
      let buf = ''
      socket.on('data', (c: Buffer) => {
        buf += c.toString('latin1')
        let end: number
        while ((end = buf.indexOf('\x1c\r')) >= 0) {
          const text = buf.slice(buf.indexOf('\x0b') + 1, end)
          buf = buf.slice(end + 2)
          received.push(text)
          socket.write(frame(ackFor(controlIdOf(text), 'AA')))
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await removeDir(dir)
  })

  it('sends over TLS trusting --ca, and refuses an unverified certificate without it', async () => {
    const file = path.join(dir, 'm.hl7')
    await writeFile(file, hl7('ADT^A01', 'TLS-1'))
    const ok = await sendCli(port, ['--tls', '--ca', path.join(dir, 'cert.pem'), file])
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/AA 1/)
    expect(received.map(controlIdOf)).toEqual(['TLS-1'])
    const untrusted = await sendCli(port, ['--tls', '--timeout', '3', file])
    expect(untrusted.code).toBe(1)
    expect(received.length).toBe(1)
  })

  it('run serves an SSLConfig from --tls-config / LI_TLS_CONFIG (paths relative to the JSON file)', async () => {
    const inPort = await freePort()
    const production = `<Production Name="Tls.Production">
  <Item Name="TLS.In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">${inPort}</Setting>
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="SSLConfig">TrustTLS</Setting>
  </Item>
</Production>`
    await writeFile(
      path.join(dir, 'tls.json'),
      JSON.stringify({ TrustTLS: { cert: 'cert.pem', key: 'key.pem' } }),
    )
    const engine = await EngineProcess.start(dir, production, {
      LI_TLS_CONFIG: path.join(dir, 'tls.json'),
    })
    try {
      const file = path.join(dir, 'in.hl7')
      await writeFile(file, hl7('ADT^A01', 'TLS-IN-1'))
      const ok = await sendCli(inPort, ['--tls', '--ca', path.join(dir, 'cert.pem'), file])
      expect(ok.stderr).toBe('')
      expect(ok.stdout).toMatch(/AA 1/)
      expect(ok.code).toBe(0)
      const plain = await sendCli(inPort, ['--timeout', '3', file])
      expect(plain.code).not.toBe(0)
    } finally {
      await engine.stop()
    }
  })
})
