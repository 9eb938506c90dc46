import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRunConfig } from './config.js'
import { readCredentialsConfig } from './credentials-config.js'

describe('credentials file (--credentials, LI_CREDENTIALS)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'li-credentials-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('takes the file from --credentials before LI_CREDENTIALS', () => {
    expect(parseRunConfig(['p.xml'], {}).credentials).toBeUndefined()
    expect(parseRunConfig(['p.xml'], { LI_CREDENTIALS: 'env.json' }).credentials).toBe('env.json')
    expect(
      parseRunConfig(['p.xml', '--credentials', 'opt.json'], { LI_CREDENTIALS: 'env.json' })
        .credentials,
    ).toBe('opt.json')
  })

  it('reads each name’s user name and password, or the password from a file beside it', async () => {
    await writeFile(path.join(dir, 'epr-password'), 'from-a-secret\n')
    const file = path.join(dir, 'credentials.json')
    await writeFile(
      file,
      JSON.stringify({
        TrustSMTP: { username: 'li-alerts', password: 'p@ss' },
        EprApi: { username: 'li', passwordFile: 'epr-password' },
      }),
    )
    expect(await readCredentialsConfig(file)).toEqual({
      TrustSMTP: { username: 'li-alerts', password: 'p@ss' },
      EprApi: { username: 'li', password: 'from-a-secret' },
    })
  })

  it('refuses bad files naming the entry, and never quotes a password', async () => {
    const cases: [unknown, string][] = [
      [[], 'must be an object of Credentials names'],
      [{ A: 'x' }, '"A" must be an object'],
      [{ A: { password: 'hunter2' } }, '"A".username must be a non-empty string'],
      [{ A: { username: 'u' } }, '"A" needs exactly one of password and passwordFile'],
      [{ A: { username: 'u', password: 'hunter2', passwordFile: 'f' } }, 'exactly one of'],
      [{ A: { username: 'u', password: 'hunter2', pass: 1 } }, 'unknown key "pass"'],
      [{ A: { username: 'u', passwordFile: 'missing' } }, 'cannot be read'],
    ]
    for (const [content, message] of cases) {
      const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.json`)
      await writeFile(file, JSON.stringify(content))
      const err = await readCredentialsConfig(file).then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      )
      expect(err?.code).toBe('APP_BAD_ARGUMENT')
      expect(err?.message).toContain(message)
      expect(err?.message).not.toContain('hunter2')
    }
    const broken = path.join(dir, 'broken.json')
    await writeFile(broken, '{"A": {"username": "u", "password": "hunter2"')
    const err = await readCredentialsConfig(broken).catch((e: unknown) => e as Error)
    expect(err.message).toContain('not valid JSON')
    expect(err.message).not.toContain('hunter2')
  })
})
