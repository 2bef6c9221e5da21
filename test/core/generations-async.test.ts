/**
 * The asynchronous path (Leonardo) and what the dialects added to the core: start answers at once
 * and the job runs when the user has a slot; a full waiting line is refused before any charge; a
 * timed-out or deleted generation is refunded; flat tariffs; masks and tiling are checked.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import { QueueLimitError, ValidationError } from '../../src/core/errors.ts';
import { generationCost, generationRefund } from '../../src/core/pricing.ts';
import type { Generation } from '../../src/db/schema.ts';
import { claimed, consume, coreServices, spec, userWith } from '../helpers/core.ts';
import { tempSqlite } from '../helpers/databases.ts';

let db: Database;
let cleanup: () => Promise<void>;
before(async () => ({ db, cleanup } = await tempSqlite()));
after(() => cleanup());

const until = async (cond: () => Promise<boolean> | boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('start: charged and queued at once (enqueued too); runs when its user has a free slot; the slot is held until it ends', async () => {
  const core = coreServices(db, { maxInFlight: 1, maxWaiting: 1 });
  try {
    const auth = await userWith(core, 10);
    const jobs: Generation[] = [];
    const finish: (() => Promise<void>)[] = [];
    consume(core, async (gen) => {
      jobs.push(gen);
      await new Promise<void>((resolve) =>
        finish.push(async () => {
          await core.generations.complete(gen!.id, [{ id: randomUUID(), idx: 0, seed: 1, key: `outputs/${randomUUID()}.png`, width: 512, height: 512 }]);
          resolve();
        }),
      );
    });
    const a = await core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test' });
    const b = await core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test' });
    assert.equal(a.status, 'queued');
    assert.equal(await core.credits.balance(auth.user.id), 8, 'both charged when accepted');
    await until(() => jobs.length === 1);
    // The waiting line (1) is full: refused before anything is charged.
    await assert.rejects(core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test' }), QueueLimitError);
    assert.equal(await core.credits.balance(auth.user.id), 8);
    assert.equal((await core.generations.get(b.id))?.status, 'queued', 'b waits for the slot');
    await finish.shift()!();
    await until(() => jobs.length === 2);
    await until(() => finish.length === 1);
    await finish.shift()!();
    await until(async () => (await core.generations.get(b.id))?.status === 'succeeded');
    assert.equal((await core.generations.get(a.id))?.status, 'succeeded');
  } finally {
    await core.close();
  }
});

test('start: a job that never ends is failed and refunded after the generation timeout', async () => {
  const core = coreServices(db, { timeoutMs: 100 });
  try {
    const auth = await userWith(core, 3);
    core.queue.process(async (job, signal) => {
      if (job.type === 'generate') await claimed(core.generations.claim(job.generationId));
      await new Promise<void>((r) => signal.addEventListener('abort', () => r()));
    });
    const gen = await core.generations.start(auth, spec({ numOutputs: 3 }), { source: 'test' });
    assert.equal(await core.credits.balance(auth.user.id), 0);
    await until(async () => (await core.generations.get(gen.id))?.status === 'failed');
    assert.match((await core.generations.get(gen.id))!.error!, /TIMEOUT/);
    assert.equal(await core.credits.balance(auth.user.id), 3);
  } finally {
    await core.close();
  }
});

test('delete: a queued generation is cancelled and refunded, then leaves the listings; someone else cannot delete it', async () => {
  const core = coreServices(db, { maxInFlight: 1 });
  try {
    const auth = await userWith(core, 4);
    const other = await userWith(core, 0);
    // No consumer: the job stays queued.
    const gen = await core.generations.start(auth, spec({ numOutputs: 2 }), { source: 'test', dialect: 'leonardo', extra: { presetStyle: 'NONE' } });
    assert.equal(await core.credits.balance(auth.user.id), 2);
    assert.equal((await core.generations.list(auth.user.id, 0, 10)).length, 1);
    assert.equal(await core.generations.delete(other.user.id, gen.id), undefined);
    assert.equal((await core.generations.delete(auth.user.id, gen.id))?.id, gen.id);
    assert.equal(await core.credits.balance(auth.user.id), 4);
    assert.equal(await core.generations.getOwned(auth.user.id, gen.id), undefined);
    assert.equal((await core.generations.list(auth.user.id, 0, 10)).length, 0);
    assert.equal(await core.generations.delete(auth.user.id, gen.id), undefined, 'already deleted');
    const row = (await core.generations.get(gen.id))!;
    assert.equal(row.status, 'failed');
    assert.ok(row.deleted_at);
    assert.equal(JSON.parse(row.settings).dialect, 'leonardo');
  } finally {
    await core.close();
  }
});

test('the checks the dialects rely on: a mask needs an init image; tiling needs a model that supports it', async () => {
  const core = coreServices(db);
  try {
    await assert.rejects(core.generations.check(spec({ maskUrl: 's3://x/y.png' })), (e) => e instanceof ValidationError && e.field === 'mask');
    await assert.rejects(core.generations.check(spec({ tiling: true })), (e) => e instanceof ValidationError && e.field === 'tiling');
  } finally {
    await core.close();
  }
});

test('tariffs: one credit per image by default; flat per successful image for Stability; refunds follow', () => {
  const base = { width: 512, height: 512, steps: 20, model: 'm' };
  assert.equal(generationCost({ ...base, numOutputs: 3 }), 3);
  assert.equal(generationCost({ ...base, numOutputs: 1, tariff: 'stable_image_core' }), 6);
  assert.equal(generationCost({ ...base, numOutputs: 1, tariff: 'stability_core' }), 3);
  assert.equal(generationRefund({ ...base, numOutputs: 1, tariff: 'stable_image_core' }, 1), 6);
  assert.equal(generationRefund({ ...base, numOutputs: 4 }, 1), 1);
});
