// checkProduction on real files: siblings that cannot be read or parsed are reported (not
// skipped silently), and a router is only as supported as its rule class and the transforms
// that rule uses.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { checkProduction, formatCompatibilityReport } from '../src/index.js'
import { removeDir, tempDir } from './helpers.js'

const FIXTURE = fileURLToPath(
  new URL('./fixtures/iris/check/RGH.Check.Export.xml', import.meta.url),
)

describe('checkProduction: sibling files and rule-dependent items', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await removeDir(d)
  })

  it('reports unreadable and unparsable sibling files with the reason', async () => {
    const dir = await tempDir('check-siblings')
    dirs.push(dir)
    const main = path.join(dir, 'export.xml')
    await writeFile(main, await readFile(FIXTURE, 'utf8'))
    // Looks like a rule class export (so it is read), but its XML is cut off.
    await writeFile(
      path.join(dir, 'Broken.Rules.xml'),
      '<?xml version="1.0"?>\n<Export generator="IRIS"><Class name="Broken.Rules"><Super>Ens.Rule.Definition</Super><XData name="RuleDefinition"><Data><![CDATA[<ruleDefinition>',
    )
    // A directory with a source-like name: reading it fails (EISDIR), whoever runs the check.
    await mkdir(path.join(dir, 'tables.xml'))
    const r = await checkProduction({ path: main })
    const files = r.entries.filter((e) => e.kind === 'file')
    expect(files.map((e) => path.basename(e.name)).sort()).toEqual([
      'Broken.Rules.xml',
      'tables.xml',
    ])
    for (const f of files) expect(f.status).toBe('unsupported')
    const unreadable = files.find((e) => e.name.endsWith('tables.xml'))
    expect(unreadable?.notes[0]).toMatch(/^could not be read: .*EISDIR/)
    const broken = files.find((e) => e.name.endsWith('Broken.Rules.xml'))
    expect(broken?.notes[0]).toMatch(/^could not be parsed: /)
    expect(r.exitCode).toBe(1)
    expect(r.counts.unsupported).toBe(3 + 2) // the fixture's three, plus the two files
    const text = formatCompatibilityReport(r)
    expect(text).toMatch(/file +.*Broken\.Rules\.xml: NOT SUPPORTED/)
    // The production itself is still read (the check does not stop at a bad sibling).
    expect(r.production).toBe('RGH.Check.Production')
  })

  it('marks an item NOT SUPPORTED when its rule class, or a transform the rule uses, is', async () => {
    const dir = await tempDir('check-rules')
    dirs.push(dir)
    const xml = (await readFile(FIXTURE, 'utf8'))
      // The supported router's rule now sends through the transform with a <code> block.
      .replace('transform="RGH.Check.Good"', 'transform="RGH.Check.WithCode"')
      // A second router uses the rule class with an unsupported function.
      .replace(
        '  <Item Name="EPR Out"',
        `  <Item Name="Old Router" Category="" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="true" Foreground="false" Comment="" LogTraceEvents="false" Schedule="">
    <Setting Target="Host" Name="BusinessRuleName">RGH.Check.OldRules</Setting>
  </Item>
  <Item Name="EPR Out"`,
      )
    const main = path.join(dir, 'export.xml')
    await writeFile(main, xml)
    const r = await checkProduction({ path: main })
    const by = Object.fromEntries(r.entries.map((e) => [`${e.kind}:${e.name}`, e]))
    expect(by['rule:RGH.Check.OldRules']?.status).toBe('unsupported')
    expect(by['item:Old Router']?.status).toBe('unsupported')
    expect(by['item:Old Router']?.notes).toContain(
      'BusinessRuleName RGH.Check.OldRules: the rule class is NOT SUPPORTED (see its entry)',
    )
    expect(by['transform:RGH.Check.WithCode']?.status).toBe('unsupported')
    expect(by['item:Router']?.status).toBe('unsupported')
    expect(by['item:Router']?.notes).toContain(
      'rule RGH.Check.Rules uses transform RGH.Check.WithCode: NOT SUPPORTED (see its entry)',
    )
    // Items without a rule keep their own status.
    expect(by['item:EPR Out']?.status).toBe('supported')
  })
})
