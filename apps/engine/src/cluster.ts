/**
 * The cluster view of the management API: the other engines of a scale-out deployment (several
 * `li-engine run` processes sharing Redis queues, each with its own message store), how to find
 * them (fixed URLs, or a DNS name re-resolved at most every 10 s) and how to ask them.
 *
 * Each peer is named by its own `GET /api/instance`, cached 10 s per URL; a URL that answers with
 * this engine's name is this engine (a DNS list includes it) and is never asked, and two URLs
 * with the same name (the IPv4 and IPv6 address of one pod) are asked once. Peers are called with
 * this engine's admin token, one call at a time per peer with a 5 s timeout, always in local
 * scope, so a cluster request never fans out twice.
 *
 * It does not merge answers (app.ts does) and never fails as a whole: a peer that cannot be
 * resolved, reached or understood comes back as an outcome with `ok: false` and the reason.
 */
import { lookup } from 'node:dns/promises'
import type { Logger } from 'pino'
import type { PeerSpec } from './config.js'
import { AppError } from './errors.js'

/** Milliseconds a peer call may take (`GET` of one peer). */
export const PEER_TIMEOUT_MS = 5000
/** Milliseconds a DNS peer list and a peer's name are reused before being asked again. */
export const PEER_CACHE_MS = 10_000

/** What one engine did for a cluster answer (`engines` of the answer). */
export interface EngineOutcome {
  /** The engine's instance name; absent when a peer could not even be named. */
  engine?: string
  /** The peer's base URL; null for the engine that answered the request. */
  url: string | null
  ok: boolean
  /** Why it failed (`ok: false`). */
  error?: string
}

/** A peer with its instance name. */
export interface NamedPeer {
  engine: string
  url: string
}

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /** This engine's instance name. */
  instance: string
  /** The other engines; none when undefined. */
  peers?: PeerSpec | undefined
  /** The bearer token sent to peers (they share LI_ADMIN_TOKEN). */
  token: string
  /** Milliseconds per peer call; default {@link PEER_TIMEOUT_MS}. */
  timeoutMs?: number | undefined
  logger?: Logger | undefined
}

/** A peer answered with a status other than 2xx (`status`, and its JSON error code if any). */
export class PeerHttpError extends AppError {
  readonly status: number
  readonly peerCode: string | undefined

  constructor(status: number, peerCode: string | undefined, message: string) {
    super('APP_PEER_FAILED', message)
    this.status = status
    this.peerCode = peerCode
  }
}

/** Text of a failed peer call, without a stack: what failed and, where known, why. */
export function peerErrorText(e: unknown, timeoutMs: number): string {
  if (e instanceof Error) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return `no answer within ${timeoutMs / 1000} s`
    }
    const cause = (e as { cause?: { code?: unknown; message?: unknown } }).cause
    if (e.message === 'fetch failed' && cause !== undefined) {
      const code = typeof cause.code === 'string' ? cause.code : undefined
      const msg = typeof cause.message === 'string' ? cause.message : undefined
      return `cannot reach the engine: ${code ?? msg ?? 'network error'}`
    }
    return e.message
  }
  return String(e)
}

/** `http://<address>:<port>`, bracketing IPv6 addresses. */
function addressUrl(address: string, family: number, port: number): string {
  return family === 6 ? `http://[${address}]:${port}` : `http://${address}:${port}`
}

/** The other engines of this engine's cluster, and how to call them. */
export class Cluster {
  readonly instance: string
  readonly timeoutMs: number
  readonly #spec: PeerSpec | undefined
  readonly #token: string
  readonly #logger: Logger | undefined
  #dns: { urls: string[]; at: number } | undefined
  #resolving: Promise<string[]> | undefined
  readonly #names = new Map<string, { engine: string; at: number }>()

  constructor(options: ClusterOptions) {
    this.instance = options.instance
    this.#spec = options.peers
    this.#token = options.token
    this.timeoutMs = options.timeoutMs ?? PEER_TIMEOUT_MS
    this.#logger = options.logger
  }

  /** Whether any peer is configured. */
  get hasPeers(): boolean {
    return this.#spec !== undefined
  }

  /** The peer URLs now: the fixed list, or the DNS name's addresses (cached {@link PEER_CACHE_MS}). */
  async urls(): Promise<string[]> {
    const spec = this.#spec
    if (spec === undefined) return []
    if (spec.kind === 'urls') return spec.urls
    if (this.#dns !== undefined && Date.now() - this.#dns.at < PEER_CACHE_MS) return this.#dns.urls
    // getaddrinfo (dns.lookup), not a DNS query of our own: /etc/hosts and the pod's search
    // domains apply, so `li-engine-headless` resolves inside its namespace as it does for curl.
    this.#resolving ??= lookup(spec.name, { all: true })
      .then((addresses) => {
        const urls = [...new Set(addresses.map((a) => addressUrl(a.address, a.family, spec.port)))]
        this.#dns = { urls, at: Date.now() }
        return urls
      })
      .finally(() => {
        this.#resolving = undefined
      })
    return this.#resolving
  }

  /**
   * The peers with their names, without this engine and without repeats, and the outcomes of
   * those that could not be named (unresolvable DNS name, unreachable URL, wrong token...).
   */
  async peers(): Promise<{ peers: NamedPeer[]; failed: EngineOutcome[] }> {
    const spec = this.#spec
    if (spec === undefined) return { peers: [], failed: [] }
    let urls: string[]
    try {
      urls = await this.urls()
    } catch (e) {
      const where = spec.kind === 'dns' ? `dns:${spec.name}:${spec.port}` : 'peers'
      const error = `cannot resolve ${spec.kind === 'dns' ? spec.name : 'the peers'}: ${peerErrorText(e, this.timeoutMs)}`
      this.#logger?.warn({ peers: where, error }, 'cluster peers not resolved')
      return { peers: [], failed: [{ url: where, ok: false, error }] }
    }
    const named = await Promise.all(
      urls.map(async (url) => {
        try {
          return { url, engine: await this.name(url) }
        } catch (e) {
          const error = peerErrorText(e, this.timeoutMs)
          this.#logger?.warn({ peer: url, error }, 'cluster peer not reachable')
          return { url, error }
        }
      }),
    )
    const peers: NamedPeer[] = []
    const failed: EngineOutcome[] = []
    const seen = new Set<string>([this.instance])
    for (const n of named) {
      if ('error' in n) failed.push({ url: n.url, ok: false, error: n.error })
      else if (!seen.has(n.engine)) {
        seen.add(n.engine)
        peers.push({ engine: n.engine, url: n.url })
      }
    }
    return { peers, failed }
  }

  /** The instance name of the engine at `url` (its `GET /api/instance`, cached {@link PEER_CACHE_MS}). */
  async name(url: string): Promise<string> {
    const cached = this.#names.get(url)
    if (cached !== undefined && Date.now() - cached.at < PEER_CACHE_MS) return cached.engine
    const body = await this.get(url, '/api/instance')
    const engine = (body as { instance?: unknown } | null)?.instance
    if (typeof engine !== 'string' || engine === '') {
      throw new AppError(
        'APP_PEER_FAILED',
        `${url}/api/instance did not name an engine: is it an li-engine of this version?`,
      )
    }
    this.#names.set(url, { engine, at: Date.now() })
    return engine
  }

  /**
   * `GET <url><path>` with this engine's token and timeout; the parsed JSON body of a 2xx answer.
   * Throws PeerHttpError for any other status (with the peer's error code and message).
   */
  async get(url: string, pathAndQuery: string): Promise<unknown> {
    return this.#request(url, pathAndQuery, 'GET', this.timeoutMs)
  }

  /**
   * `POST <url><path>` with an empty JSON body, this engine's token and `timeoutMs`; as `get`.
   * Only for the cluster-wide production reload (each engine applies its own file).
   */
  async post(url: string, path: string, timeoutMs: number): Promise<unknown> {
    return this.#request(url, path, 'POST', timeoutMs)
  }

  async #request(
    url: string,
    pathAndQuery: string,
    method: 'GET' | 'POST',
    timeoutMs: number,
  ): Promise<unknown> {
    const res = await fetch(`${url}${pathAndQuery}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        accept: 'application/json',
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body: '{}' } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await res.text()
    let body: unknown
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      body = undefined
    }
    if (!res.ok) {
      const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
      const code = typeof err?.code === 'string' ? err.code : undefined
      const message = typeof err?.message === 'string' ? err.message : undefined
      const hint = res.status === 401 ? ' (the engines of a cluster must share LI_ADMIN_TOKEN)' : ''
      throw new PeerHttpError(
        res.status,
        code,
        `HTTP ${res.status}${code === undefined ? '' : ` ${code}`}${message === undefined ? '' : `: ${message}`}${hint}`,
      )
    }
    if (body === undefined) {
      throw new AppError('APP_PEER_FAILED', `${url}${pathAndQuery.split('?')[0]} answered no JSON`)
    }
    return body
  }
}

const CURSOR_PREFIX = 'cl1.'

/**
 * A cluster paging cursor: each engine's own cursor (a string: continue there), `null` (that
 * engine has no more), engines not named start from their newest message.
 */
export type ClusterCursor = Record<string, string | null>

/** Encode a cluster cursor as an opaque token. */
export function encodeClusterCursor(state: ClusterCursor): string {
  return CURSOR_PREFIX + Buffer.from(JSON.stringify(state), 'utf8').toString('base64url')
}

/** Decode a token of {@link encodeClusterCursor}; undefined when it is not one. */
export function decodeClusterCursor(token: string): ClusterCursor | undefined {
  if (!token.startsWith(CURSOR_PREFIX)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(token.slice(CURSOR_PREFIX.length), 'base64url').toString())
  } catch {
    return undefined
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined
  const out: ClusterCursor = {}
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (v !== null && typeof v !== 'string') return undefined
    out[k] = v
  }
  return out
}
