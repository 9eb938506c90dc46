import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isEngineError } from '../errors.js'
import { itemSetting, startOrder, stopOrder } from '../production/model.js'
import type { Production } from '../production/types.js'
import { checkProduction } from './check.js'
import { loadProduction, loadProductionFile, readIrisSource, readSiblingSource } from './loader.js'
import { toXml } from './to-xml.js'
import { parseXml, type XmlElement } from './xml.js'

const fixtures = fileURLToPath(new URL('../../test/fixtures/iris/', import.meta.url))
const fx = (name: string): string => fixtures + name

/** The parts of a model that must survive a round trip. */
function shape(p: Production): unknown {
  return {
    name: p.name,
    testingEnabled: p.testingEnabled,
    logGeneralTraceEvents: p.logGeneralTraceEvents,
    description: p.description,
    actorPoolSize: p.actorPoolSize,
    attributes: p.attributes,
    settings: p.settings,
    items: p.items,
    lookupTables: p.lookupTables,
    rules: [...p.rules.keys()],
    transforms: [...p.transforms.keys()],
  }
}

describe('loadProduction: the three IRIS forms', () => {
  it('reads a bare <Production> with every attribute and setting, known or not', async () => {
    const p = await loadProduction({ path: fx('bare-production.xml') }, { validate: false })
    expect(p.name).toBe('RGH.Bare.Production')
    expect(p.testingEnabled).toBe(true)
    expect(p.logGeneralTraceEvents).toBe(false)
    expect(p.description).toBe('Bare production: PAS in, router, EPR out & file out')
    expect(p.actorPoolSize).toBe(2)
    expect(p.attributes.LegacyAttribute).toBe('kept')
    expect(p.settings).toEqual([{ target: 'Production', name: 'ShutdownTimeout', value: '120' }])
    expect(p.items.map((i) => i.name)).toEqual([
      'PAS ADT In',
      'ADT Router',
      'EPR ADT Out',
      'ADT File Out',
    ])
    const pas = p.items[0]!
    expect(pas).toMatchObject({
      className: 'EnsLib.HL7.Service.TCPService',
      category: 'ADT,PAS',
      poolSize: 1,
      enabled: true,
      foreground: false,
      comment: 'From the PAS "live" feed',
      logTraceEvents: false,
      schedule: '',
    })
    expect(itemSetting(pas, 'Port', 'Adapter')).toBe('35001')
    expect(itemSetting(pas, 'Port', 'Host')).toBeUndefined()
    expect(itemSetting(pas, 'ArchiveIO')).toBe('1')
    const epr = p.items[2]!
    expect(itemSetting(epr, 'FrameworkCustomSetting')).toBe('kept as is')
    expect(p.items[1]!.enabled).toBe(true) // Enabled="1"
    expect(p.items[3]!.enabled).toBe(false)
    expect(itemSetting(p.items[3]!, 'Filename')).toBe('%f_%Q%!+(_a)')
  })

  it('reads a UDL .cls class with XData ProductionDefinition', async () => {
    const p = await loadProduction(fx('RGH.Udl.Production.cls'))
    expect(p.name).toBe('RGH.Udl.Production')
    expect(p.description).toBe('')
    expect(p.items.map((i) => [i.name, i.poolSize])).toEqual([
      ['Lab In', 1],
      ['Lab Out', 3],
    ])
    expect(itemSetting(p.items[0]!, 'FileSpec')).toBe('*.hl7')
  })

  it('reads an IRIS export: production (split CDATA), rule and DTL classes, lookup table', async () => {
    const p = await loadProduction({ path: fx('export.xml') })
    expect(p.name).toBe('RGH.Integration.Production')
    expect(p.items[0]!.comment).toBe('legacy marker ]]> kept')
    expect([...p.rules.keys()]).toEqual(['RGH.Integration.ADTRouterRules'])
    expect(p.rules.get('RGH.Integration.ADTRouterRules')!.parameters).toEqual({
      RuleAssistClass: 'EnsLib.HL7.MsgRouter.RuleAssist',
    })
    expect([...p.transforms.keys()]).toEqual(['RGH.Integration.ADTtoA08'])
    expect(p.transforms.get('RGH.Integration.ADTtoA08')!.parameters).toMatchObject({
      REPORTERRORS: '1',
    })
    expect(p.lookupTables.get('RGH-Wards')).toEqual(
      new Map([
        ['WARD1', 'Ward One'],
        ['WARD2', 'Ward Two & Annex'],
      ]),
    )
    const bundle = readIrisSource(await readFile(fx('export.xml'), 'utf8'), 'export.xml')
    expect(bundle.otherClasses.map((c) => [c.className, c.superClass])).toEqual([
      ['RGH.Custom.LabProcess', 'Ens.BusinessProcess'],
    ])
    expect(bundle.otherDocuments).toEqual([])
    const custom = p.customSchemas?.get('RGH2.5')
    expect(custom?.base).toBe('2.5')
    expect(custom?.segments.ZPI?.fields.map((f) => f.name)).toEqual(['LocalCategory', 'Flag'])
    expect(custom?.events['ADT^A04']).toBe('ADT_A01')
    expect(custom?.segments.PID?.fields[2]?.name).toBe('PatientIdentifierList') // from the base
  })

  it('records file lines of items for messages', async () => {
    const text = await readFile(fx('export.xml'), 'utf8')
    const bundle = readIrisSource(text, 'export.xml')
    const lines = text.split('\n')
    const itemLine = lines.findIndex((l) => l.includes('<Item Name="ADT Router"')) + 1
    const { originOf } = await import('../production/origin.js')
    expect(originOf(bundle.productions[0]!.items[1]!)).toEqual({
      file: 'export.xml',
      line: itemLine,
    })
  })

  it('picks up rule, DTL and lookup files next to a production file', async () => {
    const p = await loadProductionFile(fx('folder/RGH.Folder.Production.cls'))
    expect([...p.rules.keys()]).toEqual(['RGH.Folder.Router'])
    expect([...p.transforms.keys()]).toEqual(['RGH.Folder.StripZ'])
    expect(p.lookupTables.get('Sites')?.get('RGH')).toBe('Royal General')
  })

  it('refuses a rule class that a file next to the production defines differently; keeps an identical copy', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'li-loader-dup-'))
    try {
      const rule = (target: string): string => `<Class name="Dup.Rules">
<Super>Ens.Rule.Definition</Super>
<XData name="RuleDefinition">
<Data><![CDATA[
<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="all"><when condition="1"><send transform="" target="${target}"></send></when></rule>
</ruleSet>
</ruleDefinition>
]]></Data>
</XData>
</Class>`
      const production = `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
${rule('A')}
<Class name="Dup.Production">
<Super>Ens.Production</Super>
<XData name="ProductionDefinition">
<Data><![CDATA[
<Production Name="Dup.Production">
  <Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" Enabled="true">
    <Setting Target="Host" Name="BusinessRuleName">Dup.Rules</Setting>
  </Item>
  <Item Name="A" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">./a</Setting>
  </Item>
  <Item Name="B" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">./b</Setting>
  </Item>
</Production>
]]></Data>
</XData>
</Class>
</Export>
`
      const main = path.join(dir, 'Dup.Production.xml')
      await writeFile(main, production)
      // An older export of the same rule class, routing elsewhere, left in the same folder.
      const other = path.join(dir, 'Old.Rules.xml')
      await writeFile(
        other,
        `<?xml version="1.0"?>\n<Export generator="IRIS" version="26">\n${rule('B')}\n</Export>\n`,
      )
      const e = await loadProductionFile(main).catch((x: unknown) => x)
      expect(isEngineError(e) && e.code).toBe('ENGINE_PRODUCTION_INVALID')
      expect((e as Error).message).toContain('rule class Dup.Rules is defined differently')
      expect((e as Error).message).toContain('Dup.Production.xml')
      expect((e as Error).message).toContain('Old.Rules.xml')
      // `check` says so too (not supported, exit 1), and checks the production file's rule.
      const report = await checkProduction({ path: main })
      expect(report.exitCode).toBe(1)
      expect(report.entries).toContainEqual(
        expect.objectContaining({ kind: 'file', name: other, status: 'unsupported' }),
      )
      expect(report.entries).toContainEqual(
        expect.objectContaining({ kind: 'rule', name: 'Dup.Rules', file: main }),
      )
      // The same class exported twice is one class: it loads, as defined in the production file.
      await writeFile(
        other,
        `<?xml version="1.0"?>\n<Export generator="IRIS" version="26">\n${rule('A')}\n</Export>\n`,
      )
      const p = await loadProductionFile(main)
      expect(p.rules.get('Dup.Rules')?.xml).toContain('target="A"')
      expect(p.rules.get('Dup.Rules')?.origin?.file).toContain('Dup.Production.xml')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('lookup tables in several files', () => {
  /** An export holding an empty production and, optionally, lookup-table entries. */
  const exportWith = (entries: string): string => `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
<Class name="Lut.Production">
<Super>Ens.Production</Super>
<XData name="ProductionDefinition">
<Data><![CDATA[
<Production Name="Lut.Production">
</Production>
]]></Data>
</XData>
</Class>
<Document name="Sites.LUT">
<lookupTable>
${entries}
</lookupTable>
</Document>
</Export>
`
  const lut = (entries: string): string =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<lookupTable>\n${entries}\n</lookupTable>\n`
  const entry = (key: string, value: string, table = 'Sites'): string =>
    `<entry table="${table}" key="${key}">${value}</entry>`

  /** Runs `body` with a temp folder holding `files` (name → text); removes it after. */
  async function inFolder(
    files: Record<string, string>,
    body: (dir: string) => Promise<void>,
  ): Promise<void> {
    const dir = await mkdtemp(path.join(tmpdir(), 'li-loader-lut-'))
    try {
      for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text)
      await body(dir)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  it('refuses a key a file next to the production gives another value; check reports the file NOT SUPPORTED', async () => {
    await inFolder(
      {
        'Lut.Production.xml': exportWith(
          entry('RGH', 'Royal General') + '\n' + entry('SJH', 'St James'),
        ),
        // An older export of the table, left in the same folder.
        'Sites.lut': lut(entry('RGH', 'Royal General Hospital') + '\n' + entry('NEW', 'New')),
      },
      async (dir) => {
        const main = path.join(dir, 'Lut.Production.xml')
        const other = path.join(dir, 'Sites.lut')
        const e = await loadProductionFile(main).catch((x: unknown) => x)
        expect(isEngineError(e) && e.code).toBe('ENGINE_PRODUCTION_INVALID')
        expect((e as Error).message).toBe(
          `lookup table Sites key "RGH" is defined differently in ${main} ("Royal General") and in ${other} ("Royal General Hospital") (the engine reads rule, DTL and lookup files next to the production): keep one definition of each entry, remove or correct the other file`,
        )
        const report = await checkProduction({ path: main })
        expect(report.exitCode).toBe(1)
        expect(report.entries).toContainEqual(
          expect.objectContaining({
            kind: 'file',
            name: other,
            status: 'unsupported',
            notes: [expect.stringContaining('lookup table Sites key "RGH" is defined differently')],
          }),
        )
        // The later file's entries are dropped, NEW included: the table is the production's.
        expect(report.entries).toContainEqual(
          expect.objectContaining({
            kind: 'lookup-table',
            name: 'Sites',
            status: 'supported',
            notes: ['2 entries'],
          }),
        )
      },
    )
  })

  it('names the file that added the key, and counts the other keys that differ', async () => {
    await inFolder(
      {
        'Lut.Production.xml': exportWith(entry('RGH', 'Royal General')),
        'a.lut': lut(entry('SJH', 'St James') + '\n' + entry('QEH', 'Queen Elizabeth')),
        'b.lut': lut(
          entry('SJH', "St James's") + '\n' + entry('QEH', 'QE') + '\n' + entry('RGH', 'RG'),
        ),
      },
      async (dir) => {
        const e = await loadProductionFile(path.join(dir, 'Lut.Production.xml')).catch(
          (x: unknown) => x,
        )
        expect(isEngineError(e) && e.code).toBe('ENGINE_PRODUCTION_INVALID')
        expect((e as Error).message).toContain(
          `lookup table Sites key "SJH" is defined differently in ${path.join(dir, 'a.lut')} ("St James") and in ${path.join(dir, 'b.lut')} ("St James's"), and 2 more keys differ in ${path.join(dir, 'b.lut')}`,
        )
        expect((e as Error).message).toContain('keep one definition')
      },
    )
  })

  it('merges the parts of a table spread over several files, and a key given the same value twice', async () => {
    await inFolder(
      {
        'Lut.Production.xml': exportWith(entry('RGH', 'Royal General')),
        'a.lut': lut(entry('SJH', 'St James') + '\n' + entry('RGH', 'Royal General')),
        'b.lut': lut(
          entry('QEH', 'Queen Elizabeth') +
            '\n' +
            entry('SJH', 'St James') +
            '\n' +
            entry('F', 'Female', 'Sex'),
        ),
      },
      async (dir) => {
        const main = path.join(dir, 'Lut.Production.xml')
        const p = await loadProductionFile(main)
        expect(p.lookupTables).toEqual(
          new Map([
            [
              'Sites',
              new Map([
                ['RGH', 'Royal General'],
                ['SJH', 'St James'],
                ['QEH', 'Queen Elizabeth'],
              ]),
            ],
            ['Sex', new Map([['F', 'Female']])],
          ]),
        )
        const report = await checkProduction({ path: main })
        expect(report.exitCode).toBe(0)
        expect(report.entries.filter((x) => x.kind === 'lookup-table')).toEqual([
          expect.objectContaining({ name: 'Sites', status: 'supported', notes: ['3 entries'] }),
          expect.objectContaining({ name: 'Sex', status: 'supported', notes: ['1 entries'] }),
        ])
      },
    )
  })

  it('keeps the last entry of a key repeated within one file', async () => {
    await inFolder(
      {
        'Lut.Production.xml': exportWith(entry('RGH', 'Royal General') + '\n' + entry('RGH', 'RG')),
        'a.lut': lut(entry('SJH', 'St James') + '\n' + entry('SJH', 'SJ')),
      },
      async (dir) => {
        const p = await loadProductionFile(path.join(dir, 'Lut.Production.xml'))
        expect(p.lookupTables.get('Sites')).toEqual(
          new Map([
            ['RGH', 'RG'],
            ['SJH', 'SJ'],
          ]),
        )
      },
    )
  })

  it('leaves the bundle as it was when a file is refused', () => {
    const bundle = readIrisSource(
      exportWith(entry('RGH', 'Royal General') + '\n' + entry('SJH', 'St James')),
      'prod.xml',
    )
    readSiblingSource(bundle, lut(entry('M', 'Male', 'Sex')), 'sex.lut')
    const sites = bundle.lookupTables.get('Sites')
    const snapshot = structuredClone(bundle.lookupTables)
    expect(() =>
      readSiblingSource(
        bundle,
        lut(
          entry('QEH', 'Queen Elizabeth') +
            '\n' +
            entry('F', 'Female', 'Sex') +
            '\n' +
            entry('X', 'x', 'NewTable') +
            '\n' +
            entry('SJH', 'St J'),
        ),
        'bad.lut',
      ),
    ).toThrow(
      'lookup table Sites key "SJH" is defined differently in prod.xml ("St James") and in bad.lut ("St J")',
    )
    expect(bundle.lookupTables).toEqual(snapshot)
    expect(bundle.lookupTables.get('Sites')).toBe(sites)
    // and the refused file did not disturb a later, agreeing one
    readSiblingSource(bundle, lut(entry('QEH', 'Queen Elizabeth')), 'good.lut')
    expect([...bundle.lookupTables.get('Sites')!.keys()]).toEqual(['RGH', 'SJH', 'QEH'])
  })

  it('applies the same rule to options.extraSources', async () => {
    const xml = exportWith(entry('RGH', 'Royal General'))
    const e = await loadProduction(
      { xml },
      { extraSources: [{ text: lut(entry('RGH', 'RG')), file: 'extra.lut' }] },
    ).catch((x: unknown) => x)
    expect(isEngineError(e) && e.code).toBe('ENGINE_PRODUCTION_INVALID')
    expect((e as Error).message).toContain(
      'lookup table Sites key "RGH" is defined differently in <input> ("Royal General") and in extra.lut ("RG")',
    )
    const e2 = await loadProduction(
      { xml },
      {
        extraSources: [
          { text: lut(entry('F', 'Female', 'Sex')), file: 'one.lut' },
          { text: lut(entry('F', 'F', 'Sex')), file: 'two.lut' },
        ],
      },
    ).catch((x: unknown) => x)
    expect((e2 as Error).message).toContain(
      'lookup table Sex key "F" is defined differently in one.lut ("Female") and in two.lut ("F")',
    )
    const p = await loadProduction(
      { xml },
      {
        extraSources: [
          { text: lut(entry('RGH', 'Royal General') + entry('SJH', 'St James')), file: 'x.lut' },
        ],
      },
    )
    expect(p.lookupTables.get('Sites')).toEqual(
      new Map([
        ['RGH', 'Royal General'],
        ['SJH', 'St James'],
      ]),
    )
    // A production in an extra source is still read from there.
    const q = await loadProduction(lut(entry('A', 'a')), { extraSources: [{ text: xml }] })
    expect(q.name).toBe('Lut.Production')
  })
})

describe('toXml round trip', () => {
  for (const file of ['bare-production.xml', 'RGH.Udl.Production.cls', 'export.xml']) {
    it(`load → toXml → load gives an equal model (${file})`, async () => {
      const a = await loadProduction({ path: fx(file) }, { validate: false })
      for (const form of ['production', 'class', 'export'] as const) {
        const xml = toXml(a, { form })
        const b = await loadProduction({ xml }, { validate: false })
        const strip = (p: Production): unknown => {
          const s = shape(p) as Record<string, unknown>
          if (form !== 'export') {
            delete s.rules
            delete s.transforms
            delete s.lookupTables
          }
          return s
        }
        expect(strip(b)).toEqual(strip(a))
        // and the second serialisation is identical text (semantically equal XML)
        expect(toXml(b, { form })).toBe(xml)
      }
    })
  }

  it('writes XML that is semantically equal to the bare production it read', async () => {
    const original = await readFile(fx('bare-production.xml'), 'utf8')
    const a = await loadProduction({ xml: original }, { validate: false })
    const norm = (el: XmlElement): unknown => ({
      name: el.name,
      attrs: el.attrs,
      text: el.children.length > 0 ? '' : el.text,
      children: el.children.map(norm),
    })
    expect(norm(parseXml(toXml(a), 'out'))).toEqual(norm(parseXml(original, 'in')))
  })

  it('keeps attribute spellings such as Enabled="1"', async () => {
    const a = await loadProduction({ path: fx('bare-production.xml') }, { validate: false })
    expect(toXml(a)).toContain(
      'Name="ADT Router" Category="ADT" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="1"',
    )
  })
})

describe('validation', () => {
  const base = (items: string): string => `<Production Name="P">${items}</Production>`

  it('rejects unknown targets, duplicate names, reused ports and bad numbers, naming item and setting', async () => {
    const xml = base(`
      <Item Name="In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="x">
        <Setting Target="Adapter" Name="Port">2575</Setting>
        <Setting Target="Host" Name="TargetConfigNames">Router,Nowhere</Setting>
      </Item>
      <Item Name="In2" ClassName="EnsLib.HL7.Service.TCPService">
        <Setting Target="Adapter" Name="Port">2575</Setting>
        <Setting Target="Host" Name="AckMode">Sometimes</Setting>
      </Item>
      <Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine"/>
      <Item Name="Out" ClassName="EnsLib.HL7.Operation.TCPOperation">
        <Setting Target="Host" Name="RetryInterval">soon</Setting>
        <Setting Target="Host" Name="FailureTimeout">-2</Setting>
        <Setting Target="Adapter" Name="Port">70000</Setting>
        <Setting Target="Host" Name="ReplyCodeActions">:?E=Q</Setting>
      </Item>
      <Item Name="Out" ClassName="EnsLib.HL7.Operation.FileOperation"/>`)
    let err: unknown
    try {
      await loadProduction({ xml })
    } catch (e) {
      err = e
    }
    expect(isEngineError(err) && err.code).toBe('ENGINE_PRODUCTION_INVALID')
    const msg = (err as Error).message
    expect(msg).toContain('item "In": PoolSize "x" is not a whole number')
    expect(msg).toContain('item "In" setting TargetConfigNames: unknown target "Nowhere"')
    expect(msg).not.toContain('unknown target "Router"')
    expect(msg).toContain('item "In2" setting Port: port 2575 is already used by item "In"')
    expect(msg).toContain(
      'item "In2" setting AckMode: "Sometimes" is not one of Never, Immed, App, Msh, Byte',
    )
    expect(msg).toContain('item "Out" setting RetryInterval: "soon" is not a valid number')
    expect(msg).toContain('item "Out" setting FailureTimeout: "-2" is not a valid number')
    expect(msg).toContain('item "Out" setting Port: "70000" is not a valid number')
    expect(msg).toContain('item "Out" setting ReplyCodeActions')
    expect(msg).toContain('item "Out": duplicate item name')
    expect(msg).toMatch(/line \d+: item "In2" setting Port/)
  })

  it('fails on malformed XML with the line', async () => {
    await expect(
      loadProduction({ xml: '<Production Name="P">\n<Item Name="A">\n</Production>' }),
    ).rejects.toThrow(/line \d+/)
  })

  it('fails when a source has no production', async () => {
    await expect(loadProduction({ xml: '<lookupTable></lookupTable>' })).rejects.toThrow(
      /no production found/,
    )
  })

  it('orders start: operations, processes, services; stop in reverse', async () => {
    const p = await loadProduction({ path: fx('bare-production.xml') }, { validate: false })
    expect(startOrder(p).map((i) => i.name)).toEqual([
      'EPR ADT Out',
      'ADT File Out',
      'ADT Router',
      'PAS ADT In',
    ])
    expect(stopOrder(p).map((i) => i.name)).toEqual([
      'PAS ADT In',
      'ADT Router',
      'ADT File Out',
      'EPR ADT Out',
    ])
  })
})
