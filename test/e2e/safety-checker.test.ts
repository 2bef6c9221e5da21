/**
 * The model folder's safety checker's flag reaches every dialect: a server over copies of the
 * export-sd1 layout whose test checker flags every image (flag-all) or none (flag-none), and the same
 * folder with DARKROOM_SAFETY_CHECKER=off. Stablecog leaves flagged outputs out (charged),
 * Stability answers CONTENT_FILTERED, OpenAI content_policy_violation, Leonardo each image's nsfw.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModelDir } from '../../tools/test-models/cache.ts';
import { writeSafetyChecker } from '../../tools/test-models/exports.ts';
import { makeUser, SCALED, startTestServer, type TestServer } from '../helpers/server.ts';

let dir: string;
let on: TestServer;
let off: TestServer;

before(async () => {
  if (SCALED) return;
  dir = await mkdtemp(join(tmpdir(), 'darkroom-safety-e2e-'));
  const models = join(dir, 'models');
  await mkdir(models);
  const source = await exportModelDir('export-sd1');
  for (const [name, threshold] of [['flag-all', -1e9], ['flag-none', 1e9]] as const) {
    await cp(source, join(models, name), { recursive: true, dereference: true });
    await writeSafetyChecker(join(models, name), threshold);
  }
  const env = { DARKROOM_MODELS_DIR: models, DARKROOM_DEFAULT_MODEL: 'flag-all' };
  on = await startTestServer(env);
  off = await startTestServer({ ...env, DARKROOM_SAFETY_CHECKER: 'off' });
});

after(async () => {
  if (SCALED) return;
  await on?.close();
  await off?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('safety checker flags in every dialect', { skip: SCALED }, () => {
  test('Stablecog: flagged outputs are left out of the answer and the listing, and charged; off: all reported', async () => {
    const user = await makeUser(on, 'stablecog-nsfw', 10);
    const body = { prompt: 'a bright sky', width: 256, height: 256, num_outputs: 2, inference_steps: 10 };
    const res = await on.api('/v1/image/generation/create', { method: 'POST', key: user.key, json: body });
    assert.equal(res.status, 200, await res.clone().text());
    const flagged = (await res.json()) as { outputs: unknown[]; remaining_credits: number };
    assert.deepEqual(flagged.outputs, []);
    assert.equal(flagged.remaining_credits, 8);
    assert.equal(await on.server.services.credits.balance(user.userId), 8, 'no refund for filtered outputs (Stablecog keeps them)');
    const listed = (await (await on.api('/v1/image/generation/outputs', { key: user.key })).json()) as { outputs: unknown[]; total?: number };
    assert.deepEqual(listed.outputs, []);
    assert.equal(listed.total, 0);

    const unchecked = await off.api('/v1/image/generation/create', { method: 'POST', json: body });
    assert.equal(unchecked.status, 200);
    assert.equal(((await unchecked.json()) as { outputs: unknown[] }).outputs.length, 2);
    const clean = await on.api('/v1/image/generation/create', { method: 'POST', json: { ...body, model_id: 'flag-none' } });
    assert.equal(clean.status, 200, await clean.clone().text());
    assert.equal(((await clean.json()) as { outputs: unknown[] }).outputs.length, 2);
  });

  test('Stability v2beta: finish-reason CONTENT_FILTERED (header for image/*, finish_reason in JSON); off: SUCCESS', async () => {
    const call = (server: TestServer, accept: string) => {
      const form = new FormData();
      form.append('prompt', 'a bright sky');
      return fetch(`${server.url}/v2beta/stable-image/generate/core`, { method: 'POST', headers: { Accept: accept, Authorization: `Bearer ${server.adminKey}` }, body: form });
    };
    const image = await call(on, 'image/*');
    assert.equal(image.status, 200, await image.clone().text());
    assert.equal(image.headers.get('finish-reason'), 'CONTENT_FILTERED');
    const json = await call(on, 'application/json');
    assert.equal(((await json.json()) as { finish_reason: string }).finish_reason, 'CONTENT_FILTERED');
    const unchecked = await call(off, 'image/*');
    assert.equal(unchecked.status, 200);
    assert.equal(unchecked.headers.get('finish-reason'), 'SUCCESS');
    const uncheckedJson = await call(off, 'application/json');
    assert.equal(((await uncheckedJson.json()) as { finish_reason: string }).finish_reason, 'SUCCESS');
  });

  test('OpenAI: every image flagged is a 400 content_policy_violation in its envelope; unflagged images answered; off: all answered', async () => {
    const body = { prompt: 'a bright sky', size: '64x64', n: 2, response_format: 'b64_json' };
    const refused = await on.api('/v1/images/generations', { method: 'POST', json: { ...body, model: 'flag-all' } });
    assert.equal(refused.status, 400);
    assert.deepEqual(((await refused.json()) as { error: { type: string; code: string; param: unknown } }).error, {
      message: "Your request was rejected as a result of our safety system: the model's safety checker flagged every image made.",
      type: 'image_generation_user_error',
      param: null,
      code: 'content_policy_violation',
    });
    const clean = await on.api('/v1/images/generations', { method: 'POST', json: { ...body, model: 'flag-none' } });
    assert.equal(clean.status, 200, await clean.clone().text());
    assert.equal(((await clean.json()) as { data: unknown[] }).data.length, 2);
    const unchecked = await off.api('/v1/images/generations', { method: 'POST', json: { ...body, model: 'flag-all' } });
    assert.equal(unchecked.status, 200, await unchecked.clone().text());
    assert.equal(((await unchecked.json()) as { data: unknown[] }).data.length, 2);
  });

  test("Leonardo: each generated image's nsfw flag; off: none flagged", async () => {
    const imagesOf = async (server: TestServer): Promise<{ nsfw: boolean }[]> => {
      const res = await server.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'a bright sky', width: 64, height: 64, num_images: 2, alchemy: false } });
      assert.equal(res.status, 200, await res.clone().text());
      const id = ((await res.json()) as { sdGenerationJob: { generationId: string } }).sdGenerationJob.generationId;
      for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        const g = ((await (await server.api(`/api/rest/v1/generations/${id}`)).json()) as { generations_by_pk: { status: string; generated_images: { nsfw: boolean }[] } }).generations_by_pk;
        if (g.status !== 'PENDING') return g.generated_images;
      }
      assert.fail(`generation ${id} still PENDING`);
    };
    assert.deepEqual((await imagesOf(on)).map((i) => i.nsfw), [true, true]);
    assert.deepEqual((await imagesOf(off)).map((i) => i.nsfw), [false, false]);
  });
});
