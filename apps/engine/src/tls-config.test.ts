import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRunConfig } from './config.js'
import { readTlsConfig } from './tls-config.js'

describe('TLS config (--tls-config, LI_TLS_CONFIG)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'li-tls-config-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('takes the file from --tls-config before LI_TLS_CONFIG', () => {
    expect(parseRunConfig(['p.xml'], {}).tlsConfig).toBeUndefined()
    expect(parseRunConfig(['p.xml'], { LI_TLS_CONFIG: 'env.json' }).tlsConfig).toBe('env.json')
    expect(
      parseRunConfig(['p.xml', '--tls-config', 'opt.json'], { LI_TLS_CONFIG: 'env.json' })
        .tlsConfig,
    ).toBe('opt.json')
  })

  it('reads SSLConfig entries, resolving file paths from the JSON file folder', async () => {
    const file = path.join(dir, 'tls.json')
    await writeFile(
      file,
      JSON.stringify({
        TrustTLS: {
          cert: 'c.pem',
          key: '/abs/k.pem',
          ca: ['ca1.pem', 'ca2.pem'],
          requestCert: true,
        },
        Out: { ca: 'ca.pem', servername: 'epr.nhs.example', rejectUnauthorized: false },
      }),
    )
    expect(await readTlsConfig(file)).toEqual({
      TrustTLS: {
        cert: path.join(dir, 'c.pem'),
        key: '/abs/k.pem',
        ca: [path.join(dir, 'ca1.pem'), path.join(dir, 'ca2.pem')],
        requestCert: true,
      },
      Out: {
        ca: [path.join(dir, 'ca.pem')],
        servername: 'epr.nhs.example',
        rejectUnauthorized: false,
      },
    })
  })

  it('refuses a bad file with APP_BAD_ARGUMENT naming the file and the entry', async () => {
    const cases: [string, RegExp][] = [
      ['{', /not valid JSON/],
      ['[]', /must be an object of SSLConfig names/],
      ['{"A": 1}', /"A" must be an object/],
      ['{"A": {"cert": 3}}', /"A".cert must be a string/],
      ['{"A": {"requestCert": "yes"}}', /"A".requestCert must be true or false/],
      ['{"A": {"ca": []}}', /"A".ca must be a file or a list of files/],
      ['{"A": {"certificate": "x"}}', /unknown key "certificate"/],
    ]
    for (const [text, message] of cases) {
      const file = path.join(dir, 'bad.json')
      await writeFile(file, text)
      const err = await readTlsConfig(file).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string },
      )
      expect(err?.code, text).toBe('APP_BAD_ARGUMENT')
      expect(err?.message, text).toMatch(message)
      expect(err?.message).toContain(file)
    }
    const missing = await readTlsConfig(path.join(dir, 'none.json')).catch((e: unknown) => e)
    expect((missing as { message: string }).message).toMatch(/cannot read it/)
  })
})
