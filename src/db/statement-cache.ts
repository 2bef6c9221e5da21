/**
 * Prepared statements kept for reuse on the embedded SQLite database. Kysely's SQLite driver asks
 * better-sqlite3 to prepare every query it runs afresh, and preparing (parsing and planning the SQL)
 * costs more than running the short queries a request makes. The queries come from a fixed set of
 * query builders, so their SQL texts repeat: statements are cached by text, the least recently used
 * dropped past `max` so that queries built with a varying number of parameters cannot grow it
 * without bound. SQLite re-prepares a statement by itself when the schema under it changes.
 */
import type { Database as SQLiteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

export const STATEMENT_CACHE_SIZE = 500;

export function cachingStatements(db: SQLiteDatabase, max = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const statements = new Map<string, Statement>();
  return {
    close: () => {
      statements.clear();
      db.close();
    },
    prepare(sql) {
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
    },
  };
}
