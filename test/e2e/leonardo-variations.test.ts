/**
 * Leonardo's variations over HTTP with the official @leonardo-ai/sdk: createVariationUpscale on a
 * generated image runs Darkroom's upscaler as an upscale job (one credit; the same image again
 * answers the earlier upscale at no charge), getVariationById polls it to COMPLETE with an image
 * `scale` times larger, GET /generations/{id} lists it in generated_image_variation_generics; another
 * user's image is refused in Leonardo's envelope, costing nothing. createVariationUnzoom and
 * createUniversalUpscalerJob run as generation jobs on the real engine (tiny test model): unzoom keeps
 * the image's size (transformType UNZOOM), the universal upscaler makes it upscaleMultiplier times
 * larger (transformType UPSCALE), each debited its price; with an engine that fails them both are
 * FAILED and refunded exactly once; a multiplier past the model's size limits is a 400 naming upscaleMultiplier.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Leonardo } from '@leonardo-ai/sdk';
import sharp from 'sharp';
import { FLAT_PRICES } from '../../src/core/pricing.ts';
import type { ServerOptions } from '../../src/server/server.ts';
import { balance, startDialectServer } from '../helpers/dialects.ts';
import { fastEngine } from '../helpers/fast-engine.ts';
import { makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let sdk: Leonardo;
before(async () => {
  t = await startDialectServer();
  sdk = new Leonardo({ bearerAuth: t.adminKey, serverURL: `${t.url}/api/rest/v1` });
});
after(() => t.close());

/** A COMPLETE generation of one image, by the SDK. */
async function generated(client: Leonardo, width: number, height: number): Promise<{ generationId: string; imageId: string }> {
  const job = (await client.image.createGeneration({ prompt: 'a lighthouse on a cliff', width, height, numImages: 1 })).object!.sdGenerationJob!;
  const gen = await until(async () => {
    const g = (await client.image.getGenerationById(job.generationId!)).object?.generationsByPk;
    return g?.status === 'COMPLETE' ? g : undefined;
  });
  return { generationId: job.generationId!, imageId: gen.generatedImages![0]!.id! };
}

/** The variation once it has ended (COMPLETE or FAILED). */
async function ended(client: Leonardo, id: string) {
  return until(async () => {
    const got = (await client.variation.getVariationById(id)).object?.generatedImageVariationGeneric?.[0];
    return got && got.status !== 'PENDING' ? got : undefined;
  });
}

async function sizeAt(url: string): Promise<[number, number]> {
  const meta = await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).metadata();
  return [meta.width!, meta.height!];
}

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

test('createVariationUnzoom and createUniversalUpscalerJob (SDK): priced jobs, COMPLETE at the expected sizes, listed on the generation with their transformType', async () => {
  const { generationId, imageId } = await generated(sdk, 64, 48);
  const start = await balance(t);

  const unzoom = (await sdk.variation.createVariationUnzoom({ id: imageId })).object!.sdUnzoomJob!;
  assert.equal(unzoom.apiCreditCost, FLAT_PRICES.unzoom);
  assert.deepEqual(unzoom.cost, { amount: String(FLAT_PRICES.unzoom), unit: 'CREDITS' });
  assert.equal(await balance(t), start - FLAT_PRICES.unzoom);
  const uz = await ended(sdk, unzoom.id!);
  assert.deepEqual([uz.status, uz.transformType, uz.id], ['COMPLETE', 'UNZOOM', unzoom.id]);
  assert.deepEqual(await sizeAt(uz.url!), [64, 48], 'fitted back to the original size');

  const upscale = (await sdk.variation.createUniversalUpscalerJob({ generatedImageId: imageId, upscaleMultiplier: 2, creativityStrength: 3 })).object!.universalUpscaler!;
  assert.equal(upscale.apiCreditCost, FLAT_PRICES.universal_upscaler);
  assert.equal(await balance(t), start - FLAT_PRICES.unzoom - FLAT_PRICES.universal_upscaler);
  const uu = await ended(sdk, upscale.id!);
  assert.deepEqual([uu.status, uu.transformType], ['COMPLETE', 'UPSCALE']);
  assert.deepEqual(await sizeAt(uu.url!), [128, 96], 'exactly upscaleMultiplier times the image');

  // An unzoom of the unzoom, named as a variation.
  const again = (await sdk.variation.createVariationUnzoom({ id: unzoom.id!, isVariation: true })).object!.sdUnzoomJob!;
  assert.equal((await ended(sdk, again.id!)).status, 'COMPLETE');

  const listed = (await sdk.image.getGenerationById(generationId)).object!.generationsByPk!.generatedImages![0]!.generatedImageVariationGenerics!;
  assert.deepEqual(
    listed.map((g) => [g.id, g.status, g.transformType]).sort(),
    [[unzoom.id, 'COMPLETE', 'UNZOOM'], [upscale.id, 'COMPLETE', 'UPSCALE']].sort(),
  );
  const me = (await sdk.user.getUserSelf()).object!.userDetails![0]!.user!.id!;
  const mine = (await sdk.image.getGenerationsByUserId(me, 50)).object!.generations!.map((g) => g.id);
  assert.ok(!mine.includes(unzoom.id) && !mine.includes(upscale.id), 'variations are listed with their image, not as generations');
  assert.equal(await balance(t), start - 2 * FLAT_PRICES.unzoom - FLAT_PRICES.universal_upscaler, 'nothing refunded for variations that were made');
});

test('variation refusals name their field in Leonardo\'s envelope and cost nothing: another user\'s image, a multiplier out of range or past the model\'s limits, unzoom on a generation', async () => {
  const other = await makeUser(t, 'variations-other-2', 5);
  const theirs = new Leonardo({ bearerAuth: other.key, serverURL: `${t.url}/api/rest/v1` });
  const their = await generated(theirs, 64, 48);
  const theirUnzoom = (await theirs.variation.createVariationUnzoom({ id: their.imageId })).object!.sdUnzoomJob!;
  const { imageId } = await generated(sdk, 64, 48);
  const before = await balance(t);
  const refusals: [string, unknown, string][] = [
    ['/variations/unzoom', { id: their.imageId }, 'id'],
    ['/variations/unzoom', { id: theirUnzoom.id, isVariation: true }, 'id'],
    ['/variations/unzoom', { id: '00000000-0000-4000-8000-000000000000' }, 'id'],
    ['/variations/universal-upscaler', { generatedImageId: their.imageId }, 'generatedImageId'],
    ['/variations/universal-upscaler', { variationId: theirUnzoom.id }, 'variationId'],
    ['/variations/universal-upscaler', { generatedImageId: imageId, upscaleMultiplier: 2.5 }, 'upscaleMultiplier'],
    ['/variations/universal-upscaler', { generatedImageId: imageId, creativityStrength: 11 }, 'creativityStrength'],
    ['/variations/universal-upscaler', { generatedImageId: imageId, ultraUpscaleStyle: 'ARTISTIC' }, 'ultraUpscaleStyle'],
    ['/variations/universal-upscaler', {}, 'generatedImageId'],
    ['/generations', { prompt: 'x', width: 64, height: 48, unzoom: true, unzoomAmount: 0.4 }, 'unzoom'],
  ];
  for (const [path, json, field] of refusals) {
    const res = await t.api(`/api/rest/v1${path}`, { method: 'POST', json });
    const body = (await res.json()) as { error: string; path: string };
    assert.equal(res.status, 400, `${path} ${JSON.stringify(json)}: ${JSON.stringify(body)}`);
    assert.ok(body.error.startsWith(`${field}:`), `${path} ${JSON.stringify(json)} names ${field}: ${body.error}`);
    assert.equal(body.path, '$');
  }
  assert.deepEqual((await sdk.variation.getVariationById(theirUnzoom.id!)).object?.generatedImageVariationGeneric, []);

  // 1024 x 768 made 2x larger is past the model's 1536 px: named as the multiplier.
  const big = await generated(sdk, 1024, 768);
  const mid = await balance(t);
  const res = await t.api('/api/rest/v1/variations/universal-upscaler', { method: 'POST', json: { generatedImageId: big.imageId, upscaleMultiplier: 2 } });
  const body = (await res.json()) as { error: string };
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.match(body.error, /^upscaleMultiplier: 2 makes the 1024x768 image 2048x1536/);
  assert.equal(await balance(t), mid);
  assert.equal(mid, before - 1, 'only the 1024 x 768 generation was charged');
});

test('a variation the engine fails is FAILED and refunded exactly once', async () => {
  // The stand-in engine draws plain images but fails any request from an init image (every variation), noting what it was asked.
  const asked: { init: [number, number, boolean]; size: [number, number]; strength?: number; maskSource?: string; mask: boolean }[] = [];
  const failing: NonNullable<ServerOptions['engine']> = {
    generate: async (model, input, options) => {
      if (input.initImage) {
        const meta = await sharp(input.initImage).metadata();
        asked.push({ init: [meta.width!, meta.height!, meta.hasAlpha === true], size: [input.width!, input.height!], strength: input.strength, maskSource: input.maskSource, mask: input.mask !== undefined });
        throw new Error('the engine broke on purpose');
      }
      return fastEngine.generate(model, input, options);
    },
  };
  const f = await startDialectServer({}, { engine: failing });
  try {
    const client = new Leonardo({ bearerAuth: f.adminKey, serverURL: `${f.url}/api/rest/v1` });
    const { imageId } = await generated(client, 64, 48);
    const before = await balance(f);
    const unzoom = (await client.variation.createVariationUnzoom({ id: imageId })).object!.sdUnzoomJob!;
    const upscale = (await client.variation.createUniversalUpscalerJob({ generatedImageId: imageId, upscaleMultiplier: 1.5 })).object!.universalUpscaler!;
    assert.equal(await balance(f), before - FLAT_PRICES.unzoom - FLAT_PRICES.universal_upscaler);
    assert.equal((await ended(client, unzoom.id!)).status, 'FAILED');
    assert.equal((await ended(client, upscale.id!)).status, 'FAILED');
    assert.equal(await balance(f), before);
    asked.sort((a, b) => a.size[0] - b.size[0]);
    assert.deepEqual(asked, [
      { init: [64, 48, true], size: [64, 48], strength: 1, maskSource: 'alpha', mask: true },
      { init: [96, 72, false], size: [96, 72], strength: 0.25, maskSource: undefined, mask: false },
    ], 'unzoom: inpaint the transparent border at full strength; universal upscaler: the upscaled image at exactly 1.5x, redrawn at creativity 5 / 20');
    // A cancel after the end refunds nothing more.
    const cancel = await f.api(`/v1/image/generation/${unzoom.id}/cancel`, { method: 'POST' });
    assert.notEqual(cancel.status, 200);
    assert.equal(await balance(f), before);
  } finally {
    await f.close();
  }
});
