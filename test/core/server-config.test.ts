/** The server's settings added to the config: defaults, parsing, and every bad value listed at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

test('server defaults: SQLite under the data dir, 240 s timeout, 2 in flight, 50 waiting, 10 req/s, 100 credits, private outputs', () => {
  const c = loadConfig({ DARKROOM_DATA_DIR: '/srv/dr' });
  assert.equal(c.databaseUrl, `sqlite:${join('/srv/dr', 'darkroom.db')}`);
  assert.equal(c.publicUrl, '');
  assert.equal(c.generationTimeout, 240);
  assert.equal(c.maxInFlight, 2);
  assert.equal(c.maxQueued, 50);
  assert.equal(c.rateLimit, 10);
  assert.equal(c.initialCredits, 100);
  assert.equal(c.workerConcurrency, 1);
  assert.equal(c.outputsPublic, false);
});

test('database URLs: postgres kept, a plain path becomes sqlite:<absolute path>', () => {
  assert.equal(loadConfig({ DARKROOM_DATABASE_URL: 'postgres://u:p@db/darkroom' }).databaseUrl, 'postgres://u:p@db/darkroom');
  assert.equal(loadConfig({ DARKROOM_DATABASE_URL: 'meta.db' }).databaseUrl, `sqlite:${resolve('meta.db')}`);
  assert.equal(loadConfig({ DARKROOM_OUTPUTS_PUBLIC: 'yes' }).outputsPublic, true);
  assert.equal(loadConfig({ DARKROOM_PUBLIC_URL: 'https://img.example.com/' }).publicUrl, 'https://img.example.com');
});

test('bad server values are all listed in one error', () => {
  try {
    loadConfig({
      DARKROOM_DATABASE_URL: 'mysql://x',
      DARKROOM_PUBLIC_URL: 'ftp://x',
      DARKROOM_GENERATION_TIMEOUT: '0',
      DARKROOM_MAX_IN_FLIGHT: 'many',
      DARKROOM_RATE_LIMIT: '-1',
      DARKROOM_OUTPUTS_PUBLIC: 'sometimes',
    });
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 6);
  }
});
