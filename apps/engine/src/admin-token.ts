/**
 * The bearer token of the management API: `LI_ADMIN_TOKEN` when set, otherwise a random token
 * made at first start and kept in `<dataDir>/admin-token` (mode 0600) so that it survives
 * restarts. The caller logs the file's path, never the token.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

/** Name of the token file inside the data directory. */
export const ADMIN_TOKEN_FILE = 'admin-token'

/** Where the token came from. */
export interface AdminToken {
  token: string
  /** `env` for LI_ADMIN_TOKEN, otherwise the file it was read from or written to. */
  source: 'env' | 'file'
  /** The token file, when `source` is `file`. */
  file?: string
  /** Whether the file was created by this call. */
  created: boolean
}

/** Returns the configured token, or reads (or creates, mode 0600) `<dataDir>/admin-token`. */
export async function ensureAdminToken(dataDir: string, configured?: string): Promise<AdminToken> {
  if (configured !== undefined && configured !== '') {
    return { token: configured, source: 'env', created: false }
  }
  const file = path.resolve(dataDir, ADMIN_TOKEN_FILE)
  try {
    const token = (await readFile(file, 'utf8')).trim()
    if (token !== '') return { token, source: 'file', file, created: false }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  await mkdir(path.dirname(file), { recursive: true })
  const token = randomBytes(32).toString('base64url')
  await writeFile(file, `${token}\n`, { mode: 0o600 })
  // The umask cannot widen 0600, but a pre-existing empty file keeps its mode: set it again.
  await chmod(file, 0o600)
  return { token, source: 'file', file, created: true }
}
