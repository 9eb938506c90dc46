/**
 * `li-engine check <production file>`: the compatibility report of `@li/engine`'s
 * `checkProduction` (every item, rule class, DTL, lookup table and other class of the export and
 * of the rule/DTL files next to it: supported, supported with differences, or not supported).
 *
 * Exit status: 0 when everything is supported (differences included), 1 when something is not,
 * 2 when the input cannot be read or parsed: the message then names the file and, where the
 * parser knows it, the line.
 */
import { checkProduction, formatCompatibilityReport, isEngineError } from '@li/engine'
import type { CompatibilityReport } from '@li/engine'
import { isAppError } from './errors.js'
import { loadPlugins } from './plugins.js'

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
): Promise<CompatibilityReport> {
  try {
    await loadPlugins(plugins)
  } catch (e) {
    if (isAppError(e)) throw new CheckInputError(e.message, { cause: e })
    throw e
  }
  try {
    return await checkProduction({ path: file })
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

/** The report as text (the engine's formatter). */
export function formatCheckReport(report: CompatibilityReport): string {
  return formatCompatibilityReport(report)
}
