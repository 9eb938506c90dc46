import { describe, expect, it } from 'vitest'
import { loadProduction } from '../iris/loader.js'
import { toXml } from '../iris/to-xml.js'
import { defineProduction } from './define.js'
import { hostKindOf, itemSetting, startOrder } from './model.js'

describe('defineProduction', () => {
  const p = defineProduction({
    name: 'Native.Production',
    description: 'no IRIS here',
    settings: { ShutdownTimeout: 60 },
    items: [
      {
        name: 'In',
        type: 'mllp-in',
        settings: { Port: 2575, AckMode: 'App', StayConnected: -1 },
        targets: ['Router'],
      },
      { name: 'Router', type: 'router', rules: [{ when: 'HL7.{MSH:9.1}="ADT"', send: 'Out' }] },
      {
        name: 'Out',
        className: 'EnsLib.HL7.Operation.TCPOperation',
        poolSize: 2,
        adapter: { IPAddress: '10.0.0.1', Port: 5000 },
        host: { ReplyCodeActions: ':?A=C,:*=S' },
      },
    ],
  })

  it('maps short types to IRIS classes and places settings on adapter or host', () => {
    expect(p.items.map((i) => i.className)).toEqual([
      'EnsLib.HL7.Service.TCPService',
      'EnsLib.HL7.MsgRouter.RoutingEngine',
      'EnsLib.HL7.Operation.TCPOperation',
    ])
    const [inItem, router, out] = p.items
    expect(itemSetting(inItem!, 'Port', 'Adapter')).toBe('2575')
    expect(itemSetting(inItem!, 'AckMode', 'Host')).toBe('App')
    expect(itemSetting(inItem!, 'TargetConfigNames', 'Host')).toBe('Router')
    expect(itemSetting(router!, 'BusinessRuleName')).toBe('Router.Rules')
    expect(p.rules.get('Router.Rules')?.native).toHaveLength(1)
    expect(out!.poolSize).toBe(2)
    expect(itemSetting(out!, 'Port', 'Adapter')).toBe('5000')
    expect(hostKindOf(out!)).toBe('operation')
    expect(startOrder(p).map((i) => i.name)).toEqual(['Out', 'Router', 'In'])
  })

  it('writes IRIS XML that loads back to the same items and settings', async () => {
    const back = await loadProduction({ xml: toXml(p) }, { validate: false })
    expect(back.items).toEqual(p.items)
    expect(back.settings).toEqual(p.settings)
    expect(back.description).toBe('no IRIS here')
  })

  it('validates like loadProduction', () => {
    expect(() =>
      defineProduction({
        name: 'Bad',
        items: [{ name: 'In', type: 'mllp-in', targets: 'Missing' }],
      }),
    ).toThrow(/item "In" setting TargetConfigNames: unknown target "Missing"/)
    expect(() =>
      defineProduction({
        name: 'Bad',
        items: [{ name: 'R', type: 'router', rules: [{ when: 'Nope(1)', send: 'R' }] }],
      }),
    ).toThrow(/function "Nope" is not supported/)
    expect(() => defineProduction({ name: 'Bad', items: [{ name: 'X' }] })).toThrow(
      /give className or type/,
    )
  })

  it('hostKindOf falls back to IRIS naming and lets the registry override', () => {
    expect(hostKindOf({ className: 'My.Custom.Thing' })).toBe('process')
    expect(hostKindOf({ className: 'My.Custom.Thing' }, () => 'operation')).toBe('operation')
    expect(hostKindOf({ className: 'RGH.Services.PASService' })).toBe('service')
  })
})
