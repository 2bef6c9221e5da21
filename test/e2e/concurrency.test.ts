/**
 * Concurrent requests that would overdraw: the balance never goes below zero, and the ledger adds
 * up (debits - refunds = outputs made), also when some generations fail and are refunded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import type { ImageEngine } from '../../src/worker/worker.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let engine: Engine;
before(async () => {
  engine = new Engine({ modelDirs: [dirname(await testModelDir('tiny-sd1'))], provider: 'cpu' });
  // The real engine, except that a prompt containing "boom" fails in the worker (to exercise refunds).
  const flaky: ImageEngine & { dispose: () => Promise<void> } = {
    generate: (model, input, options) => (input.prompt.includes('boom') ? Promise.reject(new Error('boom: the engine failed')) : engine.generate(model, input, options)),
    dispose: () => engine.dispose(),
  };
  t = await startTestServer({ DARKROOM_INITIAL_CREDITS: '0', DARKROOM_MAX_IN_FLIGHT: '16', DARKROOM_WORKER_CONCURRENCY: '2' }, { engine: flaky });
});
after(() => t.close());

test('20 concurrent requests against 7 credits: the balance never goes negative and the ledger adds up', async () => {
  const u = await makeUser(t, 'racer', 7);
  const requests = Array.from({ length: 20 }, (_, i) => ({
    prompt: i % 5 === 0 ? `boom ${i}` : `race ${i}`,
    num_outputs: (i % 2) + 1,
    inference_steps: 10,
  }));
  const results = await Promise.all(
    requests.map(async (json) => {
      const r = await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json });
      return { status: r.status, body: (await r.json()) as { error?: string; outputs?: unknown[]; remaining_credits?: number } };
    }),
  );
  for (const r of results) {
    assert.ok([200, 400, 500].includes(r.status), JSON.stringify(r));
    if (r.status === 400) assert.equal(r.body.error, 'insufficient_credits');
    if (r.status === 500) assert.match(r.body.error!, /boom/);
    if (r.status === 200) assert.ok(r.body.remaining_credits! >= 0);
  }
  const ok = results.filter((r) => r.status === 200);
  const made = ok.reduce((s, r) => s + r.body.outputs!.length, 0);
  assert.ok(ok.length > 0 && results.some((r) => r.status === 400), 'some got through, some were refused');

  const { credits } = t.server.services;
  const audit = await credits.audit(u.userId);
  assert.equal(audit.balance, audit.ledgerSum, 'cached balance = SUM(ledger)');
  assert.ok(audit.balance >= 0);
  const entries = await credits.entries(u.userId);
  const debits = -entries.filter((e) => Number(e.delta) < 0).reduce((s, e) => s + Number(e.delta), 0);
  const refunds = entries.filter((e) => e.reason === 'refund').reduce((s, e) => s + Number(e.delta), 0);
  assert.equal(debits - refunds, made, 'credits spent = outputs made');
  assert.equal(7 - debits + refunds, audit.balance);

  const listed = (await (await t.api('/v1/image/generation/outputs', { key: u.key })).json()) as { total: number };
  assert.equal(listed.total, made);
  const ops = (await (await t.api('/v1/user/operations', { key: u.key })).json()) as { operations: { cost: number; status: string }[] };
  assert.equal(ops.operations.reduce((s, o) => s + o.cost, 0), made);
  assert.ok(ops.operations.some((o) => o.status === 'failed' && o.cost === 0), 'failed generations cost nothing');
});
