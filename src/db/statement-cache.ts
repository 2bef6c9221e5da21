/**
 * Prepared statements kept for reuse on the embedded SQLite database. Kysely's SQLite driver asks
 * better-sqlite3 to prepare every query it runs afresh, and preparing (parsing and planning the SQL)
 * costs more than running the short queries a request makes. The queries come from a fixed set of
 * query builders, so their SQL texts repeat: statements are cached by text, the least recently used
 * dropped past `max` so that queries built with a varying number of parameters cannot grow it
 * without bound. SQLite re-prepares a statement by itself when the schema under it changes.
 *
 * The same handle is also reachable from its Kysely instance (`directReads`), for the one read every
 * authenticated request makes: run synchronously on a prepared statement, outside Kysely's driver
 * (its connection lock and promise chain), and answered again from what it read last while nothing
 * has been committed to the database since.
 */
import type { Database as SQLiteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

export const STATEMENT_CACHE_SIZE = 500;
/** Answers kept by the direct reads, all reads together; past it they start again empty. */
export const DIRECT_ANSWERS_SIZE = 1000;

export function cachingStatements(db: SQLiteDatabase, max = STATEMENT_CACHE_SIZE): SqliteDatabase & { readonly direct: DirectReads } {
  const statements = new Map<string, SqliteStatement>();
  // This connection's writes: SQLite's data_version counts only the other connections' commits.
  let writes = 0;
  const counted = (stmt: Statement): SqliteStatement => ({
    reader: stmt.reader,
    all: (parameters) => (writes++, stmt.all(parameters)),
    run: (parameters) => (writes++, stmt.run(parameters)),
    iterate: (parameters) => (writes++, stmt.iterate(parameters)),
  });
  const prepare = (sql: string): SqliteStatement => {
    let stmt = statements.get(sql);
    if (stmt) {
      // Map keeps insertion order: moving the hit to the end keeps the oldest first for eviction.
      statements.delete(sql);
    } else {
      const prepared = db.prepare(sql);
      stmt = prepared.readonly ? prepared : counted(prepared);
      if (statements.size >= max) statements.delete(statements.keys().next().value!);
    }
    statements.set(sql, stmt);
    return stmt;
  };

  // Direct reads take their values as arrays: a statement of their own, since raw mode is a
  // statement's setting and Kysely's (cached above) must keep answering row objects. Their SQL
  // texts are a few fixed ones.
  const valueStatements = new Map<string, Statement>();
  let dataVersion: Statement | undefined;
  const answers = new Map<string, Map<string, unknown[] | undefined>>();
  let answered = 0;
  let seen = { dataVersion: -1, writes: -1 };
  return {
    close: () => {
      statements.clear();
      valueStatements.clear();
      answers.clear();
      db.close();
    },
    prepare,
    direct: {
      values(sql, parameters) {
        if (db.inTransaction) return undefined;
        dataVersion ??= db.prepare('pragma data_version').pluck();
        const now = { dataVersion: dataVersion.get() as number, writes };
        if (now.dataVersion !== seen.dataVersion || now.writes !== seen.writes || answered >= DIRECT_ANSWERS_SIZE) {
          answers.clear();
          answered = 0;
          seen = now;
        }
        const key = parameters.length === 1 ? String(parameters[0]) : JSON.stringify(parameters);
        let bySql = answers.get(sql);
        if (bySql?.has(key)) return { values: bySql.get(key) };
        let stmt = valueStatements.get(sql);
        if (!stmt) {
          stmt = db.prepare(sql).raw(true);
          valueStatements.set(sql, stmt);
        }
        const values = stmt.get(...parameters) as unknown[] | undefined;
        if (!bySql) answers.set(sql, (bySql = new Map()));
        bySql.set(key, values);
        answered++;
        return { values };
      },
    },
  };
}

/** Reads run on the SQLite handle itself, outside Kysely. */
export interface DirectReads {
  /**
   * The first row of a read as its values in column order (`values` undefined when there is none):
   * the same answer as the last time this read was made with these parameters when nothing has
   * been committed to the database since, by this connection (its writes are counted) or by any
   * other, in this process or another (SQLite's `data_version`, asked each time: a revoked key or a
   * changed balance is seen at the next read, as without the cache). Undefined when the connection
   * is inside a transaction: Kysely's driver holds the connection for a transaction across awaits,
   * and a read run beside it would see that transaction's uncommitted writes, so the caller goes
   * through Kysely then (which waits for the transaction to end), as every other query does. The
   * values are shared between the callers given them: read them, never change them.
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
