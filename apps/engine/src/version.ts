/** The version of the app, read from its package.json at run time. */
import { readFileSync } from 'node:fs'

/** `li-engine --version`: the `version` of `@li/engine-app`'s package.json. */
export function appVersion(): string {
  try {
    const url = new URL('../package.json', import.meta.url)
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  } catch {
    return '0.0.0'
  }
}
