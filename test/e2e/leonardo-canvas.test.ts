/**
 * Leonardo's canvas editor and high resolution over HTTP against the real server, with the official
 * @leonardo-ai/sdk: the two presigned slots of POST /canvas-init-image, INPAINT repainting only the
 * mask's white area (on the demo model, "a red circle" painted into an empty blue canvas gives a red
 * object there), OUTPAINT filling only the transparent area, refusals (a mask of another size,
 * someone else's image) in Leonardo's envelope costing nothing; highResolution draws 1.5 times larger.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Leonardo } from '@leonardo-ai/sdk';
import { CanvasRequestType } from '@leonardo-ai/sdk/sdk/models/shared/index.js';
import sharp from 'sharp';
import { balance } from '../helpers/dialects.ts';
import { assertInpainted, blackMask, BLUE, blueCanvas, BOX, meanDiff, MODEL, outside, PROMPT, rgbOf, SIZE, squareMask, type Rgb } from '../helpers/inpaint-scene.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let sdk: Leonardo;
before(async () => {
  t = await startTestServer();
  sdk = new Leonardo({ bearerAuth: t.adminKey, serverURL: `${t.url}/api/rest/v1` });
});
after(() => t.close());

type Gen = NonNullable<NonNullable<Awaited<ReturnType<Leonardo['image']['getGenerationById']>>['object']>['generationsByPk']>;

async function poll(id: string): Promise<Gen> {
  for (const end = Date.now() + 120_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const g = (await sdk.image.getGenerationById(id)).object?.generationsByPk;
    if (g && g.status !== 'PENDING') return g;
  }
  return assert.fail(`generation ${id} still PENDING`);
}

async function upload(url: string, fields: string, file: Buffer): Promise<void> {
  const form = new FormData();
  for (const [k, v] of Object.entries(JSON.parse(fields) as Record<string, string>)) form.append(k, v);
  form.append('file', new Blob([new Uint8Array(file)], { type: 'image/png' }), 'canvas.png');
  assert.equal((await fetch(url, { method: 'POST', body: form })).status, 204);
}

/** Uploads an init image and a mask through the SDK's canvas slots; their ids. */
async function canvas(init: Buffer, mask: Buffer, client = sdk): Promise<{ initId: string; maskId: string }> {
  const slots = (await client.initImages.uploadCanvasInitImage({ initExtension: 'png', maskExtension: 'png' })).object!.uploadCanvasInitImage!;
  await upload(slots.initUrl!, slots.initFields!, init);
  await upload(slots.maskUrl!, slots.maskFields!, mask);
  return { initId: slots.initImageId!, maskId: slots.maskImageId! };
}

/** The init image through the VAE and back: INPAINT with an all-black mask repaints nothing. */
async function roundTrip(init: Buffer): Promise<Rgb> {
  const { initId, maskId } = await canvas(init, await blackMask());
  const res = await sdk.image.createGeneration({ prompt: 'x', modelId: MODEL, canvasRequest: true, canvasRequestType: CanvasRequestType.Inpaint, canvasInitId: initId, canvasMaskId: maskId, numImages: 1, seed: 1 });
  const g = await poll(res.object!.sdGenerationJob!.generationId!);
  return rgbOf(g.generatedImages![0]!.url!);
}

test('POST /canvas-init-image (SDK): two slots; INPAINT paints a red object in the mask and leaves the rest as it was', async () => {
  const { initId, maskId } = await canvas(await blueCanvas(), await squareMask());
  const reference = await roundTrip(await blueCanvas());
  const before = await balance(t);
  const res = await sdk.image.createGeneration({
    prompt: PROMPT,
    modelId: MODEL,
    presetStyle: undefined,
    canvasRequest: true,
    canvasRequestType: CanvasRequestType.Inpaint,
    canvasInitId: initId,
    canvasMaskId: maskId,
    numImages: 1,
    seed: 11,
    numInferenceSteps: 20,
  });
  assert.equal(res.object!.sdGenerationJob!.apiCreditCost, 1);
  const g = await poll(res.object!.sdGenerationJob!.generationId!);
  assert.equal(g.status, 'COMPLETE');
  // A canvas draws at its init image size.
  assertInpainted(await rgbOf(g.generatedImages![0]!.url!), reference);
  assert.equal(await balance(t), before - 1);
});

test('OUTPAINT fills only the transparent area of the init image', async () => {
  // A blue square, opaque in the box, transparent around it.
  const opaque = await sharp({ create: { width: BOX.size, height: BOX.size, channels: 4, background: { ...BLUE, alpha: 1 } } }).png().toBuffer();
  const init = await sharp({ create: { width: SIZE, height: SIZE, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: opaque, left: BOX.left, top: BOX.top }])
    .png()
    .toBuffer();
  const { initId } = await canvas(init, await squareMask());
  const reference = await roundTrip(init);
  const res = await sdk.image.createGeneration({ prompt: 'a yellow square on a green background', modelId: MODEL, canvasRequest: true, canvasRequestType: CanvasRequestType.Outpaint, canvasInitId: initId, numImages: 1, seed: 5 });
  const g = await poll(res.object!.sdGenerationJob!.generationId!);
  assert.equal(g.status, 'COMPLETE');
  const img = await rgbOf(g.generatedImages![0]!.url!);
  const kept = meanDiff(img, reference, (x, y) => !outside(-8)(x, y));
  assert.ok(kept < 2, `the opaque square is its VAE round trip, mean difference ${kept.toFixed(2)}`);
  const white = { r: 255, g: 255, b: 255 };
  const filled = meanDiff(img, white, outside(8));
  assert.ok(filled > 40, `the transparent area was painted, not left empty (mean difference from white ${filled.toFixed(1)})`);
});

test('a mask of another size, someone else\'s image, a missing type: 400 in Leonardo\'s envelope naming the field, nothing charged', async () => {
  const { initId, maskId } = await canvas(await blueCanvas(), await squareMask(128));
  const other = await makeUser(t, 'canvas-other', 10);
  const theirs = await canvas(await blueCanvas(), await squareMask(), new Leonardo({ bearerAuth: other.key, serverURL: `${t.url}/api/rest/v1` }));
  const before = await balance(t);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ canvasRequestType: 'INPAINT', canvasInitId: initId, canvasMaskId: maskId }, /^canvasMaskId: the mask is 128x128; it must match the init image, 256x256/],
    [{ canvasRequestType: 'INPAINT', canvasInitId: theirs.initId, canvasMaskId: maskId }, /^canvasInitId: no canvas init image/],
    [{ canvasRequestType: 'INPAINT', canvasInitId: initId, canvasMaskId: theirs.maskId }, /^canvasMaskId: no canvas mask image/],
    [{ canvasInitId: initId }, /^canvasRequestType: is required/],
    [{ canvasRequestType: 'OUTPAINT', canvasInitId: initId }, /^canvasInitId: OUTPAINT fills the transparent area/],
    [{ canvasRequestType: 'INPAINT', canvasInitId: initId, canvasMaskId: maskId, init_strength: 0.9 }, /^init_strength: must be at most 0.8/],
  ];
  for (const [fields, message] of cases) {
    const res = await t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'x', modelId: MODEL, canvasRequest: true, ...fields } });
    const body = (await res.json()) as { error: string; path: string; code: string };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(body.error, message);
    assert.equal(body.path, '$');
  }
  assert.equal(await balance(t), before);
});

test('highResolution draws upscaleRatio (default 1.5) times larger; past the model\'s size limit it is a 400 naming upscaleRatio', async () => {
  const res = await sdk.image.createGeneration({ prompt: 'a red circle on a blue background', modelId: MODEL, width: 256, height: 192, numImages: 1, highResolution: true });
  const g = await poll(res.object!.sdGenerationJob!.generationId!);
  assert.equal(g.status, 'COMPLETE');
  const img = await rgbOf(g.generatedImages![0]!.url!);
  assert.deepEqual([img.width, img.height], [384, 288]);
  const before = await balance(t);
  const bad = await t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'x', modelId: MODEL, width: 384, height: 256, upscaleRatio: 2 } });
  const body = (await bad.json()) as { error: string };
  assert.equal(bad.status, 400);
  assert.match(body.error, /^upscaleRatio: /);
  assert.equal(await balance(t), before);
});
