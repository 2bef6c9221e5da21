/**
 * The one job lifecycle in the database: claims with attempts and leases, a job whose worker died
 * retried once and then failed and refunded exactly once, deadlines, the per-user running limit at
 * claim time, and a stopping worker giving its job back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import { Reaper } from '../../src/core/reaper.ts';
import { claimed, coreServices, spec, userWith } from '../helpers/core.ts';
import { tempSqlite } from '../helpers/databases.ts';

let db: Database;
let cleanup: () => Promise<void>;
before(async () => ({ db, cleanup } = await tempSqlite()));
after(() => cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function refunds(generationId: string): Promise<number> {
  const rows = await db.kysely.selectFrom('credit_ledger').select('delta').where('generation_id', '=', generationId).where('reason', '=', 'refund').execute();
  return rows.reduce((a, r) => a + Number(r.delta), 0);
}

test('a job whose worker stops renewing is queued again once, then failed and refunded exactly once', async () => {
  const core = coreServices(db, { leaseMs: 80 });
  await core.reaper.stop(); // swept by hand below, by two reapers at once
  try {
    const auth = await userWith(core, 3);
    const gen = await core.generations.start(auth, spec({ numOutputs: 3 }), { source: 'test' });
    const reapers = [0, 1].map(() => new Reaper({ lifecycle: core.lifecycle, queue: core.queue, fail: (_k, id, m) => core.generations.fail(id, m) }, { intervalMs: 1000, requeueAfterMs: 60_000, timeoutMs: 10_000 }));

    const first = await claimed(core.generations.claim(gen.id));
    assert.equal(first.attempts, 1);
    assert.deepEqual(await core.generations.claim(gen.id), { gone: true }, 'a live lease is not taken over');
    await sleep(120); // the "worker" died: no renewal
    const swept = await Promise.all(reapers.map((r) => r.sweep()));
    assert.equal(swept.reduce((a, s) => a + s.retried, 0), 1, 'requeued by one reaper only');
    assert.equal((await core.generations.get(gen.id))?.status, 'queued');

    const second = await claimed(core.generations.claim(gen.id));
    assert.equal(second.attempts, 2);
    await sleep(120); // died again
    const again = await Promise.all(reapers.map((r) => r.sweep()));
    assert.equal(again.reduce((a, s) => a + s.abandoned, 0), 1, 'failed by one reaper only');
    const row = (await core.generations.get(gen.id))!;
    assert.equal(row.status, 'failed');
    assert.match(row.error!, /worker running it stopped, 2 time/);
    assert.equal(await refunds(gen.id), 3);
    assert.equal(await core.credits.balance(auth.user.id), 3);
    // A late result from either dead worker changes nothing.
    assert.equal(await core.generations.complete(gen.id, [{ id: randomUUID(), idx: 0, seed: 1, key: 'outputs/late.png', width: 512, height: 512 }]), false);
    assert.equal(await core.generations.fail(gen.id, 'late failure'), false);
    assert.equal(await refunds(gen.id), 3);
    assert.deepEqual(await core.credits.audit(auth.user.id), { balance: 3, ledgerSum: 3 });
  } finally {
    await core.close();
  }
});

test('a renewed lease keeps the job; renewal reports a job failed meanwhile', async () => {
  const core = coreServices(db, { leaseMs: 400 });
  try {
    const auth = await userWith(core, 1);
    const gen = await core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test' });
    await claimed(core.generations.claim(gen.id));
    for (let i = 0; i < 4; i++) {
      await sleep(150); // together longer than one lease
      assert.equal(await core.lifecycle.renew('generate', gen.id), true);
    }
    assert.equal((await core.generations.get(gen.id))?.status, 'running', 'the reaper left a renewed job alone');
    await core.generations.fail(gen.id, 'cancelled');
    assert.equal(await core.lifecycle.renew('generate', gen.id), false);
  } finally {
    await core.close();
  }
});

test('past its deadline a queued job is failed as TIMEOUT and refunded, by the reaper', async () => {
  const core = coreServices(db, { timeoutMs: 50 });
  try {
    const auth = await userWith(core, 2);
    const gen = await core.generations.start(auth, spec({ numOutputs: 2 }), { source: 'test' });
    assert.equal(await core.credits.balance(auth.user.id), 0);
    await sleep(200);
    const row = (await core.generations.get(gen.id))!;
    assert.equal(row.status, 'failed');
    assert.match(row.error!, /^TIMEOUT/);
    assert.equal(await core.credits.balance(auth.user.id), 2);
  } finally {
    await core.close();
  }
});

test('a claim is busy while the user already has maxInFlight running; a stopping worker gives its job back, attempt included', async () => {
  const core = coreServices(db, { maxInFlight: 1 });
  try {
    const auth = await userWith(core, 2);
    const a = await core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test' });
    const b = await core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test' });
    await claimed(core.generations.claim(a.id));
    assert.deepEqual(await core.generations.claim(b.id), { busy: true });
    assert.equal(await core.lifecycle.release('generate', a.id), true);
    const row = (await core.generations.get(a.id))!;
    assert.equal(row.status, 'queued');
    assert.equal(row.attempts, 0);
    assert.equal((await claimed(core.generations.claim(b.id))).attempts, 1, 'the slot is free again');
  } finally {
    await core.close();
  }
});
