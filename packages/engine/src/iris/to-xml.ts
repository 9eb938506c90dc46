/**
 * Writes a production back as IRIS XML: a bare `<Production>` (default), a UDL class, or a
 * Studio/IRIS `<Export>` that also carries the rule classes, DTL classes and lookup tables
 * (CDATA containing `]]>` is split as IRIS does: `]]]]><![CDATA[>`).
 *
 * Every attribute and setting the loader kept is written in its original order, so
 * `loadProduction(toXml(p))` gives back an equal model. Native rules (`defineProduction`) have no
 * IRIS XML and are left out of exports.
 */
import { parseIrisBoolean } from '../production/model.js'
import type { Production, ProductionItem } from '../production/types.js'
import { escapeAttr, escapeText } from './xml.js'

/** Output forms of `toXml`. */
export interface ToXmlOptions {
  /** `production` (default): bare `<Production>`; `class`: UDL `.cls`; `export`: `<Export>` XML. */
  form?: 'production' | 'class' | 'export'
}

function attrs(record: Record<string, string>): string {
  return Object.entries(record)
    .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
    .join('')
}

/** Keeps the original spelling (`1` vs `true`) when it still means the typed value. */
function bool(orig: string | undefined, v: boolean): string {
  return orig !== undefined && parseIrisBoolean(orig) === v ? orig : String(v)
}

function productionAttributes(p: Production): Record<string, string> {
  const a: Record<string, string> = { ...p.attributes, Name: p.name }
  if (p.testingEnabled !== undefined) a.TestingEnabled = bool(a.TestingEnabled, p.testingEnabled)
  if (p.logGeneralTraceEvents !== undefined)
    a.LogGeneralTraceEvents = bool(a.LogGeneralTraceEvents, p.logGeneralTraceEvents)
  return a
}

function itemAttributes(i: ProductionItem): Record<string, string> {
  const a: Record<string, string> = { ...i.attributes, Name: i.name }
  if (i.category !== undefined) a.Category = i.category
  a.ClassName = i.className
  const pool = i.attributes.PoolSize
  if (pool !== undefined || i.poolSize !== 1)
    a.PoolSize = pool !== undefined && Number(pool) === i.poolSize ? pool : String(i.poolSize)
  if (i.attributes.Enabled !== undefined || !i.enabled) a.Enabled = bool(a.Enabled, i.enabled)
  if (i.foreground !== undefined) a.Foreground = bool(a.Foreground, i.foreground)
  if (i.comment !== undefined) a.Comment = i.comment
  if (i.logTraceEvents !== undefined) a.LogTraceEvents = bool(a.LogTraceEvents, i.logTraceEvents)
  if (i.schedule !== undefined) a.Schedule = i.schedule
  return a
}

/** The `<Production>` element text. */
function productionXml(p: Production): string {
  const out: string[] = [`<Production${attrs(productionAttributes(p))}>`]
  if (p.description !== undefined)
    out.push(`  <Description>${escapeText(p.description)}</Description>`)
  if (p.actorPoolSize !== undefined) out.push(`  <ActorPoolSize>${p.actorPoolSize}</ActorPoolSize>`)
  for (const s of p.settings) {
    out.push(
      `  <Setting Target="${s.target}" Name="${escapeAttr(s.name)}">${escapeText(s.value)}</Setting>`,
    )
  }
  for (const item of p.items) {
    if (item.settings.length === 0) {
      out.push(`  <Item${attrs(itemAttributes(item))}>`, '  </Item>')
      continue
    }
    out.push(`  <Item${attrs(itemAttributes(item))}>`)
    for (const s of item.settings) {
      out.push(
        `    <Setting Target="${s.target}" Name="${escapeAttr(s.name)}">${escapeText(s.value)}</Setting>`,
      )
    }
    out.push('  </Item>')
  }
  out.push('</Production>')
  return out.join('\n')
}

function cdata(s: string): string {
  return `<![CDATA[${s.split(']]>').join(']]]]><![CDATA[>')}]]>`
}

function exportClass(
  name: string,
  superClass: string,
  xdata: string,
  body: string,
  params: Record<string, string> = {},
): string {
  const out = [`<Class name="${escapeAttr(name)}">`, `<Super>${escapeText(superClass)}</Super>`]
  for (const [k, v] of Object.entries(params)) {
    out.push(
      `<Parameter name="${escapeAttr(k)}">`,
      `<Default>${escapeText(v)}</Default>`,
      '</Parameter>',
    )
  }
  out.push(
    `<XData name="${escapeAttr(xdata)}">`,
    `<Data>${cdata('\n' + body.trim() + '\n')}</Data>`,
    '</XData>',
    '</Class>',
  )
  return out.join('\n')
}

/**
 * Writes a production as IRIS XML.
 * @example await loadProduction({ xml: toXml(p) }) // deep-equal to p's model
 */
export function toXml(p: Production, options: ToXmlOptions = {}): string {
  const form = options.form ?? 'production'
  const prod = productionXml(p)
  if (form === 'production') return prod + '\n'
  if (form === 'class') {
    const indented = prod
    return `Class ${p.name} Extends Ens.Production\n{\n\nXData ProductionDefinition\n{\n${indented}\n}\n\n}\n`
  }
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Export generator="LI Engine" version="26">',
  ]
  parts.push(exportClass(p.name, 'Ens.Production', 'ProductionDefinition', prod))
  for (const r of p.rules.values()) {
    if (r.native) continue
    parts.push(
      exportClass(r.className, 'Ens.Rule.Definition', 'RuleDefinition', r.xml, r.parameters),
    )
  }
  for (const t of p.transforms.values()) {
    parts.push(exportClass(t.className, 'Ens.DataTransformDTL', 'DTL', t.xml, t.parameters))
  }
  for (const [name, table] of p.lookupTables) {
    parts.push(`<Document name="${escapeAttr(name)}.LUT">`, '<lookupTable>')
    for (const [k, v] of table)
      parts.push(
        `<entry table="${escapeAttr(name)}" key="${escapeAttr(k)}">${escapeText(v)}</entry>`,
      )
    parts.push('</lookupTable>', '</Document>')
  }
  parts.push('</Export>')
  return parts.join('\n') + '\n'
}
