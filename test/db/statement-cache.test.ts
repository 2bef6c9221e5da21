/** SQLite statements prepared once and reused by SQL text, within a bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import { cachingStatements } from '../../src/db/statement-cache.ts';

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
