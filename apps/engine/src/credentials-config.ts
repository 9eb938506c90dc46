/**
 * The credentials side of IRIS `Credentials` settings for `li-engine run`: IRIS keeps user names
 * and passwords in its credentials store, which a production export does not carry, so a JSON
 * file maps each Credentials name the production uses to them (`--credentials FILE`,
 * `LI_CREDENTIALS`). In Kubernetes, mount it from a Secret.
 *
 * ```json
 * { "TrustSMTP": { "username": "li-alerts", "password": "…" },
 *   "EprApi": { "username": "li", "passwordFile": "/run/secrets/epr-password" } }
 * ```
 * `passwordFile` (relative to the JSON file's folder) is read at start, its trailing line end
 * dropped. The log names the entries, never a password.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { EngineCredentials } from '@li/engine'
import { AppError } from './errors.js'
import { readJsonObject } from './json-config.js'

function bad(file: string, message: string, cause?: unknown): AppError {
  return new AppError(
    'APP_BAD_ARGUMENT',
    `credentials file ${file}: ${message}`,
    cause === undefined ? undefined : { cause },
  )
}

/**
 * Reads and checks a credentials file: an object whose keys are Credentials names and whose values
 * hold `username` and either `password` or `passwordFile`. Throws `AppError` APP_BAD_ARGUMENT
 * naming the file and the entry (never a password) on anything else.
 */
export async function readCredentialsConfig(
  file: string,
): Promise<Record<string, EngineCredentials>> {
  // The parser's message may quote the text around the error: a password. Say where only.
  const parsed = await readJsonObject(
    file,
    'credentials file',
    'Credentials names, e.g. { "TrustSMTP": { "username": … } }',
    false,
  )
  const dir = path.dirname(path.resolve(file))
  const out: Record<string, EngineCredentials> = {}
  for (const [name, raw] of Object.entries(parsed)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw bad(file, `"${name}" must be an object with username and password (or passwordFile)`)
    }
    const entry = raw as Record<string, unknown>
    for (const k of Object.keys(entry)) {
      if (!['username', 'password', 'passwordFile'].includes(k)) {
        throw bad(
          file,
          `"${name}" has an unknown key "${k}" (known: username, password, passwordFile)`,
        )
      }
    }
    if (typeof entry.username !== 'string' || entry.username === '') {
      throw bad(file, `"${name}".username must be a non-empty string`)
    }
    if ((entry.password === undefined) === (entry.passwordFile === undefined)) {
      throw bad(file, `"${name}" needs exactly one of password and passwordFile`)
    }
    let password: string
    if (entry.password !== undefined) {
      if (typeof entry.password !== 'string') throw bad(file, `"${name}".password must be a string`)
      password = entry.password
    } else {
      if (typeof entry.passwordFile !== 'string' || entry.passwordFile === '') {
        throw bad(file, `"${name}".passwordFile must be a file name`)
      }
      const where = path.resolve(dir, entry.passwordFile)
      try {
        password = (await readFile(where, 'utf8')).replace(/\r?\n$/, '')
      } catch (e) {
        throw bad(
          file,
          `"${name}".passwordFile ${where} cannot be read: ${e instanceof Error ? e.message : String(e)}`,
          e,
        )
      }
    }
    out[name] = { username: entry.username, password }
  }
  return out
}
