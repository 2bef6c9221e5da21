/**
 * Prepared statements kept for reuse on the embedded SQLite database. Kysely's SQLite driver asks
 * better-sqlite3 to prepare every query it runs afresh, and preparing (parsing and planning the SQL)
 * costs more than running the short queries a request makes. The queries come from a fixed set of
 * query builders, so their SQL texts repeat: statements are cached by text, the least recently used
 * dropped past `max` so that queries built with a varying number of parameters cannot grow it
 * without bound. SQLite re-prepares a statement by itself when the schema under it changes.
 *
 * The same handle is also reachable from its Kysely instance (`directReads`), for the one read every
 * authenticated request makes: run synchronously on a prepared statement it costs about half of
 * what it costs through Kysely's driver (its connection lock and promise chain).
 */
import type { Database as SQLiteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

export const STATEMENT_CACHE_SIZE = 500;

export function cachingStatements(db: SQLiteDatabase, max = STATEMENT_CACHE_SIZE): SqliteDatabase & { readonly direct: DirectReads } {
  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let stmt = statements.get(sql);
    if (stmt) {
      // Map keeps insertion order: moving the hit to the end keeps the oldest first for eviction.
      statements.delete(sql);
    } else {
      stmt = db.prepare(sql);
      if (statements.size >= max) statements.delete(statements.keys().next().value!);
    }
    statements.set(sql, stmt);
    return stmt;
  };
  // Direct reads take their values as arrays: a statement of their own, since raw mode is a
  // statement's setting and Kysely's (cached above) must keep answering row objects. Their SQL
  // texts are a few fixed ones.
  const valueStatements = new Map<string, Statement>();
  return {
    close: () => {
      statements.clear();
      valueStatements.clear();
      db.close();
    },
    prepare,
    direct: {
      values(sql, parameters) {
        if (db.inTransaction) return undefined;
        let stmt = valueStatements.get(sql);
        if (!stmt) {
          stmt = db.prepare(sql).raw(true);
          valueStatements.set(sql, stmt);
        }
        return { values: stmt.get(...parameters) as unknown[] | undefined };
      },
    },
  };
}

/** Reads run on the SQLite handle itself, outside Kysely. */
export interface DirectReads {
  /**
   * The first row of a read as its values in column order (`values` undefined when there is none),
   * or undefined when the connection is inside a transaction: Kysely's driver holds the connection
   * for a transaction across awaits, and a read run beside it would see that transaction's
   * uncommitted writes, so the caller goes through Kysely then (which waits for the transaction to
   * end), as every other query does.
   */
  values(sql: string, parameters: readonly unknown[]): { values: unknown[] | undefined } | undefined;
}

const byKysely = new WeakMap<object, DirectReads>();

/** Makes `direct` reachable from `kysely` (the handle openDatabase made it for; never a transaction). */
export function registerDirectReads(kysely: object, direct: DirectReads): void {
  byKysely.set(kysely, direct);
}

/** The direct reads of an embedded database's Kysely handle; undefined for Postgres and for a transaction. */
export function directReads(ex: object): DirectReads | undefined {
  return byKysely.get(ex);
}
