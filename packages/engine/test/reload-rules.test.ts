// Engine.reloadRules: an edited routing rule (or DTL) in the production file applies to the next
// message without a restart, as in IRIS; a rule that does not compile, or a change to anything
// else, is refused and the running rules go on. Real files, real MLLP sockets.
import { writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'
import {
  fileOperation,
  filesIn,
  finalState,
  hl7,
  irisExport,
  msaCode,
  portOf,
  productionXml,
  removeDir,
  sendMllp,
  tcpService,
  tempDir,
} from './helpers.js'
import type { ItemSpec } from './helpers.js'

const rule = (target: string, extra = ''): string =>
  `<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine" production="Test.Production">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="ADT">
<when condition="HL7.{MSH:9.1}=&quot;ADT&quot;${extra}">
<send transform="" target="${target}"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>`

describe('Engine.reloadRules', () => {
  let dir: string
  let file: string
  let engine: Engine
  let port = 0
  const items = (out: string, extra: Record<string, string> = {}): ItemSpec[] => [
    // The same free port in every version of the file.
    tcpService('In', 'Router', port),
    {
      name: 'Router',
      className: 'EnsLib.HL7.MsgRouter.RoutingEngine',
      host: { BusinessRuleName: 'Test.Rules', ...extra },
    },
    fileOperation('OutA', path.join(out, 'a')),
    fileOperation('OutB', path.join(out, 'b')),
  ]
  const write = (ruleXml: string, extra?: Record<string, string>): Promise<void> =>
    writeFile(
      file,
      irisExport(
        'Test.Production',
        productionXml('Test.Production', items(dir, extra)),
        'Test.Rules',
        ruleXml,
      ),
    )
  const send = async (id: string): Promise<void> => {
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', id)))).toBe('AA')
    expect((await finalState(engine, 'In', id)).state).toBe('completed')
  }

  beforeAll(async () => {
    dir = await tempDir('reload')
    port = await new Promise<number>((resolve) => {
      const s = net.createServer()
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port
        s.close(() => resolve(p))
      })
    })
    file = path.join(dir, 'production.xml')
    await write(rule('OutA'))
    engine = new Engine({ dataDir: path.join(dir, 'data'), pollMs: 50 })
    await engine.load({ path: file })
    await engine.start()
  })

  afterAll(async () => {
    await engine?.stop()
    await removeDir(dir)
  })

  it('applies an edited rule to the next message, restarting only the router', async () => {
    await send('R-1')
    expect(await filesIn(path.join(dir, 'a'), 1)).toHaveLength(1)
    expect(await engine.reloadRules()).toEqual({
      rules: [],
      transforms: [],
      items: [],
      restarted: [],
    })

    await write(rule('OutB'))
    expect(await engine.reloadRules()).toEqual({
      rules: ['Test.Rules'],
      transforms: [],
      items: [],
      restarted: ['Router'],
    })
    // The service kept listening on the same port: it was not restarted.
    await send('R-2')
    expect(await filesIn(path.join(dir, 'b'), 1)).toHaveLength(1)
    expect(await filesIn(path.join(dir, 'a'), 1)).toHaveLength(1)
  })

  it('refuses a rule that does not compile, or a change that needs a restart, keeping what runs', async () => {
    // An unknown function in the condition fails to compile.
    await write(rule('OutA', ' &amp;&amp; NoSuchFunction(1)'))
    await expect(engine.reloadRules()).rejects.toMatchObject({
      code: 'ENGINE_RELOAD_REFUSED',
      message: expect.stringContaining('Test.Rules') as unknown,
    })
    // An OrderingKey is read into the message path at start: the whole reload is refused, the
    // rule edit with it.
    await write(rule('OutA'), { OrderingKey: '{PID:3.1}' })
    await expect(engine.reloadRules()).rejects.toMatchObject({
      code: 'ENGINE_RELOAD_REFUSED',
      message: expect.stringContaining('item Router: OrderingKey') as unknown,
    })
    await send('R-3')
    expect(await filesIn(path.join(dir, 'b'), 2)).toHaveLength(2)
    expect(await filesIn(path.join(dir, 'a'), 1)).toHaveLength(1)
  })

  it('applies an item’s changed settings by restarting that item only (IRIS Apply)', async () => {
    // OutB now writes into another directory; the rule still sends to OutB.
    const before = engine.getHost('OutB')
    const router = engine.getHost('Router')
    await writeFile(
      file,
      irisExport(
        'Test.Production',
        productionXml(
          'Test.Production',
          items(dir).map((i) =>
            i.name === 'OutB' ? fileOperation('OutB', path.join(dir, 'c')) : i,
          ),
        ),
        'Test.Rules',
        rule('OutB'),
      ),
    )
    expect(await engine.reloadRules()).toEqual({
      rules: [],
      transforms: [],
      items: ['OutB'],
      restarted: ['OutB'],
    })
    expect(engine.getHost('OutB')).not.toBe(before)
    expect(engine.getHost('OutB')?.state).toBe('RUNNING')
    expect(engine.getHost('Router')).toBe(router)
    await send('R-4')
    expect(await filesIn(path.join(dir, 'c'), 1)).toHaveLength(1)
    expect(await filesIn(path.join(dir, 'b'), 2)).toHaveLength(2)
    // Items added: a restart is needed.
    await writeFile(
      file,
      irisExport(
        'Test.Production',
        productionXml('Test.Production', [
          ...items(dir).map((i) =>
            i.name === 'OutB' ? fileOperation('OutB', path.join(dir, 'c')) : i,
          ),
          fileOperation('OutC', path.join(dir, 'd')),
        ]),
        'Test.Rules',
        rule('OutB'),
      ),
    )
    await expect(engine.reloadRules()).rejects.toMatchObject({
      code: 'ENGINE_RELOAD_REFUSED',
      message: expect.stringContaining('items were added') as unknown,
    })
  })
})
