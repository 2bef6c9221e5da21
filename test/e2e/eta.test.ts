/**
 * DDIM's eta over HTTP: Stablecog's create body takes Darkroom's `eta` with the DDIM scheduler (eta 1 draws fresh
 * seeded noise at every step, so the picture differs from eta 0's and repeats for the same seed); another scheduler
 * with a non-zero eta, or an eta out of 0..1, is a 400 naming eta that costs nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

const BASE = { prompt: 'a lighthouse at dusk', width: 256, height: 256, inference_steps: 10, num_outputs: 1, seed: 42 };
const DDIM = '82cf78dd-6afb-48cc-aca6-14224cca6950';

async function image(fields: Record<string, unknown>): Promise<Buffer> {
  const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { ...BASE, ...fields } });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { outputs: { url: string }[] };
  return Buffer.from(await (await fetch(body.outputs[0]!.url)).arrayBuffer());
}

async function balance(): Promise<number> {
  const r = await t.api('/v1/credits');
  return ((await r.json()) as { total_remaining_credits: number }).total_remaining_credits;
}

test('DDIM eta: 0 is the plain DDIM picture, 1 another one, the same again for the same seed', async () => {
  const plain = await image({ scheduler_id: DDIM });
  const zero = await image({ scheduler_id: DDIM, eta: 0 });
  const one = await image({ scheduler_id: DDIM, eta: 1 });
  const again = await image({ scheduler_id: DDIM, eta: 1 });
  assert.ok(plain.equals(zero), 'eta 0 is the default');
  assert.ok(!one.equals(zero), 'eta 1 gave the eta 0 picture');
  assert.ok(one.equals(again), 'eta 1 is seeded: the same seed gives the same picture');
});

for (const [what, fields] of [
  ['a non-zero eta with Euler', { scheduler_id: '6fb13b76-9900-4fa4-abf8-8f843e034a7f', eta: 0.5 }],
  ['an eta over 1', { scheduler_id: DDIM, eta: 1.5 }],
  ['an eta that is not a number', { scheduler_id: DDIM, eta: 'half' }],
] as const) {
  test(`${what}: 400 naming eta in the Stablecog envelope, nothing charged`, async () => {
    const before = await balance();
    const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { ...BASE, ...fields } });
    const body = (await res.json()) as { error: string; field?: string; description?: string };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.field, 'eta');
    assert.equal(await balance(), before);
  });
}
