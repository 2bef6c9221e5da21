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
import { detect } from '../../tools/demo-model/detector.ts';
import { balance } from '../helpers/dialects.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

const MODEL = 'darkroom-demo';
const SIZE = 256;
/** The mask's square (white: repaint), on the 8 px latent grid. */
const BOX = { left: 64, top: 64, size: 128 };
const BLUE = { r: 20, g: 40, b: 200 };

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

function blueCanvas(size = SIZE): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: BLUE } }).png().toBuffer();
}

function squareMask(size = SIZE): Promise<Buffer> {
  const square = { input: { create: { width: BOX.size, height: BOX.size, channels: 3 as const, background: '#fff' } }, left: BOX.left, top: BOX.top };
  return sharp({ create: { width: size, height: size, channels: 3, background: '#000' } }).composite([square]).png().toBuffer();
}

async function rgbOf(url: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Mean absolute difference from `color` over the pixels where `where(x, y)`, in 0-255 levels. */
function meanDiff(img: { data: Buffer; width: number; height: number }, color: { r: number; g: number; b: number }, where: (x: number, y: number) => boolean): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      if (!where(x, y)) continue;
      const o = (y * img.width + x) * 3;
      sum += Math.abs(img.data[o]! - color.r) + Math.abs(img.data[o + 1]! - color.g) + Math.abs(img.data[o + 2]! - color.b);
      n += 3;
    }
  return sum / n;
}

/** Mean absolute difference of two images over the pixels where `where(x, y)`, in 0-255 levels. */
function meanDiffOf(a: { data: Buffer; width: number; height: number }, b: { data: Buffer }, where: (x: number, y: number) => boolean): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < a.height; y++)
    for (let x = 0; x < a.width; x++) {
      if (!where(x, y)) continue;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[(y * a.width + x) * 3 + c]! - b.data[(y * a.width + x) * 3 + c]!);
      n += 3;
    }
  return sum / n;
}

/** The init image through the VAE and back: INPAINT with an all-black mask repaints nothing. */
async function roundTrip(init: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const black = await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#000' } }).png().toBuffer();
  const { initId, maskId } = await canvas(init, black);
  const res = await sdk.image.createGeneration({ prompt: 'x', modelId: MODEL, canvasRequest: true, canvasRequestType: CanvasRequestType.Inpaint, canvasInitId: initId, canvasMaskId: maskId, numImages: 1, seed: 1 });
  const g = await poll(res.object!.sdGenerationJob!.generationId!);
  return rgbOf(g.generatedImages![0]!.url!);
}

/** Outside the box, a margin of one latent cell (8 px) away from it (the VAE decoder blurs across it). */
const outside = (margin: number) => (x: number, y: number) =>
  x < BOX.left - margin || x >= BOX.left + BOX.size + margin || y < BOX.top - margin || y >= BOX.top + BOX.size + margin;

test('POST /canvas-init-image (SDK): two slots; INPAINT paints a red object in the mask and leaves the rest as it was', async () => {
  const { initId, maskId } = await canvas(await blueCanvas(), await squareMask());
  const reference = await roundTrip(await blueCanvas());
  const before = await balance(t);
  const res = await sdk.image.createGeneration({
    prompt: 'a large red circle on a blue background',
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
  const img = await rgbOf(g.generatedImages![0]!.url!);
  assert.deepEqual([img.width, img.height], [SIZE, SIZE], 'a canvas draws at its init image size');
  const kept = meanDiffOf(img, reference, outside(8));
  assert.ok(kept < 2, `outside the mask the canvas is its VAE round trip, mean difference ${kept.toFixed(2)} levels`);
  const inside = meanDiff(img, BLUE, (x, y) => !outside(-16)(x, y));
  assert.ok(inside > 40, `the mask's area was repainted (mean difference ${inside.toFixed(1)})`);
  const d = detect(img.data, img.width, img.height);
  assert.equal(d.color, 'red', `a red object in the mask: ${JSON.stringify(d)}`);
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
  const kept = meanDiffOf(img, reference, (x, y) => !outside(-8)(x, y));
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
