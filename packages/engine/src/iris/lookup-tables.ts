/**
 * IRIS lookup tables (`Ens.Util.LookupTable`): the data behind DTL `..Lookup(table, key, default)`
 * and rule `Lookup(...)`/`Exists(...)`, plus the list/get/set/delete API the management API
 * exposes, and the `<lookupTable>` export format for reading and writing them.
 *
 * It wraps the production's `lookupTables` map, so edits are seen by the next rule or
 * transform evaluation. It does not persist: the caller saves `toXml()` where it wants.
 */
import { EngineError } from '../errors.js'
import { escapeAttr, escapeText } from './xml.js'
import { createIrisBundle, readIrisSource } from './loader.js'

/** One table's summary for listings. */
export interface LookupTableSummary {
  name: string
  entries: number
}

/** Lookup tables by name: key → value. */
export class LookupTables {
  /** The live map (share it with `Production.lookupTables` / `RuleContext.lookupTables`). */
  readonly tables: Map<string, Map<string, string>>

  constructor(tables: Map<string, Map<string, string>> = new Map()) {
    this.tables = tables
  }

  /** Reads tables from `<lookupTable>` XML or an export holding `<Document name="X.LUT">`. */
  static fromXml(xml: string, file?: string): LookupTables {
    return new LookupTables(readIrisSource(xml, file, createIrisBundle()).lookupTables)
  }

  /** Every table with its entry count, sorted by name. */
  list(): LookupTableSummary[] {
    return [...this.tables.entries()]
      .map(([name, t]) => ({ name, entries: t.size }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  /** A table's entries as a plain object, or undefined when there is no such table. */
  get(table: string): Record<string, string> | undefined {
    const t = this.tables.get(table)
    return t ? Object.fromEntries(t) : undefined
  }

  /** One value, or undefined. */
  lookup(table: string, key: string): string | undefined {
    return this.tables.get(table)?.get(key)
  }

  /** Sets one entry (creating the table when needed). */
  set(table: string, key: string, value: string): void {
    if (table === '' || key === '') {
      throw new EngineError(
        'ENGINE_LOOKUP_TABLE',
        `lookup table entry needs a table and a key (got table "${table}", key "${key}")`,
      )
    }
    let t = this.tables.get(table)
    if (!t) {
      t = new Map()
      this.tables.set(table, t)
    }
    t.set(key, value)
  }

  /** Deletes one entry, or the whole table when `key` is omitted; returns whether it existed. */
  delete(table: string, key?: string): boolean {
    if (key === undefined) return this.tables.delete(table)
    return this.tables.get(table)?.delete(key) ?? false
  }

  /** Replaces a whole table. */
  replace(table: string, entries: Record<string, string>): void {
    this.tables.set(table, new Map(Object.entries(entries)))
  }

  /** The tables as IRIS `<lookupTable>` XML (one table, or all). */
  toXml(table?: string): string {
    const names = table === undefined ? [...this.tables.keys()] : [table]
    const lines = ['<?xml version="1.0"?>', '<lookupTable>']
    for (const name of names) {
      for (const [k, v] of this.tables.get(name) ?? []) {
        lines.push(
          `<entry table="${escapeAttr(name)}" key="${escapeAttr(k)}">${escapeText(v)}</entry>`,
        )
      }
    }
    lines.push('</lookupTable>')
    return lines.join('\n') + '\n'
  }
}
