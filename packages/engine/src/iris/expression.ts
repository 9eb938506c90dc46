/**
 * The expression language of IRIS rule conditions and DTL values: string and number literals,
 * virtual property paths (`HL7.{MSH:9.1}`, `source.{PID:3(1).1}`), properties (`HL7.Name`,
 * `Source`), variables, `_` concatenation, arithmetic (`+ - * / \ #`), comparisons (`= != '= <
 * > <= >= [ ]`), logic (`&& || & ! '`, and the rule editor's `AND`/`OR`/`NOT`), function calls
 * (`Contains(a,b)`, DTL `..ToUpper(x)`, `$PIECE(x,"^",1)`) and the rule editor's infix word
 * operators (`x Contains "A"`, `x In "A,B"`).
 *
 * Values follow ObjectScript: strings and numbers; `=` compares as strings, `<`/`>` as numbers;
 * true is 1, false is 0, and a string is true when its number value is not 0.
 *
 * Two operator orders, as in IRIS:
 * - rule conditions (the rule language of `Ens.Rule`, parsed by `Ens.Rule.Model.expression`) use
 *   precedence: unary `!`/`NOT`/`-` > `* / \ #` > `+ -` > `_` > comparisons and the word
 *   operators (`Contains`, `In`, ...) > `&&`/`AND` > `||`/`OR`; `1+2*3` is 7;
 * - DTL `value`/`condition` expressions are ObjectScript (`leftToRight: true`): every binary
 *   operator has the same precedence and they apply strictly left to right, so `1+2*3` is 9 and
 *   `a=1&&b=2` is `((a=1)&&b)=2`; only parentheses and unary operators group.
 */
import { readFileSync, statSync } from 'node:fs'
import { EngineError, type EngineErrorCode } from '../errors.js'
import { parseVirtualPath, type VirtualPath } from './virtual-path.js'

/** A value during evaluation. */
export type Value = string | number

/** The expression tree. */
export type Expr =
  | { k: 'str'; v: string }
  | { k: 'num'; v: number }
  | { k: 'vpath'; base: string; path: VirtualPath; form?: PathForm }
  | { k: 'ref'; base: string; props: string[] }
  | { k: 'call'; name: string; args: Expr[] }
  | { k: 'bin'; op: string; l: Expr; r: Expr }
  | { k: 'un'; op: string; e: Expr }

/**
 * How a virtual property path was written, besides curly brackets (`HL7.{PID:3}`):
 * `round` is `HL7.(NK1():2)` (IRIS `GetValues` in rules, `GetValueAt` in DTL) and `square` is
 * `HL7.[PID:3.1]` (IRIS `FindSegmentValues`: every segment of that name, whatever the structure;
 * rules only).
 */
export type PathForm = 'round' | 'square'

/** What an expression needs from its surroundings at run time. */
export interface EvalEnv {
  vpath(base: string, path: VirtualPath, form?: PathForm): Value
  ref(base: string, props: string[]): Value
  lookupTables: Map<string, Map<string, string>>
  now: Date
  functions: FunctionRegistry
}

/** A function callable from rules (`Name(...)`) and DTL (`..Name(...)`). */
export type IrisFunction = (args: Value[], env: EvalEnv) => Value

/** Functions by lower-case name. */
export type FunctionRegistry = Map<string, IrisFunction>

/** Thrown while parsing; the compilers add class, rule and line. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly unsupported: boolean,
  ) {
    super(message)
  }
}

/** Converts a value to a number as ObjectScript does (leading numeric prefix, else 0). */
export function toNum(v: Value): number {
  if (typeof v === 'number') return v
  const m = /^[+-]*(\d+\.?\d*|\.\d+)(E[+-]?\d+)?/i.exec(v)
  if (!m) return 0
  const signs = /^[+-]*/.exec(v)?.[0] ?? ''
  const neg = (signs.match(/-/g) ?? []).length % 2 === 1
  const n = Number(m[0].replace(/^[+-]*/, ''))
  return neg ? -n : n
}

/** Converts a value to a string (numbers in canonical form). */
export function toStr(v: Value): string {
  return typeof v === 'number' ? String(v) : v
}

/** ObjectScript truth: the number value is not 0. */
export function truthy(v: Value): boolean {
  return toNum(v) !== 0
}

const b = (x: boolean): number => (x ? 1 : 0)

// ---- tokenizer ----------------------------------------------------------------------------

type Tok =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'vpath'; base: string; inner: string; form?: PathForm }
  | { t: 'ref'; parts: string[] }
  | { t: 'dcall'; name: string }
  | { t: 'op'; v: string }

const OPS = [
  "'=",
  "'<",
  "'>",
  "'[",
  "']",
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '=',
  '<',
  '>',
  '!',
  "'",
  '&',
  '_',
  '+',
  '-',
  '*',
  '/',
  '\\',
  '#',
  '[',
  ']',
  '(',
  ')',
  ',',
  '?',
]

function tokenize(src: string): Tok[] {
  const out: Tok[] = []
  let i = 0
  while (i < src.length) {
    const c = src.charAt(i)
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === '"') {
      let v = ''
      i++
      for (;;) {
        if (i >= src.length)
          throw new ExpressionError(`unterminated string literal in ${src}`, false)
        const ch = src.charAt(i)
        if (ch === '"') {
          if (src.charAt(i + 1) === '"') {
            v += '"'
            i += 2
            continue
          }
          i++
          break
        }
        v += ch
        i++
      }
      out.push({ t: 'str', v })
      continue
    }
    const num = /^(\d+\.?\d*|\.\d+)(E[+-]?\d+)?/i.exec(src.slice(i))
    if (num && !(c === '.' && src.charAt(i + 1) === '.')) {
      out.push({ t: 'num', v: Number(num[0]) })
      i += num[0].length
      continue
    }
    if (c === '#' && src.startsWith('##class(', i)) {
      // `##class(Ens.Util.FunctionSet).Lookup(...)`: the function set DTLs call as `..Lookup`.
      const m = /^##class\(\s*([%\w.]+)\s*\)\.([A-Za-z%][A-Za-z0-9%]*)/i.exec(src.slice(i))
      if (m && /^Ens\.(Util|Rule)\.FunctionSet$/i.test(m[1] as string)) {
        out.push({ t: 'dcall', name: m[2] as string })
        i += m[0].length
        continue
      }
      throw new ExpressionError(
        `${m ? `##class(${m[1] ?? ''}).${m[2] ?? ''}` : '##class(...)'} calls an ObjectScript class method, which is not supported; use the built-in functions (##class(Ens.Util.FunctionSet) ones are) or register a function`,
        true,
      )
    }
    if (c === '.' && src.charAt(i + 1) === '.') {
      const m = /^\.\.([A-Za-z%][A-Za-z0-9%]*)/.exec(src.slice(i))
      if (!m?.[1]) throw new ExpressionError(`cannot read ".." at "${src.slice(i, i + 20)}"`, false)
      out.push({ t: 'dcall', name: m[1] })
      i += m[0].length
      continue
    }
    // ObjectScript names are letters, digits and % only: `_` is always the concatenation operator.
    if (/[A-Za-z%$]/.test(c)) {
      const parts: string[] = []
      let m = /^[$]{0,2}[A-Za-z%][A-Za-z0-9%]*/.exec(src.slice(i))
      if (!m) throw new ExpressionError(`cannot read "${src.slice(i, i + 20)}"`, false)
      parts.push(m[0])
      i += m[0].length
      let vpath: string | undefined
      let form: PathForm | undefined
      while (src.charAt(i) === '.') {
        if (src.charAt(i + 1) === '{') {
          const end = src.indexOf('}', i + 2)
          if (end < 0) throw new ExpressionError(`unterminated virtual path in ${src}`, false)
          vpath = src.slice(i + 2, end)
          i = end + 1
          break
        }
        if (src.charAt(i + 1) === '[') {
          const end = src.indexOf(']', i + 2)
          if (end < 0)
            throw new ExpressionError(`unterminated square bracket path [...] in ${src}`, false)
          vpath = src.slice(i + 2, end)
          form = 'square'
          i = end + 1
          break
        }
        if (src.charAt(i + 1) === '(') {
          // `HL7.(NK1():2)`: the path holds parentheses of its own; find the matching one.
          let depth = 0
          let end = -1
          for (let j = i + 1; j < src.length; j++) {
            const ch = src.charAt(j)
            if (ch === '(') depth++
            else if (ch === ')' && --depth === 0) {
              end = j
              break
            }
          }
          if (end < 0)
            throw new ExpressionError(`unterminated round bracket path (...) in ${src}`, false)
          vpath = src.slice(i + 2, end)
          form = 'round'
          i = end + 1
          break
        }
        m = /^[A-Za-z%][A-Za-z0-9%]*/.exec(src.slice(i + 1))
        if (!m) break
        parts.push(m[0])
        i += 1 + m[0].length
      }
      if (vpath === undefined && src.charAt(i) === '.' && src.charAt(i + 1) !== '.') {
        const name = parts.join('.')
        if (src.charAt(i + 1) === '<')
          throw new ExpressionError(
            `the angle bracket (XPath) path syntax ${name}.<...> is not supported (it reads XML streams, not HL7 messages)`,
            true,
          )
        throw new ExpressionError(
          `cannot read "${name}.${src.slice(i + 1, i + 12)}": after "${name}." expected a property name, {path}, (path) or [path]`,
          false,
        )
      }
      if (vpath !== undefined)
        out.push({
          t: 'vpath',
          base: parts.join('.'),
          inner: vpath,
          ...(form !== undefined ? { form } : {}),
        })
      else out.push({ t: 'ref', parts })
      continue
    }
    if (c === '{') {
      const end = src.indexOf('}', i + 1)
      if (end < 0) throw new ExpressionError(`unterminated virtual path in ${src}`, false)
      out.push({ t: 'vpath', base: '', inner: src.slice(i + 1, end) })
      i = end + 1
      continue
    }
    const op = OPS.find((o) => src.startsWith(o, i))
    if (!op) throw new ExpressionError(`unexpected character "${c}" in ${src}`, false)
    out.push({ t: 'op', v: op })
    i += op.length
  }
  return out
}

// ---- parser -------------------------------------------------------------------------------

/** Word operators the rule editor writes infix (`x Contains "A"`), as function names. */
const WORD_OPS = new Set([
  'contains',
  'doesnotcontain',
  'startswith',
  'doesnotstartwith',
  'in',
  'notin',
  'like',
  'matches',
  'infile',
  'intersects',
  'doesnotintersect',
  'doesnotmatch',
  'notlike',
  'endswith',
])

/** Options for parsing: which functions exist (lower-case names) and the operator order. */
export interface ParseOptions {
  functions: FunctionRegistry
  /**
   * ObjectScript order (DTL expressions): binary operators strictly left to right, no
   * precedence. Default false: the rule language's precedence (rule conditions).
   */
  leftToRight?: boolean
  /**
   * Rule conditions (IRIS business rules): allows the square bracket path syntax
   * `HL7.[PID:3.1]`, which IRIS accepts in rules, search tables and filters but not in DTL.
   */
  rules?: boolean
}

/**
 * Parses an expression. Throws `ExpressionError` (with `unsupported` set for constructs we do
 * not implement, such as an unknown function).
 */
export function parseExpression(src: string, options: ParseOptions): Expr {
  const toks = tokenize(src)
  let pos = 0
  const peek = (): Tok | undefined => toks[pos]
  const isOp = (v: string): boolean => {
    const t = toks[pos]
    return t?.t === 'op' && t.v === v
  }
  const isWord = (...words: string[]): string | undefined => {
    const t = toks[pos]
    if (t?.t === 'ref' && t.parts.length === 1) {
      const w = (t.parts[0] as string).toLowerCase()
      if (
        words.includes(w) &&
        !(toks[pos + 1]?.t === 'op' && (toks[pos + 1] as { v: string }).v === '(')
      )
        return w
    }
    return undefined
  }
  const expectOp = (v: string): void => {
    if (!isOp(v)) throw new ExpressionError(`expected "${v}" in ${src}`, false)
    pos++
  }
  const checkFn = (name: string): void => {
    if (!options.functions.has(name.toLowerCase())) {
      throw new ExpressionError(`function "${name}" is not supported (register it to use it)`, true)
    }
  }
  const patternOperator = (): ExpressionError =>
    new ExpressionError(
      `the ObjectScript pattern operator "?" is not supported; use Matches(value, "pattern")`,
      true,
    )
  /** `l Contains r` and the other word operators: a call of the function of that name. */
  const wordCall = (l: Expr, operand: () => Expr): Expr | undefined => {
    const w = isWord(...WORD_OPS)
    if (w === undefined) return undefined
    pos++
    const r = operand()
    checkFn(w)
    return { k: 'call', name: w, args: [l, r] }
  }
  const parseOr = (): Expr => {
    let l = parseAnd()
    for (;;) {
      if (isOp('||') || (isOp('!') && binaryContext())) {
        pos++
        l = { k: 'bin', op: '||', l, r: parseAnd() }
      } else if (isWord('or')) {
        pos++
        l = { k: 'bin', op: '||', l, r: parseAnd() }
      } else return l
    }
  }
  // `!` after a complete operand is ObjectScript's OR.
  const binaryContext = (): boolean => pos > 0
  const parseAnd = (): Expr => {
    let l = parseCmp()
    for (;;) {
      if (isOp('&&') || isOp('&')) {
        pos++
        l = { k: 'bin', op: '&&', l, r: parseCmp() }
      } else if (isWord('and')) {
        pos++
        l = { k: 'bin', op: '&&', l, r: parseCmp() }
      } else return l
    }
  }
  const CMP = ['=', '!=', "'=", '<', '>', '<=', '>=', "'<", "'>", '[', ']', "'[", "']"]
  const parseCmp = (): Expr => {
    let l = parseConcat()
    for (;;) {
      const t = peek()
      if (t?.t === 'op' && CMP.includes(t.v)) {
        pos++
        l = { k: 'bin', op: t.v, l, r: parseConcat() }
        continue
      }
      if (t?.t === 'op' && t.v === '?') throw patternOperator()
      const call = wordCall(l, parseConcat)
      if (call === undefined) return l
      l = call
    }
  }
  const parseConcat = (): Expr => {
    let l = parseAdd()
    while (isOp('_')) {
      pos++
      l = { k: 'bin', op: '_', l, r: parseAdd() }
    }
    return l
  }
  const parseAdd = (): Expr => {
    let l = parseMul()
    for (;;) {
      const t = peek()
      if (t?.t === 'op' && (t.v === '+' || t.v === '-')) {
        pos++
        l = { k: 'bin', op: t.v, l, r: parseMul() }
      } else return l
    }
  }
  // ObjectScript: one level, left to right (`1+2*3` = 9, `a=1&&b=2` = `((a=1)&&b)=2`).
  const BINARY = new Set([...CMP, '&&', '||', '&', '!', '_', '+', '-', '*', '/', '\\', '#'])
  const parseChain = (): Expr => {
    let l = parseUnary()
    for (;;) {
      const t = peek()
      if (t?.t === 'op' && BINARY.has(t.v)) {
        pos++
        const op = t.v === '&' ? '&&' : t.v === '!' ? '||' : t.v
        l = { k: 'bin', op, l, r: parseUnary() }
        continue
      }
      if (t?.t === 'op' && t.v === '?') throw patternOperator()
      const logical = isWord('and', 'or')
      if (logical !== undefined) {
        pos++
        l = { k: 'bin', op: logical === 'and' ? '&&' : '||', l, r: parseUnary() }
        continue
      }
      const call = wordCall(l, parseUnary)
      if (call === undefined) return l
      l = call
    }
  }
  const parseTop = (): Expr => (options.leftToRight === true ? parseChain() : parseOr())
  const parseMul = (): Expr => {
    let l = parseUnary()
    for (;;) {
      const t = peek()
      if (t?.t === 'op' && (t.v === '*' || t.v === '/' || t.v === '\\' || t.v === '#')) {
        pos++
        l = { k: 'bin', op: t.v, l, r: parseUnary() }
      } else return l
    }
  }
  const parseUnary = (): Expr => {
    const t = peek()
    if (t?.t === 'op' && (t.v === '!' || t.v === "'" || t.v === '-' || t.v === '+')) {
      pos++
      return { k: 'un', op: t.v === "'" ? '!' : t.v, e: parseUnary() }
    }
    if (isWord('not')) {
      pos++
      return { k: 'un', op: '!', e: parseUnary() }
    }
    return parsePrimary()
  }
  const parseArgs = (): Expr[] => {
    expectOp('(')
    const args: Expr[] = []
    if (isOp(')')) {
      pos++
      return args
    }
    for (;;) {
      if (isOp(',')) {
        args.push({ k: 'str', v: '' })
        pos++
        continue
      }
      args.push(parseTop())
      if (isOp(',')) {
        pos++
        if (isOp(')')) args.push({ k: 'str', v: '' })
        continue
      }
      expectOp(')')
      return args
    }
  }
  const parsePrimary = (): Expr => {
    const t = peek()
    if (!t) throw new ExpressionError(`unexpected end of expression in ${src}`, false)
    pos++
    switch (t.t) {
      case 'str':
        return { k: 'str', v: t.v }
      case 'num':
        return { k: 'num', v: t.v }
      case 'vpath': {
        let path: VirtualPath
        try {
          path = parseVirtualPath(t.inner)
        } catch (e) {
          throw new ExpressionError((e as Error).message, true)
        }
        if (t.form === 'square') {
          if (options.rules !== true)
            throw new ExpressionError(
              `the square bracket path syntax ${t.base}.[${t.inner}] is only valid in business rules (IRIS does not support it in DTL); use ${t.base}.{${t.inner}}`,
              true,
            )
          const seg = path.steps[0]
          if (path.steps.length !== 1 || !seg || seg.index !== undefined || /^\d+$/.test(seg.name))
            throw new ExpressionError(
              `square bracket path ${t.base}.[${t.inner}]: expected [SEGMENT:field], with () only in the field part (IRIS searches every segment of that name, so groups and segment indexes do not apply)`,
              true,
            )
          return { k: 'vpath', base: t.base, path, form: 'square' }
        }
        return {
          k: 'vpath',
          base: t.base,
          path,
          ...(t.form !== undefined ? { form: t.form } : {}),
        }
      }
      case 'dcall': {
        checkFn(t.name)
        return { k: 'call', name: t.name.toLowerCase(), args: isOp('(') ? parseArgs() : [] }
      }
      case 'ref': {
        // `X.GetValueAt("PID:3.1")`: the method form of a virtual property path (BPL, DTL).
        const str = toks[pos + 1]
        if (
          isOp('(') &&
          t.parts.length >= 2 &&
          (t.parts[t.parts.length - 1] as string).toLowerCase() === 'getvalueat' &&
          str?.t === 'str' &&
          toks[pos + 2]?.t === 'op' &&
          (toks[pos + 2] as { v: string }).v === ')'
        ) {
          pos += 3
          let path: VirtualPath
          try {
            path = parseVirtualPath(str.v)
          } catch (e) {
            throw new ExpressionError((e as Error).message, true)
          }
          return { k: 'vpath', base: t.parts.slice(0, -1).join('.'), path, form: 'round' }
        }
        if (isOp('(')) {
          const name = t.parts.join('.')
          checkFn(name)
          return { k: 'call', name: name.toLowerCase(), args: parseArgs() }
        }
        const [base, ...props] = t.parts
        // `$H`, `$HOROLOG`: ObjectScript special variables, read as functions without arguments.
        if (props.length === 0 && (base as string).startsWith('$')) {
          checkFn(base as string)
          return { k: 'call', name: (base as string).toLowerCase(), args: [] }
        }
        return { k: 'ref', base: base as string, props }
      }
      case 'op':
        if (t.v === '(') {
          const e = parseTop()
          expectOp(')')
          return e
        }
        throw new ExpressionError(`unexpected "${t.v}" in ${src}`, false)
    }
  }
  const e = parseTop()
  if (pos < toks.length) {
    const t = toks[pos] as Tok
    throw new ExpressionError(`unexpected ${'v' in t ? `"${String(t.v)}"` : t.t} in ${src}`, false)
  }
  return e
}

/** Every virtual path of an expression with its base (`HL7`, `source`, ...). */
export function collectPaths(
  e: Expr,
  out: { base: string; path: VirtualPath }[] = [],
): { base: string; path: VirtualPath }[] {
  if (e.k === 'vpath') out.push({ base: e.base, path: e.path })
  else if (e.k === 'call') for (const a of e.args) collectPaths(a, out)
  else if (e.k === 'bin') {
    collectPaths(e.l, out)
    collectPaths(e.r, out)
  } else if (e.k === 'un') collectPaths(e.e, out)
  return out
}

/** Every `ref` and `vpath` base used by an expression (for compile-time checks). */
export function collectRefs(
  e: Expr,
  out: { refs: Set<string>; vpaths: Set<string> } = { refs: new Set(), vpaths: new Set() },
): { refs: Set<string>; vpaths: Set<string> } {
  switch (e.k) {
    case 'ref':
      out.refs.add([e.base, ...e.props].join('.'))
      break
    case 'vpath':
      out.vpaths.add(e.base)
      break
    case 'call':
      for (const a of e.args) collectRefs(a, out)
      break
    case 'bin':
      collectRefs(e.l, out)
      collectRefs(e.r, out)
      break
    case 'un':
      collectRefs(e.e, out)
      break
    case 'str':
    case 'num':
      break
  }
  return out
}

// ---- evaluation ---------------------------------------------------------------------------

/** Evaluates an expression. */
export function evaluate(e: Expr, env: EvalEnv): Value {
  switch (e.k) {
    case 'str':
      return e.v
    case 'num':
      return e.v
    case 'vpath':
      return e.form === undefined ? env.vpath(e.base, e.path) : env.vpath(e.base, e.path, e.form)
    case 'ref':
      return env.ref(e.base, e.props)
    case 'call': {
      const fn = env.functions.get(e.name)
      if (!fn) throw new EngineError('ENGINE_RULE_FAILED', `function "${e.name}" is not registered`)
      if (e.name === 'if') {
        const c = evaluate(e.args[0] ?? { k: 'str', v: '' }, env)
        return evaluate((truthy(c) ? e.args[1] : e.args[2]) ?? { k: 'str', v: '' }, env)
      }
      return fn(
        e.args.map((a) => evaluate(a, env)),
        env,
      )
    }
    case 'un': {
      const v = evaluate(e.e, env)
      if (e.op === '!') return b(!truthy(v))
      if (e.op === '-') return -toNum(v)
      return toNum(v)
    }
    case 'bin': {
      if (e.op === '&&') return b(truthy(evaluate(e.l, env)) && truthy(evaluate(e.r, env)))
      if (e.op === '||') return b(truthy(evaluate(e.l, env)) || truthy(evaluate(e.r, env)))
      const l = evaluate(e.l, env)
      const r = evaluate(e.r, env)
      switch (e.op) {
        case '=':
          return b(toStr(l) === toStr(r))
        case '!=':
        case "'=":
          return b(toStr(l) !== toStr(r))
        case '<':
        case "'>=":
          return b(toNum(l) < toNum(r))
        case '>':
        case "'<=":
          return b(toNum(l) > toNum(r))
        case '<=':
        case "'>":
          return b(toNum(l) <= toNum(r))
        case '>=':
        case "'<":
          return b(toNum(l) >= toNum(r))
        case '[':
          return b(toStr(l).includes(toStr(r)))
        case "'[":
          return b(!toStr(l).includes(toStr(r)))
        case ']':
          return b(toStr(l) > toStr(r))
        case "']":
          return b(!(toStr(l) > toStr(r)))
        case '_':
          return toStr(l) + toStr(r)
        case '+':
          return toNum(l) + toNum(r)
        case '-':
          return toNum(l) - toNum(r)
        case '*':
          return toNum(l) * toNum(r)
        case '/':
          return toNum(l) / toNum(r)
        case '\\':
          return Math.trunc(toNum(l) / toNum(r))
        case '#': {
          const d = toNum(r)
          return ((toNum(l) % d) + d) % d
        }
        default:
          throw new EngineError('ENGINE_INTERNAL', `operator ${e.op} has no evaluator`)
      }
    }
  }
}

/** Wraps an `ExpressionError` as an `EngineError` with a location prefix. */
export function expressionFailure(
  e: unknown,
  where: string,
  codes: { invalid: EngineErrorCode; unsupported: EngineErrorCode },
): EngineError {
  if (e instanceof ExpressionError) {
    return new EngineError(
      e.unsupported ? codes.unsupported : codes.invalid,
      `${where}: ${e.message}`,
      { cause: e },
    )
  }
  if (e instanceof EngineError)
    return new EngineError(e.code, `${where}: ${e.message}`, { cause: e })
  return new EngineError(codes.invalid, `${where}: ${String(e)}`, { cause: e })
}

// ---- functions ----------------------------------------------------------------------------

function arg(args: Value[], i: number, dflt: Value = ''): Value {
  const v = args[i]
  return v === undefined || v === '' ? dflt : v
}

/** ObjectScript `$ZSTRIP(string, action, remove, keep)`. */
export function zstrip(s: string, action: string, remove = '', keep = ''): string {
  const mask = action.replace(/[<>=*]/g, '')
  const classes = mask.toUpperCase()
  const matches = (ch: string): boolean => {
    if (keep.includes(ch)) return false
    if (remove.includes(ch)) return true
    for (const c of classes) {
      if (c === 'E') return true
      if (c === 'A' && /[A-Za-z]/.test(ch)) return true
      if (c === 'U' && /[A-Z]/.test(ch)) return true
      if (c === 'L' && /[a-z]/.test(ch)) return true
      if (c === 'N' && /[0-9]/.test(ch)) return true
      if (c === 'P' && /[!-/:-@[-`{-~ ]/.test(ch) && ch !== ' ') return true
      if (c === 'C' && (ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127)) return true
      if (c === 'W' && /[ \t\r\n]/.test(ch)) return true
    }
    return false
  }
  const chars = [...s]
  if (action.includes('*')) return chars.filter((ch) => !matches(ch)).join('')
  let start = 0
  let end = chars.length
  if (action.includes('<')) while (start < end && matches(chars[start] as string)) start++
  if (action.includes('>')) while (end > start && matches(chars[end - 1] as string)) end--
  let out = chars.slice(start, end)
  if (action.includes('='))
    out = out.filter((ch, i) => !(i > 0 && matches(ch) && out[i - 1] === ch))
  return out.join('')
}

/** ObjectScript `$PIECE`. */
export function piece(s: string, delim: string, from = 1, to = from): string {
  if (delim === '') return ''
  const parts = s.split(delim)
  if (from < 1) from = 1
  if (to < from) return ''
  return parts.slice(from - 1, to).join(delim)
}

/** ObjectScript `$EXTRACT(s, from, to)`. */
export function extract(s: string, from = 1, to = from): string {
  const a = Math.max(1, from)
  if (to < a) return ''
  return s.slice(a - 1, to)
}

/** ObjectScript `$TRANSLATE`. */
export function translate(s: string, from: string, to = ''): string {
  let out = ''
  for (const ch of s) {
    const i = from.indexOf(ch)
    if (i < 0) out += ch
    else if (i < to.length) out += to.charAt(i)
  }
  return out
}

/**
 * Converts an ObjectScript pattern (`3N1"-"4N`, `1.3A`, `.N`, `1(1"A",1"B")`) to a RegExp.
 * Codes: A alpha, U upper, L lower, N digit, P punctuation, C control, E any.
 */
export function patternToRegExp(pattern: string): RegExp {
  let i = 0
  const classOf = (codes: string): string => {
    const parts: string[] = []
    for (const c of codes.toUpperCase()) {
      if (c === 'A') parts.push('A-Za-z')
      else if (c === 'U') parts.push('A-Z')
      else if (c === 'L') parts.push('a-z')
      else if (c === 'N') parts.push('0-9')
      else if (c === 'P') parts.push(' !-\\/:-@\\[-`{-~')
      else if (c === 'C') parts.push('\\x00-\\x1f\\x7f')
      else if (c === 'E') return '[\\s\\S]'
      else throw new ExpressionError(`pattern code "${c}" in "${pattern}" is not supported`, true)
    }
    return `[${parts.join('')}]`
  }
  const seq = (stopAt: string[]): string => {
    let re = ''
    while (i < pattern.length && !stopAt.includes(pattern.charAt(i))) {
      const m = /^(\d*)(\.?)(\d*)/.exec(pattern.slice(i))
      const lo = m?.[1] ?? ''
      const dot = m?.[2] ?? ''
      const hi = m?.[3] ?? ''
      i += (m?.[0] ?? '').length
      let q: string
      if (dot === '') {
        if (lo === '')
          throw new ExpressionError(
            `pattern "${pattern}" needs a count before position ${i + 1}`,
            false,
          )
        q = `{${lo}}`
      } else q = `{${lo === '' ? 0 : lo},${hi}}`
      const ch = pattern.charAt(i)
      let atom: string
      if (ch === '"') {
        const end = pattern.indexOf('"', i + 1)
        if (end < 0)
          throw new ExpressionError(`unterminated literal in pattern "${pattern}"`, false)
        atom = `(?:${pattern.slice(i + 1, end).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})`
        i = end + 1
      } else if (ch === '(') {
        i++
        const alts: string[] = []
        for (;;) {
          alts.push(seq([',', ')']))
          if (pattern.charAt(i) === ',') {
            i++
            continue
          }
          if (pattern.charAt(i) === ')') {
            i++
            break
          }
          throw new ExpressionError(`unterminated group in pattern "${pattern}"`, false)
        }
        atom = `(?:${alts.join('|')})`
      } else {
        const m2 = /^[AULNPCE]+/i.exec(pattern.slice(i))
        if (!m2)
          throw new ExpressionError(`cannot read pattern "${pattern}" at position ${i + 1}`, false)
        atom = classOf(m2[0])
        i += m2[0].length
      }
      re += atom + q
    }
    return re
  }
  const body = seq([])
  return new RegExp(`^${body}$`)
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

interface DateParts {
  Y: number
  m: number
  d: number
  H: number
  M: number
  S: number
}

const FORMAT_FIELDS: Record<
  string,
  { re: string; set?: (p: DateParts, v: string) => void; get: (p: DateParts) => string }
> = {
  Y: { re: '(\\d{4})', set: (p, v) => (p.Y = Number(v)), get: (p) => String(p.Y).padStart(4, '0') },
  y: {
    re: '(\\d{2})',
    set: (p, v) => (p.Y = 2000 + Number(v) - (Number(v) > 50 ? 100 : 0)),
    get: (p) => String(p.Y % 100).padStart(2, '0'),
  },
  m: { re: '(\\d{2})', set: (p, v) => (p.m = Number(v)), get: (p) => String(p.m).padStart(2, '0') },
  d: { re: '(\\d{2})', set: (p, v) => (p.d = Number(v)), get: (p) => String(p.d).padStart(2, '0') },
  H: { re: '(\\d{2})', set: (p, v) => (p.H = Number(v)), get: (p) => String(p.H).padStart(2, '0') },
  M: { re: '(\\d{2})', set: (p, v) => (p.M = Number(v)), get: (p) => String(p.M).padStart(2, '0') },
  S: { re: '(\\d{2})', set: (p, v) => (p.S = Number(v)), get: (p) => String(p.S).padStart(2, '0') },
  b: {
    re: '([A-Za-z]{3})',
    set: (p, v) => (p.m = MONTHS.findIndex((x) => x.toLowerCase() === v.toLowerCase()) + 1),
    get: (p) => MONTHS[p.m - 1] ?? '',
  },
  I: {
    re: '(\\d{2})',
    set: (p, v) => (p.H = Number(v) % 12),
    get: (p) => String(p.H % 12 === 0 ? 12 : p.H % 12).padStart(2, '0'),
  },
  p: {
    re: '(AM|PM|am|pm)',
    set: (p, v) => (p.H = v.toUpperCase() === 'PM' ? (p.H % 12) + 12 : p.H % 12),
    get: (p) => (p.H >= 12 ? 'PM' : 'AM'),
  },
}

function expandFormat(f: string): string {
  return f.replace(/%Q/g, '%Y-%m-%d %H:%M:%S').replace(/%q/g, '%Y%m%d%H%M%S')
}

/**
 * IRIS `ConvertDateTime(value, inFormat, outFormat)` for the `%` codes Y y m d H M S b I p and
 * Q (ODBC `YYYY-MM-DD HH:MM:SS`). Trailing input beyond the format is ignored; input that does not
 * match is returned unchanged, as IRIS does.
 */
export function convertDateTime(value: string, inFormat = '%Q', outFormat = '%Q'): string {
  const fin = expandFormat(inFormat)
  const order: string[] = []
  let re = ''
  for (let i = 0; i < fin.length; i++) {
    const c = fin.charAt(i)
    if (c === '%' && i + 1 < fin.length) {
      const code = fin.charAt(i + 1)
      const def = FORMAT_FIELDS[code]
      if (!def)
        throw new ExpressionError(`ConvertDateTime: format code %${code} is not supported`, true)
      re += def.re
      order.push(code)
      i++
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  // allow a shorter HL7 timestamp (date only) by making the time part optional
  const m = new RegExp(`^${re}`).exec(value)
  const p: DateParts = { Y: 0, m: 1, d: 1, H: 0, M: 0, S: 0 }
  if (!m) {
    const dateOnly = /^(\d{4})(\d{2})(\d{2})$/.exec(value)
    if (!dateOnly || !order.includes('Y')) return value
    p.Y = Number(dateOnly[1])
    p.m = Number(dateOnly[2])
    p.d = Number(dateOnly[3])
  } else {
    order.forEach((code, i) => FORMAT_FIELDS[code]?.set?.(p, m[i + 1] ?? ''))
  }
  return formatDate(p, outFormat)
}

function formatDate(p: DateParts, outFormat: string): string {
  const fout = expandFormat(outFormat)
  let out = ''
  for (let i = 0; i < fout.length; i++) {
    const c = fout.charAt(i)
    if (c === '%' && i + 1 < fout.length) {
      const code = fout.charAt(i + 1)
      const def = FORMAT_FIELDS[code]
      if (code === '%') out += '%'
      else if (!def)
        throw new ExpressionError(`ConvertDateTime: format code %${code} is not supported`, true)
      else out += def.get(p)
      i++
    } else out += c
  }
  return out
}

/** One InFile file as last read, and when its size and mtime were last compared. */
interface InFileEntry {
  set: Set<string>
  size: number
  mtimeMs: number
  checkedAt: number
}

const inFileCache = new Map<string, InFileEntry>()
let inFileRecheckMs = 1000

/**
 * How often (milliseconds, default 1000) `InFile` compares a file's size and mtime with the
 * copy it holds and reads it again when either changed; 0 compares on every call.
 */
export function setInFileRecheckInterval(ms: number): void {
  inFileRecheckMs = Math.max(0, ms)
}

/** The lines of an `InFile` file (trimmed, blank lines dropped), re-read when it changed. */
export function inFileLines(file: string, now = Date.now()): Set<string> {
  const cached = inFileCache.get(file)
  if (cached && now - cached.checkedAt < inFileRecheckMs) return cached.set
  let st: { size: number; mtimeMs: number }
  try {
    st = statSync(file)
  } catch (e) {
    inFileCache.delete(file)
    throw new EngineError(
      'ENGINE_RULE_FAILED',
      `InFile: cannot read "${file}": ${(e as Error).message}`,
      { cause: e },
    )
  }
  if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) {
    cached.checkedAt = now
    return cached.set
  }
  const set = new Set(
    readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  )
  inFileCache.set(file, { set, size: st.size, mtimeMs: st.mtimeMs, checkedAt: now })
  return set
}

function splitItems(list: string, sep = ','): string[] {
  return list.split(sep).map((s) => s.trim())
}

/**
 * The items of a list: `<a><b><c>` (what a rule path with `()`, `HL7.(...)` or `HL7.[...]`
 * returns) is split into a, b, c; anything else is split at `delim` (default `,`).
 */
export function listItems(list: string, delim = ''): string[] {
  if (list.length >= 2 && list.startsWith('<') && list.endsWith('>') && delim === '')
    return list.slice(1, -1).split('><')
  if (delim === '><') return list.replace(/^</, '').replace(/>$/, '').split('><')
  return splitItems(list, delim === '' ? ',' : delim)
}

/**
 * IRIS `Intersects(list1, list2, delim1, delim2)`: whether any item of one list is in the other.
 * Either list may be a `<a><b>` multi-value; `delim2` defaults to `delim1`.
 */
export function intersects(l1: string, l2: string, delim1 = '', delim2 = delim1): boolean {
  const set = new Set(listItems(l2, delim2))
  return listItems(l1, delim1).some((x) => set.has(x))
}

function lookup(env: EvalEnv, table: string, key: string): string | undefined {
  return env.lookupTables.get(table)?.get(key)
}

/** The built-in functions (names lower-case); `$` names are the ObjectScript functions DTLs use. */
/** Days from 1840-12-31 (ObjectScript's day 0) to 1970-01-01. */
const HOROLOG_EPOCH_DAYS = 47117

/** ObjectScript `$HOROLOG` of a local time: `days,seconds` (days since 1840-12-31). */
export function horolog(now: Date): string {
  const local = Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())
  const days = Math.floor(local / 86_400_000) + HOROLOG_EPOCH_DAYS
  const seconds = now.getHours() * 3600 + now.getMinutes() * 60 + now.getSeconds()
  return `${days},${seconds}`
}

/**
 * ObjectScript `$ZDATETIME` (`withTime`) and `$ZDATE` of a `$HOROLOG` value, in the formats
 * interfaces use: 1 `MM/DD/YYYY` (the default), 3 `YYYY-MM-DD` (ODBC), 4 `DD/MM/YYYY`, 8
 * `YYYYMMDD`; the time, when asked, as ` HH:MM:SS`. Another format throws.
 */
export function zdatetime(h: string, format: number, withTime: boolean): string {
  const [d = '', t = ''] = h.split(',')
  const days = Math.trunc(toNum(d))
  const at = new Date((days - HOROLOG_EPOCH_DAYS) * 86_400_000)
  const p2 = (n: number): string => String(n).padStart(2, '0')
  const y = String(at.getUTCFullYear()).padStart(4, '0')
  const m = p2(at.getUTCMonth() + 1)
  const day = p2(at.getUTCDate())
  let date: string
  switch (format) {
    case 1:
      date = `${m}/${day}/${y}`
      break
    case 3:
      date = `${y}-${m}-${day}`
      break
    case 4:
      date = `${day}/${m}/${y}`
      break
    case 8:
      date = `${y}${m}${day}`
      break
    default:
      throw new Error(`$ZDATETIME/$ZDATE format ${format} is not supported (1, 3, 4 or 8)`)
  }
  if (!withTime || t === '') return date
  const secs = Math.trunc(toNum(t))
  return `${date} ${p2(Math.floor(secs / 3600))}:${p2(Math.floor(secs / 60) % 60)}:${p2(secs % 60)}`
}

export function builtinFunctions(): FunctionRegistry {
  const s = (v: Value | undefined): string => (v === undefined ? '' : toStr(v))
  const fns: [string, IrisFunction][] = [
    ['toupper', (a) => s(a[0]).toUpperCase()],
    ['tolower', (a) => s(a[0]).toLowerCase()],
    ['strip', (a) => zstrip(s(a[0]), s(arg(a, 1, '<>W')), s(a[2]), s(a[3]))],
    ['$zstrip', (a) => zstrip(s(a[0]), s(a[1]), s(a[2]), s(a[3]))],
    ['replacestr', (a) => s(a[0]).split(s(a[1])).join(s(a[2]))],
    [
      'substring',
      (a) => {
        const v = s(a[0])
        return extract(v, toNum(arg(a, 1, 1)), toNum(arg(a, 2, v.length)))
      },
    ],
    ['$extract', (a) => extract(s(a[0]), toNum(arg(a, 1, 1)), toNum(arg(a, 2, arg(a, 1, 1))))],
    ['$e', (a) => extract(s(a[0]), toNum(arg(a, 1, 1)), toNum(arg(a, 2, arg(a, 1, 1))))],
    [
      'piece',
      (a) => piece(s(a[0]), s(arg(a, 1, ',')), toNum(arg(a, 2, 1)), toNum(arg(a, 3, arg(a, 2, 1)))),
    ],
    ['$piece', (a) => piece(s(a[0]), s(a[1]), toNum(arg(a, 2, 1)), toNum(arg(a, 3, arg(a, 2, 1))))],
    ['$p', (a) => piece(s(a[0]), s(a[1]), toNum(arg(a, 2, 1)), toNum(arg(a, 3, arg(a, 2, 1))))],
    ['translate', (a) => translate(s(a[0]), s(a[1]), s(a[2]))],
    ['$translate', (a) => translate(s(a[0]), s(a[1]), s(a[2]))],
    ['$tr', (a) => translate(s(a[0]), s(a[1]), s(a[2]))],
    [
      'pad',
      (a) => {
        const v = s(a[0])
        const w = toNum(arg(a, 1, 0))
        const ch = s(arg(a, 2, ' ')).charAt(0) || ' '
        return w < 0 ? v.padStart(-w, ch) : v.padEnd(w, ch)
      },
    ],
    ['if', (a) => (truthy(a[0] ?? 0) ? (a[1] ?? '') : (a[2] ?? ''))],
    ['in', (a) => b(splitItems(s(a[1])).includes(s(a[0])))],
    ['notin', (a) => b(!splitItems(s(a[1])).includes(s(a[0])))],
    ['contains', (a) => b(s(a[0]).includes(s(a[1])))],
    ['doesnotcontain', (a) => b(!s(a[0]).includes(s(a[1])))],
    ['startswith', (a) => b(s(a[0]).startsWith(s(a[1])))],
    ['doesnotstartwith', (a) => b(!s(a[0]).startsWith(s(a[1])))],
    ['endswith', (a) => b(s(a[0]).endsWith(s(a[1])))],
    [
      'length',
      (a) => (a.length > 1 && s(a[1]) !== '' ? s(a[0]).split(s(a[1])).length : s(a[0]).length),
    ],
    ['$char', (a) => a.map((c) => String.fromCharCode(toNum(c))).join('')],
    ['$c', (a) => a.map((c) => String.fromCharCode(toNum(c))).join('')],
    ['$horolog', (_a, env) => horolog(env.now)],
    ['$h', (_a, env) => horolog(env.now)],
    ['$zdatetime', (a) => zdatetime(s(a[0]), toNum(arg(a, 1, 1)), true)],
    ['$zdt', (a) => zdatetime(s(a[0]), toNum(arg(a, 1, 1)), true)],
    ['$zdate', (a) => zdatetime(s(a[0]), toNum(arg(a, 1, 1)), false)],
    ['$zd', (a) => zdatetime(s(a[0]), toNum(arg(a, 1, 1)), false)],
    ['$length', (a) => (a.length > 1 ? s(a[0]).split(s(a[1])).length : s(a[0]).length)],
    ['$l', (a) => (a.length > 1 ? s(a[0]).split(s(a[1])).length : s(a[0]).length)],
    [
      '$zconvert',
      (a) =>
        s(a[1]).toUpperCase() === 'U'
          ? s(a[0]).toUpperCase()
          : s(a[1]).toUpperCase() === 'L'
            ? s(a[0]).toLowerCase()
            : s(a[0]),
    ],
    [
      '$zcvt',
      (a) =>
        s(a[1]).toUpperCase() === 'U'
          ? s(a[0]).toUpperCase()
          : s(a[1]).toUpperCase() === 'L'
            ? s(a[0]).toLowerCase()
            : s(a[0]),
    ],
    ['convertdatetime', (a) => convertDateTime(s(a[0]), s(arg(a, 1, '%Q')), s(arg(a, 2, '%Q')))],
    [
      'currentdatetime',
      (a, env) => {
        const d = env.now
        return formatDate(
          {
            Y: d.getFullYear(),
            m: d.getMonth() + 1,
            d: d.getDate(),
            H: d.getHours(),
            M: d.getMinutes(),
            S: d.getSeconds(),
          },
          s(arg(a, 0, '%Q')),
        )
      },
    ],
    [
      'lookup',
      (a, env) => {
        const key = s(a[1])
        const dflt = s(a[2])
        if (key === '' && a.length > 3 && truthy(a[3] ?? 0)) return dflt
        return lookup(env, s(a[0]), key) ?? dflt
      },
    ],
    ['exists', (a, env) => b(lookup(env, s(a[0]), s(a[1])) !== undefined)],
    ['like', (a) => b(likeToRegExp(s(a[1])).test(s(a[0])))],
    ['notlike', (a) => b(!likeToRegExp(s(a[1])).test(s(a[0])))],
    ['matches', (a) => b(patternToRegExp(s(a[1])).test(s(a[0])))],
    ['doesnotmatch', (a) => b(!patternToRegExp(s(a[1])).test(s(a[0])))],
    ['infile', (a) => b(inFileLines(s(a[1])).has(s(a[0])))],
    ['intersects', (a) => b(intersects(s(a[0]), s(a[1]), s(a[2]), s(a[3])))],
    ['doesnotintersect', (a) => b(!intersects(s(a[0]), s(a[1]), s(a[2]), s(a[3])))],
    [
      'round',
      (a) => {
        const f = 10 ** toNum(arg(a, 1, 0))
        return Math.round(toNum(a[0] ?? 0) * f) / f
      },
    ],
    ['min', (a) => Math.min(...a.filter((x) => x !== '').map(toNum))],
    ['max', (a) => Math.max(...a.filter((x) => x !== '').map(toNum))],
    ['not', (a) => b(!truthy(a[0] ?? 0))],
  ]
  return new Map(fns)
}

/** SQL LIKE (`%` any run, `_` one character) as IRIS's `Like` uses it, case-sensitive. */
export function likeToRegExp(pattern: string): RegExp {
  let re = ''
  for (const ch of pattern) {
    if (ch === '%') re += '[\\s\\S]*'
    else if (ch === '_') re += '[\\s\\S]'
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

const userFunctions: FunctionRegistry = new Map()

/**
 * Registers a function for rules and DTL under an IRIS name (`MyLookup` serves `MyLookup(...)`
 * and `..MyLookup(...)`), replacing a built-in of the same name.
 * @example registerIrisFunction('Soundex', ([s]) => soundex(String(s)))
 */
export function registerIrisFunction(name: string, fn: IrisFunction): void {
  userFunctions.set(name.toLowerCase(), fn)
}

/** Built-ins plus registered functions plus `extra` (which win). */
export function functionRegistry(extra?: Record<string, IrisFunction>): FunctionRegistry {
  const m = builtinFunctions()
  for (const [k, v] of userFunctions) m.set(k, v)
  for (const [k, v] of Object.entries(extra ?? {})) m.set(k.toLowerCase(), v)
  return m
}
