import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import { checkProduction } from './check.js'
import { loadProduction, readIrisSource } from './loader.js'
import {
  HL7_SEARCH_TABLE_CLASS,
  compileSearchTable,
  normaliseSearchValue,
  type SearchTableDefinition,
} from './search-table.js'

const ADT = [
  'MSH|^~\\&|PAS|RXX|EPR|RXX|20261127120000||ADT^A01^ADT_A01|CTRL-0001|P|2.5',
  'EVN|A01|20261127120000',
  'PID|1|EXT77|MRN123^^^RXX^MR~NHS9434765919^^^NHS^NH|ALT5|SMITH^Jane^Ann^^MRS~JONES^Jane|||F||||||||||ACC-42',
  'PV1|1|I|WARD1',
].join('\r')

function values(raw: string, cls = HL7_SEARCH_TABLE_CLASS, classes = new Map()): string[] {
  return compileSearchTable(cls, classes)(raw).map((v) => `${v.name}=${v.value}`)
}

const exportWith = (searchClass: string): string => `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
${searchClass}
<Class name="Trust.Production"><Super>Ens.Production</Super>
<XData name="ProductionDefinition"><Data><![CDATA[
<Production Name="Trust.Production">
  <Item Name="PAS In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">5000</Setting>
    <Setting Target="Host" Name="TargetConfigNames">EPR Out</Setting>
    <Setting Target="Host" Name="SearchTableClass">Trust.Search.ADT</Setting>
  </Item>
  <Item Name="EPR Out" ClassName="EnsLib.HL7.Operation.TCPOperation" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">5001</Setting>
  </Item>
</Production>
]]></Data></XData></Class>
</Export>`

const searchClassXml = (items: string): string => `<Class name="Trust.Search.ADT">
<Super>EnsLib.HL7.SearchTable</Super>
<XData name="SearchSpec"><XMLNamespace>http://www.intersystems.com/EnsSearchTable</XMLNamespace>
<Data><![CDATA[
<Items>
${items}
</Items>
]]></Data></XData></Class>`

describe('HL7 search tables', () => {
  it('EnsLib.HL7.SearchTable indexes type, control id, every patient id, names and account, as IRIS stores them', () => {
    expect(values(ADT)).toEqual([
      'MSHTypeName=adt_a01',
      'MSHControlID=CTRL-0001',
      'PatientID=ext77',
      'PatientID=mrn123',
      'PatientID=nhs9434765919',
      'PatientID=alt5',
      'PatientName=smith^jane^ann^^mrs',
      'PatientName=jones^jane',
      'PatientAcct=acc-42',
    ])
    // A message without a PID gives only its header values: empty values are not stored.
    expect(values('MSH|^~\\&|LAB|RXX|EPR|RXX|20261127||ORM^O01|C2|P|2.4')).toEqual([
      'MSHTypeName=orm_o01',
      'MSHControlID=C2',
    ])
  })

  it('stores a value with | as +, folds case unless the item is case-sensitive, and cuts long values', () => {
    expect(normaliseSearchValue('A|B')).toBe('a+b')
    expect(normaliseSearchValue('AbC', 'String:CaseSensitive')).toBe('AbC')
    expect(normaliseSearchValue('AbC', 'String:CaseInsensitive')).toBe('abc')
    expect(normaliseSearchValue('x'.repeat(400))).toHaveLength(255)
  })

  it('reads a subclass from an export: its items, the inherited ones, DocType filters, literals and _', async () => {
    const xml = exportWith(
      searchClassXml(`<Item DocType="" PropName="Ward">[PV1:3.1]</Item>
<Item DocType=":ADT_A01" PropName="Event" PropType="String:CaseSensitive">{1:9.2}_"/"_[EVN:1]</Item>
<Item DocType=":ORU_R01" PropName="Event">{1:9.2}</Item>
<Item DocType="2.3:" PropName="OldOnly">{1:10}</Item>
<Item DocType="" PropName="Empty" StoreNulls="1">[PV1:44]</Item>`),
    )
    const p = await loadProduction(xml)
    const def = p.searchTables?.get('Trust.Search.ADT') as SearchTableDefinition
    expect(def.superClass).toBe(HL7_SEARCH_TABLE_CLASS)
    expect(def.items.map((i) => i.propName)).toEqual(['Ward', 'Event', 'Event', 'OldOnly', 'Empty'])
    const got = values(ADT, 'Trust.Search.ADT', p.searchTables)
    expect(got.slice(0, 3)).toEqual([
      'MSHTypeName=adt_a01',
      'MSHControlID=CTRL-0001',
      'PatientID=ext77',
    ])
    expect(got.slice(-3)).toEqual(['Ward=ward1', 'Event=A01/A01', 'Empty='])
    expect(got).not.toContain('OldOnly=ctrl-0001')
    const report = await checkProduction(xml)
    // On an operation the setting indexes nothing here: check says so.
    const onOperation = await checkProduction(
      xml.replace(
        '<Setting Target="Adapter" Name="Port">5001</Setting>',
        '<Setting Target="Adapter" Name="Port">5001</Setting>\n    <Setting Target="Host" Name="SearchTableClass">EnsLib.HL7.SearchTable</Setting>',
      ),
    )
    expect(onOperation.entries.find((e) => e.name === 'EPR Out')).toMatchObject({
      status: 'differences',
      notes: [
        'setting SearchTableClass: an operation indexes nothing (the message it sends is the one its service or router stored): set SearchTableClass on the service',
      ],
    })
    expect(report.entries.find((e) => e.kind === 'search-table')).toMatchObject({
      name: 'Trust.Search.ADT',
      status: 'supported',
      notes: ['12 items'],
    })
    expect(report.exitCode).toBe(0)
  })

  it('reads a UDL subclass', () => {
    const bundle = readIrisSource(`Class Trust.Search.Lab Extends EnsLib.HL7.SearchTable
{

XData SearchSpec [ XMLNamespace = "http://www.intersystems.com/EnsSearchTable" ]
{
<Items>
<Item DocType="" PropName="Placer">[ORC:2.1]</Item>
</Items>
}

}
`)
    const def = bundle.searchTables.get('Trust.Search.Lab')
    expect(def?.superClass).toBe(HL7_SEARCH_TABLE_CLASS)
    const fn = compileSearchTable('Trust.Search.Lab', bundle.searchTables)
    const orm = 'MSH|^~\\&|A|B|C|D|2026||ORM^O01|C9|P|2.4\rORC|NW|PL-1^OCS'
    expect(fn(orm).map((v) => `${v.name}=${v.value}`)).toContain('Placer=pl-1')
  })

  it('refuses ObjectScript in an item at load, naming the item, and check reports it', async () => {
    const xml = exportWith(
      searchClassXml(`<Item DocType="" PropName="Surname">$PIECE([PID:5.1],"-",1)</Item>`),
    )
    const e = await loadProduction(xml).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isEngineError(e) && e.code).toBe('ENGINE_RULE_UNSUPPORTED')
    expect((e as Error).message).toContain('item "PAS In" setting SearchTableClass')
    expect((e as Error).message).toContain('item Surname ($PIECE([PID:5.1],"-",1))')
    const report = await checkProduction(xml)
    expect(report.entries.find((x) => x.kind === 'search-table')?.status).toBe('unsupported')
    expect(report.entries.find((x) => x.name === 'PAS In')?.status).toBe('unsupported')
    expect(report.exitCode).toBe(1)
  })
})
