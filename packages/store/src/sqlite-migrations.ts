/**
 * Versioned schema of the embedded SQLite backend. The version lives in `PRAGMA user_version` (a
 * field of the database header, written in the same transaction as the migration, so a crash
 * leaves either the old schema and version or the new ones). Each migration runs in its own
 * transaction at `start()`; a database newer than this code is refused rather than guessed at.
 *
 * Secondary indexes on a rowid table carry the rowid as their last key, so `(correlation_id)`
 * serves `WHERE correlation_id = ? ORDER BY id DESC` without a sort. Times are integer
 * milliseconds since the epoch.
 *
 * Never edit a migration that has shipped: add the next one.
 */
import type Database from 'better-sqlite3'
import { StoreError } from './errors.js'

/** One schema step: brings a database from `version - 1` to `version`. */
export interface SqliteMigration {
  version: number
  description: string
  up: (db: Database.Database) => void
}

/** Every migration, in order. Version N is at index N - 1. */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    description: 'messages with state and history',
    up: (db) => {
      db.exec(`
        CREATE TABLE messages (
          id             INTEGER PRIMARY KEY AUTOINCREMENT,
          host_name      TEXT    NOT NULL,
          message_id     TEXT    NOT NULL,
          message_type   TEXT    NOT NULL,
          correlation_id TEXT    NOT NULL,
          session_id     TEXT,
          direction      TEXT,
          payload        TEXT    NOT NULL,
          metadata       TEXT,
          state          TEXT    NOT NULL
                         CHECK (state IN ('received', 'processing', 'completed', 'failed')),
          error          TEXT,
          created_at     INTEGER NOT NULL,
          updated_at     INTEGER NOT NULL
        );
        CREATE INDEX messages_correlation ON messages (correlation_id);
        CREATE INDEX messages_host_state  ON messages (host_name, state);
        CREATE INDEX messages_created     ON messages (created_at);
        CREATE TABLE message_history (
          id         INTEGER PRIMARY KEY,
          message_id INTEGER NOT NULL,
          state      TEXT    NOT NULL,
          time       INTEGER NOT NULL,
          error      TEXT
        );
        CREATE INDEX message_history_message ON message_history (message_id);
      `)
    },
  },
  {
    version: 2,
    description: 'session hops for traces; session, host and state indexes',
    up: (db) => {
      db.exec(`
        CREATE TABLE hops (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          session_id TEXT    NOT NULL,
          message_id INTEGER,
          source     TEXT    NOT NULL,
          target     TEXT    NOT NULL,
          state      TEXT    NOT NULL,
          time       INTEGER NOT NULL,
          detail     TEXT
        );
        CREATE INDEX hops_session ON hops (session_id, time);
        CREATE INDEX hops_time    ON hops (time);
        CREATE INDEX messages_session ON messages (session_id, state);
        CREATE INDEX messages_host    ON messages (host_name);
        CREATE INDEX messages_state   ON messages (state);
      `)
    },
  },
  {
    version: 3,
    description: 'session index without the state, so a state change does not rewrite it',
    up: (db) => {
      // Session ids are random (UUIDs), so each entry of this index sits on a page of its own:
      // with `state` in the key, every markCompleted rewrote one more random page into the WAL.
      // The purge's "is the session complete?" check reads the session's few rows instead.
      db.exec(`
        DROP INDEX messages_session;
        CREATE INDEX messages_session ON messages (session_id);
      `)
    },
  },
  {
    version: 4,
    description: 'search values (IRIS search tables): find messages by patient id and the like',
    up: (db) => {
      // (name, value) then the message id (the rowid-less table keeps it in the key): a search
      // reads only its own entries; the second index serves the purge's delete by message.
      db.exec(`
        CREATE TABLE message_search (
          message_id INTEGER NOT NULL,
          name       TEXT    NOT NULL,
          value      TEXT    NOT NULL
        );
        CREATE INDEX message_search_value   ON message_search (name, value, message_id);
        CREATE INDEX message_search_message ON message_search (message_id);
      `)
    },
  },
  {
    version: 5,
    description: 'message type index: a rare type is found without scanning the table',
    up: (db) => {
      // `query({ messageType })` walked the table newest first until a page was full: on a
      // 500,000-row store, 16 ms for a type in 1 of 1,000 messages and 44 ms with a host too,
      // growing with the store. With the index (rowid last, so newest first needs no sort) a
      // page costs about the same whatever the type.
      db.exec('CREATE INDEX messages_type ON messages (message_type)')
    },
  },
]

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION: number = SQLITE_MIGRATIONS.length

/** Reads the schema version of an open database (0 for a new, empty file). */
export function sqliteSchemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number
}

/**
 * Brings `db` to `target` (default: current), one transaction per migration.
 * Throws `STORE_MIGRATION_FAILED` if the file is newer than this code or a step fails; the steps
 * before the failing one stay applied.
 */
export function migrateSqlite(
  db: Database.Database,
  target: number = SQLITE_SCHEMA_VERSION,
): { from: number; to: number } {
  const from = sqliteSchemaVersion(db)
  if (from > SQLITE_SCHEMA_VERSION) {
    throw new StoreError(
      'STORE_MIGRATION_FAILED',
      `database ${db.name} has schema version ${from}, newer than the ${SQLITE_SCHEMA_VERSION} this @li/store supports; upgrade @li/store`,
    )
  }
  for (const migration of SQLITE_MIGRATIONS) {
    if (migration.version <= from || migration.version > target) continue
    try {
      db.transaction(() => {
        migration.up(db)
        // user_version is part of the database header, so it commits with the migration.
        db.pragma(`user_version = ${migration.version}`)
      })()
    } catch (cause) {
      throw new StoreError(
        'STORE_MIGRATION_FAILED',
        `migration to schema version ${migration.version} (${migration.description}) failed on ${db.name}: ${String(cause)}`,
        { cause },
      )
    }
  }
  return { from, to: Math.max(from, Math.min(target, SQLITE_SCHEMA_VERSION)) }
}
