/** Dynamic batching over HTTP: two users' compatible requests run as one denoising batch. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
const batches: number[] = [];
before(async () => {
  const engine = new Engine({ modelDirs: [dirname(await testModelDir('tiny-sd1'))], provider: 'cpu', threads: 1 });
  const original = engine.generateBatch.bind(engine);
  engine.generateBatch = async (model, inputs, options) => {
    batches.push(inputs.length);
    return original(model, inputs, options);
  };
  t = await startTestServer({ DARKROOM_BATCH_MAX: '4', DARKROOM_BATCH_WINDOW_MS: '300' }, { engine });
});
after(() => t.close());

test('two users generating at once share one batch, and each gets its own images and charges', async () => {
  const a = await makeUser(t, 'batch-a', 5);
  const b = await makeUser(t, 'batch-b', 5);
  const body = (prompt: string, seed: number) => ({ prompt, seed, num_outputs: 1, width: 256, height: 256, inference_steps: 10 });
  const [ra, rb] = await Promise.all([
    t.api('/v1/image/generation/create', { method: 'POST', key: a.key, json: body('a red circle', 11) }),
    t.api('/v1/image/generation/create', { method: 'POST', key: b.key, json: body('a blue square', 22) }),
  ]);
  assert.equal(ra.status, 200, await ra.clone().text());
  assert.equal(rb.status, 200, await rb.clone().text());
  const ja = (await ra.json()) as { remaining_credits: number; settings: { seed: number } };
  const jb = (await rb.json()) as { remaining_credits: number; settings: { seed: number } };
  assert.deepEqual([ja.settings.seed, jb.settings.seed], [11, 22]);
  assert.deepEqual([ja.remaining_credits, jb.remaining_credits], [4, 4]);
  assert.ok(batches.includes(2), `batches seen: ${batches.join(', ')}`);
});
