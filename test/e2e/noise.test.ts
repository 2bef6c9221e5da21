/**
 * The noise a seed draws, over HTTP and from the CLI: Stablecog's create body takes Darkroom's `noise`
 * field (torch-cpu: PyTorch's CPU generator, diffusers' latents of the seed), the server's
 * DARKROOM_NOISE is the default of requests that do not choose, output k still uses seed + k, and a
 * bad value is a 400 naming the field that costs nothing. `darkroom generate --noise` does the same.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHome } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

let t: TestServer;
before(async () => (t = await startTestServer({ DARKROOM_NOISE: 'torch-cpu' })));
after(() => t.close());

// An ancestral scheduler draws noise at every step too, not only the initial latents.
const BASE = { prompt: 'a lighthouse at dusk', width: 256, height: 256, inference_steps: 10, scheduler_id: 'K_EULER_ANCESTRAL' };

async function images(fields: Record<string, unknown>): Promise<Buffer[]> {
  const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { ...BASE, ...fields } });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { outputs: { url: string }[] };
  return Promise.all(body.outputs.map(async (o) => Buffer.from(await (await fetch(o.url)).arrayBuffer())));
}

async function balance(): Promise<number> {
  const r = await t.api('/v1/credits');
  return ((await r.json()) as { total_remaining_credits: number }).total_remaining_credits;
}

test('DARKROOM_NOISE is the default: no noise field gives the torch-cpu picture, darkroom another one', async () => {
  const [byDefault] = await images({ seed: 42, num_outputs: 1 });
  const [torch] = await images({ seed: 42, num_outputs: 1, noise: 'torch-cpu' });
  const [own] = await images({ seed: 42, num_outputs: 1, noise: 'darkroom' });
  assert.ok(byDefault!.equals(torch!));
  assert.ok(!own!.equals(torch!), 'darkroom and torch-cpu noise of one seed gave the same image');
});

test('torch-cpu keeps the per-output seed contract: output k of a batch is the single image of seed + k', async () => {
  const batch = await images({ seed: 7, num_outputs: 2, noise: 'torch-cpu' });
  const [second] = await images({ seed: 8, num_outputs: 1, noise: 'torch-cpu' });
  assert.equal(batch.length, 2);
  assert.ok(batch[1]!.equals(second!));
  assert.ok(!batch[0]!.equals(batch[1]!));
});

test('an unknown noise: 400 naming noise in the Stablecog envelope, nothing charged', async () => {
  const before = await balance();
  const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { ...BASE, noise: 'torch-cuda' } });
  const body = (await res.json()) as { error: string; field?: string };
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.equal(body.field, 'noise');
  assert.equal(await balance(), before);
});

test('darkroom generate --noise torch-cpu: the flag works, and a bad value is refused naming it', async () => {
  const home = cliHome('noise', { models: { 'tiny-sd1': await testModelDir('tiny-sd1') }, env: { DARKROOM_DEFAULT_MODEL: 'tiny-sd1' } });
  const dataDir = home.dir;
  try {
    const generate = (...args: string[]) => home.run(['generate', 'a lighthouse at dusk', '--seed', '42', '--steps', '4', '--width', '64', '--height', '64', ...args]);
    const torch = generate('--noise', 'torch-cpu', '-o', join(dataDir, 'torch.png'));
    assert.equal(torch.status, 0, torch.stderr);
    const own = generate('-o', join(dataDir, 'own.png'));
    assert.equal(own.status, 0, own.stderr);
    assert.ok(!readFileSync(join(dataDir, 'torch.png')).equals(readFileSync(join(dataDir, 'own.png'))));
    const bad = generate('--noise', 'torch', '-o', join(dataDir, 'bad.png'));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--noise="torch": must be one of darkroom, torch-cpu/);
  } finally {
    home.remove();
  }
});
