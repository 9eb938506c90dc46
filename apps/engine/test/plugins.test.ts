// Plugins: a module defining the custom DTL function ..MyTrustFormat, loaded by `li-engine check`
// (--plugin, relative to the working directory) and `li-engine run` (LI_PLUGINS), against the
// built CLI as a child process, a real MLLP sender and a real output directory.
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EngineProcess,
  MllpSender,
  freePort,
  hl7,
  removeDir,
  requireBuild,
  runCli,
  tempDir,
  waitFor,
} from './helpers.js'

requireBuild()

const PLUGIN = `// A trust's own DTL function, as a plugin of li-engine.
export function register(api) {
  api.registerIrisFunction('MyTrustFormat', ([value]) => 'RGH-' + String(value ?? '').toUpperCase())
}
`

function production(inPort: number, outDir: string): string {
  const rules = `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Plugin.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="ADT formatted to file">
<when condition="HL7.{MSH:9.1}=&quot;ADT&quot;">
<send transform="Plugin.Format" target="File.Out"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`
  const dtl = `<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' create='copy' language='objectscript' >
<assign value='..MyTrustFormat(source.{PID:5.1})' property='target.{PID:5.1}' action='set' />
</transform>`
  const prod = `<Production Name="Plugin.Production" TestingEnabled="true" LogGeneralTraceEvents="false">
  <Item Name="MLLP.In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">${inPort}</Setting>
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router</Setting>
    <Setting Target="Host" Name="AckMode">Immed</Setting>
  </Item>
  <Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="true">
    <Setting Target="Host" Name="BusinessRuleName">Plugin.Rules</Setting>
  </Item>
  <Item Name="File.Out" ClassName="EnsLib.HL7.Operation.FileOperation" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">${outDir}</Setting>
    <Setting Target="Host" Name="Filename">%f.hl7</Setting>
  </Item>
</Production>`
  const cls = (
    name: string,
    sup: string,
    xdata: string,
    body: string,
  ): string => `<Class name="${name}">
<Super>${sup}</Super>
<XData name="${xdata}">
<Data><![CDATA[
${body}
]]></Data>
</XData>
</Class>`
  return `<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
${cls('Plugin.Rules', 'Ens.Rule.Definition', 'RuleDefinition', rules)}
${cls('Plugin.Format', 'Ens.DataTransformDTL', 'DTL', dtl)}
${cls('Plugin.Production', 'Ens.Production', 'ProductionDefinition', prod)}
</Export>
`
}

describe('li-engine plugins: a custom DTL function', { timeout: 90_000 }, () => {
  let dir: string
  let outDir: string
  let inPort: number

  beforeAll(async () => {
    dir = await tempDir('plugins')
    outDir = path.join(dir, 'out')
    await mkdir(outDir)
    inPort = await freePort()
    await writeFile(path.join(dir, 'production.xml'), production(inPort, outDir))
    await writeFile(path.join(dir, 'trust-plugin.mjs'), PLUGIN)
    await writeFile(path.join(dir, 'not-a-plugin.mjs'), 'export const x = 1\n')
  })
  afterAll(async () => {
    await removeDir(dir)
  })

  it('check: not supported without the plugin, supported with it', async () => {
    const without = await runCli(['check', 'production.xml'], { cwd: dir })
    expect(without.code).toBe(1)
    expect(without.stdout).toMatch(/function "MyTrustFormat" is not supported/)

    const withOpt = await runCli(['check', 'production.xml', '--plugin', './trust-plugin.mjs'], {
      cwd: dir,
    })
    expect(withOpt.stderr).toBe('')
    expect(withOpt.code).toBe(0)
    expect(withOpt.stdout).not.toMatch(/MyTrustFormat/)

    const withEnv = await runCli(['check', 'production.xml'], {
      cwd: dir,
      env: { LI_PLUGINS: path.join(dir, 'trust-plugin.mjs') },
    })
    expect(withEnv.code).toBe(0)
  })

  it('check: a module without register(api) is refused, naming it (exit 2)', async () => {
    const r = await runCli(['check', 'production.xml', '--plugin', './not-a-plugin.mjs'], {
      cwd: dir,
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(
      /plugin \.\/not-a-plugin\.mjs: exports neither register\(api\) nor a default function/,
    )
    const missing = await runCli(['check', 'production.xml', '--plugin', './nowhere.mjs'], {
      cwd: dir,
    })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/plugin \.\/nowhere\.mjs: cannot load it/)
  })

  it('run: without the plugin the production does not start', async () => {
    const r = await runCli(
      [
        'run',
        path.join(dir, 'production.xml'),
        '--data-dir',
        path.join(dir, 'data-none'),
        '--http-port',
        String(await freePort()),
        '--http-host',
        '127.0.0.1',
      ],
      { cwd: dir },
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/MyTrustFormat/)
  })

  it('run: LI_PLUGINS loads it and the DTL applies it to every message', async () => {
    const engine = await EngineProcess.start(dir, production(inPort, outDir), {
      LI_PLUGINS: path.join(dir, 'trust-plugin.mjs'),
    })
    try {
      expect(engine.lines.some((l) => l.msg === 'plugins loaded')).toBe(true)
      const sender = await MllpSender.connect(inPort)
      expect(await sender.send(hl7('ADT^A01', 'PLUG1'))).toBe('AA')
      sender.close()
      const file = await waitFor(async () => {
        const names = (await readdir(outDir)).filter((f) => f.endsWith('.hl7'))
        return names[0]
      }, 'the formatted message in File.Out')
      const text = await readFile(path.join(outDir, file), 'utf8')
      const pid = text.split(/\r\n?|\n/).find((s) => s.startsWith('PID|')) ?? ''
      expect(pid.split('|')[5]).toBe('RGH-TEST^PATIENT')
    } finally {
      await engine.stop()
    }
  })
})
