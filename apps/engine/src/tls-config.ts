/**
 * The TLS side of IRIS `SSLConfig` settings for `li-engine run`: a JSON file maps each SSLConfig
 * name a production uses to PEM files and options (`--tls-config FILE`, `LI_TLS_CONFIG`).
 *
 * ```json
 * { "TrustTLS": { "cert": "certs/server.pem", "key": "certs/server.key", "ca": "certs/ca.pem",
 *                 "requestCert": true } }
 * ```
 * Relative file paths are read from the JSON file's folder. Files are read when a host first
 * uses its SSLConfig.
 */
import path from 'node:path'
import type { EngineTlsConfig } from '@li/engine'
import { AppError } from './errors.js'
import { readJsonObject } from './json-config.js'

const STRING_KEYS = ['key', 'cert', 'passphrase', 'servername'] as const
const BOOLEAN_KEYS = ['requestCert', 'rejectUnauthorized'] as const
const FILE_KEYS = new Set(['key', 'cert'])

function bad(file: string, message: string, cause?: unknown): AppError {
  return new AppError(
    'APP_BAD_ARGUMENT',
    `TLS config ${file}: ${message}`,
    cause === undefined ? undefined : { cause },
  )
}

/**
 * Reads and checks a TLS config file: an object whose keys are SSLConfig names and whose values
 * hold `key`, `cert`, `ca` (a file or a list), `passphrase`, `requestCert`,
 * `rejectUnauthorized` and `servername`. Throws `AppError` APP_BAD_ARGUMENT naming the file and
 * the entry on anything else.
 */
export async function readTlsConfig(file: string): Promise<Record<string, EngineTlsConfig>> {
  const parsed = await readJsonObject(
    file,
    'TLS config',
    'SSLConfig names, e.g. { "TrustTLS": { "cert": … } }',
    true,
  )
  const dir = path.dirname(path.resolve(file))
  const resolve = (p: string): string => path.resolve(dir, p)
  const out: Record<string, EngineTlsConfig> = {}
  for (const [name, raw] of Object.entries(parsed)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw bad(file, `"${name}" must be an object`)
    }
    const entry: EngineTlsConfig = {}
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if ((STRING_KEYS as readonly string[]).includes(k)) {
        if (typeof v !== 'string' || v === '') throw bad(file, `"${name}".${k} must be a string`)
        const key = k as (typeof STRING_KEYS)[number]
        entry[key] = FILE_KEYS.has(k) ? resolve(v) : v
      } else if ((BOOLEAN_KEYS as readonly string[]).includes(k)) {
        if (typeof v !== 'boolean') throw bad(file, `"${name}".${k} must be true or false`)
        entry[k as (typeof BOOLEAN_KEYS)[number]] = v
      } else if (k === 'ca') {
        const list = Array.isArray(v) ? v : [v]
        if (list.length === 0 || !list.every((x) => typeof x === 'string' && x !== '')) {
          throw bad(file, `"${name}".ca must be a file or a list of files`)
        }
        entry.ca = (list as string[]).map(resolve)
      } else {
        throw bad(
          file,
          `"${name}" has an unknown key "${k}" (known: key, cert, ca, passphrase, requestCert, rejectUnauthorized, servername)`,
        )
      }
    }
    out[name] = entry
  }
  return out
}
