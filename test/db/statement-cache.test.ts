/** SQLite statements prepared once and reused by SQL text, within a bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { cachingStatements, directReads } from '../../src/db/statement-cache.ts';
import { openDatabase } from '../../src/db/database.ts';
import { findActiveKeyByHash } from '../../src/db/api-keys.ts';
import { hashApiKey } from '../../src/core/accounts.ts';
import { UnauthorizedError } from '../../src/core/errors.ts';
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

test('a direct read is answered again while nothing was committed, by this connection or another', () => {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-direct-'));
  const raw = new SQLite(join(dir, 'db.sqlite'));
  raw.pragma('journal_mode = WAL');
  const db = cachingStatements(raw);
  const other = new SQLite(join(dir, 'db.sqlite'));
  try {
    db.prepare('create table t (x integer, y text)').run([]);
    db.prepare('insert into t (x, y) values (?, ?)').run([1, 'one']);
    const read = 'select y from t where x = ?';
    assert.deepEqual(db.direct.values(read, [1]), { values: ['one'] });
    // Unchanged: the very answer read before, not read again.
    const first = db.direct.values(read, [1])!.values;
    assert.equal(db.direct.values(read, [1])!.values, first);
    assert.deepEqual(db.direct.values(read, [2]), { values: undefined });
    // A write through this connection (Kysely's statements) is seen at the next read.
    db.prepare('update t set y = ? where x = ?').run(['uno', 1]);
    assert.deepEqual(db.direct.values(read, [1]), { values: ['uno'] });
    // So is a commit by another connection (another process: the CLI).
    other.prepare('update t set y = ? where x = ?').run(['ein', 1]);
    assert.deepEqual(db.direct.values(read, [1]), { values: ['ein'] });
    other.prepare('delete from t').run();
    assert.deepEqual(db.direct.values(read, [1]), { values: undefined });
  } finally {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key revoked, or credits granted, by another process are seen at the next request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-direct-'));
  const url = `sqlite:${join(dir, 'db.sqlite')}`;
  const server = await openDatabase(url);
  const cli = await openDatabase(url);
  const serverCore = coreServices(server, { initialCredits: 0 });
  const cliCore = coreServices(cli, { initialCredits: 0 });
  try {
    const user = await cliCore.accounts.createUser('elsewhere');
    const { key, secret } = await cliCore.accounts.createKey(user.id);
    for (let i = 0; i < 2; i++) assert.equal((await serverCore.accounts.authenticate(secret)).user.credits, 0);
    await cliCore.credits.grant(user.id, 7);
    assert.equal((await serverCore.accounts.authenticate(secret)).user.credits, 7);
    await cliCore.accounts.revokeKey(user.id, key.id);
    await assert.rejects(serverCore.accounts.authenticate(secret), UnauthorizedError);
  } finally {
    await serverCore.close();
    await cliCore.close();
    await server.close();
    await cli.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
