/**
 * Plugins of `li-engine run` and `li-engine check`: ES modules that register IRIS functions
 * (custom rule and DTL functions, `..MyTrustFormat(...)`) and host classes (business hosts for
 * custom IRIS classes) before the production is loaded.
 *
 * A plugin is named by `--plugin <module>` (repeatable) and by `LI_PLUGINS` (comma-separated);
 * the environment's come first, then the options, each loaded once, in order. A name that starts
 * with `.` or `/` (or `file:`) is a file resolved from the working directory; anything else is a
 * package name, resolved from the working directory's node_modules. The module exports
 * `register(api)` or a default function; it may be async. It receives {@link PluginApi}: use its
 * functions, not ones imported from its own copy of `@li/engine`, which would register into a
 * different registry.
 *
 * It does not sandbox plugins: a plugin runs with the engine's rights, like the engine's own code.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import * as engine from '@li/engine'
import { registerHostClass, registerIrisFunction } from '@li/engine'
import { AppError } from './errors.js'

/** What a plugin's `register(api)` receives. */
export interface PluginApi {
  /** Registers a rule/DTL function under an IRIS name (`MyTrustFormat` serves `..MyTrustFormat(...)`). */
  registerIrisFunction: typeof registerIrisFunction
  /** Registers a host factory for an IRIS class name used by production items. */
  registerHostClass: typeof registerHostClass
  /** The whole `@li/engine` module the engine runs with (Host, OperationHost, EngineError, ...). */
  engine: typeof engine
}

/** The API handed to every plugin. */
export const PLUGIN_API: PluginApi = { registerIrisFunction, registerHostClass, engine }

function specifierOf(name: string, cwd: string): string {
  if (name.startsWith('file:')) return name
  if (name.startsWith('.') || path.isAbsolute(name))
    return pathToFileURL(path.resolve(cwd, name)).href
  try {
    return pathToFileURL(createRequire(path.join(cwd, 'noop.js')).resolve(name)).href
  } catch {
    // ESM-only packages with an import-only exports map: let import() resolve it.
    return name
  }
}

/**
 * Loads the plugins in order and calls their `register(api)`. Throws AppError
 * `APP_STARTUP_FAILED` naming the plugin when it cannot be loaded, exports no register function
 * or its register function throws.
 */
export async function loadPlugins(
  names: readonly string[],
  cwd: string = process.cwd(),
  api: PluginApi = PLUGIN_API,
): Promise<void> {
  for (const name of names) {
    let mod: Record<string, unknown>
    try {
      mod = (await import(specifierOf(name, cwd))) as Record<string, unknown>
    } catch (e) {
      throw new AppError(
        'APP_STARTUP_FAILED',
        `plugin ${name}: cannot load it: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      )
    }
    const fn = typeof mod.register === 'function' ? mod.register : mod.default
    if (typeof fn !== 'function') {
      throw new AppError(
        'APP_STARTUP_FAILED',
        `plugin ${name}: exports neither register(api) nor a default function`,
      )
    }
    try {
      await (fn as (api: PluginApi) => unknown)(api)
    } catch (e) {
      throw new AppError(
        'APP_STARTUP_FAILED',
        `plugin ${name}: register(api) failed: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      )
    }
  }
}
