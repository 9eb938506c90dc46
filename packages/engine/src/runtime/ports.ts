/**
 * The narrow slices of @li/wal, @li/store, @li/queue and @li/metrics that the runtime uses.
 *
 * Hosts and the message path are written against these structural types, not the classes, so
 * that the runtime states exactly what it needs from each package (and nothing more). The real
 * `Wal`, `MessageStore`, `MessageQueue` and `LiMetrics` satisfy them; `Engine` builds those.
 */

/** One WAL entry as the runtime reads it back (`append` result and `pending()` items). */
export interface WalEntryLike {
  id: string | number
  hostName: string
  messageId: string
  payload: string | Uint8Array
  metadata?: unknown
}

/** What the runtime needs from `Wal` (@li/wal). */
export interface WalPort {
  append(entry: {
    hostName: string
    messageId: string
    payload: string
    metadata?: Record<string, string>
  }): Promise<WalEntryLike>
  complete(id: WalEntryLike['id']): Promise<void> | void
  pending(): Promise<readonly WalEntryLike[]> | readonly WalEntryLike[]
}

/** What the runtime needs from `MessageStore` (@li/store). */
export interface StorePort {
  store(input: {
    hostName: string
    messageId: string
    payload: string
    messageType: string
    correlationId: string
    sessionId?: string | undefined
    direction?: 'inbound' | 'outbound' | undefined
    metadata?: Record<string, unknown> | undefined
    /** Values to find the message by (IRIS search tables). */
    search?: readonly { name: string; value: string }[] | undefined
  }): Promise<{ id: string }>
  markProcessing(id: string): Promise<unknown>
  markCompleted(id: string): Promise<unknown>
  markFailed(id: string, error: string): Promise<unknown>
  get(id: string): Promise<StoredMessageLike | null | undefined>
  query(query: { sessionId?: string | undefined; limit: number }): Promise<{
    records: readonly {
      id: string
      hostName: string
      state: string
      direction?: string | undefined
    }[]
  }>
  recordHop(hop: {
    sessionId: string
    messageId?: string | undefined
    source: string
    target: string
    state: HopStateLike
    time?: Date | undefined
    detail?: string | undefined
  }): Promise<unknown>
  /**
   * Close the unfinished records of a host in a session that `by` stands in for (a write);
   * resolves with how many were closed.
   */
  supersede(input: {
    sessionId: string
    hostName: string
    by: string
    direction?: 'inbound' | 'outbound' | undefined
    correlationId?: string | undefined
    createdBefore?: Date | undefined
    detail?: string | undefined
  }): Promise<number>
}

/** Hop states the runtime records (a subset of @li/store `HopState`). */
export type HopStateLike =
  'received' | 'processing' | 'completed' | 'failed' | 'queued' | 'sent' | 'discarded'

/** A stored message as `resend` reads it. */
export interface StoredMessageLike {
  id: string
  hostName: string
  messageId: string
  payload: string
  sessionId?: string | undefined
  direction?: 'inbound' | 'outbound' | undefined
  metadata?: Record<string, unknown> | undefined
}

/** A delivered queue message, as the runtime reads it. */
export interface QueueMessageLike {
  readonly id: string
  readonly payload: string
  readonly headers: Readonly<Record<string, string>>
  readonly attempts: number
}

/** What the runtime needs from `MessageQueue` (@li/queue). */
export interface QueuePort {
  send(
    queue: string,
    payload: string,
    options?: {
      priority?: number
      delayMs?: number
      orderingKey?: string
      headers?: Record<string, string>
    },
  ): Promise<string>
  receive(queue: string, options?: { waitMs?: number }): Promise<QueueMessageLike | null>
  /** Up to `max` messages in one call; waits up to `waitMs` for at least one. */
  receiveBatch(
    queue: string,
    options?: { max?: number; waitMs?: number },
  ): Promise<QueueMessageLike[]>
  ack(message: QueueMessageLike): Promise<unknown>
  nack(
    message: QueueMessageLike,
    options: { requeue: boolean; delayMs?: number; error?: string | Error },
  ): Promise<unknown>
  depth(queue: string): Promise<number>
  oldestAgeMs(queue: string): Promise<number>
  /** Keep a held delivery invisible `ms` more (operations retrying past the timeout). */
  extendVisibility?(message: QueueMessageLike, ms: number): Promise<unknown>
  /** An operator's request to give up a held message (possibly made by another process). */
  cancelRequest?(queue: string, id: string): Promise<string | null>
  /** Delete that request once acted on. */
  clearCancel?(queue: string, id: string): Promise<unknown>
}

/** What the runtime needs from `LiMetrics` (@li/metrics). */
export interface MetricsPort {
  recordMessageReceived(host: string, messageType: string | undefined): void
  recordMessageSent(host: string, target: string): void
  recordMessageFailed(host: string, errorType: string): void
  recordProcessingTime(host: string, seconds: number): void
  recordMessageSize(host: string, direction: 'in' | 'out', bytes: number): void
  setConnectionsActive(host: string, adapter: string, count: number): void
  setHostStatus(host: string, type: string, running: boolean): void
  trackQueue(
    host: string,
    source: () =>
      Promise<{ depth: number; oldestAgeMs: number }> | { depth: number; oldestAgeMs: number },
  ): void
  untrackQueue(host: string): void
}
