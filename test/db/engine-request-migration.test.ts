/** Migration 0006: generations written with the dialect-side spec are rewritten to keep the engine's request. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import { openDatabase } from '../../src/db/database.ts';
import { MIGRATIONS } from '../../src/db/migrations/index.ts';
import { storedSettings, priceOf } from '../../src/core/generations.ts';
import { generationRefund } from '../../src/core/pricing.ts';

test('a row stored as {spec} before 0006 reads back as the engine request, priced the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-mig-'));
  const db = await openDatabase(`sqlite:${join(dir, 'd.db')}`, { migrate: false });
  try {
    const migrator = new Migrator({ db: db.kysely, provider: { getMigrations: async () => MIGRATIONS }, migrationTableName: 'darkroom_migrations', migrationLockTableName: 'darkroom_migrations_lock' });
    assert.equal((await migrator.migrateTo('0005_workers')).error, undefined);
    const now = new Date().toISOString();
    await db.kysely.insertInto('users').values({ id: 'u', name: 'u', role: 'user', created_at: now, updated_at: now }).execute();
    const spec = {
      model: 'darkroom-demo', scheduler: 'euler', prompt: 'a red star', negativePrompt: '', width: 256, height: 256, steps: 20, guidance: 7, seed: 5, numOutputs: 2,
      initImageUrl: 'upload:abc', strength: 0.6, tiling: false, tariff: 'stable_image_core',
    };
    const settings = { spec, initImageKey: 'uploads/u/abc.png', isPublic: false, dialect: 'stability' };
    await db.kysely
      .insertInto('generations')
      .values({
        id: 'g', user_id: 'u', api_key_id: null, status: 'queued', model: 'darkroom-demo', scheduler: 'euler', prompt: 'a red star', negative_prompt: '', width: 256, height: 256,
        steps: 20, guidance: 7, seed: 5, num_outputs: 2, init_image_url: 'upload:abc', prompt_strength: 0.6, settings: JSON.stringify(settings), cost: 12, source: 'api',
        error: null, created_at: now, started_at: null, completed_at: null,
      })
      .execute();
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const gen = (await db.kysely.selectFrom('generations').selectAll().where('id', '=', 'g').executeTakeFirstOrThrow());
    const stored = storedSettings(gen);
    assert.deepEqual(stored.request, { scheduler: 'euler', prompt: 'a red star', negativePrompt: '', width: 256, height: 256, steps: 20, guidance: 7, seed: 5, numOutputs: 2, tiling: false, strength: 0.6 });
    assert.equal(stored.tariff, 'stable_image_core');
    assert.equal(stored.initImageKey, 'uploads/u/abc.png');
    assert.equal(stored.dialect, 'stability');
    assert.equal(generationRefund(priceOf(gen), 1), 6, 'priced by its tariff as before');
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
