/**
 * `li-engine check <production file>`: the compatibility report of an IRIS production.
 *
 * Exit status: 0 when everything is supported (settings that are kept but not acted on are
 * reported as differences and do not fail the check), 1 when something is not supported (an
 * item class with no built-in host, a rule or DTL construct the evaluator does not support,
 * ObjectScript classes, an invalid production), 2 when the input cannot be read or parsed (the
 * message says which file and, where known, which line).
 *
 * This is the app's own report, built from the engine's loader, validator, host registry and
 * rule/DTL compilers; `@li/engine` does not export a `checkProduction` yet.
 */
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import {
  BUILTIN_HOST_CLASSES,
  compileRules,
  compileTransform,
  isEngineError,
  productionFromBundle,
  readIrisSource,
  validateProduction,
} from '@li/engine'
import type { IrisBundle, Production } from '@li/engine'

/** One finding of the report. */
export interface CheckFinding {
  status: 'supported' | 'difference' | 'unsupported'
  /** What it is about: `item Router`, `rule Demo.Rules`, `class Demo.Custom`. */
  subject: string
  message: string
}

/** The report: findings and the exit status. */
export interface CheckReport {
  production: string
  findings: CheckFinding[]
  /** 0 all supported, 1 something unsupported. (2 is an exception: {@link CheckInputError}.) */
  exitCode: 0 | 1
}

/** The input could not be read or parsed (exit 2). */
export class CheckInputError extends Error {
  override readonly name = 'CheckInputError'
}

/**
 * Settings the runtime acts on (issue 6 and the host classes' headers); anything else is kept,
 * round-tripped and reported as a difference.
 */
export const HONOURED_SETTINGS: ReadonlySet<string> = new Set([
  'Port',
  'IPAddress',
  'SSLConfig',
  'TargetConfigNames',
  'MessageSchemaCategory',
  'Validation',
  'AckMode',
  'ReplyCodeActions',
  'RetryInterval',
  'FailureTimeout',
  'ConnectTimeout',
  'ResponseTimeout',
  'ReadTimeout',
  'StayConnected',
  'BadMessageHandler',
  'DefCharEncoding',
  'QueueCountAlert',
  'QueueWaitAlert',
  'AlertOnError',
  'BusinessRuleName',
  'FilePath',
  'FileSpec',
  'ArchivePath',
  'WorkPath',
  'Filename',
  'Overwrite',
  'BatchHandling',
  'CallInterval',
  'HTTPPort',
  'HTTPServer',
  'URL',
  'OrderingKey',
  // Logging/archiving only in IRIS: accepted and mapped to our logging.
  'ArchiveIO',
  'LogTraceEvents',
  'Foreground',
  'Category',
  'Comment',
])

async function readSources(file: string): Promise<{ bundle: IrisBundle; file: string }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new CheckInputError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`)
  }
  try {
    return { bundle: readIrisSource(text, file), file }
  } catch (e) {
    throw new CheckInputError(e instanceof Error ? e.message : String(e))
  }
}

function addSiblings(bundle: IrisBundle, file: string, names: string[], texts: Map<string, string>): void {
  for (const n of names) {
    const t = texts.get(n)
    if (t === undefined || !/RuleDefinition|XData\s+DTL|name="DTL"|<lookupTable|<transform\b/.test(t)) continue
    const before = bundle.productions.length
    try {
      readIrisSource(t, path.join(path.dirname(file), n), bundle)
    } catch {
      // A neighbour that does not parse is not the input: the loader skips it too.
    }
    bundle.productions.length = before
  }
}

/** Builds the compatibility report of a production file (and the rule/DTL files next to it). */
export async function checkProductionFile(file: string): Promise<CheckReport> {
  const { bundle } = await readSources(file)
  const dir = path.dirname(path.resolve(file))
  try {
    const names = (await readdir(dir)).filter((n) => /\.(cls|xml|lut)$/i.test(n) && path.join(dir, n) !== path.resolve(file))
    const texts = new Map<string, string>()
    for (const n of names) texts.set(n, await readFile(path.join(dir, n), 'utf8').catch(() => ''))
    addSiblings(bundle, file, names.sort(), texts)
  } catch {
    // No readable directory: check the file alone.
  }
  let production: Production
  try {
    production = productionFromBundle(bundle, { validate: false, compile: false }, file)
  } catch (e) {
    throw new CheckInputError(e instanceof Error ? e.message : String(e))
  }
  const findings: CheckFinding[] = []
  for (const issue of validateProduction(production)) {
    findings.push({
      status: issue.severity === 'error' ? 'unsupported' : 'difference',
      subject: issue.item === undefined ? 'production' : `item ${issue.item}`,
      message: `${issue.line !== undefined ? `line ${issue.line}: ` : ''}${issue.message}`,
    })
  }
  const builtin = new Set(BUILTIN_HOST_CLASSES)
  for (const item of production.items) {
    const subject = `item ${item.name}`
    if (!builtin.has(item.className)) {
      findings.push({ status: 'unsupported', subject, message: `class ${item.className} has no built-in host` })
      continue
    }
    const kept = item.settings.filter((s) => !HONOURED_SETTINGS.has(s.name)).map((s) => s.name)
    if (kept.length > 0) {
      findings.push({
        status: 'difference',
        subject,
        message: `${item.className}: settings kept but not acted on: ${kept.join(', ')}`,
      })
    } else {
      findings.push({ status: 'supported', subject, message: item.className })
    }
  }
  for (const rule of production.rules.values()) {
    try {
      compileRules(rule, production)
      findings.push({ status: 'supported', subject: `rule ${rule.className}`, message: 'routing rule class' })
    } catch (e) {
      findings.push({ status: 'unsupported', subject: `rule ${rule.className}`, message: errText(e) })
    }
  }
  for (const t of production.transforms.values()) {
    try {
      compileTransform(t, production)
      findings.push({ status: 'supported', subject: `transform ${t.className}`, message: 'DTL transform' })
    } catch (e) {
      findings.push({ status: 'unsupported', subject: `transform ${t.className}`, message: errText(e) })
    }
  }
  for (const c of bundle.otherClasses) {
    findings.push({
      status: 'unsupported',
      subject: `class ${c.className}`,
      message: `${c.superClass ?? 'ObjectScript'} class${c.line !== undefined ? ` (line ${c.line})` : ''}: ObjectScript is not run`,
    })
  }
  for (const d of bundle.otherDocuments) {
    findings.push({ status: 'difference', subject: `document ${d.name}`, message: 'kept, not used' })
  }
  const exitCode = findings.some((f) => f.status === 'unsupported') ? 1 : 0
  return { production: production.name, findings, exitCode }
}

function errText(e: unknown): string {
  if (isEngineError(e)) return `${e.code}: ${e.message}`
  return e instanceof Error ? e.message : String(e)
}

const MARK: Record<CheckFinding['status'], string> = {
  supported: 'ok  ',
  difference: 'diff',
  unsupported: 'FAIL',
}

/** The report as text, one finding a line, with a closing summary. */
export function formatCheckReport(report: CheckReport): string {
  const lines = [`Production ${report.production}`]
  for (const f of report.findings) lines.push(`  ${MARK[f.status]}  ${f.subject}: ${f.message}`)
  const count = (s: CheckFinding['status']): number => report.findings.filter((f) => f.status === s).length
  lines.push(
    '',
    `${count('supported')} supported, ${count('difference')} with differences, ${count('unsupported')} not supported`,
  )
  return lines.join('\n') + '\n'
}
