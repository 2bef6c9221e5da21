/** SQLite statements prepared once and reused by SQL text, within a bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { cachingStatements, directReads } from '../../src/db/statement-cache.ts';
import { openDatabase } from '../../src/db/database.ts';
import { findActiveKeyByHash } from '../../src/db/api-keys.ts';
import { hashApiKey } from '../../src/core/accounts.ts';
import { coreServices } from '../helpers/core.ts';

test('a statement is prepared once per SQL text and reused', () => {
  const raw = new SQLite(':memory:');
  let prepared = 0;
  const prepare = raw.prepare.bind(raw);
  raw.prepare = ((sql: string) => (prepared++, prepare(sql))) as typeof raw.prepare;
  const db = cachingStatements(raw);
  db.prepare('create table t (x integer)').run([]);
  const insert = db.prepare('insert into t (x) values (?)');
  insert.run([1]);
  assert.equal(db.prepare('insert into t (x) values (?)'), insert);
  db.prepare('insert into t (x) values (?)').run([2]);
  assert.deepEqual(db.prepare('select x from t order by x').all([]), [{ x: 1 }, { x: 2 }]);
  assert.equal(prepared, 3);
  db.close();
  assert.equal(raw.open, false);
});

test('past the bound, the least recently used statement is dropped', () => {
  const db = cachingStatements(new SQLite(':memory:'), 2);
  const a = db.prepare('select 1');
  const b = db.prepare('select 2');
  assert.equal(db.prepare('select 1'), a); // a is now the most recent
  db.prepare('select 3'); // drops b
  assert.equal(db.prepare('select 1'), a);
  assert.notEqual(db.prepare('select 2'), b);
  db.close();
});

test('direct reads answer values in column order, and nothing inside a transaction', () => {
  const raw = new SQLite(':memory:');
  const db = cachingStatements(raw);
  db.prepare('create table t (x integer, y text)').run([]);
  db.prepare('insert into t (x, y) values (?, ?)').run([1, 'one']);
  assert.deepEqual(db.direct.values('select x, y from t where x = ?', [1]), { values: [1, 'one'] });
  assert.deepEqual(db.direct.values('select x, y from t where x = ?', [2]), { values: undefined });
  // Kysely's statement for the same text still answers rows.
  assert.deepEqual(db.prepare('select x, y from t where x = ?').all([1]), [{ x: 1, y: 'one' }]);
  raw.exec('begin');
  assert.equal(db.direct.values('select x, y from t where x = ?', [1]), undefined);
  raw.exec('rollback');
  db.close();
});

test('a key lookup beside an open transaction does not see its uncommitted writes', async () => {
  const db = await openDatabase('sqlite::memory:');
  const core = coreServices(db, { initialCredits: 0 });
  try {
    assert.ok(directReads(db.kysely), 'the embedded handle reads directly');
    const user = await core.accounts.createUser('reader');
    await core.credits.grant(user.id, 42);
    const { secret } = await core.accounts.createKey(user.id);
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const tx = db.transaction(async (t) => {
      await t.updateTable('users').set({ credits: 5 }).where('id', '=', user.id).execute();
      inside();
      await held;
      throw new Error('rolled back');
    });
    await entered;
    const lookup = findActiveKeyByHash(db.kysely, hashApiKey(secret));
    release();
    await assert.rejects(tx, /rolled back/);
    assert.equal((await lookup)?.user.credits, 42);
  } finally {
    await core.close();
    await db.close();
  }
});
