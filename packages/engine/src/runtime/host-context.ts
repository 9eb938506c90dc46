/**
 * What every host gets from the Engine: the production, the message path, the queue, logging,
 * metrics, TLS material and the rule/transform compilers.
 */
import type { SecureContextOptions } from 'node:tls'
import type { CallReplies } from './call-replies.js'
import type { CompiledGeneralRule } from '../iris/rules.js'
import type { EngineCredentials } from './engine.js'
import type { Logger } from 'pino'
import type { CompiledRules, CompiledTransform, Production } from '../production/types.js'
import type { MessagePath } from './message-path.js'
import type { MetricsPort, QueuePort } from './ports.js'

/** An alert raised by a host (AlertOnError, QueueCountAlert, QueueWaitAlert). */
export interface EngineAlert {
  host: string
  text: string
  time: Date
  /** The session of the message the alert is about, when there is one. */
  sessionId?: string
}

/** A message a service stored, as `HostContext.receivedSince` gives it back. */
export interface ReceivedMessage {
  payload: string
  sessionId: string | undefined
  state: string
  createdAt: Date
}

/** The accepted messages of services shared through Redis (see `HostContext.sharedAccepted`). */
export interface SharedAccepted {
  /** The session of the message `service` accepted with this content key, or null. */
  get(service: string, key: string): Promise<string | null>
  /** Remember that `service` accepted the message with this key, for `ttlMs`. */
  set(service: string, key: string, sessionId: string, ttlMs: number): Promise<void>
}

/** Services the Engine gives a host. */
export interface HostContext {
  production: Production
  path: MessagePath
  queue: QueuePort
  logger: Logger
  metrics?: MetricsPort | undefined
  /** TLS options for an SSLConfig name (from the engine's `tls` config); throws when unknown. */
  tls(sslConfig: string): SecureContextOptions
  /**
   * The user name and password of a Credentials name (IRIS keeps them in its credentials store;
   * LI reads them from the engine's `credentials` config); throws ENGINE_CREDENTIALS when unknown.
   */
  credentials(name: string): EngineCredentials
  /** Compile a rule class by name (BusinessRuleName). */
  compileRules(className: string): CompiledRules
  /** Compile a DTL transform class by name. */
  compileTransform(className: string): CompiledTransform
  /**
   * Replies to synchronous calls (BPL `async="0"`): processes wait on them, operations send
   * them. Optional: without it a synchronous call fails.
   */
  callReplies?: CallReplies
  /**
   * Compile a general business rule class by name (a BPL `<rule>`). Optional: hosts other than
   * BPL processes do not need it.
   */
  compileGeneralRule?(className: string): CompiledGeneralRule
  /** Raise an alert (logged, emitted by the Engine as `alert`), about a session if given. */
  alert(host: string, text: string, sessionId?: string): void
  /**
   * The messages `host` stored (received) since `since`, newest first: what a service with
   * DuplicateWindow reads back at its first message after a start. Optional.
   */
  receivedSince?(host: string, since: Date): AsyncIterable<ReceivedMessage>
  /**
   * With a shared (Redis) queue: the messages each service accepted, shared by every engine on
   * that Redis, so that DuplicateWindow recognises a resend whichever engine it reaches. Absent
   * with in-process queues (the service's own memory and store are the whole picture there).
   */
  sharedAccepted?: SharedAccepted
  /** Milliseconds a consumer waits on an empty queue before checking for stop/pause. */
  pollMs: number
  /** The queue's visibility timeout, ms: operations holding a message longer extend it. */
  queueVisibilityMs?: number | undefined
}
