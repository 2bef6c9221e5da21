/**
 * Opens the metadata database: SQLite (better-sqlite3, embedded, the default) or Postgres (pg),
 * chosen by the URL, with the same schema and the same queries on both. Migrations run on open.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import { MIGRATIONS } from './migrations/index.ts';
import { cachingStatements, registerDirectReads } from './statement-cache.ts';
import type { DB } from './schema.ts';

export type DialectName = 'sqlite' | 'postgres';

/** A Kysely handle or a transaction on it: what every query function takes. */
export type Executor = Kysely<DB> | Transaction<DB>;

export interface Database {
  readonly kysely: Kysely<DB>;
  readonly dialect: DialectName;
  /** Runs fn in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Transaction<DB>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** `sqlite:<file>`, `sqlite::memory:`, a plain file path, or `postgres://...`. */
export function parseDatabaseUrl(url: string): { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string } {
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: 'postgres', url };
  if (url.startsWith('sqlite:')) return { dialect: 'sqlite', file: url.slice('sqlite:'.length) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new Error(`unsupported database URL scheme in "${url}" (use sqlite:<file> or postgres://...)`);
  return { dialect: 'sqlite', file: url };
}

const PG_INT8 = 20;
const PG_NUMERIC = 1700;

function sqliteKysely(file: string): Kysely<DB> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  if (file !== ':memory:') sqlite.pragma('journal_mode = WAL');
  // Another process (the CLI granting credits while the server runs) waits instead of failing.
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const database = cachingStatements(sqlite);
  const kysely = new Kysely<DB>({ dialect: new SqliteDialect({ database }) });
  registerDirectReads(kysely, database.direct);
  return kysely;
}

/** pg is loaded only here: an embedded (SQLite) start does not pay for it. */
async function postgresKysely(url: string): Promise<Kysely<DB>> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // bigint/SUM/COUNT come back as JS numbers, as they do from SQLite (all values here are far below 2^53).
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === PG_INT8 || oid === PG_NUMERIC ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

export async function openDatabase(url: string, options: { migrate?: boolean } = {}): Promise<Database> {
  const parsed = parseDatabaseUrl(url);
  const kysely = parsed.dialect === 'sqlite' ? sqliteKysely(parsed.file) : await postgresKysely(parsed.url);
  const db: Database = {
    kysely,
    dialect: parsed.dialect,
    transaction: (fn) => kysely.transaction().execute(fn),
    close: () => kysely.destroy(),
  };
  if (options.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

export async function migrate(db: Database): Promise<void> {
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: async () => MIGRATIONS },
    migrationTableName: 'darkroom_migrations',
    migrationLockTableName: 'darkroom_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
