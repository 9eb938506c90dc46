/**
 * `li-engine check <production file>`: the compatibility report of `@li/engine`'s
 * `checkProduction` (every item, rule class, DTL, lookup table and other class of the export and
 * of the rule/DTL files next to it: supported, supported with differences, or not supported).
 *
 * Exit status: 0 when everything is supported (differences included), 1 when something is not,
 * 2 when the input cannot be read or parsed: the message then names the file and, where the
 * parser knows it, the line.
 */
import {
  checkProduction,
  formatCompatibilityReport,
  isEngineError,
  loadProduction,
} from '@li/engine'
import type { CompatibilityReport } from '@li/engine'
import { readCredentialsConfig } from './credentials-config.js'
import { isAppError } from './errors.js'
import { loadPlugins } from './plugins.js'
import { readTlsConfig } from './tls-config.js'

/** The side files `li-engine run` will be given, checked against the items' names of them. */
export interface CheckSideFiles {
  /** `--tls-config`: every SSLConfig an item names must be in it. */
  tlsConfig?: string | undefined
  /** `--credentials`: every Credentials an item names must be in it. */
  credentials?: string | undefined
}

/** The input could not be read or parsed (exit 2). */
export class CheckInputError extends Error {
  override readonly name = 'CheckInputError'
}

/**
 * Builds the report of a production file, after loading `plugins` (their functions and host
 * classes count as supported); throws CheckInputError on unreadable input or a plugin that
 * cannot be loaded.
 */
export async function checkProductionFile(
  file: string,
  plugins: readonly string[] = [],
  side: CheckSideFiles = {},
): Promise<CompatibilityReport> {
  let names: { tls?: Set<string>; credentials?: Set<string> }
  try {
    await loadPlugins(plugins)
    names = {
      ...(side.tlsConfig === undefined
        ? {}
        : { tls: new Set(Object.keys(await readTlsConfig(side.tlsConfig))) }),
      ...(side.credentials === undefined
        ? {}
        : { credentials: new Set(Object.keys(await readCredentialsConfig(side.credentials))) }),
    }
  } catch (e) {
    if (isAppError(e)) throw new CheckInputError(e.message, { cause: e })
    throw e
  }
  try {
    const report = await checkProduction({ path: file })
    if (names.tls === undefined && names.credentials === undefined) return report
    return await withSideFiles(report, file, side, names)
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code
    if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) {
      throw new CheckInputError(`cannot read ${file}: ${(e as Error).message}`, { cause: e })
    }
    if (isEngineError(e) && e.code === 'ENGINE_PRODUCTION_PARSE') {
      throw new CheckInputError(e.message, { cause: e })
    }
    throw e
  }
}

/**
 * The report with each item whose SSLConfig or Credentials is not in the given side file marked
 * not supported (the item would fail to start under `li-engine run` with those files).
 */
async function withSideFiles(
  report: CompatibilityReport,
  file: string,
  side: CheckSideFiles,
  names: { tls?: Set<string>; credentials?: Set<string> },
): Promise<CompatibilityReport> {
  const production = await loadProduction({ path: file })
  const entries = report.entries.map((e) => ({ ...e, notes: [...e.notes] }))
  for (const item of production.items) {
    const value = (name: string): string | undefined =>
      item.settings.find((s) => s.name === name && s.value.trim() !== '')?.value.trim()
    const missing: string[] = []
    // A trailing * (STARTTLS on the e-mail adapter) is not part of the name.
    const ssl = value('SSLConfig')?.replace(/\*$/, '')
    if (names.tls !== undefined && ssl !== undefined && ssl !== '' && !names.tls.has(ssl)) {
      missing.push(
        `SSLConfig "${ssl}" is not defined in ${side.tlsConfig ?? ''}: the item would not start`,
      )
    }
    const login = value('Credentials')
    if (names.credentials !== undefined && login !== undefined && !names.credentials.has(login)) {
      missing.push(
        `Credentials "${login}" is not defined in ${side.credentials ?? ''}: the item would not start`,
      )
    }
    if (missing.length === 0) continue
    const entry = entries.find((e) => e.kind === 'item' && e.name === item.name)
    if (entry === undefined) continue
    entry.notes.push(...missing)
    entry.status = 'unsupported'
  }
  const counts = { supported: 0, differences: 0, unsupported: 0 } as CompatibilityReport['counts']
  for (const e of entries) counts[e.status]++
  return { ...report, entries, counts, exitCode: counts.unsupported > 0 ? 1 : 0 }
}

/** The report as text (the engine's formatter). */
export function formatCheckReport(report: CompatibilityReport): string {
  return formatCompatibilityReport(report)
}
