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

/** The IRIS default of DefCharEncoding on HL7 services and operations: ISO 8859-1. */
export const DEFAULT_HL7_ENCODING: BufferEncoding = 'latin1'

/**
 * Map an IRIS DefCharEncoding / Charset value to a Node encoding: `Latin1`/`ISO-8859-1`/`8859/1`
 * and `Binary`/`RAW` (bytes as is) → latin1; `UTF-8`/`UTF8` → utf8; `Unicode`/`UCS2` → utf16le;
 * `ASCII` → ascii; `Default`/`Native` (the server's default: UTF-8 on the Linux hosts LI runs on)
 * → utf8. A leading `!` (force, see `inboundEncoding`) or `@` is ignored here. Empty → `fallback`
 * (IRIS's Latin1); an unknown name → `fallback` too (`checkProduction` reports it).
 */
export function nodeEncoding(
  value: string | undefined,
  fallback: BufferEncoding = DEFAULT_HL7_ENCODING,
): BufferEncoding {
  return knownEncoding(value) ?? fallback
}

/** The Node encoding of an IRIS encoding name, or undefined when empty or unknown. */
export function knownEncoding(value: string | undefined): BufferEncoding | undefined {
  const v = (value ?? '')
    .replace(/^[!@]/, '')
    .trim()
    .toLowerCase()
    .replace(/[-_/\s]/g, '')
  switch (v) {
    case 'latin1':
    case 'iso88591':
    case '88591':
    case 'binary':
    case 'raw':
      return 'latin1'
    case 'ascii':
    case 'usascii':
      return 'ascii'
    case 'utf8':
    case 'unicodeutf8':
    case 'default':
    case 'native':
      return 'utf8'
    case 'unicode':
    case 'ucs2':
    case 'utf16':
    case 'utf16le':
      return 'utf16le'
    default:
      return undefined
  }
}

/** IRIS BatchHandling values (HL7 services): how a batch file is forwarded. */
export type BatchHandling = 'Whole' | '1Session' | 'Batch' | 'Indiv'

/**
 * Parse BatchHandling. IRIS stores `Whole`, `1Session` (its default), `Batch` (multi-session) and
 * `Indiv`; the display names (`Whole Batch`, `Single-Session Batch`, `Multi-Session Batch`,
 * `Individual`) are accepted too.
 */
export function parseBatchHandling(item: ProductionItem, value: string | undefined): BatchHandling {
  const v = (value ?? '').trim().toLowerCase().replace(/[\s-]/g, '')
  switch (v) {
    case '':
    case '1session':
    case 'singlesessionbatch':
      return '1Session'
    case 'whole':
    case 'wholebatch':
      return 'Whole'
    case 'batch':
    case 'multisessionbatch':
      return 'Batch'
    case 'indiv':
    case 'individual':
      return 'Indiv'
    default:
      throw new EngineError(
        'ENGINE_INVALID_SETTING',
        `item "${item.name}": BatchHandling="${value ?? ''}" is not one of Whole, 1Session, Batch, Indiv`,
      )
  }
}

/**
 * Check the Framing setting of an MLLP host: `MLLP` (the operation default), `MLLPnn` variants and
 * `Flexible` (the service default; IRIS detects the framing from the first bytes, LI expects MLLP)
 * are served as MLLP; any other framing (None, AsciiLF, AsciiCR, LLP, MsgEnvelope …) fails the
 * item with a clear error (`checkProduction` reports it as not supported).
 */
export function checkMllpFraming(item: ProductionItem, value: string | undefined): void {
  if (isMllpFraming(value)) return
  throw new EngineError(
    'ENGINE_INVALID_SETTING',
    `item "${item.name}": Framing="${value ?? ''}" is not supported: LI Engine speaks MLLP only (Framing MLLP or Flexible)`,
  )
}

/** Whether a Framing value is served as MLLP (see `checkMllpFraming`). */
export function isMllpFraming(value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase()
  return v === '' || v === 'flexible' || /^mllp\d*$/.test(v)
}
