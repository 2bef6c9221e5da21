/**
 * The Leonardo dialect over HTTP against the real server (tiny test model allowing 32-1536 px), driven
 * by the official @leonardo-ai/sdk with only serverURL (http://host:port/api/rest/v1) and the key
 * changed: an asynchronous generation with the SDK's defaults polled to COMPLETE, its webhook (with
 * retries, and never to a blocked address), the presigned init-image flow and image-to-image, listing,
 * deleting, /me and /platformModels, model mapping; credits move by one per image and come back on
 * failure; every validation rule answers Leonardo's envelope naming the field, credits unchanged.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Leonardo } from '@leonardo-ai/sdk';
import { SdGenerationSchedulers, SdGenerationStyle, SdVersions } from '@leonardo-ai/sdk/sdk/models/shared/index.js';
import sharp from 'sharp';
import { makeUser, type TestServer } from '../helpers/server.ts';
import { balance, failingEngine, receiver, startDialectServer } from '../helpers/dialects.ts';

const MAPPED_ID = 'aaaaaaaa-1111-4222-8333-444444444444';
let t: TestServer;
let sdk: Leonardo;
before(async () => {
  t = await startDialectServer({ DARKROOM_LEONARDO_MODELS: `v2=tiny-sd1,${MAPPED_ID}=tiny-sd1` });
  sdk = client(t.adminKey);
});
after(() => t.close());

function client(key: string, server = t): Leonardo {
  return new Leonardo({ bearerAuth: key, serverURL: `${server.url}/api/rest/v1` });
}

async function dims(bytes: Buffer): Promise<[number, number]> {
  const meta = await sharp(bytes).metadata();
  return [meta.width!, meta.height!];
}

type Gen = NonNullable<NonNullable<Awaited<ReturnType<Leonardo['image']['getGenerationById']>>['object']>['generationsByPk']>;

/** Polls as a client would, until COMPLETE or FAILED. */
async function poll(id: string, c = sdk, timeoutMs = 60_000): Promise<Gen> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const g = (await c.image.getGenerationById(id)).object?.generationsByPk;
    assert.ok(g, `generation ${id} exists`);
    if (g.status !== 'PENDING') return g;
    if (Date.now() > end) assert.fail(`generation ${id} still PENDING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let firstImageId = '';

test('createGeneration with the SDK\'s defaults (1024 x 768, 4 images, DYNAMIC, alchemy on): the job at once, COMPLETE when polled, 4 credits', async () => {
  const before = await balance(t);
  const res = await sdk.image.createGeneration({ prompt: 'A majestic cat in the snow' });
  assert.equal(res.statusCode, 200);
  const job = res.object!.sdGenerationJob!;
  assert.match(job.generationId!, /^[0-9a-f-]{36}$/);
  assert.equal(job.apiCreditCost, 4);
  assert.deepEqual(job.cost, { amount: '4', unit: 'CREDITS' });
  assert.match(res.rawResponse.headers.get('x-darkroom-ignored') ?? '', /\balchemy\b/);
  assert.equal(await balance(t), before - 4);

  const g = await poll(job.generationId!);
  assert.equal(g.status, 'COMPLETE');
  assert.equal(g.prompt, 'A majestic cat in the snow');
  assert.equal(g.presetStyle, 'DYNAMIC');
  assert.equal(g.modelId, 'b24e16ff-06e3-43eb-8d33-4416c2d75876');
  assert.equal(g.scheduler, 'EULER_DISCRETE');
  assert.equal(g.inferenceSteps, 15);
  assert.deepEqual([g.imageWidth, g.imageHeight], [1024, 768]);
  assert.equal(g.generatedImages?.length, 4);
  const img = await fetch(g.generatedImages![0]!.url!);
  assert.equal(img.status, 200);
  assert.deepEqual(await dims(Buffer.from(await img.arrayBuffer())), [1024, 768]);
  firstImageId = g.generatedImages![0]!.id!;
  assert.equal(await balance(t), before - 4);
});

test('settings are honoured and echoed: size, count, steps, guidance, scheduler, seed (same seed: same image), style, negative prompt, tiling', async () => {
  const req = {
    prompt: 'a lighthouse',
    negativePrompt: 'fog',
    width: 128,
    height: 64,
    numImages: 2,
    numInferenceSteps: 12,
    guidanceScale: 9,
    scheduler: SdGenerationSchedulers.Leonardo,
    presetStyle: SdGenerationStyle.Cinematic,
    seed: 9876543210,
    tiling: true,
    alchemy: false,
  };
  const [a, b] = await Promise.all([sdk.image.createGeneration(req), sdk.image.createGeneration(req)]);
  const ga = await poll(a.object!.sdGenerationJob!.generationId!);
  const gb = await poll(b.object!.sdGenerationJob!.generationId!);
  assert.equal(ga.status, 'COMPLETE');
  assert.deepEqual([ga.imageWidth, ga.imageHeight, ga.inferenceSteps, ga.guidanceScale, ga.scheduler, ga.presetStyle, ga.seed, ga.negativePrompt], [128, 64, 12, 9, 'LEONARDO', 'CINEMATIC', 9876543210, 'fog']);
  const bytes = async (g: Gen, i: number) => Buffer.from(await (await fetch(g.generatedImages![i]!.url!)).arrayBuffer());
  assert.ok((await bytes(ga, 0)).equals(await bytes(gb, 0)));
  assert.ok(!(await bytes(ga, 0)).equals(await bytes(ga, 1)));
  // The same record as the Stablecog dialect sees it: the styled prompt, DPM++ 2M Karras for LEONARDO.
  const out = (await (await t.api('/v1/image/generation/outputs?per_page=1')).json()) as { outputs: { generation: { prompt: { text: string }; scheduler_id: string; seed: number } }[] };
  assert.match(out.outputs[0]!.generation.prompt.text, /^cinematic film still of a lighthouse/);
  assert.equal(out.outputs[0]!.generation.seed, 9876543210 % 2 ** 32);
});

test('the presigned init-image flow (no key on the upload), image-to-image from it and from a generated image, get and delete', async () => {
  const up = (await sdk.initImages.uploadInitImage({ extension: 'png' })).object!.uploadInitImage!;
  assert.ok(up.url!.endsWith('/api/rest/v1/init-image/upload'));
  const fields = JSON.parse(up.fields!) as Record<string, string>;
  assert.equal(fields['key'], up.key);
  const png = await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 250, g: 10, b: 10 } } }).png().toBuffer();
  const post = async (f: Record<string, string>, file: Buffer = png) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(f)) form.append(k, v);
    form.append('file', new Blob([new Uint8Array(file)], { type: 'image/png' }), 'init.png');
    return fetch(up.url!, { method: 'POST', body: form }); // no Authorization, as to S3
  };
  assert.equal((await sdk.initImages.getInitImageById(up.id!)).object?.initImagesByPk, null, 'nothing uploaded yet');
  const forged = await post({ ...fields, token: `${fields['token']!.slice(0, -2)}xx` });
  assert.equal(forged.status, 403);
  assert.equal(((await forged.json()) as { code: string }).code, 'access-denied');
  assert.equal((await post(fields)).status, 204);
  assert.equal((await post(fields)).status, 403, 'a slot takes one upload');

  const got = (await sdk.initImages.getInitImageById(up.id!)).object!.initImagesByPk!;
  assert.equal(got.id, up.id);
  assert.deepEqual(await dims(Buffer.from(await (await fetch(got.url!)).arrayBuffer())), [96, 64]);

  const before = await balance(t);
  const fromUpload = await sdk.image.createGeneration({ prompt: 'red', initImageId: up.id, initStrength: 0.7, width: 96, height: 64, numImages: 1 });
  const g1 = await poll(fromUpload.object!.sdGenerationJob!.generationId!);
  assert.equal(g1.status, 'COMPLETE');
  assert.equal(g1.initStrength, 0.7);
  const fromOutput = await sdk.image.createGeneration({ prompt: 'again', initGenerationImageId: firstImageId, width: 64, height: 64, numImages: 1 });
  assert.equal((await poll(fromOutput.object!.sdGenerationJob!.generationId!)).status, 'COMPLETE');
  assert.equal(await balance(t), before - 2);

  assert.equal((await sdk.initImages.deleteInitImageById(up.id!)).object?.deleteInitImagesByPk?.id, up.id);
  assert.equal((await sdk.initImages.getInitImageById(up.id!)).object?.initImagesByPk, null);
  assert.equal((await sdk.initImages.deleteInitImageById(up.id!)).object?.deleteInitImagesByPk, null);

  const badExt = await t.api('/api/rest/v1/init-image', { method: 'POST', json: { extension: 'gif' } });
  assert.equal(badExt.status, 400);
  assert.deepEqual(await badExt.json(), { error: 'invalid file extension', path: '$', code: 'unexpected' });
});

test('/me, the user\'s generations (offset, limit), delete, and the same record in Stablecog outputs and usage', async () => {
  const u = await makeUser(t, 'leo-user', 10);
  const c = client(u.key);
  const me = (await c.user.getUserSelf()).object!.userDetails![0]!;
  assert.equal(me.user?.username, 'leo-user');
  assert.equal(me.apiSubscriptionTokens, 10);
  const ids: string[] = [];
  for (const prompt of ['one', 'two', 'three']) {
    const r = await c.image.createGeneration({ prompt, width: 64, height: 64, numImages: 1 });
    ids.push(r.object!.sdGenerationJob!.generationId!);
  }
  for (const id of ids) await poll(id, c);
  const page = (await c.image.getGenerationsByUserId(me.user!.id!, 2, 1)).object!.generations!;
  assert.deepEqual(page.map((g) => g.prompt), ['two', 'one']);
  assert.deepEqual((await c.image.getGenerationsByUserId('someone-else')).object?.generations, []);

  const outputs = (await (await t.api('/v1/image/generation/outputs', { key: u.key })).json()) as { outputs: unknown[] };
  assert.equal(outputs.outputs.length, 3);
  assert.equal((await c.image.deleteGenerationById(ids[0]!)).object?.deleteGenerationsByPk?.id, ids[0]);
  assert.equal((await c.image.getGenerationById(ids[0]!)).object?.generationsByPk, null);
  assert.equal((await c.image.deleteGenerationById(ids[0]!)).object?.deleteGenerationsByPk, null);
  const after = (await (await t.api('/v1/image/generation/outputs', { key: u.key })).json()) as { outputs: unknown[] };
  assert.equal(after.outputs.length, 2);
  const ops = (await (await t.api('/v1/user/operations', { key: u.key })).json()) as { operations: { cost: number; status: string }[] };
  assert.deepEqual(ops.operations.map((o) => [o.cost, o.status]), [[1, 'succeeded'], [1, 'succeeded'], [1, 'succeeded']], 'usage keeps what was charged');
  assert.equal(await balance(t, u.key), 7);
  assert.equal((await t.server.services.generations.getOwned(u.userId, ids[1]!))?.id, ids[1]);
});

test('platformModels lists the models and the Leonardo ids that stand for them; sd_version and mapped ids pick the mapped model', async () => {
  const models = (await sdk.models.listPlatformModels()).object!.customModels!;
  const ids = models.map((m) => m.id);
  assert.ok(ids.includes('b24e16ff-06e3-43eb-8d33-4416c2d75876'));
  assert.ok(ids.includes(MAPPED_ID));
  const catalog = (await (await fetch(`${t.url}/v1/image/generation/models`)).json()) as { models: { id: string; darkroom_id: string }[] };
  const tiny = catalog.models.find((m) => m.darkroom_id === 'tiny-sd1')!;
  assert.ok(ids.includes(tiny.id));
  // tiny-sd1 draws at most 256 px: asking the mapped model for 512 is refused by that model's own limit.
  for (const req of [{ modelId: MAPPED_ID }, { modelId: null, sdVersion: SdVersions.V2 }, { modelId: tiny.id }, { modelId: 'tiny-sd1' }]) {
    const r = await t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'x', width: 512, height: 512, num_images: 1, ...('sdVersion' in req ? { modelId: null, sd_version: req.sdVersion } : req) } });
    assert.equal(r.status, 400, JSON.stringify(req));
    assert.match(((await r.json()) as { error: string }).error, /^width: .*tiny-sd1/);
  }
  const ok = await sdk.image.createGeneration({ prompt: 'mapped', modelId: MAPPED_ID, width: 64, height: 64, numImages: 1 });
  const g = await poll(ok.object!.sdGenerationJob!.generationId!);
  assert.equal(g.modelId, MAPPED_ID);
});

describe('each validation rule: 400 {error: "<field>: ...", path: "$", code}, nothing charged', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['width below 32', { width: 24 }, 'width'],
    ['width above 1536', { width: 1544 }, 'width'],
    ['width not a multiple of 8', { width: 100 }, 'width'],
    ['height not a multiple of 8', { height: 65 }, 'height'],
    ['num_images 0', { num_images: 0 }, 'num_images'],
    ['num_images 9', { num_images: 9 }, 'num_images'],
    ['num_images 5 above 768 px', { num_images: 5, width: 776, height: 64 }, 'num_images'],
    ['num_inference_steps 9', { num_inference_steps: 9 }, 'num_inference_steps'],
    ['num_inference_steps 61', { num_inference_steps: 61 }, 'num_inference_steps'],
    ['guidance_scale 0.5', { guidance_scale: 0.5 }, 'guidance_scale'],
    ['guidance_scale 21', { guidance_scale: 21 }, 'guidance_scale'],
    ['init_strength 0.05', { init_strength: 0.05 }, 'init_strength'],
    ['init_strength 0.95', { init_strength: 0.95 }, 'init_strength'],
    ['seed negative', { seed: -1 }, 'seed'],
    ['seed too large', { seed: 9999999999 }, 'seed'],
    ['scheduler not in the enum', { scheduler: 'K_EULER' }, 'scheduler'],
    ['presetStyle not in the enum', { presetStyle: 'VAPORWAVE' }, 'presetStyle'],
    ['sd_version not in the enum', { sd_version: 'v9' }, 'sd_version'],
    ['prompt missing', { prompt: undefined }, 'prompt'],
    ['prompt blank', { prompt: ' ' }, 'prompt'],
    ['width not a number', { width: 'wide' }, 'width'],
    ['modelId unknown', { modelId: '00000000-0000-4000-8000-000000000000' }, 'modelId'],
    ['init_image_id unknown', { init_image_id: '00000000-0000-4000-8000-000000000000' }, 'init_image_id'],
    ['init_generation_image_id unknown', { init_generation_image_id: '00000000-0000-4000-8000-000000000000' }, 'init_generation_image_id'],
    ['both init images', { init_image_id: 'a', init_generation_image_id: 'b' }, 'init_generation_image_id'],
  ];
  for (const [name, fields, field] of cases) {
    test(name, async () => {
      const before = await balance(t);
      const res = await t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'x', width: 64, height: 64, num_images: 1, ...fields } });
      const body = (await res.json()) as { error: string; path: string; code: string };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.path, '$');
      assert.equal(typeof body.code, 'string');
      assert.ok(body.error.startsWith(`${field}: `), body.error);
      assert.equal(await balance(t), before);
    });
  }
  test('a body that is not JSON', async () => {
    const res = await t.api('/api/rest/v1/generations', { method: 'POST', body: '{"prompt":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { path: string }).path, '$');
  });
});

test('a bad key is refused by every route (401, Leonardo\'s envelope)', async () => {
  const bad = client('dr-0000000000000000000000000000000000000000000000000000000000000000');
  for (const call of [() => bad.image.createGeneration({ prompt: 'x' }), () => bad.user.getUserSelf(), () => bad.image.getGenerationById('x'), () => bad.initImages.uploadInitImage({ extension: 'png' })]) {
    await assert.rejects(call(), (err: { statusCode?: number; body?: string }) => {
      assert.equal(err.statusCode, 401);
      const body = JSON.parse(err.body!) as { error: string; path: string; code: string };
      assert.equal(body.path, '$');
      assert.equal(body.code, 'access-denied');
      return true;
    });
  }
});

test('too few credits: 400, nothing charged', async () => {
  const u = await makeUser(t, 'leo-poor', 1);
  const r = await t.api('/api/rest/v1/generations', { method: 'POST', key: u.key, json: { prompt: 'x', width: 64, height: 64, num_images: 2 } });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: string }).error, /Not enough API tokens/);
  assert.equal(await balance(t, u.key), 1);
});

describe('webhooks', () => {
  test('a generation polled to COMPLETE fires its webhook: the Leonardo payload, the callback key as Bearer, retried after a 500', async () => {
    const hook = await receiver((n) => (n === 1 ? 500 : 200));
    try {
      const user = await t.server.services.accounts.createUser('leo-hooked');
      await t.server.services.credits.grant(user.id, 10);
      const { secret } = await t.server.services.accounts.createKey(user.id, 'with webhook', { url: hook.url, apiKey: 'receiver-secret' });
      const c = client(secret);
      const r = await c.image.createGeneration({ prompt: 'hooked', width: 64, height: 64, numImages: 2 });
      const id = r.object!.sdGenerationJob!.generationId!;
      const g = await poll(id, c);
      assert.equal(g.status, 'COMPLETE');
      const first = await hook.next();
      const second = await hook.next(); // the retry after the 500 (about 1 s later)
      for (const call of [first, second]) {
        assert.equal(call.method, 'POST');
        assert.equal(call.path, '/hook');
        assert.equal(call.headers['authorization'], 'Bearer receiver-secret');
        assert.equal(call.headers['content-type'], 'application/json');
      }
      const payload = JSON.parse(second.body) as {
        type: string;
        object: string;
        api_version: string;
        data: { object: { id: string; status: string; prompt: string; seed: string; quantity: number; userId: string; images: { id: string; url: string; generationId: string }[] } };
      };
      assert.equal(payload.type, 'image_generation.complete');
      assert.equal(payload.object, 'generation');
      assert.equal(payload.api_version, 'v1');
      assert.equal(payload.data.object.id, id);
      assert.equal(payload.data.object.status, 'COMPLETE');
      assert.equal(payload.data.object.prompt, 'hooked');
      assert.equal(payload.data.object.userId, user.id);
      assert.equal(payload.data.object.quantity, 2);
      assert.equal(typeof payload.data.object.seed, 'string');
      assert.deepEqual(payload.data.object.images.map((i) => i.id), g.generatedImages!.map((i) => i.id));
      const img = await fetch(payload.data.object.images[0]!.url);
      assert.equal(img.status, 200);
      assert.deepEqual(await dims(Buffer.from(await img.arrayBuffer())), [64, 64]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(hook.received.length, 2, 'no more calls once one succeeded');
    } finally {
      await hook.close();
    }
  });

  test('never to a blocked address: loopback is refused when not allow-listed', async () => {
    const strict = await startDialectServer({ DARKROOM_URL_ALLOWLIST: '' });
    const hook = await receiver();
    try {
      const user = await strict.server.services.accounts.createUser('leo-blocked');
      const { secret } = await strict.server.services.accounts.createKey(user.id, 'hook', { url: hook.url });
      const c = client(secret, strict);
      const r = await c.image.createGeneration({ prompt: 'x', width: 64, height: 64, numImages: 1 });
      assert.equal((await poll(r.object!.sdGenerationJob!.generationId!, c)).status, 'COMPLETE');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(hook.received.length, 0);
    } finally {
      await hook.close();
      await strict.close();
    }
  });

  test('a key cannot carry a callback that is not an http(s) URL', async () => {
    const user = await t.server.services.accounts.createUser('leo-badhook');
    await assert.rejects(t.server.services.accounts.createKey(user.id, 'x', { url: 'file:///etc/passwd' }), /webhook|scheme/i);
  });
});

test('a failed generation: FAILED when polled, credits back, no webhook', async () => {
  const f = await startDialectServer({}, { engine: failingEngine });
  const hook = await receiver();
  try {
    const user = await f.server.services.accounts.createUser('leo-fail');
    await f.server.services.credits.grant(user.id, 5);
    const { secret } = await f.server.services.accounts.createKey(user.id, 'hook', { url: hook.url });
    const c = client(secret, f);
    const before = await balance(f, secret);
    const r = await c.image.createGeneration({ prompt: 'doomed', width: 64, height: 64, numImages: 3 });
    assert.equal(r.object!.sdGenerationJob!.apiCreditCost, 3);
    const g = await poll(r.object!.sdGenerationJob!.generationId!, c);
    assert.equal(g.status, 'FAILED');
    assert.equal(g.generatedImages?.length, 0);
    assert.equal(await balance(f, secret), before);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(hook.received.length, 0);
  } finally {
    await hook.close();
    await f.close();
  }
});
