/**
 * Retention of the message store: the engine's equivalent of the IRIS purge task
 * (`Ens.Util.Tasks.Purge` with NumberOfDaysToKeep and KeepIntegrity on), run on a timer.
 *
 * What it does: every `intervalSeconds` it asks the store to remove the messages created more
 * than `days` ago whose whole session is completed (with their history and trace hops), in the
 * store's bounded chunks, so writers and readers keep going while it runs. One purge runs at a
 * time; an operator can start one now (`Engine.purge`, `POST /api/purge`), for example with a
 * shorter age when the data volume fills. Each run is logged (counts and times, never message
 * content), counted in the metrics and kept as `lastRun` for the status.
 *
 * What it does not do: it never removes a message that is not completed, or one whose session
 * still has an unfinished message, unless a caller asks for `keepIncomplete: false`; it does not
 * touch the WAL (completed segments are deleted by the WAL itself), the queues or their dead
 * letters (those wait for an operator); and it does not shrink the SQLite file: freed pages are
 * reused by new messages, so the file stays at its high-water mark.
 */
import type { LiMetrics } from '@li/metrics'
import type { MessageStore } from '@li/store'
import type { Logger } from 'pino'
import { EngineError } from '../errors.js'
import { errorText } from './host.js'

/** Days a completed message is kept by default (`EngineConfig.retentionDays`). */
export const DEFAULT_RETENTION_DAYS = 30
/** Seconds between scheduled purges by default (`EngineConfig.purgeInterval`). */
export const DEFAULT_PURGE_INTERVAL = 3600
/** Seconds after start before the first scheduled purge (a restart resumes its backlog first). */
export const FIRST_PURGE_DELAY = 60

const DAY_MS = 86_400_000

/** What to purge now (`Engine.purge`). */
export interface PurgeRequest {
  /** Remove messages created before this time; default: `retentionDays` ago. */
  olderThan?: Date
  /**
   * Keep every message that is not completed or whose session is not (default true). `false`
   * also removes unfinished and failed messages: their audit trail is gone for good.
   */
  keepIncomplete?: boolean
}

/** One purge, as the status and `Engine.purge` report it. */
export interface RetentionRun {
  /** `schedule` (the timer) or `request` (`Engine.purge`, the API). */
  trigger: 'schedule' | 'request'
  startedAt: Date
  olderThan: Date
  keepIncomplete: boolean
  /** Messages removed (before the error, when there was one). */
  deleted: number
  durationMs: number
  /** Why it stopped early; absent when it finished. */
  error?: string
}

/** The retention part of `Engine.getStatus()`. */
export interface RetentionStatus {
  /** Days a completed message is kept; 0: scheduled purges are off. */
  days: number
  /** Seconds between scheduled purges. */
  intervalSeconds: number
  /** A purge is running now. */
  running: boolean
  /** When the next scheduled purge starts; absent when none is scheduled. */
  nextRunAt?: Date
  /** The last purge that ended, scheduled or requested. */
  lastRun?: RetentionRun
}

/** Options of {@link Retention}. */
export interface RetentionOptions {
  /** The running store, or undefined once it is gone (the engine stopped). */
  store: () => MessageStore | undefined
  metrics: LiMetrics
  logger: Logger
  /** Days to keep; 0 turns the timer off (requests with `olderThan` still work). */
  days: number
  /** Seconds between scheduled purges. */
  intervalSeconds: number
  /** Seconds from `start()` to the first scheduled purge; default {@link FIRST_PURGE_DELAY}. */
  firstDelaySeconds?: number
}

/** Checks retention settings; throws ENGINE_INVALID_ARGUMENT naming the bad one. */
export function checkRetentionSettings(days: number, intervalSeconds: number): void {
  if (typeof days !== 'number' || !Number.isFinite(days) || days < 0) {
    throw new EngineError(
      'ENGINE_INVALID_ARGUMENT',
      `retentionDays must be a number of days, 0 or more (0 keeps every message), got ${String(days)}`,
    )
  }
  if (
    typeof intervalSeconds !== 'number' ||
    !Number.isFinite(intervalSeconds) ||
    intervalSeconds <= 0
  ) {
    throw new EngineError(
      'ENGINE_INVALID_ARGUMENT',
      `purgeInterval must be a positive number of seconds, got ${String(intervalSeconds)}`,
    )
  }
}

/** The retention timer and the one purge it allows at a time. See the module comment. */
export class Retention {
  readonly #o: RetentionOptions
  #timer: NodeJS.Timeout | undefined
  #nextRunAt: Date | undefined
  #running: Promise<RetentionRun> | undefined
  #runningSince: Date | undefined
  #lastRun: RetentionRun | undefined
  #stopped = true

  constructor(options: RetentionOptions) {
    checkRetentionSettings(options.days, options.intervalSeconds)
    this.#o = options
  }

  /** Arm the timer (when `days` > 0). */
  start(): void {
    this.#stopped = false
    if (this.#o.days > 0) {
      this.#arm(Math.min(this.#o.firstDelaySeconds ?? FIRST_PURGE_DELAY, this.#o.intervalSeconds))
    }
  }

  /** Disarm the timer. A purge still running ends at its next chunk when the store stops. */
  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#nextRunAt = undefined
  }

  /** Where retention stands. */
  status(): RetentionStatus {
    return {
      days: this.#o.days,
      intervalSeconds: this.#o.intervalSeconds,
      running: this.#running !== undefined,
      ...(this.#nextRunAt === undefined ? {} : { nextRunAt: this.#nextRunAt }),
      ...(this.#lastRun === undefined ? {} : { lastRun: { ...this.#lastRun } }),
    }
  }

  /**
   * Purge now. Rejects with ENGINE_PURGE_RUNNING while another purge runs, with
   * ENGINE_INVALID_ARGUMENT for a bad request (or no `olderThan` while retention is off), and
   * with the store's error when the purge fails (the run, with what it removed, is in `status()`).
   */
  purge(
    request: PurgeRequest = {},
    trigger: RetentionRun['trigger'] = 'request',
  ): Promise<RetentionRun> {
    try {
      return this.#begin(request, trigger)
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
  }

  #begin(request: PurgeRequest, trigger: RetentionRun['trigger']): Promise<RetentionRun> {
    const store = this.#o.store()
    if (store === undefined) {
      throw new EngineError(
        'ENGINE_INVALID_STATE',
        'purge: the message store is not open; start the engine first',
      )
    }
    if (this.#running !== undefined) {
      const since = this.#runningSince?.toISOString() ?? 'just now'
      throw new EngineError(
        'ENGINE_PURGE_RUNNING',
        `a purge is already running (started ${since}); wait for it to finish and try again`,
      )
    }
    const keepIncomplete = request.keepIncomplete ?? true
    if (typeof keepIncomplete !== 'boolean') {
      throw new EngineError(
        'ENGINE_INVALID_ARGUMENT',
        'purge: keepIncomplete must be true or false',
      )
    }
    let olderThan = request.olderThan
    if (olderThan === undefined) {
      if (this.#o.days <= 0) {
        throw new EngineError(
          'ENGINE_INVALID_ARGUMENT',
          'purge: retention is off (retentionDays 0); say how old a message must be (olderThan)',
        )
      }
      olderThan = new Date(Date.now() - this.#o.days * DAY_MS)
    }
    if (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())) {
      throw new EngineError('ENGINE_INVALID_ARGUMENT', 'purge: olderThan must be a valid Date')
    }
    const startedAt = new Date()
    this.#runningSince = startedAt
    const run = this.#run(store, { trigger, startedAt, olderThan, keepIncomplete })
    this.#running = run
    const clear = (): void => {
      this.#running = undefined
      this.#runningSince = undefined
    }
    run.then(clear, clear)
    return run
  }

  async #run(
    store: MessageStore,
    base: Omit<RetentionRun, 'deleted' | 'durationMs'>,
  ): Promise<RetentionRun> {
    const log = this.#o.logger
    const fields = {
      trigger: base.trigger,
      olderThan: base.olderThan.toISOString(),
      keepIncomplete: base.keepIncomplete,
    }
    if (!base.keepIncomplete) {
      log.warn(fields, 'purge removes unfinished and failed messages too (keepIncomplete false)')
    }
    // Chunk events give the running total, which is what an error leaves behind.
    let deleted = 0
    const onChunk = (info: { deleted: number }): void => {
      deleted = info.deleted
    }
    store.on('purge', onChunk)
    // The space the purge freed, given back to the volume (or, for a store file made before
    // incremental vacuum, kept inside the file for new messages until an offline VACUUM).
    const onReclaim = (info: {
      bytes: number
      freeBytes: number
      incremental: boolean
      durationMs: number
    }): void => {
      if (info.incremental) {
        log.info(
          {
            reclaimedBytes: info.bytes,
            freeBytes: info.freeBytes,
            durationMs: Math.round(info.durationMs),
          },
          'purge gave space back to the data volume',
        )
      } else {
        log.info(
          { freeBytes: info.freeBytes },
          'purged space is reused for new messages but not given back to the volume: this message store file predates incremental vacuum; to shrink it, stop the engine and run sqlite3 messages.db "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;"',
        )
      }
    }
    store.on('reclaim', onReclaim)
    const started = performance.now()
    try {
      deleted = await store.purge({
        olderThan: base.olderThan,
        keepIncomplete: base.keepIncomplete,
      })
      const run: RetentionRun = {
        ...base,
        deleted,
        durationMs: Math.round(performance.now() - started),
      }
      this.#lastRun = run
      this.#o.metrics.recordPurge('ok', deleted, run.durationMs / 1000)
      log.info({ ...fields, deleted, durationMs: run.durationMs }, 'purge finished')
      return run
    } catch (e) {
      const run: RetentionRun = {
        ...base,
        deleted,
        durationMs: Math.round(performance.now() - started),
        error: errorText(e),
      }
      this.#lastRun = run
      this.#o.metrics.recordPurge('failed', deleted, run.durationMs / 1000)
      if (this.#stopped) {
        // The engine is stopping: the store ends the purge at a chunk boundary; the next start
        // purges the rest.
        log.info({ ...fields, deleted }, 'purge stopped by the shutdown; the next run continues')
      } else {
        log.error(
          { ...fields, deleted, err: run.error },
          'purge failed; it runs again at the next interval',
        )
      }
      throw e
    } finally {
      store.off('purge', onChunk)
      store.off('reclaim', onReclaim)
    }
  }

  #arm(seconds: number): void {
    if (this.#stopped) return
    this.#nextRunAt = new Date(Date.now() + seconds * 1000)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#nextRunAt = undefined
      this.#tick()
    }, seconds * 1000)
    this.#timer.unref()
  }

  #tick(): void {
    if (this.#stopped) return
    let run: Promise<RetentionRun> | undefined
    try {
      run = this.#running === undefined ? this.#begin({}, 'schedule') : undefined
    } catch (e) {
      this.#o.logger.error({ err: errorText(e) }, 'scheduled purge could not start')
    }
    if (run === undefined) {
      // A requested purge is still running (or this one could not start): try again later.
      this.#arm(this.#o.intervalSeconds)
      return
    }
    // Failures are logged and counted in #run; the timer goes on either way.
    run.then(
      () => this.#arm(this.#o.intervalSeconds),
      () => this.#arm(this.#o.intervalSeconds),
    )
  }
}
