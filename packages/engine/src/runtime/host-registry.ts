/**
 * The host registry: which class of host runs an item of a given IRIS ClassName. The built-in
 * EnsLib classes are registered by `registerBuiltinHosts`; users add their own with
 * `registerHostClass(className, factory)` (on the default registry) or on a registry of their own
 * passed to the Engine.
 */
import type { ProductionItem } from '../production/types.js'
import { EngineError } from '../errors.js'
import type { Host } from './host.js'
import type { HostContext } from './host-context.js'

/** Builds the host of one production item. */
export type HostFactory = (item: ProductionItem, ctx: HostContext) => Host

/** A registered host class. */
export interface HostClass {
  className: string
  create: HostFactory
}

/** Maps IRIS class names to host factories. */
export class HostRegistry {
  readonly #classes = new Map<string, HostClass>()

  /** Register (or replace) the factory of a class name. */
  register(className: string, create: HostFactory): this {
    this.#classes.set(className, { className, create })
    return this
  }

  /** The registered class, or undefined. */
  get(className: string): HostClass | undefined {
    return this.#classes.get(className)
  }

  /** Whether a class name is registered. */
  has(className: string): boolean {
    return this.#classes.has(className)
  }

  /** Every registered class name. */
  classNames(): string[] {
    return [...this.#classes.keys()]
  }

  /** Build the host of an item; throws ENGINE_UNKNOWN_HOST_CLASS for an unregistered class. */
  create(item: ProductionItem, ctx: HostContext): Host {
    const c = this.#classes.get(item.className)
    if (c === undefined) {
      throw new EngineError(
        'ENGINE_UNKNOWN_HOST_CLASS',
        `item "${item.name}": no host is registered for class ${item.className}; register one with registerHostClass()`,
      )
    }
    return c.create(item, ctx)
  }
}

/** The registry the Engine uses unless given another one. Built-in hosts are added on first use. */
export const defaultHostRegistry: HostRegistry = new HostRegistry()

/**
 * Register a host class on the default registry (user extension point).
 * @example registerHostClass('Trust.Ops.Pager', (item, ctx) => new PagerOperation(item, ctx))
 */
export function registerHostClass(className: string, factory: HostFactory): void {
  defaultHostRegistry.register(className, factory)
}
