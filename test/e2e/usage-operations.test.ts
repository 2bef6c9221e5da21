/**
 * GET /v1/user/operations over HTTP: each row names the dialect that made it and the generation's
 * prompt (null for an upscale), and lists only the caller's own operations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fastEngine } from '../helpers/fast-engine.ts';
import { startDialectServer } from '../helpers/dialects.ts';
import { makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => (t = await startDialectServer({}, { engine: fastEngine })));
after(() => t.close());

interface Op {
  id: string;
  operation_type: string;
  dialect: string;
  prompt: string | null;
}

test('operations: dialect and prompt of each, only your own', async () => {
  const user = await makeUser(t, 'user-of-every-dialect', 20);
  const other = await makeUser(t, 'other-user', 20);
  const post = async (path: string, json: unknown, key = user.key) => {
    const res = await t.api(path, { method: 'POST', key, json });
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  const stablecog = (await post('/v1/image/generation/create', { prompt: 'stablecog prompt', num_outputs: 1, width: 256, height: 256 })) as { outputs: { id: string }[] };
  await post('/api/generate/core', { prompt: 'stability prompt', width: 320, height: 320 });
  await post('/api/rest/v1/generations', { prompt: 'leonardo prompt', width: 64, height: 64, num_images: 1, num_inference_steps: 10 });
  await post('/v1/images/generations', { prompt: 'openai prompt', n: 1, size: '256x256' });
  await post('/v1/image/upscale/create', { input: stablecog.outputs[0]!.id });
  await post('/v1/image/generation/create', { prompt: 'someone else', num_outputs: 1, width: 256, height: 256 }, other.key);

  const res = await t.api('/v1/user/operations', { key: user.key });
  assert.equal(res.status, 200);
  const ops = ((await res.json()) as { operations: Op[] }).operations;
  const byDialect = (d: string, type = 'generate') => ops.filter((o) => o.dialect === d && o.operation_type === type);
  assert.equal(ops.length, 5);
  assert.deepEqual(byDialect('stablecog').map((o) => o.prompt), ['stablecog prompt']);
  assert.deepEqual(byDialect('stability').map((o) => o.prompt), ['stability prompt']);
  assert.deepEqual(byDialect('openai').map((o) => o.prompt), ['openai prompt']);
  // Leonardo's preset style (DYNAMIC by default) wraps the prompt: the row shows the prompt the images were made from.
  assert.equal(byDialect('leonardo').length, 1);
  assert.match(byDialect('leonardo')[0]!.prompt!, /leonardo prompt/);
  assert.deepEqual(byDialect('stablecog', 'upscale').map((o) => o.prompt), [null]);
  assert.ok(!JSON.stringify(ops).includes('someone else'), "another user's prompt is never listed");

  const theirs = ((await (await t.api('/v1/user/operations', { key: other.key })).json()) as { operations: Op[] }).operations;
  assert.deepEqual(theirs.map((o) => [o.dialect, o.prompt]), [['stablecog', 'someone else']]);
});
