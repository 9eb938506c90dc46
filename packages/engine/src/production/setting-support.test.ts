import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { productionItem, removeDir, tempDir } from '../../test/helpers.js'
import { checkProduction } from '../iris/check.js'
import { settingSupport } from './setting-support.js'

const verdict = (
  className: string,
  name: string,
  value: string,
  kind: 'service' | 'process' | 'operation' = 'service',
) => settingSupport(productionItem(className), { target: 'Host', name, value }, kind).status

describe('settingSupport', () => {
  it('honours, accepts with differences, or refuses, with values checked', () => {
    const tcp = 'EnsLib.HL7.Service.TCPService'
    const file = 'EnsLib.HL7.Operation.FileOperation'
    expect(verdict(tcp, 'NackErrorCode', 'ContentR')).toBe('supported')
    expect(verdict(tcp, 'NackErrorCode', 'Sometimes')).toBe('unsupported')
    expect(verdict(tcp, 'Framing', 'MLLP')).toBe('supported')
    expect(verdict(tcp, 'Framing', 'Flexible')).toBe('differences')
    expect(verdict(tcp, 'Framing', 'AsciiLF')).toBe('unsupported')
    expect(verdict(file, 'Framing', 'AsciiLF')).toBe('supported')
    expect(verdict(tcp, 'DefCharEncoding', '!UTF-8')).toBe('supported')
    expect(verdict(tcp, 'DefCharEncoding', '@MyTable')).toBe('unsupported')
    expect(verdict(tcp, 'SearchTableClass', 'Trust.SearchTable')).toBe('supported')
    expect(verdict(tcp, 'AlertGracePeriod', '0')).toBe('supported')
    expect(verdict(tcp, 'AlertGracePeriod', '60')).toBe('differences')
    // Honoured by operations; a router's or service's alerts do not wait for it.
    expect(verdict(file, 'AlertRetryGracePeriod', '60', 'operation')).toBe('supported')
    expect(verdict(tcp, 'AlertRetryGracePeriod', '60')).toBe('differences')
    expect(verdict(tcp, 'AlertRetryGracePeriod', '0')).toBe('supported')
    expect(verdict(tcp, 'AckTargetConfigNames', '')).toBe('supported')
    expect(verdict(tcp, 'AckTargetConfigNames', 'Somewhere')).toBe('unsupported')
    expect(verdict(tcp, 'Schedule', 'START:WEEK-*-T08:00:00')).toBe('supported')
    expect(verdict(tcp, 'Schedule', 'START:someday')).toBe('unsupported')
    expect(verdict(tcp, 'InactivityTimeout', '30')).toBe('supported')
    expect(verdict(tcp, 'FrameworkCustomSetting', 'x')).toBe('unsupported')
  })

  it('judges honoured settings per host class: a class that never reads one does not honour it', () => {
    const tcpIn = 'EnsLib.HL7.Service.TCPService'
    const tcpOut = 'EnsLib.HL7.Operation.TCPOperation'
    const httpIn = 'EnsLib.HL7.Service.HTTPService'
    const router = 'EnsLib.HL7.MsgRouter.RoutingEngine'
    expect(verdict(tcpIn, 'ReadTimeout', '30')).toBe('supported')
    expect(verdict(tcpOut, 'ReadTimeout', '30', 'operation')).toBe('unsupported')
    expect(verdict(tcpIn, 'StayConnected', '0')).toBe('supported')
    expect(verdict(httpIn, 'StayConnected', '0')).toBe('unsupported')
    expect(verdict(tcpOut, 'ConnectTimeout', '5', 'operation')).toBe('supported')
    expect(verdict(tcpIn, 'ConnectTimeout', '5')).toBe('unsupported')
    expect(verdict(router, 'RetryInterval', '5', 'process')).toBe('unsupported')
    expect(verdict(router, 'AlertOnError', '1', 'process')).toBe('supported')
    expect(verdict(tcpOut, 'TargetConfigNames', 'X', 'operation')).toBe('supported')
    expect(
      settingSupport(
        productionItem(tcpOut),
        { target: 'Adapter', name: 'ReadTimeout', value: '30' },
        'operation',
      ),
    ).toMatchObject({
      note: expect.stringMatching(/not read by EnsLib.HL7.Operation.TCPOperation/),
    })
    expect(verdict(tcpIn, 'Validation', 'dm-z')).toBe('differences')
    expect(verdict(router, 'Validation', 'none', 'process')).toBe('supported')
    expect(verdict(tcpOut, 'Validation', 'dm-z', 'operation')).toBe('unsupported')
    // A class registered by the user is judged by the setting's name.
    expect(verdict('Trust.CustomService', 'ReadTimeout', '30')).toBe('supported')
  })
})

/** A production with the settings public IRIS exports use (written for this test). */
const PRODUCTION = `<Production Name="Trust.Check" TestingEnabled="false" LogGeneralTraceEvents="false">
  <Item Name="Lab Files In" ClassName="EnsLib.HL7.Service.FileService" PoolSize="1" Enabled="true" Foreground="false" Schedule="START:WEEK-*-T06:00:00,STOP:WEEK-*-T22:00:00">
    <Setting Target="Host" Name="InactivityTimeout">0</Setting>
    <Setting Target="Host" Name="AckTargetConfigNames"></Setting>
    <Setting Target="Host" Name="Framing">Flexible</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Lab Router</Setting>
    <Setting Target="Host" Name="SearchTableClass">EnsLib.HL7.SearchTable</Setting>
    <Setting Target="Host" Name="LocalFacilityApplication"></Setting>
    <Setting Target="Host" Name="AckMode">Never</Setting>
    <Setting Target="Host" Name="UseAckCommitCodes">1</Setting>
    <Setting Target="Host" Name="IgnoreInboundAck">1</Setting>
    <Setting Target="Host" Name="BatchHandling">Batch</Setting>
    <Setting Target="Host" Name="DefCharEncoding">Latin1</Setting>
    <Setting Target="Host" Name="AlertGracePeriod">0</Setting>
    <Setting Target="Host" Name="AlertOnError">1</Setting>
    <Setting Target="Host" Name="ArchiveIO">0</Setting>
    <Setting Target="Adapter" Name="FilePath">/data/in/</Setting>
    <Setting Target="Adapter" Name="FileSpec">LAB*</Setting>
    <Setting Target="Adapter" Name="ArchivePath">/data/archive/</Setting>
    <Setting Target="Adapter" Name="WorkPath"></Setting>
    <Setting Target="Adapter" Name="Charset">Default</Setting>
    <Setting Target="Adapter" Name="FileAccessTimeout">10</Setting>
    <Setting Target="Adapter" Name="AppendTimestamp">1</Setting>
    <Setting Target="Adapter" Name="CallInterval">5</Setting>
  </Item>
  <Item Name="Lab Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="true">
    <Setting Target="Host" Name="AlertOnBadMessage">1</Setting>
    <Setting Target="Host" Name="BadMessageHandler">Lab Files Out</Setting>
    <Setting Target="Host" Name="BusinessRuleName">Trust.LabRules</Setting>
  </Item>
  <Item Name="Lab Files Out" ClassName="EnsLib.HL7.Operation.FileOperation" PoolSize="1" Enabled="true">
    <Setting Target="Host" Name="Filename">%H%M_Lab_%f.txt</Setting>
    <Setting Target="Host" Name="AutoBatchParentSegs">1</Setting>
    <Setting Target="Host" Name="Separators">|^~\\&amp;</Setting>
    <Setting Target="Host" Name="AlertRetryGracePeriod">0</Setting>
    <Setting Target="Host" Name="RetryInterval">5</Setting>
    <Setting Target="Host" Name="FailureTimeout">15</Setting>
    <Setting Target="Host" Name="Framing">AsciiLF</Setting>
    <Setting Target="Adapter" Name="FilePath">/data/out/</Setting>
    <Setting Target="Adapter" Name="Overwrite">0</Setting>
    <Setting Target="Adapter" Name="Charset">Default</Setting>
    <Setting Target="Adapter" Name="OpenTimeout">5</Setting>
  </Item>
  <Item Name="Ens.Alert" ClassName="EnsLib.EMail.AlertOperation" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="SMTPServer">smtp.example.nhs.uk</Setting>
    <Setting Target="Adapter" Name="Recipient">integration@example.nhs.uk</Setting>
  </Item>
</Production>`

const RULES = `<Export generator="IRIS" version="26"><Class name="Trust.LabRules"><Super>Ens.Rule.Definition</Super>
<XData name="RuleDefinition"><XMLNamespace>http://www.intersystems.com/rule</XMLNamespace><Data><![CDATA[
<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Trust.Check">
<ruleSet name="" effectiveBegin="" effectiveEnd=""><rule name="all"><when condition="1"><send transform="" target="Lab Files Out"></send></when></rule></ruleSet>
</ruleDefinition>]]></Data></XData></Class></Export>`

describe('checkProduction settings', () => {
  let dir: string
  const check = async (xml: string): ReturnType<typeof checkProduction> => {
    const file = path.join(dir, `p-${Math.random().toString(36).slice(2)}.xml`)
    await writeFile(file, xml)
    return checkProduction({ path: file })
  }
  beforeAll(async () => {
    dir = await tempDir('settings')
    await writeFile(path.join(dir, 'Trust.LabRules.xml'), RULES)
  })
  afterAll(async () => {
    await removeDir(dir)
  })

  it('a production using the settings of public IRIS exports checks clean, with its differences listed', async () => {
    const r = await check(PRODUCTION)
    const items = r.entries.filter((e) => e.kind === 'item')
    expect(items.map((e) => `${e.name}:${e.status}`)).toEqual([
      'Lab Files In:supported',
      'Lab Router:supported',
      'Lab Files Out:supported',
      'Ens.Alert:supported',
    ])
    expect(items[0]?.notes).toEqual([])
    expect(r.exitCode).toBe(0)
    // A search table class that is neither built in nor in the export cannot index anything.
    const custom = await check(
      PRODUCTION.replace('>EnsLib.HL7.SearchTable<', '>Trust.SearchTable<'),
    )
    const lab = custom.entries.find((e) => e.name === 'Lab Files In')
    expect(lab?.status).toBe('unsupported')
    expect(lab?.notes[0]).toMatch(
      /^setting SearchTableClass: search table class Trust.SearchTable is not EnsLib.HL7.SearchTable and not in the export/,
    )
    expect(custom.exitCode).toBe(1)
  })

  it('reports a setting LI does not act on as not supported, naming it', async () => {
    const r = await check(
      PRODUCTION.replace(
        '<Setting Target="Host" Name="AlertOnBadMessage">1</Setting>',
        '<Setting Target="Host" Name="ForwardToAuditTrail">1</Setting>',
      ),
    )
    const router = r.entries.find((e) => e.name === 'Lab Router')
    expect(router?.status).toBe('unsupported')
    expect(router?.notes[0]).toMatch(
      /^setting ForwardToAuditTrail \(Host\) is not supported: LI Engine keeps it but does not act on it/,
    )
    expect(r.exitCode).toBe(1)
  })
})
