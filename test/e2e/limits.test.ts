/** Per-key rate limit (429 + Retry-After) and the per-user in-flight limit with its bounded waiting line. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import type { ImageEngine } from '../../src/worker/worker.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';

test('rate limit per key: 429 with Retry-After once the per-second budget is spent; other keys unaffected', async () => {
  const t = await startTestServer({ DARKROOM_RATE_LIMIT: '3' });
  try {
    const other = await makeUser(t, 'other', 0);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await t.api('/v1/credits');
      statuses.push(r.status);
      if (r.status === 429) limited ??= r;
    }
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    assert.ok(limited, `some request was limited: ${statuses}`);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(limited.headers.get('x-ratelimit-limit'), '3');
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    assert.equal(((await limited.json()) as { error: string }).error, 'Too Many Requests');
    assert.equal((await t.api('/v1/credits', { key: other.key })).status, 200);
    assert.equal((await fetch(`${t.url}/v1/image/generation/models`)).status, 200, 'discovery routes need no key and are not limited');
  } finally {
    await t.close();
  }
});

let t: TestServer;
let engine: Engine;
let release: () => void = () => {};
let held: Promise<void> = Promise.resolve();
before(async () => {
  engine = new Engine({ modelDirs: [dirname(await testModelDir('tiny-sd1'))], provider: 'cpu' });
  // The real engine, but a prompt starting with "hold" waits until the test lets it go.
  const gated: ImageEngine & { dispose: () => Promise<void> } = {
    generate: async (model, input, options) => {
      if (input.prompt.startsWith('hold')) await held;
      return engine.generate(model, input, options);
    },
    dispose: () => engine.dispose(),
  };
  t = await startTestServer({ DARKROOM_MAX_IN_FLIGHT: '1', DARKROOM_MAX_QUEUED: '1', DARKROOM_WORKER_CONCURRENCY: '2' }, { engine: gated });
});
after(() => t.close());

test('in-flight limit, counted in the database: one runs, one is accepted and waits, the next gets queue_limit_reached (nothing charged)', async () => {
  const u = await makeUser(t, 'busy', 10);
  held = new Promise((r) => (release = r));
  const first = t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'hold first', num_outputs: 1 } });
  await new Promise((r) => setTimeout(r, 100));
  const second = t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'hold second', num_outputs: 1 } });
  await new Promise((r) => setTimeout(r, 100));
  const third = await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'third', num_outputs: 1 } });
  assert.equal(third.status, 400);
  assert.equal(((await third.json()) as { error: string }).error, 'queue_limit_reached');
  // The running one and the waiting one are both accepted (charged); the refused one costs nothing.
  const mid = (await (await t.api('/v1/credits', { key: u.key })).json()) as { total_remaining_credits: number };
  assert.equal(mid.total_remaining_credits, 8);
  const statuses = await t.server.db.kysely.selectFrom('generations').select('status').where('user_id', '=', u.userId).orderBy('created_at').execute();
  assert.deepEqual(statuses.map((g) => g.status), ['running', 'queued']);
  // Another user is not held up by this one's line.
  const other = await makeUser(t, 'free', 1);
  const otherRes = await t.api('/v1/image/generation/create', { method: 'POST', key: other.key, json: { prompt: 'not waiting', num_outputs: 1 } });
  assert.equal(otherRes.status, 200);
  release();
  const [a, b] = await Promise.all([first, second]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  const end = (await (await t.api('/v1/credits', { key: u.key })).json()) as { total_remaining_credits: number };
  assert.equal(end.total_remaining_credits, 8);
});

test('a generation that outlives DARKROOM_GENERATION_TIMEOUT: 500 TIMEOUT, refunded, and its late images are not kept', async () => {
  const slow = await startTestServer({ DARKROOM_GENERATION_TIMEOUT: '1' }, {
    engine: {
      generate: async (model, input, options) => {
        await held;
        return engine.generate(model, input, options);
      },
    },
  });
  try {
    held = new Promise((r) => (release = r));
    const u = await makeUser(slow, 'patient', 2);
    const r = await slow.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'too slow', num_outputs: 2 } });
    assert.equal(r.status, 500);
    const body = (await r.json()) as { error: string; settings?: { num_outputs: number } };
    assert.equal(body.error, 'TIMEOUT');
    assert.equal(body.settings?.num_outputs, 2);
    assert.equal(((await (await slow.api('/v1/credits', { key: u.key })).json()) as { total_remaining_credits: number }).total_remaining_credits, 2);
    release();
    await new Promise((res) => setTimeout(res, 300));
    const listed = (await (await slow.api('/v1/image/generation/outputs', { key: u.key })).json()) as { total: number };
    assert.equal(listed.total, 0);
    const ops = (await (await slow.api('/v1/user/operations', { key: u.key })).json()) as { operations: { status: string; cost: number }[] };
    assert.deepEqual(ops.operations.map((o) => [o.status, o.cost]), [['failed', 0]]);
  } finally {
    release();
    await slow.close();
  }
});
