/** `darkroom keys create --webhook-url URL [--webhook-key SECRET]`: a key that carries a Leonardo webhook; bad callbacks are refused. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/database.ts';
import { hashApiKey } from '../../src/core/accounts.ts';
import { cliHome, type CliHome } from '../helpers/cli.ts';

let home: CliHome;
before(() => void (home = cliHome('cli-hook')));
after(() => home.remove());

const runFor = (user: string, ...args: string[]) => home.run(['keys', 'create', '--user', user, ...args]);
const run = (...args: string[]) => runFor('hooked', ...args);

test('the key stores its callback URL and secret; a non-http(s) callback or a key without a URL is refused, naming the flag, writing nothing', async () => {
  const ok = run('--webhook-url', 'https://my.app/hook', '--webhook-key', 'receiver-secret');
  assert.equal(ok.status, 0, ok.stderr);
  const secret = ok.stdout.trim();
  const bad = run('--webhook-url', 'file:///etc/passwd');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--webhook-url: .*scheme/);
  const orphan = run('--webhook-key', 'x');
  assert.notEqual(orphan.status, 0);
  assert.match(orphan.stderr, /--webhook-key: needs --webhook-url/);
  // Refused before anything is written: no user is created for a key that is not made.
  const newcomer = runFor('newcomer', '--webhook-url', 'file:///etc/passwd');
  assert.notEqual(newcomer.status, 0);
  assert.match(newcomer.stderr, /--webhook-url/);
  const db = await openDatabase(`sqlite:${join(home.dir, 'darkroom.db')}`);
  try {
    assert.deepEqual((await db.kysely.selectFrom('users').select('name').execute()).map((u) => u.name), ['hooked']);
    const keys = await db.kysely.selectFrom('api_keys').selectAll().execute();
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.hash, hashApiKey(secret));
    assert.equal(keys[0]!.webhook_url, 'https://my.app/hook');
    assert.equal(keys[0]!.webhook_api_key, 'receiver-secret');
  } finally {
    await db.close();
  }
});
