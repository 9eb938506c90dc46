/**
 * Typed reads of item settings (`<Setting Target Name>value</Setting>`), with IRIS defaults.
 * A bad value fails with an EngineError that names the item and the setting.
 */
import type { ProductionItem, SettingTarget } from '../production/types.js'
import { EngineError } from '../errors.js'

/** Reads one item's settings by name (Host target first, then Adapter, unless a target is given). */
export class ItemSettings {
  readonly item: ProductionItem

  constructor(item: ProductionItem) {
    this.item = item
  }

  /** The raw value, or undefined when the setting is absent. */
  raw(name: string, target?: SettingTarget): string | undefined {
    const all = this.item.settings.filter(
      (s) => s.name === name && (target === undefined || s.target === target),
    )
    const host = all.find((s) => s.target === 'Host')
    return (host ?? all[0])?.value
  }

  /** A string setting, trimmed; `fallback` when absent or empty. */
  string(name: string, fallback: string): string
  string(name: string): string | undefined
  string(name: string, fallback?: string): string | undefined {
    const v = this.raw(name)?.trim()
    return v === undefined || v === '' ? fallback : v
  }

  /** A number setting; `fallback` when absent or empty. */
  number(name: string, fallback: number): number {
    const v = this.string(name)
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isFinite(n)) {
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${this.item.name}": setting ${name}="${v}" is not a number`,
      )
    }
    return n
  }

  /** A boolean setting (IRIS stores 1/0; true/false accepted). */
  boolean(name: string, fallback: boolean): boolean {
    const v = this.string(name)?.toLowerCase()
    if (v === undefined) return fallback
    if (v === '1' || v === 'true' || v === 'yes') return true
    if (v === '0' || v === 'false' || v === 'no') return false
    throw new EngineError(
      'ENGINE_INVALID_SETTING',
      `item "${this.item.name}": setting ${name}="${v}" is not a boolean (expected 1 or 0)`,
    )
  }

  /** A comma-separated list setting (TargetConfigNames), blanks dropped. */
  list(name: string): string[] {
    const v = this.string(name)
    if (v === undefined) return []
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
  }
}

/** The IRIS AckMode values of an inbound HL7 service. */
export type AckMode = 'Never' | 'Immed' | 'App' | 'Msh' | 'Byte'

/** Parse the AckMode setting (default `Immed`, as IRIS). */
export function parseAckMode(item: ProductionItem, value: string | undefined): AckMode {
  if (value === undefined || value === '') return 'Immed'
  const v = value.trim()
  switch (v.toLowerCase()) {
    case 'never':
      return 'Never'
    case 'immed':
    case 'immediate':
      return 'Immed'
    case 'app':
    case 'application':
      return 'App'
    case 'msh':
      return 'Msh'
    case 'byte':
      return 'Byte'
    default:
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": AckMode="${v}" is not one of Never, Immed, App, Msh, Byte`,
      )
  }
}

/**
 * Map an IRIS DefCharEncoding value to a Node encoding. IRIS writes names such as `UTF-8`,
 * `Latin1`, `!latin1` (the `!` forces the setting over MSH-18); we always use the setting.
 */
export function nodeEncoding(value: string | undefined): BufferEncoding {
  const v = (value ?? '').replace(/^[!@]/, '').trim().toLowerCase().replace(/[-_]/g, '')
  switch (v) {
    case 'latin1':
    case 'iso88591':
    case 'binary':
    case 'raw':
      return 'latin1'
    case 'ascii':
    case 'usascii':
      return 'ascii'
    default:
      return 'utf8'
  }
}
