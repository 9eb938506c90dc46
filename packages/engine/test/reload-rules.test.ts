// Engine.reloadRules: an edited routing rule (or DTL) in the production file applies to the next
// message without a restart, as in IRIS; a rule that does not compile, or a change to anything
// else, is refused and the running rules go on. Real files, real MLLP sockets.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'
import {
  fileOperation,
  freePort,
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
  waitFor,
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
    port = await freePort()
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
      processes: [],
      items: [],
      added: [],
      removed: [],
      kept: [],
      restarted: [],
    })

    await write(rule('OutB'))
    expect(await engine.reloadRules()).toEqual({
      rules: ['Test.Rules'],
      transforms: [],
      processes: [],
      items: [],
      added: [],
      removed: [],
      kept: [],
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
      processes: [],
      items: ['OutB'],
      added: [],
      removed: [],
      kept: [],
      restarted: ['OutB'],
    })
    expect(engine.getHost('OutB')).not.toBe(before)
    expect(engine.getHost('OutB')?.state).toBe('RUNNING')
    expect(engine.getHost('Router')).toBe(router)
    await send('R-4')
    expect(await filesIn(path.join(dir, 'c'), 1)).toHaveLength(1)
    expect(await filesIn(path.join(dir, 'b'), 2)).toHaveLength(2)
  })

  it('adds and removes items without a restart, refusing to drop one that still holds messages', async () => {
    const outB = fileOperation('OutB', path.join(dir, 'c'))
    const base = items(dir).map((i) => (i.name === 'OutB' ? outB : i))
    const writeItems = (list: ItemSpec[], target: string): Promise<void> =>
      writeFile(
        file,
        irisExport(
          'Test.Production',
          productionXml('Test.Production', list),
          'Test.Rules',
          rule(target),
        ),
      )
    const inHost = engine.getHost('In')
    // A new operation, and the rule now sends to it: it starts, the router restarts, nothing else.
    await writeItems([...base, fileOperation('OutC', path.join(dir, 'd'))], 'OutC')
    expect(await engine.reloadRules()).toEqual({
      rules: ['Test.Rules'],
      transforms: [],
      processes: [],
      items: [],
      added: ['OutC'],
      removed: [],
      kept: [],
      restarted: ['Router'],
    })
    expect(engine.getHost('OutC')?.state).toBe('RUNNING')
    expect(engine.getHost('In')).toBe(inHost)
    await send('R-5')
    expect(await filesIn(path.join(dir, 'd'), 1)).toHaveLength(1)

    // A rule that still sends to an item the file no longer has does not compile: refused.
    const withoutA = [...base, fileOperation('OutC', path.join(dir, 'd'))].filter(
      (i) => i.name !== 'OutA',
    )
    await writeItems(withoutA, 'OutA')
    await expect(engine.reloadRules()).rejects.toMatchObject({
      code: 'ENGINE_RELOAD_REFUSED',
      message: expect.stringContaining('OutA') as unknown,
    })
    expect(engine.getHost('OutA')?.state).toBe('RUNNING')

    // A new item with a setting the message path is built with at start: refused, saying which.
    await writeItems(
      [
        ...base,
        fileOperation('OutC', path.join(dir, 'd')),
        {
          ...fileOperation('OutD', path.join(dir, 'e')),
          host: { SearchTableClass: 'EnsLib.HL7.SearchTable' },
        },
      ],
      'OutC',
    )
    await expect(engine.reloadRules()).rejects.toMatchObject({
      code: 'ENGINE_RELOAD_REFUSED',
      message: expect.stringContaining('new item OutD: SearchTableClass') as unknown,
    })
    expect(engine.getHost('OutD')).toBeUndefined()

    // OutC stopped with a message waiting in its queue: it cannot be removed until that is dealt
    // with; the rest of the reload is refused with it.
    await engine.stopHost('OutC')
    expect(msaCode(await sendMllp(portOf(engine, 'In'), hl7('ADT^A01', 'R-6')))).toBe('AA')
    await waitFor(
      async () => (await engine.queueContents('OutC')).depth === 1,
      'R-6 queued for OutC',
    )
    await writeItems(base, 'OutB')
    await expect(engine.reloadRules()).rejects.toMatchObject({
      code: 'ENGINE_RELOAD_REFUSED',
      message: expect.stringContaining(
        'item OutC cannot be removed: its queue holds 1 message(s)',
      ) as unknown,
    })
    expect(engine.getHost('OutC')).toBeDefined()
    await engine.startHost('OutC')
    expect(await filesIn(path.join(dir, 'd'), 2)).toHaveLength(2)

    // Once it is empty, OutC goes, with its status series and health checks.
    await waitFor(async () => (await engine.queueContents('OutC')).depth === 0, 'OutC empty')
    expect(await engine.metrics.render()).toMatch(/li_host_status\{host="OutC"/)
    expect(await engine.reloadRules()).toEqual({
      rules: ['Test.Rules'],
      transforms: [],
      processes: [],
      items: [],
      added: [],
      removed: ['OutC'],
      kept: [],
      restarted: ['Router'],
    })
    expect(engine.getHost('OutC')).toBeUndefined()
    expect((await engine.getStatus()).items.map((i) => i.name)).not.toContain('OutC')
    // Its counters stay (what it delivered); its status and queue series go.
    const text = await engine.metrics.render()
    expect(text).not.toMatch(/li_host_status\{host="OutC"/)
    expect(text).not.toMatch(/li_queue_depth\{host="OutC"/)
    expect((await engine.health.checkAll()).checks.map((c) => c.name)).not.toContain('host:OutC')
    await send('R-7')
    expect(await filesIn(path.join(dir, 'c'), 2)).toHaveLength(2)

    // A second inbound interface: it listens once added, and its port closes once removed.
    const port2 = await freePort()
    await writeItems([...base, tcpService('In2', 'Router', port2)], 'OutB')
    expect(await engine.reloadRules()).toMatchObject({ added: ['In2'], removed: [] })
    expect(portOf(engine, 'In2')).toBe(port2)
    expect(msaCode(await sendMllp(port2, hl7('ADT^A01', 'R-8')))).toBe('AA')
    expect(await filesIn(path.join(dir, 'c'), 3)).toHaveLength(3)
    await writeItems(base, 'OutB')
    expect(await engine.reloadRules()).toMatchObject({ added: [], removed: ['In2'] })
    await expect(sendMllp(port2, hl7('ADT^A01', 'R-9'))).rejects.toThrow()
    await send('R-10')
  })
})
