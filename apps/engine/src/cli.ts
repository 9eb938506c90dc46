#!/usr/bin/env node
/**
 * The `li-engine` command: `run`, `check`, `send`, `--help` on each, `--version`.
 * Exit status: 2 for bad arguments and unreadable input (with a message that says what and
 * where), 1 when a run fails to start, a check finds something unsupported or a send gets a
 * non-AA ACK, 0 otherwise.
 */
import { isAppError } from './errors.js'
import { CHECK_HELP, MAIN_HELP, RUN_HELP, SEND_HELP } from './help.js'
import { appVersion } from './version.js'

function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--')
  const opts = end < 0 ? args : args.slice(0, end)
  return opts.includes('--help') || opts.includes('-h')
}

async function run(args: string[]): Promise<number | undefined> {
  if (wantsHelp(args)) {
    process.stdout.write(RUN_HELP)
    return 0
  }
  const { parseRunConfig } = await import('./config.js')
  const config = parseRunConfig(args, process.env)
  const { runEngine } = await import('./main.js')
  try {
    await runEngine(config)
  } catch (e) {
    // SIGTERM while the production started: it stopped cleanly, nothing acknowledged is lost.
    if (isAppError(e) && e.code === 'APP_STOPPED_WHILE_STARTING') return 0
    throw e
  }
  // Keep running: GracefulShutdown exits the process on SIGTERM/SIGINT.
  return undefined
}

async function check(args: string[]): Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(CHECK_HELP)
    return 0
  }
  const { CHECK_OPTIONS, pluginNames, strictParse } = await import('./config.js')
  const { positionals, values } = strictParse(args, CHECK_OPTIONS)
  const plugins = pluginNames(values.plugin, process.env)
  if (positionals.length !== 1) {
    process.stderr.write(
      `li-engine check: expected one production file, got ${positionals.length}. See --help.\n`,
    )
    return 2
  }
  const { CheckInputError, checkProductionFile, formatCheckReport } = await import('./check.js')
  try {
    const env = process.env
    const report = await checkProductionFile(positionals[0] as string, plugins, {
      tlsConfig: values['tls-config'] ?? (env.LI_TLS_CONFIG || undefined),
      credentials: values.credentials ?? (env.LI_CREDENTIALS || undefined),
    })
    process.stdout.write(formatCheckReport(report))
    return report.exitCode
  } catch (e) {
    if (e instanceof CheckInputError) {
      process.stderr.write(`li-engine check: unreadable input: ${e.message}\n`)
      return 2
    }
    throw e
  }
}

async function send(args: string[]): Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(SEND_HELP)
    return 0
  }
  const { formatSendSummary, parseSendConfig, readMessages, sendMessages } =
    await import('./send.js')
  const config = parseSendConfig(args)
  const messages = await readMessages(config.inputs)
  const summary = await sendMessages(config, messages)
  process.stdout.write(formatSendSummary(config, summary))
  return summary.failures.length === 0 ? 0 : 1
}

/** Runs the command line; resolves with the exit status, or undefined while `run` keeps going. */
export async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'run':
        return await run(rest)
      case 'check':
        return await check(rest)
      case 'send':
        return await send(rest)
      case '--version':
      case '-v':
      case 'version':
        process.stdout.write(`${appVersion()}\n`)
        return 0
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(MAIN_HELP)
        return command === undefined ? 2 : 0
      default:
        process.stderr.write(
          `li-engine: unknown command "${command}". Commands: run, check, send. See li-engine --help.\n`,
        )
        return 2
    }
  } catch (e) {
    const where = command === undefined ? 'li-engine' : `li-engine ${command}`
    if (isAppError(e)) {
      process.stderr.write(`${where}: ${e.message}\n`)
      return e.code === 'APP_BAD_ARGUMENT' || e.code === 'APP_UNREADABLE_INPUT' ? 2 : 1
    }
    process.stderr.write(`${where}: ${e instanceof Error ? e.message : String(e)}\n`)
    return 1
  }
}

const code = await main(process.argv.slice(2))
if (code !== undefined) {
  // Let stdout/stderr drain; exit explicitly only when the event loop would keep us alive.
  process.exitCode = code
  setTimeout(() => process.exit(code), 2000).unref()
}
