/**
 * The HTTP surface of `li-engine run`: health probes and Prometheus metrics without auth, and the
 * management API under `/api` behind a bearer token. Every `/api` input is validated with zod;
 * bad input gets 400 with a JSON error, unknown hosts, messages and dead letters get 404, and an
 * unexpected failure gets 500 with a generic JSON body (the detail goes to the log, never a stack
 * trace to the client). Message bodies are returned only by `GET /api/messages/:id`.
 *
 * `scope=cluster` on the message, session and message-detail routes answers for every engine of a
 * scale-out deployment (this one, locally, and each peer of `--peers` over HTTP in local scope),
 * each message and hop tagged with its engine's name, with an `engines` list saying which engines
 * answered: a peer that fails makes the answer partial, never a failure (see cluster.ts).
 *
 * It does not listen on a socket: `main.ts` serves it; tests call `app.request()`.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import os from 'node:os'
import type { Engine, HostStatus, RetentionRun, RetentionStatus } from '@li/engine'
import { EngineError, LookupTables, decodeEnvelope, isEngineError } from '@li/engine'
import { healthRoutes } from '@li/health'
import { metricsHandler } from '@li/metrics'
import { isQueueError } from '@li/queue'
import { isStoreError } from '@li/store'
import type { MessageQuery } from '@li/store'
import { Hono } from 'hono'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Logger } from 'pino'
import { z } from 'zod'
import {
  Cluster,
  PeerHttpError,
  decodeClusterCursor,
  encodeClusterCursor,
  peerErrorText,
} from './cluster.js'
import type { ClusterCursor, EngineOutcome } from './cluster.js'
import type { PeerSpec } from './config.js'
import type { EventLog } from './event-log.js'
import { appVersion } from './version.js'

/** What `createApp` needs. */
export interface AppDeps {
  /** A loaded (and normally started) engine: status, hosts, store, queue, health, metrics. */
  engine: Engine
  /** The bearer token that `/api` requires. */
  adminToken: string
  /** Where request failures are logged; default: not logged. */
  logger?: Logger
  /** Called after a lookup table edit (main.ts persists the tables under the data dir). */
  onLookupTablesChanged?: (tables: LookupTables) => Promise<void> | void
  /** This engine's name in cluster answers and `GET /api/instance`; default `os.hostname()`. */
  instance?: string | undefined
  /** The other engines asked by `scope=cluster`; default none (the cluster is this engine). */
  peers?: PeerSpec | undefined
  /** Milliseconds each peer call may take; default 5000. */
  peerTimeoutMs?: number | undefined
  /** The engine's recent warnings and errors (`GET /api/events`); default: none kept. */
  events?: EventLog | undefined
}

/** The actions of `POST /api/hosts/:name/:action`. */
export const HOST_ACTIONS = ['start', 'stop', 'enable', 'disable', 'restart'] as const

const MESSAGE_STATES = ['received', 'processing', 'completed', 'failed'] as const

/** `scope` of the message and session routes: this engine's store, or every engine's. */
export const SCOPES = ['local', 'cluster'] as const

/** How long a peer may take over its part of a cluster-wide reload, ms (it restarts hosts). */
const RELOAD_TIMEOUT_MS = 60_000
/** A peer's answer to `POST /api/production/reload`. */
const peerReloadSchema = z.object({ reload: z.unknown() })
const peerHostSchema = z.object({ host: z.unknown() })
const peerEventsSchema = z.object({
  events: z.array(z.object({ time: z.string(), level: z.string(), msg: z.string() }).passthrough()),
})
const scope = z.enum(SCOPES).default('local')

const isoDate = z
  .string()
  .refine((s) => s.trim() !== '' && !Number.isNaN(Date.parse(s)), {
    message: 'expected an ISO 8601 date-time, e.g. 2026-11-27T10:00:00Z',
  })
  .transform((s) => new Date(s))

const eventQuerySchema = z
  .object({
    level: z.enum(['warn', 'error', 'fatal']).default('warn'),
    host: z.string().min(1).max(200).optional(),
    since: isoDate.optional(),
    before: isoDate.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    scope,
  })
  .strict()
const messageQuerySchema = z
  .object({
    host: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    state: z.enum(MESSAGE_STATES).optional(),
    correlationId: z.string().min(1).optional(),
    sessionId: z.string().min(1).optional(),
    property: z.string().min(1).max(64).optional(),
    value: z.string().min(1).max(256).optional(),
    contains: z.string().min(1).max(200).optional(),
    since: isoDate.optional(),
    until: isoDate.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    cursor: z.string().min(1).optional(),
    scope,
  })
  .strict()
  .refine((q) => (q.property === undefined) === (q.value === undefined), {
    message:
      'give property and value together (a search table property, e.g. property=PatientID&value=MRN123)',
  })

type MessageQueryInput = z.output<typeof messageQuerySchema>

const sessionQuerySchema = z.object({ scope }).strict()
// Not strict: this route took no query parameters before and ignored any.
const messageDetailQuerySchema = z.object({
  scope,
  engine: z.string().min(1).max(100).optional(),
})

/** A message as listed (no body) or in detail, or a hop, as JSON: what peers answer with. */
const listedSchema = z.looseObject({ id: z.string(), createdAt: z.string() })
const hopSchema = z.looseObject({ time: z.string() })
const peerListSchema = z.object({
  messages: z.array(listedSchema),
  nextCursor: z.string().nullable(),
})
const peerSessionSchema = z.object({
  messages: z.array(listedSchema),
  trace: z.array(hopSchema),
  truncated: z.boolean().optional(),
})
const peerDetailSchema = z.object({ message: listedSchema, trace: z.array(hopSchema) })
type Listed = z.output<typeof listedSchema>
type HopJson = z.output<typeof hopSchema>

/** Most messages of one session `GET /api/sessions/:id` lists per engine. */
const MAX_SESSION_MESSAGES = 10_000

/** A value as its JSON text would read back (Dates become ISO strings), as peers answer. */
function asJson<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** Newest first; ties by engine name, then id. */
function byNewest(a: Listed & { engine: string }, b: Listed & { engine: string }): number {
  return (
    Date.parse(b.createdAt) - Date.parse(a.createdAt) ||
    a.engine.localeCompare(b.engine) ||
    b.id.localeCompare(a.id, 'en', { numeric: true })
  )
}

/** By time, oldest first (a stable sort keeps each engine's own order of equal times). */
function byTime(a: HopJson, b: HopJson): number {
  return Date.parse(a.time) - Date.parse(b.time)
}

const deadLetterQuerySchema = z
  .object({
    host: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict()

const queueQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().min(1).max(500).optional(),
    scope,
  })
  .strict()
/** What a peer's `GET /api/production` says about the messages its operations retry. */
const peerRetryingSchema = z.object({
  items: z.array(
    z.object({
      name: z.string(),
      retrying: z
        .array(
          z
            .object({
              queueMessageId: z.string(),
              attempts: z.number(),
              phase: z.string(),
              since: z.string(),
              lastError: z.string().nullable(),
              nextAttemptAt: z.string().nullable(),
            })
            .passthrough(),
        )
        .optional(),
    }),
  ),
})
/** Why an operator aborts: kept in the trace and the log (no patient data, please). */
const abortBodySchema = z.object({ reason: z.string().min(1).max(500).optional() }).strict()
const abortAllBodySchema = z
  .object({
    all: z.literal(true, { message: 'send {"all": true} to abort every waiting message' }),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict()

const resendBodySchema = z
  .object({
    target: z.string().min(1).optional(),
    /** An edited copy to send instead of the stored body (IRIS Edit and Resend). */
    message: z
      .string()
      .min(1)
      .max(16 * 1024 * 1024)
      .optional(),
  })
  .strict()
const testMessageSchema = z
  .object({
    target: z.string().min(1).max(200),
    message: z
      .string()
      .min(1)
      .max(16 * 1024 * 1024),
  })
  .strict()
/** Most messages `POST /api/messages/resend` looks through. */
const MAX_BULK_MATCHES = 100_000
const bulkResendSchema = z
  .object({
    host: z.string().min(1).max(200),
    state: z.enum(MESSAGE_STATES).default('failed'),
    type: z.string().min(1).optional(),
    since: isoDate.optional(),
    until: isoDate.optional(),
    target: z.string().min(1).max(200).optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .strict()
const tableBodySchema = z.object({ entries: z.record(z.string(), z.string()) }).strict()
const entryBodySchema = z.object({ value: z.string() }).strict()
const nameSchema = z.string().min(1).max(200)
const purgeBodySchema = z
  .object({
    olderThan: isoDate.optional(),
    days: z.number().min(0).max(36_500).optional(),
    keepIncomplete: z.boolean().optional(),
  })
  .strict()
  .refine((b) => b.olderThan === undefined || b.days === undefined, {
    message: 'give olderThan or days, not both',
  })

/** A purge run as JSON (ISO times). */
function runJson(run: RetentionRun): Record<string, unknown> {
  return {
    trigger: run.trigger,
    startedAt: run.startedAt.toISOString(),
    olderThan: run.olderThan.toISOString(),
    keepIncomplete: run.keepIncomplete,
    deleted: run.deleted,
    durationMs: run.durationMs,
    ...(run.error === undefined ? {} : { error: run.error }),
  }
}

/** Retention status as JSON: days kept, interval, the next and the last purge. */
function retentionJson(r: RetentionStatus): Record<string, unknown> {
  return {
    days: r.days,
    intervalSeconds: r.intervalSeconds,
    running: r.running,
    nextRunAt: r.nextRunAt?.toISOString() ?? null,
    lastRun: r.lastRun === undefined ? null : runJson(r.lastRun),
  }
}

/** A held message's delivery state as JSON (ISO times): queue entries and production status. */
function deliveryJson<T extends { since: number; nextAttemptAt: number | null }>(
  m: T,
): Omit<T, 'since' | 'nextAttemptAt'> & { since: string; nextAttemptAt: string | null } {
  return {
    ...m,
    since: new Date(m.since).toISOString(),
    nextAttemptAt: m.nextAttemptAt === null ? null : new Date(m.nextAttemptAt).toISOString(),
  }
}

/** A JSON error body: `{ error: { code, message, issues? } }`. */
function fail(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  issues?: unknown,
): Response {
  return c.json({ error: { code, message, ...(issues === undefined ? {} : { issues }) } }, status)
}

function zodIssues(e: z.ZodError): { path: string; message: string }[] {
  return e.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
}

/** Constant-time comparison of two tokens (hashing first makes the lengths equal). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b) && expected.length > 0
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new BadRequest('APP_BAD_JSON', 'request body is not valid JSON')
  }
}

class BadRequest extends Error {
  readonly code: string
  readonly issues: unknown
  constructor(code: string, message: string, issues?: unknown) {
    super(message)
    this.code = code
    this.issues = issues
  }
}

function parseWith<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const r = schema.safeParse(input)
  if (!r.success) throw new BadRequest('APP_BAD_REQUEST', `invalid ${what}`, zodIssues(r.error))
  return r.data
}

/** Names of the hosts that have a queue (routers and operations). */
function queueNames(engine: Engine): string[] {
  return engine
    .getHosts()
    .filter((h) => h.kind !== 'service')
    .map((h) => h.name)
}

/** Envelope fields of a dead letter, without the HL7 body. */
function deadLetterSummary(payload: string): Record<string, string> {
  try {
    const env = decodeEnvelope(payload)
    return {
      sessionId: env.sessionId,
      storeId: env.storeId,
      messageId: env.messageId,
      source: env.source,
    }
  } catch {
    return {}
  }
}

/**
 * Builds the hono app of the engine.
 * @example
 * const app = createApp({ engine, adminToken })
 * const res = await app.request('/health/ready')
 */
export function createApp(deps: AppDeps): Hono {
  const { engine, adminToken, logger } = deps
  const app = new Hono()
  const instance = deps.instance ?? os.hostname()
  const cluster = new Cluster({
    instance,
    peers: deps.peers,
    token: adminToken,
    timeoutMs: deps.peerTimeoutMs,
    logger,
  })

  /** The store query of `GET /api/messages` (throws BadRequest on an unknown search property). */
  const storeQuery = (q: MessageQueryInput, cursor: string | undefined): MessageQuery => {
    const query: MessageQuery = { limit: q.limit }
    if (q.host !== undefined) query.hostName = q.host
    if (q.type !== undefined) query.messageType = q.type
    if (q.state !== undefined) query.state = q.state
    if (q.correlationId !== undefined) query.correlationId = q.correlationId
    if (q.sessionId !== undefined) query.sessionId = q.sessionId
    if (q.since !== undefined) query.since = q.since
    if (q.until !== undefined) query.until = q.until
    if (cursor !== undefined) query.cursor = cursor
    if (q.contains !== undefined) query.contains = q.contains
    if (q.property !== undefined && q.value !== undefined) {
      const known = engine.searchProperties().map((p) => p.name)
      if (!known.includes(q.property)) {
        throw new BadRequest(
          'APP_UNKNOWN_SEARCH_PROPERTY',
          known.length === 0
            ? 'no item of this production has a SearchTableClass, so nothing is indexed by property; set SearchTableClass (e.g. EnsLib.HL7.SearchTable) on the services'
            : `no search property "${q.property}"; the production indexes ${known.join(', ')}`,
        )
      }
      // A trailing * searches by prefix (PatientName=smith*).
      const prefix = q.value.endsWith('*')
      const raw = prefix ? q.value.slice(0, -1) : q.value
      query.search = {
        name: q.property,
        value: engine.searchValue(q.property, raw),
        ...(prefix ? { prefix: true } : {}),
      }
    }
    return query
  }

  /** One page of this engine's messages, without bodies. */
  const localMessages = async (
    query: MessageQuery,
  ): Promise<{ messages: Record<string, unknown>[]; nextCursor: string | null }> => {
    const page = await engine.store.query(query)
    return {
      messages: page.records.map(({ payload, ...rest }) => ({ ...rest, size: payload.length })),
      nextCursor: page.nextCursor ?? null,
    }
  }

  /** This engine's messages (newest first, no bodies) and hops of a session. */
  const localSession = async (
    sessionId: string,
  ): Promise<{ messages: Record<string, unknown>[]; trace: unknown[]; truncated: boolean }> => {
    const messages: Record<string, unknown>[] = []
    let cursor: string | undefined
    do {
      const page = await localMessages({ sessionId, limit: 1000, cursor })
      messages.push(...page.messages)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined && messages.length < MAX_SESSION_MESSAGES)
    return { messages, trace: await engine.store.trace(sessionId), truncated: cursor !== undefined }
  }

  /** The text of a local failure inside a cluster answer: typed errors say why; others are logged. */
  const localErrorText = (e: unknown, path: string): string => {
    if (e instanceof BadRequest || isEngineError(e) || isStoreError(e) || isQueueError(e)) {
      return e.message
    }
    const code = (e as { code?: unknown }).code
    logger?.error(
      {
        path,
        err: e instanceof Error ? e.name : typeof e,
        code: typeof code === 'string' ? code : undefined,
      },
      'cluster request: local part failed',
    )
    return 'internal error; see the engine log'
  }

  /**
   * Runs `local` here and `remote` on each peer (a peer's name is learnt first; this engine and
   * repeats are left out), all at once; `skip` leaves out engines by name. Each outcome says
   * whether that engine answered.
   */
  const fanOut = async <T>(
    path: string,
    local: () => Promise<T>,
    remote: (url: string, engine: string) => Promise<T>,
    skip: (engine: string) => boolean = () => false,
  ): Promise<{ answers: { engine: string; value: T }[]; engines: EngineOutcome[] }> => {
    const { peers, failed } = await cluster.peers()
    const targets = [{ engine: instance, url: null as string | null }, ...peers].filter(
      (t) => !skip(t.engine),
    )
    const settled = await Promise.all(
      targets.map(async (t) => {
        try {
          return { t, value: await (t.url === null ? local() : remote(t.url, t.engine)) }
        } catch (e) {
          if (t.url === null) return { t, error: localErrorText(e, path) }
          const error = peerErrorText(e, cluster.timeoutMs)
          logger?.warn({ peer: t.url, engine: t.engine, path, error }, 'cluster peer failed')
          return { t, error }
        }
      }),
    )
    const answers: { engine: string; value: T }[] = []
    const engines: EngineOutcome[] = []
    for (const r of settled) {
      if ('value' in r) {
        answers.push({ engine: r.t.engine, value: r.value as T })
        engines.push({ engine: r.t.engine, url: r.t.url, ok: true })
      } else engines.push({ engine: r.t.engine, url: r.t.url, ok: false, error: r.error })
    }
    return { answers, engines: [...engines, ...failed] }
  }

  /** Every engine's messages and hops of a session; `found` is false when no engine has any. */
  const clusterSession = async (
    sessionId: string,
  ): Promise<{
    found: boolean
    body: {
      sessionId: string
      messages: (Listed & { engine: string })[]
      trace: (HopJson & { engine: string })[]
      truncated: boolean
      engines: EngineOutcome[]
    }
  }> => {
    const path = `/api/sessions/${encodeURIComponent(sessionId)}`
    const empty = { messages: [] as Listed[], trace: [] as HopJson[], truncated: false }
    const { answers, engines } = await fanOut(
      path,
      async () => asJson<typeof empty>(await localSession(sessionId)),
      async (url) => {
        try {
          return peerSessionSchema.parse(await cluster.get(url, path))
        } catch (e) {
          // A peer that holds nothing of the session says 404: that is an answer, not a failure.
          if (e instanceof PeerHttpError && e.peerCode === 'APP_UNKNOWN_SESSION') return empty
          throw e
        }
      },
    )
    const messages = answers
      .flatMap((a) => a.value.messages.map((m) => ({ ...m, engine: a.engine })))
      .sort(byNewest)
    const trace = answers
      .flatMap((a) => a.value.trace.map((h) => ({ ...h, engine: a.engine })))
      .sort(byTime)
    return {
      found: messages.length > 0 || trace.length > 0,
      body: {
        sessionId,
        messages,
        trace,
        truncated: answers.some((a) => a.value.truncated === true),
        engines,
      },
    }
  }

  app.onError((err, c) => {
    if (err instanceof BadRequest) return fail(c, 400, err.code, err.message, err.issues)
    const code = (err as { code?: unknown }).code
    if (isEngineError(err) || isStoreError(err) || isQueueError(err)) {
      const c0 = String(code)
      if (c0 === 'ENGINE_UNKNOWN_HOST' || c0.endsWith('_NOT_FOUND')) {
        return fail(c, 404, c0, err.message)
      }
      if (c0.endsWith('_INVALID_ARGUMENT')) return fail(c, 400, c0, err.message)
      if (
        c0 === 'ENGINE_INVALID_STATE' ||
        c0 === 'ENGINE_PURGE_RUNNING' ||
        c0 === 'ENGINE_TESTING_DISABLED' ||
        c0 === 'ENGINE_RELOAD_REFUSED' ||
        c0 === 'QUEUE_CLOSED' ||
        c0.endsWith('_CLOSED')
      ) {
        return fail(c, 409, c0, err.message)
      }
      if (c0 === 'QUEUE_UNAVAILABLE') return fail(c, 503, c0, err.message)
    }
    // An error's message may quote the input it failed on (a parse error quotes up to 20 characters
    // of a segment: possibly PID data), so only its name and code go above debug.
    const where = { path: c.req.path, method: c.req.method }
    logger?.error(
      { ...where, err: err.name, code: typeof code === 'string' ? code : undefined },
      'api request failed',
    )
    logger?.debug({ ...where, err: err.message }, 'api request failed: error message')
    return fail(c, 500, 'APP_INTERNAL', 'internal error; see the engine log')
  })
  app.notFound((c) => fail(c, 404, 'APP_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`))

  app.route('/', healthRoutes(engine.health))
  app.get('/metrics', metricsHandler(engine.metrics))

  const api = new Hono()
  api.use('*', async (c, next) => {
    const header = c.req.header('authorization') ?? ''
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (m === null || !tokensEqual(m[1] ?? '', adminToken)) {
      c.header('WWW-Authenticate', 'Bearer realm="li-engine"')
      return c.json(
        {
          error: {
            code: 'APP_UNAUTHORIZED',
            message: 'missing or wrong bearer token (Authorization: Bearer <token>)',
          },
        },
        401,
      )
    }
    await next()
  })
  // While the engine starts (resuming the previous run's WAL entries can take minutes), only the
  // production status and the event log answer (this engine's part of them: no peer is asked);
  // everything else needs the data layer and the hosts running.
  api.use('*', async (c, next) => {
    const state = engine.state
    const starting = state === 'CREATED' || state === 'LOADED' || state === 'STARTING'
    const always =
      c.req.path === '/api/production' ||
      c.req.path === '/api/instance' ||
      (c.req.path === '/api/events' && c.req.query('scope') !== 'cluster')
    if (starting && !(c.req.method === 'GET' && always)) {
      c.header('Retry-After', '5')
      return c.json(
        {
          error: {
            code: 'APP_STARTING',
            message: `the engine is ${state.toLowerCase()}: retry once /health/ready answers 200 (GET /api/production shows progress)`,
          },
        },
        503,
      )
    }
    await next()
  })

  api.get('/production', async (c) => {
    const status = await engine.getStatus()
    return c.json({
      name: status.production ?? null,
      state: status.state,
      walPending: status.walPending,
      inFlight: status.inFlight,
      handOffBacklog: status.handOffBacklog,
      ...(status.resuming === undefined ? {} : { resuming: status.resuming }),
      retention: retentionJson(status.retention),
      items: status.items.map((s) => ({
        name: s.name,
        className: s.className,
        kind: s.kind,
        state: s.state,
        enabled: s.enabled,
        poolSize: s.poolSize,
        queueDepth: s.queueDepth ?? null,
        oldestQueuedAgeMs: s.oldestQueuedAgeMs ?? null,
        lastError: s.lastError ?? null,
        ...(s.retrying === undefined ? {} : { retrying: s.retrying.map(deliveryJson) }),
      })),
    })
  })

  // A host action on this engine; with scope=cluster on every engine (each pod runs the same
  // items: stopping an outbound interface for a receiver's downtime must stop it on all of them).
  api.post('/hosts/:name/:action', async (c) => {
    const name = parseWith(nameSchema, c.req.param('name'), 'host name')
    const action = parseWith(z.enum(HOST_ACTIONS), c.req.param('action'), 'action')
    const q = parseWith(z.object({ scope }).strict(), c.req.query(), 'query')
    const act = async (): Promise<{ host: HostStatus }> => {
      const host = engine.getHost(name)
      if (host === undefined) {
        throw new EngineError('ENGINE_UNKNOWN_HOST', `no item named "${name}"`)
      }
      switch (action) {
        case 'start':
          await engine.startHost(name)
          break
        case 'stop':
          await engine.stopHost(name)
          break
        case 'enable':
          await engine.enableHost(name)
          break
        case 'disable':
          await engine.disableHost(name)
          break
        case 'restart':
          await engine.restartHost(name)
          break
      }
      logger?.info({ host: name, action, scope: q.scope }, 'host action')
      return { host: (engine.getHost(name) ?? host).status() }
    }
    if (engine.getHost(name) === undefined) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no item named "${name}"`)
    }
    if (q.scope === 'local') return c.json(await act())
    const path = `/api/hosts/${encodeURIComponent(name)}/${action}`
    const out = await fanOut(
      path,
      act,
      // Stopping an operation waits for the message it is delivering: more time than a read.
      async (url) => peerHostSchema.parse(await cluster.post(url, path, RELOAD_TIMEOUT_MS)),
    )
    const hosts = new Map(out.answers.map((a) => [a.engine, a.value.host]))
    return c.json({
      engines: out.engines.map((e) =>
        e.ok && e.engine !== undefined ? { ...e, host: hosts.get(e.engine) } : e,
      ),
    })
  })

  // The event log (IRIS Event Log): this engine's recent warnings and errors, newest first; with
  // scope=cluster every engine's, merged by time, each naming its engine.
  api.get('/events', async (c) => {
    const q = parseWith(eventQuerySchema, c.req.query(), 'query')
    const local = (): { events: Record<string, unknown>[]; kept: number; capacity: number } => ({
      events: (
        deps.events?.entries({
          level: q.level,
          ...(q.host === undefined ? {} : { host: q.host }),
          ...(q.since === undefined ? {} : { since: q.since.getTime() }),
          ...(q.before === undefined ? {} : { before: q.before.getTime() }),
          limit: q.limit,
        }) ?? []
      ).map((e) => ({ ...e, time: new Date(e.time).toISOString() })),
      kept: deps.events?.size ?? 0,
      capacity: deps.events?.capacity ?? 0,
    })
    if (q.scope === 'local') return c.json(local())
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(c.req.query())) if (k !== 'scope') params.set(k, v)
    const path = `/api/events?${params.toString()}`
    const out = await fanOut(
      '/api/events',
      () => Promise.resolve(asJson<z.output<typeof peerEventsSchema>>(local())),
      async (url) => peerEventsSchema.parse(await cluster.get(url, path)),
    )
    const events = out.answers
      .flatMap((a) => a.value.events.map((e) => ({ ...e, engine: a.engine })))
      .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0))
      .slice(0, q.limit)
    return c.json({ events, engines: out.engines })
  })

  // Who this engine is: what a peer asks to learn a URL's name (cheap; answers while starting).
  api.get('/instance', (c) =>
    c.json({
      instance,
      production: engine.production?.name ?? null,
      version: appVersion(),
      redis: engine.config.redisUrl !== undefined && engine.config.redisUrl !== '',
    }),
  )

  api.get('/messages', async (c) => {
    const q = parseWith(messageQuerySchema, c.req.query(), 'query')
    if (q.scope === 'local') return c.json(await localMessages(storeQuery(q, q.cursor)))

    // Cluster: `limit` per engine; the cursor holds each engine's own cursor (null: no more).
    let state: ClusterCursor = {}
    if (q.cursor !== undefined) {
      const decoded = decodeClusterCursor(q.cursor)
      if (decoded === undefined) {
        throw new BadRequest(
          'APP_BAD_CURSOR',
          'cursor is not the nextCursor of a scope=cluster answer (start again without a cursor)',
        )
      }
      state = decoded
    }
    storeQuery(q, undefined) // the search property is checked here before any peer is asked
    const forward = (cursor: string | undefined): string => {
      const params = new URLSearchParams()
      for (const [k, v] of Object.entries(c.req.query())) {
        if (k !== 'scope' && k !== 'cursor') params.set(k, v)
      }
      params.set('limit', String(q.limit))
      if (cursor !== undefined) params.set('cursor', cursor)
      return `/api/messages?${params.toString()}`
    }
    const own = (engineName: string): string | undefined => state[engineName] ?? undefined
    const { answers, engines } = await fanOut(
      '/api/messages',
      async () =>
        asJson<z.output<typeof peerListSchema>>(await localMessages(storeQuery(q, own(instance)))),
      async (url, name) => peerListSchema.parse(await cluster.get(url, forward(own(name)))),
      (name) => state[name] === null,
    )
    const next: ClusterCursor = { ...state }
    for (const a of answers) next[a.engine] = a.value.nextCursor
    // An engine the cursor names that is no longer among the peers (its pod is gone) keeps its
    // cursor and is reported, so the walk can go on once it is back.
    const asked = new Set(engines.map((e) => e.engine))
    for (const [name, cursor] of Object.entries(state)) {
      if (typeof cursor === 'string' && !asked.has(name)) {
        engines.push({
          engine: name,
          url: null,
          ok: false,
          error: 'not among the peers now: its messages after the cursor were not read',
        })
      }
    }
    const pending = Object.values(next).some((v) => typeof v === 'string')
    // An engine that failed is read from its start (or its cursor) on the next page; when no engine
    // answered at all there is no next page, so a walk ends even while a peer stays down.
    const failedEngines = engines.some((e) => !e.ok)
    const more = pending || (failedEngines && answers.length > 0)
    const messages = answers
      .flatMap((a) => a.value.messages.map((m) => ({ ...m, engine: a.engine })))
      .sort(byNewest)
    return c.json({
      messages,
      nextCursor: more ? encodeClusterCursor(next) : null,
      engines,
    })
  })

  api.get('/search-properties', (c) => c.json({ properties: engine.searchProperties() }))

  api.get('/sessions/:sessionId', async (c) => {
    const sessionId = parseWith(nameSchema, c.req.param('sessionId'), 'session id')
    const q = parseWith(sessionQuerySchema, c.req.query(), 'query')
    if (q.scope === 'cluster') {
      const { found, body } = await clusterSession(sessionId)
      if (!found && body.engines.every((e) => e.ok)) {
        return fail(c, 404, 'APP_UNKNOWN_SESSION', `no engine holds session ${sessionId}`)
      }
      return c.json(body)
    }
    const local = await localSession(sessionId)
    if (local.messages.length === 0 && local.trace.length === 0) {
      return fail(
        c,
        404,
        'APP_UNKNOWN_SESSION',
        `this engine holds nothing of session ${sessionId} (scope=cluster asks every engine)`,
      )
    }
    return c.json({ sessionId, ...local })
  })

  api.get('/messages/:id', async (c) => {
    const id = parseWith(nameSchema, c.req.param('id'), 'message id')
    const q = parseWith(messageDetailQuerySchema, c.req.query(), 'query')
    const target = q.engine ?? instance
    if (q.scope === 'local') {
      if (target !== instance) {
        throw new BadRequest(
          'APP_BAD_REQUEST',
          `engine=${target} names another engine: add scope=cluster to read its store`,
        )
      }
      const detail = await engine.store.get(id)
      if (detail === undefined)
        return fail(c, 404, 'APP_UNKNOWN_MESSAGE', `no stored message with id ${id}`)
      const trace = detail.sessionId === undefined ? [] : await engine.store.trace(detail.sessionId)
      return c.json({ message: detail, trace })
    }
    // Cluster: the record of the engine named (store ids are per engine), with the whole trace.
    let message: Listed & { engine: string; sessionId?: unknown }
    if (target === instance) {
      const detail = await engine.store.get(id)
      if (detail === undefined) {
        return fail(c, 404, 'APP_UNKNOWN_MESSAGE', `no stored message with id ${id} on ${instance}`)
      }
      message = { ...asJson<Listed>(detail), engine: instance }
    } else {
      const { peers, failed } = await cluster.peers()
      const peer = peers.find((p) => p.engine === target)
      if (peer === undefined) {
        const known = [instance, ...peers.map((p) => p.engine)].join(', ')
        const silent = failed.map((f) => `${f.url} (${f.error})`).join('; ')
        return fail(
          c,
          404,
          'APP_UNKNOWN_ENGINE',
          `no engine named "${target}"; the engines are ${known}${silent === '' ? '' : `; not answering: ${silent}`}`,
        )
      }
      try {
        const body = peerDetailSchema.parse(
          await cluster.get(peer.url, `/api/messages/${encodeURIComponent(id)}`),
        )
        message = { ...body.message, engine: target }
      } catch (e) {
        if (e instanceof PeerHttpError && e.status === 404) {
          return fail(c, 404, 'APP_UNKNOWN_MESSAGE', `no stored message with id ${id} on ${target}`)
        }
        const error = peerErrorText(e, cluster.timeoutMs)
        logger?.warn({ peer: peer.url, engine: target, error }, 'cluster peer failed')
        return fail(c, 502, 'APP_PEER_FAILED', `engine ${target} (${peer.url}) failed: ${error}`)
      }
    }
    if (typeof message.sessionId !== 'string') {
      return c.json({ message, trace: [], engines: [] })
    }
    const { body } = await clusterSession(message.sessionId)
    return c.json({ message, trace: body.trace, engines: body.engines })
  })

  api.post('/messages/:id/resend', async (c) => {
    const id = parseWith(nameSchema, c.req.param('id'), 'message id')
    const body = parseWith(resendBodySchema, await readJson(c), 'body')
    if ((await engine.store.get(id)) === undefined) {
      return fail(c, 404, 'APP_UNKNOWN_MESSAGE', `no stored message with id ${id}`)
    }
    if (body.target !== undefined && engine.getHost(body.target) === undefined) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no item named "${body.target}"`)
    }
    const accepted = await engine.resend(id, body.target, { raw: body.message })
    logger?.info(
      {
        messageId: id,
        sessionId: accepted.sessionId,
        target: body.target,
        edited: body.message !== undefined,
      },
      'message resent',
    )
    return c.json({ resent: accepted }, 202)
  })

  // Edited rule classes and DTLs from the production file, applied without a restart (IRIS
  // applies a saved rule to the next message); 409 ENGINE_RELOAD_REFUSED says what else changed.
  // With scope=cluster, every engine re-reads and applies its own production file (each pod
  // mounts the same ConfigMap); each one's outcome is listed, a refusal included.
  api.post('/production/reload', async (c) => {
    const q = parseWith(z.object({ scope }).strict(), c.req.query(), 'query')
    parseWith(z.object({}).strict(), await readJson(c), 'body')
    if (q.scope === 'local') {
      const r = await engine.reloadRules()
      logger?.info({ ...r }, 'production reloaded through the API')
      return c.json({ reload: r })
    }
    const path = '/api/production/reload'
    const out = await fanOut(
      path,
      async () => {
        const r = await engine.reloadRules()
        logger?.info({ ...r }, 'production reloaded through the API (cluster)')
        return { reload: r }
      },
      // A reload restarts hosts: more time than a read.
      async (url) => peerReloadSchema.parse(await cluster.post(url, path, RELOAD_TIMEOUT_MS)),
    )
    const reloads = new Map(out.answers.map((a) => [a.engine, a.value.reload]))
    return c.json({
      engines: out.engines.map((e) =>
        e.ok && e.engine !== undefined ? { ...e, reload: reloads.get(e.engine) } : e,
      ),
    })
  })

  // IRIS Testing Service: a new message to one router or operation (TestingEnabled productions).
  api.post('/test-messages', async (c) => {
    const body = parseWith(testMessageSchema, await readJson(c), 'body')
    if (engine.getHost(body.target) === undefined) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no item named "${body.target}"`)
    }
    const accepted = await engine.sendTestMessage(body.target, body.message)
    logger?.info({ target: body.target, sessionId: accepted.sessionId }, 'test message sent')
    return c.json({ sent: accepted }, 202)
  })

  api.post('/purge', async (c) => {
    const body = parseWith(purgeBodySchema, await readJson(c), 'body')
    const olderThan =
      body.days !== undefined ? new Date(Date.now() - body.days * 86_400_000) : body.olderThan
    if (olderThan !== undefined && olderThan.getTime() > Date.now()) {
      return fail(
        c,
        400,
        'APP_BAD_REQUEST',
        'olderThan is in the future: nothing that old exists yet',
      )
    }
    logger?.info(
      { olderThan: olderThan?.toISOString(), keepIncomplete: body.keepIncomplete ?? true },
      'purge requested',
    )
    const run = await engine.purge({
      ...(olderThan === undefined ? {} : { olderThan }),
      ...(body.keepIncomplete === undefined ? {} : { keepIncomplete: body.keepIncomplete }),
    })
    return c.json({ purge: runJson(run) })
  })

  // Resend every message a host stored in a state (failed by default), oldest first, up to
  // `limit`: after a receiver outage outlived FailureTimeout. Each becomes a new session; the
  // originals keep their state, so a second call resends them again.
  api.post('/messages/resend', async (c) => {
    const body = parseWith(bulkResendSchema, await readJson(c), 'body')
    if (engine.getHost(body.host) === undefined) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no item named "${body.host}"`)
    }
    if (body.target !== undefined && engine.getHost(body.target) === undefined) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no item named "${body.target}"`)
    }
    // Pages come newest first: collect every matching id (bounded), then resend the oldest first,
    // so that per-patient order is kept.
    const found: string[] = []
    let cursor: string | undefined
    do {
      const page = await engine.store.query({
        hostName: body.host,
        state: body.state,
        ...(body.type === undefined ? {} : { messageType: body.type }),
        ...(body.since === undefined ? {} : { since: body.since }),
        ...(body.until === undefined ? {} : { until: body.until }),
        limit: 1000,
        ...(cursor === undefined ? {} : { cursor }),
      })
      for (const r of page.records) found.push(r.id)
      cursor = page.nextCursor
      if (found.length > MAX_BULK_MATCHES) {
        return fail(
          c,
          400,
          'APP_TOO_MANY_MESSAGES',
          `more than ${MAX_BULK_MATCHES} messages match; narrow the selection with since/until or type`,
        )
      }
    } while (cursor !== undefined)
    const more = found.length > body.limit
    const ids = found.slice(-body.limit).reverse()
    const resent: { id: string; sessionId: string }[] = []
    const failed: { id: string; error: string }[] = []
    for (const id of ids) {
      try {
        const accepted = await engine.resend(id, body.target)
        resent.push({ id, sessionId: accepted.sessionId })
      } catch (e) {
        failed.push({ id, error: e instanceof Error ? e.message : String(e) })
      }
    }
    logger?.info(
      {
        host: body.host,
        state: body.state,
        target: body.target,
        resent: resent.length,
        failed: failed.length,
        more,
      },
      'messages resent',
    )
    return c.json({ resent, failed, more }, 202)
  })

  // The Queues page: what waits in a router's or operation's queue, and why.
  api.get('/queues', async (c) => {
    const out: unknown[] = []
    for (const name of queueNames(engine)) {
      const [depth, inFlight, oldestAgeMs, deadLetters] = await Promise.all([
        engine.queue.depth(name),
        engine.queue.inFlight(name),
        engine.queue.oldestAgeMs(name),
        engine.queue.deadLetterCount(name),
      ])
      out.push({ host: name, depth: depth + inFlight, inFlight, oldestAgeMs, deadLetters })
    }
    return c.json({ queues: out })
  })

  api.get('/queues/:host', async (c) => {
    const host = parseWith(nameSchema, c.req.param('host'), 'host name')
    const q = parseWith(queueQuerySchema, c.req.query(), 'query')
    if (!queueNames(engine).includes(host)) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no queued item named "${host}"`)
    }
    const page = await engine.queueContents(host, { limit: q.limit, cursor: q.cursor ?? null })
    // The queue is the same from every engine (Redis); which engine holds a message between
    // retries, and why, only that engine knows: with scope=cluster each one is asked.
    let held: Map<string, { engine: string; delivery: Record<string, unknown> }> | undefined
    let engines: EngineOutcome[] | undefined
    if (q.scope === 'cluster') {
      held = new Map()
      const out = await fanOut(
        '/api/production',
        () => Promise.resolve([] as z.infer<typeof peerRetryingSchema>['items']),
        async (url) => peerRetryingSchema.parse(await cluster.get(url, '/api/production')).items,
      )
      engines = out.engines
      for (const a of out.answers) {
        for (const m of a.value.find((i) => i.name === host)?.retrying ?? []) {
          const { queueMessageId, ...delivery } = m
          held.set(queueMessageId, { engine: a.engine, delivery })
        }
      }
    }
    return c.json({
      ...page,
      ...(engines === undefined ? {} : { engines }),
      messages: page.messages.map((m) => {
        const entry = {
          ...m,
          enqueuedAt: new Date(m.enqueuedAt).toISOString(),
          dueAt: m.dueAt === null ? null : new Date(m.dueAt).toISOString(),
          ...(m.delivery === undefined ? {} : { delivery: deliveryJson(m.delivery) }),
        }
        if (held === undefined) return entry
        if (m.delivery !== undefined) return { heldBy: instance, ...entry }
        const other = held.get(m.id)
        return other === undefined
          ? entry
          : { heldBy: other.engine, ...entry, delivery: other.delivery }
      }),
    })
  })

  // IRIS Abort: one message off the queue (waiting, held by an operation, or a dead letter).
  api.post('/queues/:host/messages/:id/abort', async (c) => {
    const host = parseWith(nameSchema, c.req.param('host'), 'host name')
    const id = parseWith(nameSchema, c.req.param('id'), 'queue message id')
    const body = parseWith(abortBodySchema, await readJson(c), 'body')
    if (!queueNames(engine).includes(host)) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no queued item named "${host}"`)
    }
    const r = await engine.abortQueued(host, id, body.reason ?? 'aborted through the API')
    logger?.info({ host, queueMessage: id, outcome: r.outcome }, 'queue message abort requested')
    if (r.outcome === 'in-flight') {
      return fail(
        c,
        409,
        'APP_QUEUE_MESSAGE_IN_FLIGHT',
        `message ${id} is being processed by ${host} right now; retry in a moment`,
      )
    }
    // Another engine process holds it and acts on the request at its next retry.
    return c.json({ abort: r }, r.outcome === 'requested' ? 202 : 200)
  })

  // IRIS Abort All: every waiting message of one queue (and those its operation holds here).
  api.post('/queues/:host/abort', async (c) => {
    const host = parseWith(nameSchema, c.req.param('host'), 'host name')
    const body = parseWith(abortAllBodySchema, await readJson(c), 'body')
    if (!queueNames(engine).includes(host)) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no queued item named "${host}"`)
    }
    const r = await engine.abortQueue(host, body.reason ?? 'aborted through the API')
    logger?.info({ ...r }, 'queue abort-all requested')
    return c.json({ abort: r })
  })

  api.get('/dead-letters', async (c) => {
    const q = parseWith(deadLetterQuerySchema, c.req.query(), 'query')
    const names = queueNames(engine)
    if (q.host !== undefined && !names.includes(q.host)) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no queued item named "${q.host}"`)
    }
    const out: unknown[] = []
    for (const name of q.host === undefined ? names : [q.host]) {
      for (const d of await engine.queue.deadLetters(name, { limit: q.limit })) {
        out.push({
          id: d.id,
          host: d.queue,
          enqueuedAt: new Date(d.enqueuedAt).toISOString(),
          deadLetteredAt: new Date(d.deadLetteredAt).toISOString(),
          attempts: d.attempts,
          lastError: d.lastError,
          ...deadLetterSummary(d.payload),
        })
      }
    }
    return c.json({ deadLetters: out })
  })

  // Every dead letter of one host's queue back onto it, in order (after a receiver outage).
  api.post('/dead-letters/redrive', async (c) => {
    const body = parseWith(z.object({ host: nameSchema }).strict(), await readJson(c), 'body')
    if (!queueNames(engine).includes(body.host)) {
      return fail(c, 404, 'APP_UNKNOWN_HOST', `no queued item named "${body.host}"`)
    }
    const redriven = await engine.queue.redrive(body.host)
    logger?.info({ host: body.host, redriven }, 'dead letters redriven')
    return c.json({ redriven: { host: body.host, count: redriven } })
  })

  api.post('/dead-letters/:id/redrive', async (c) => {
    const id = parseWith(nameSchema, c.req.param('id'), 'dead letter id')
    for (const name of queueNames(engine)) {
      const found = (await engine.queue.deadLetters(name, { limit: 100_000 })).some(
        (d) => d.id === id,
      )
      if (!found) continue
      await engine.queue.redrive(name, id)
      logger?.info({ deadLetter: id, host: name }, 'dead letter redriven')
      return c.json({ redriven: { id, host: name } })
    }
    return fail(c, 404, 'APP_UNKNOWN_DEAD_LETTER', `no dead letter with id ${id}`)
  })

  const tables = (): LookupTables => new LookupTables(engine.lookupTables)
  const changed = async (): Promise<void> => {
    await deps.onLookupTablesChanged?.(tables())
  }

  api.get('/lookup-tables', (c) => c.json({ tables: tables().list() }))

  api.get('/lookup-tables/:table', (c) => {
    const table = parseWith(nameSchema, c.req.param('table'), 'table name')
    const entries = tables().get(table)
    if (entries === undefined)
      return fail(c, 404, 'APP_UNKNOWN_TABLE', `no lookup table "${table}"`)
    return c.json({ name: table, entries })
  })

  api.put('/lookup-tables/:table', async (c) => {
    const table = parseWith(nameSchema, c.req.param('table'), 'table name')
    const body = parseWith(tableBodySchema, await readJson(c), 'body')
    tables().replace(table, body.entries)
    await changed()
    logger?.info({ table, entries: Object.keys(body.entries).length }, 'lookup table replaced')
    return c.json({ name: table, entries: body.entries })
  })

  api.delete('/lookup-tables/:table', async (c) => {
    const table = parseWith(nameSchema, c.req.param('table'), 'table name')
    if (!tables().delete(table))
      return fail(c, 404, 'APP_UNKNOWN_TABLE', `no lookup table "${table}"`)
    await changed()
    logger?.info({ table }, 'lookup table deleted')
    return c.body(null, 204)
  })

  api.put('/lookup-tables/:table/:key', async (c) => {
    const table = parseWith(nameSchema, c.req.param('table'), 'table name')
    const key = parseWith(nameSchema, c.req.param('key'), 'key')
    const body = parseWith(entryBodySchema, await readJson(c), 'body')
    tables().set(table, key, body.value)
    await changed()
    logger?.info({ table, key }, 'lookup table entry set')
    return c.json({ table, key, value: body.value })
  })

  api.delete('/lookup-tables/:table/:key', async (c) => {
    const table = parseWith(nameSchema, c.req.param('table'), 'table name')
    const key = parseWith(nameSchema, c.req.param('key'), 'key')
    if (!tables().delete(table, key)) {
      return fail(c, 404, 'APP_UNKNOWN_ENTRY', `no key "${key}" in lookup table "${table}"`)
    }
    await changed()
    logger?.info({ table, key }, 'lookup table entry deleted')
    return c.body(null, 204)
  })

  app.route('/api', api)
  return app
}
