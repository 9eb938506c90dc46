/**
 * Reading the JSON side files of `li-engine run` (`--tls-config`, `--credentials`): the file, as
 * a JSON object keyed by the names a production uses, or an `AppError` APP_BAD_ARGUMENT that names
 * the file and says what is wrong.
 */
import { readFile } from 'node:fs/promises'
import { AppError } from './errors.js'

/**
 * Reads `file` as a JSON object. `what` names the file in errors (`TLS config`, `credentials
 * file`), `example` shows the expected shape; with `quoteParseError` false the parser's message
 * (which may quote the text around the error, e.g. a password) is left out.
 */
export async function readJsonObject(
  file: string,
  what: string,
  example: string,
  quoteParseError: boolean,
): Promise<Record<string, unknown>> {
  const bad = (message: string, cause?: unknown): AppError =>
    new AppError(
      'APP_BAD_ARGUMENT',
      `${what} ${file}: ${message}`,
      cause === undefined ? undefined : { cause },
    )
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw bad(`cannot read it: ${e instanceof Error ? e.message : String(e)}`, e)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw quoteParseError
      ? bad(`not valid JSON: ${e instanceof Error ? e.message : String(e)}`, e)
      : bad('not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw bad(`must be an object of ${example}`)
  }
  return parsed as Record<string, unknown>
}
