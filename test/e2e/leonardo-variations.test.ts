/**
 * Leonardo's variations over HTTP with the official @leonardo-ai/sdk: createVariationUpscale on a
 * generated image runs Darkroom's upscaler as an upscale job (one credit; the same image again
 * answers the earlier upscale at no charge), getVariationById polls it to COMPLETE with an image
 * `scale` times larger, GET /generations/{id} lists it in generated_image_variation_generics; another
 * user's image is refused in Leonardo's envelope, costing nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Leonardo } from '@leonardo-ai/sdk';
import sharp from 'sharp';
import { balance, startDialectServer } from '../helpers/dialects.ts';
import { makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let sdk: Leonardo;
before(async () => {
  t = await startDialectServer();
  sdk = new Leonardo({ bearerAuth: t.adminKey, serverURL: `${t.url}/api/rest/v1` });
});
after(() => t.close());

async function until<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const v = await read();
    if (v !== undefined) return v;
  }
  return assert.fail('still PENDING after 60 s');
}

test('createVariationUpscale (SDK): a job at once, one credit, COMPLETE with a larger image, listed on the generation', async () => {
  const job = (await sdk.image.createGeneration({ prompt: 'a lighthouse', width: 64, height: 48, numImages: 1 })).object!.sdGenerationJob!;
  const gen = await until(async () => {
    const g = (await sdk.image.getGenerationById(job.generationId!)).object?.generationsByPk;
    return g?.status === 'COMPLETE' ? g : undefined;
  });
  const imageId = gen.generatedImages![0]!.id!;

  const before = await balance(t);
  const up = (await sdk.variation.createVariationUpscale({ id: imageId })).object!.sdUpscaleJob!;
  assert.equal(up.apiCreditCost, 1);
  assert.equal(await balance(t), before - 1);
  const v = await until(async () => {
    const got = (await sdk.variation.getVariationById(up.id!)).object?.generatedImageVariationGeneric?.[0];
    return got?.status === 'COMPLETE' ? got : undefined;
  });
  assert.equal(v.transformType, 'UPSCALE');
  assert.equal(v.id, up.id);
  const meta = await sharp(Buffer.from(await (await fetch(v.url!)).arrayBuffer())).metadata();
  assert.equal(meta.width! / 64, meta.height! / 48, 'the aspect ratio is kept');
  assert.ok(meta.width! > 64, `larger than the original: ${meta.width}x${meta.height}`);

  const listed = (await sdk.image.getGenerationById(job.generationId!)).object!.generationsByPk!.generatedImages![0]!.generatedImageVariationGenerics!;
  assert.deepEqual(listed.map((g) => [g.id, g.status, g.transformType]), [[up.id, 'COMPLETE', 'UPSCALE']]);

  const again = (await sdk.variation.createVariationUpscale({ id: imageId })).object!.sdUpscaleJob!;
  assert.deepEqual([again.id, again.apiCreditCost], [up.id, 0], 'an image upscaled before answers that upscale, free');
  assert.equal(await balance(t), before - 1);
});

test('upscaling another user\'s image or an unknown id is refused in Leonardo\'s envelope; their variation reads as empty; nothing charged', async () => {
  const other = await makeUser(t, 'variations-other', 5);
  const theirs = new Leonardo({ bearerAuth: other.key, serverURL: `${t.url}/api/rest/v1` });
  const job = (await theirs.image.createGeneration({ prompt: 'theirs', width: 64, height: 48, numImages: 1 })).object!.sdGenerationJob!;
  const gen = await until(async () => {
    const g = (await theirs.image.getGenerationById(job.generationId!)).object?.generationsByPk;
    return g?.status === 'COMPLETE' ? g : undefined;
  });
  const theirUp = (await theirs.variation.createVariationUpscale({ id: gen.generatedImages![0]!.id! })).object!.sdUpscaleJob!;
  const before = await balance(t);
  for (const id of [gen.generatedImages![0]!.id!, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
    const res = await t.api('/api/rest/v1/variations/upscale', { method: 'POST', json: { id } });
    const body = (await res.json()) as { error: string; path: string };
    assert.ok(res.status === 400 || res.status === 404, `${res.status} ${JSON.stringify(body)}`);
    assert.match(body.error, /^id: no generated image/);
    assert.equal(body.path, '$');
  }
  assert.deepEqual((await sdk.variation.getVariationById(theirUp.id!)).object?.generatedImageVariationGeneric, []);
  assert.equal(await balance(t), before);
});
