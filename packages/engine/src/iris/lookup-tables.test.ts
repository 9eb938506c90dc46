import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import { LookupTables } from './lookup-tables.js'

const EXPORT = `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
<Document name="RGH-Sex.LUT">
<lookupTable>
<entry table="RGH-Sex" key="female">F</entry>
<entry table="RGH-Sex" key="male">M</entry>
</lookupTable>
</Document>
</Export>`

describe('LookupTables', () => {
  it('reads an export and serves list/get/lookup', () => {
    const t = LookupTables.fromXml(EXPORT)
    expect(t.list()).toEqual([{ name: 'RGH-Sex', entries: 2 }])
    expect(t.get('RGH-Sex')).toEqual({ female: 'F', male: 'M' })
    expect(t.get('nope')).toBeUndefined()
    expect(t.lookup('RGH-Sex', 'male')).toBe('M')
  })

  it('edits the live map that rules and DTLs read', () => {
    const live = new Map<string, Map<string, string>>()
    const t = new LookupTables(live)
    t.set('Wards', 'W1', 'Ward <One> & "Two"')
    expect(live.get('Wards')?.get('W1')).toBe('Ward <One> & "Two"')
    expect(t.delete('Wards', 'W1')).toBe(true)
    expect(t.delete('Wards', 'W1')).toBe(false)
    t.replace('Wards', { W2: 'Ward Two' })
    expect(t.delete('Wards')).toBe(true)
    expect(t.list()).toEqual([])
    expect(() => t.set('', 'k', 'v')).toThrow(
      expect.objectContaining({ code: 'ENGINE_LOOKUP_TABLE' }),
    )
  })

  it('writes <lookupTable> XML that reads back equal', () => {
    const t = new LookupTables()
    t.set('Wards', 'W1', 'Ward <One> & "Two"')
    t.set('Sex', 'male', 'M')
    const back = LookupTables.fromXml(t.toXml())
    expect(back.tables).toEqual(t.tables)
  })

  it('rejects an entry without a key', () => {
    let err: unknown
    try {
      LookupTables.fromXml('<lookupTable><entry table="T">v</entry></lookupTable>', 'bad.xml')
    } catch (e) {
      err = e
    }
    expect(isEngineError(err) && err.message).toBe(
      'bad.xml line 1: lookup table <entry> needs table and key attributes',
    )
  })
})
