/**
 * XML reading and writing for IRIS exports, on top of fast-xml-parser (ordered mode, so child
 * order and attribute order survive for round trips).
 *
 * `parseXml` returns a small element tree with the 1-based line of each start tag. fast-xml-parser
 * reports no positions, so a position scanner walks the same text and pairs start tags with
 * elements in document order (it skips comments, CDATA, processing instructions and DOCTYPE; it
 * parses nothing itself).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { EngineError } from '../errors.js'

/** One XML element: name, attributes in document order, child elements, direct text (and CDATA). */
export interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
  /** Concatenated direct text and CDATA content (split CDATA sections are joined). */
  text: string
  /** 1-based line of the start tag in the parsed text. */
  line: number
}

type Ordered = Record<string, unknown>

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  cdataPropName: '#cdata',
  commentPropName: '#comment',
  processEntities: true,
  htmlEntities: true,
})

function startTagLines(text: string): { name: string; line: number }[] {
  const out: { name: string; line: number }[] = []
  let line = 1
  let i = 0
  const n = text.length
  const advance = (to: number): void => {
    for (let k = i; k < to && k < n; k++) if (text.charCodeAt(k) === 10) line++
    i = to
  }
  while (i < n) {
    const lt = text.indexOf('<', i)
    if (lt < 0) break
    advance(lt)
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i)
      advance(end < 0 ? n : end + 3)
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i)
      advance(end < 0 ? n : end + 3)
    } else if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i)
      advance(end < 0 ? n : end + 2)
    } else if (text.startsWith('<!', i) || text.startsWith('</', i)) {
      const end = text.indexOf('>', i)
      advance(end < 0 ? n : end + 1)
    } else {
      const m = /^<([^\s/>]+)/.exec(text.slice(i, i + 200))
      out.push({ name: m?.[1] ?? '', line })
      advance(i + 1)
    }
  }
  return out
}

/**
 * Parses XML text into an element tree and returns the root element. `lineOffset` is added to
 * every line (for XML embedded in a larger file). Throws `ENGINE_PRODUCTION_PARSE` with the
 * parser's line and message on malformed XML.
 */
export function parseXml(text: string, where: string, lineOffset = 0): XmlElement {
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: true })
  if (valid !== true) {
    const e = valid.err
    throw new EngineError(
      'ENGINE_PRODUCTION_PARSE',
      `${where}: malformed XML at line ${e.line + lineOffset}, column ${e.col}: ${e.msg}`,
    )
  }
  const tree = parser.parse(text) as Ordered[]
  const positions = startTagLines(text)
  let p = 0
  const convert = (node: Ordered): XmlElement | undefined => {
    const key = Object.keys(node).find((k) => k !== ':@')
    if (key === undefined || key.startsWith('#') || key.startsWith('?')) return undefined
    const pos = positions[p]
    p++
    const attrs: Record<string, string> = {}
    const rawAttrs = node[':@'] as Record<string, unknown> | undefined
    if (rawAttrs) for (const [k, v] of Object.entries(rawAttrs)) attrs[k] = String(v)
    const el: XmlElement = {
      name: key,
      attrs,
      children: [],
      text: '',
      line: (pos?.line ?? 0) + lineOffset,
    }
    const kids = (node[key] as Ordered[] | undefined) ?? []
    for (const kid of kids) {
      if ('#text' in kid) el.text += String(kid['#text'])
      else if ('#cdata' in kid) {
        for (const c of kid['#cdata'] as Ordered[]) {
          const t = c['#text']
          if (typeof t === 'string' || typeof t === 'number') el.text += String(t)
        }
      } else if ('#comment' in kid) continue
      else {
        const child = convert(kid)
        if (child) el.children.push(child)
      }
    }
    return el
  }
  for (const top of tree) {
    const key = Object.keys(top).find((k) => k !== ':@')
    if (key === undefined) continue
    if (key.startsWith('?')) {
      // the XML declaration is not in the start-tag scan
      continue
    }
    if (key.startsWith('#')) continue
    const root = convert(top)
    if (root) return root
  }
  throw new EngineError('ENGINE_PRODUCTION_PARSE', `${where}: no XML element found`)
}

/** The direct children of `el` with this (local) name, ignoring namespace prefixes. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => localName(c.name) === name)
}

/** The first direct child with this (local) name. */
export function childNamed(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => localName(c.name) === name)
}

/** An element name without its namespace prefix. */
export function localName(name: string): string {
  const i = name.indexOf(':')
  return i < 0 ? name : name.slice(i + 1)
}

/** Escapes text for an XML attribute value in double quotes. */
export function escapeAttr(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\r/g, '&#13;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;')
}

/** Escapes XML character data. */
export function escapeText(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;')
}
