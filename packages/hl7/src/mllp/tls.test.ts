import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MllpClient } from './client.js'
import { isMllpError } from './errors.js'
import { MllpServer } from './server.js'
import type { MllpConnectionInfo } from './server.js'

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with the
// openssl CLI at test time (P-256 keys: fast to generate), deleted afterwards.
interface Pki {
  ca: Buffer
  serverKey: Buffer
  serverCert: Buffer
  clientKey: Buffer
  clientCert: Buffer
  otherCa: Buffer
}

let dir = ''
let pki: Pki

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
}

/** `openssl req` arguments for a new unencrypted P-256 key written to `<name>.key`. */
function newEcKey(name: string): string[] {
  return [
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
  ]
}

function issue(name: string, cn: string, ext: string, ca = 'ca'): void {
  openssl('req', '-new', ...newEcKey(name), '-out', `${name}.csr`, '-subj', `/CN=${cn}`)
  writeFileSync(join(dir, `${name}.ext`), ext)
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  )
}

function makeCa(name: string, cn: string): void {
  openssl(
    'req',
    '-x509',
    ...newEcKey(name),
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${cn}`,
  )
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'li-mllp-tls-'))
  makeCa('ca', 'LI Test CA')
  makeCa('other', 'Some Other CA')
  issue(
    'server',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  )
  issue('client', 'pas.rx1.nhs.uk', 'extendedKeyUsage=clientAuth\n')
  const read = (file: string): Buffer => readFileSync(join(dir, file))
  pki = {
    ca: read('ca.crt'),
    serverKey: read('server.key'),
    serverCert: read('server.crt'),
    clientKey: read('client.key'),
    clientCert: read('client.crt'),
    otherCa: read('other.crt'),
  }
})

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

const msg = (id: string): string =>
  `MSH|^~\\&|PAS|RX1|EPR|RX1|20261127120000||ADT^A01^ADT_A01|${id}|P|2.5.1\rPID|1||123456^^^RX1^MR\r`

describe('MLLP over TLS', () => {
  it('client and server talk over TLS with the server verified against the CA', async () => {
    const seen: MllpConnectionInfo[] = []
    const server = new MllpServer({
      tls: { key: pki.serverKey, cert: pki.serverCert },
      handler: (_b, ctx) => {
        seen.push(ctx)
        return ctx.ack('AA')
      },
    })
    const { port } = await server.listen(0, '127.0.0.1')
    const client = new MllpClient({ port, tls: { ca: pki.ca } })
    try {
      const ack = await client.send(msg('T1'))
      expect(ack.controlId).toBe('T1')
      expect(seen[0]?.tls).toBe(true)
      expect(seen[0]?.peerCommonName).toBeUndefined()
    } finally {
      await client.close()
      await server.close()
    }
  })

  it('a client that does not trust the server certificate fails to connect', async () => {
    const server = new MllpServer({
      tls: { key: pki.serverKey, cert: pki.serverCert },
      handler: (_b, ctx) => ctx.ack('AA'),
    })
    const { port } = await server.listen(0, '127.0.0.1')
    const client = new MllpClient({ port, tls: { ca: pki.otherCa } })
    try {
      const error: unknown = await client.connect().catch((e: unknown) => e)
      expect(isMllpError(error)).toBe(true)
      expect((error as { code: string }).code).toBe('MLLP_CONNECT_FAILED')
    } finally {
      client.destroy()
      await server.close()
    }
  })

  it('mutual TLS: a client with a certificate from the CA is authorized and identified', async () => {
    const seen: MllpConnectionInfo[] = []
    const server = new MllpServer({
      tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true },
      handler: (_b, ctx) => {
        seen.push(ctx)
        return ctx.ack('AA')
      },
    })
    const { port } = await server.listen(0, '127.0.0.1')
    const client = new MllpClient({
      port,
      tls: { ca: pki.ca, key: pki.clientKey, cert: pki.clientCert },
    })
    try {
      expect((await client.send(msg('M1'))).code).toBe('AA')
      expect(seen[0]?.authorized).toBe(true)
      expect(seen[0]?.peerCommonName).toBe('pas.rx1.nhs.uk')
    } finally {
      await client.close()
      await server.close()
    }
  })

  it('mutual TLS: a client without a certificate gets no message through', async () => {
    let handled = 0
    const errors: Error[] = []
    const server = new MllpServer({
      tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true },
      handler: (_b, ctx) => {
        handled++
        return ctx.ack('AA')
      },
    })
    server.on('error', (e) => errors.push(e))
    const { port } = await server.listen(0, '127.0.0.1')
    const client = new MllpClient({ port, tls: { ca: pki.ca }, backoff: { maxAttempts: 1 } })
    try {
      // TLS 1.3 rejects the client after its side of the handshake, so this fails either while
      // connecting or while waiting for the ACK, depending on timing.
      const error: unknown = await client.send(msg('N1')).catch((e: unknown) => e)
      expect(isMllpError(error)).toBe(true)
      expect(['MLLP_CONNECT_FAILED', 'MLLP_CONNECTION_CLOSED']).toContain(
        (error as { code: string }).code,
      )
      expect(handled).toBe(0)
      expect(errors.length).toBeGreaterThan(0)
    } finally {
      client.destroy()
      await server.close()
    }
  })
})
