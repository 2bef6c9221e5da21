/**
 * ControlNet over HTTP against the real server, with the ControlNet-ready test model
 * (tiny-sd1-controlnet: tiny-sd1's weights, residual inputs, controlnet/canny): Leonardo's
 * controlnets[] through the official @leonardo-ai/sdk, Stablecog's controlnets extension, the models
 * listing; refusals in each dialect's envelope naming the field, nothing charged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Leonardo } from '@leonardo-ai/sdk';
import { InitImageType, StrengthType } from '@leonardo-ai/sdk/sdk/models/shared/index.js';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { balance } from '../helpers/dialects.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

const MODEL = 'tiny-sd1-controlnet';
let t: TestServer;
let sdk: Leonardo;
let modelsDir: string;

before(async () => {
  modelsDir = mkdtempSync(join(tmpdir(), 'darkroom-controlnet-models-'));
  symlinkSync(await testModelDir('tiny-sd1'), join(modelsDir, 'tiny-sd1'));
  symlinkSync(await testModelDir(MODEL), join(modelsDir, MODEL));
  t = await startTestServer({ DARKROOM_MODELS_DIR: modelsDir, DARKROOM_DEFAULT_MODEL: MODEL });
  sdk = new Leonardo({ bearerAuth: t.adminKey, serverURL: `${t.url}/api/rest/v1` });
});
after(async () => {
  await t.close();
  rmSync(modelsDir, { recursive: true, force: true });
});

/** A 64 x 64 PNG, black, with a white square from `from` to `to` on both axes. */
function squarePng(from: number, to: number): Promise<Buffer> {
  const raw = Buffer.alloc(64 * 64 * 3);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) raw.fill(255, 3 * (y * 64 + x), 3 * (y * 64 + x) + 3);
  return sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
}

async function pixels(url: string): Promise<Buffer> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return sharp(Buffer.from(await r.arrayBuffer())).raw().toBuffer();
}

/** Leonardo's presigned init-image upload, as the SDK's users do it. */
async function leonardoUpload(png: Buffer): Promise<string> {
  const up = (await sdk.initImages.uploadInitImage({ extension: 'png' })).object!.uploadInitImage!;
  const form = new FormData();
  for (const [k, v] of Object.entries(JSON.parse(up.fields!) as Record<string, string>)) form.append(k, v);
  form.append('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'control.png');
  assert.equal((await fetch(up.url!, { method: 'POST', body: form })).status, 204);
  return up.id!;
}

async function leonardoImage(extra: Record<string, unknown>): Promise<{ url: string; id: string }> {
  const res = await sdk.image.createGeneration({ prompt: 'a square', modelId: MODEL, width: 64, height: 64, numImages: 1, seed: 77, presetStyle: undefined, ...extra });
  const id = res.object!.sdGenerationJob!.generationId!;
  for (;;) {
    const g = (await sdk.image.getGenerationById(id)).object!.generationsByPk!;
    if (g.status !== 'PENDING') {
      assert.equal(g.status, 'COMPLETE');
      return { url: g.generatedImages![0]!.url!, id: g.generatedImages![0]!.id! };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("Leonardo's controlnets (Edge to Image, id 19) through the SDK steer the picture; weight 0 leaves it as without", async () => {
  const square = await leonardoUpload(await squarePng(16, 48));
  const other = await leonardoUpload(await squarePng(4, 28));
  const cn = (initImageId: string, more: Record<string, unknown> = {}) => ({
    controlnets: [{ initImageId, initImageType: InitImageType.Uploaded, preprocessorId: 19, strengthType: StrengthType.High, ...more }],
  });
  const before = await balance(t);
  const plain = await pixels((await leonardoImage({})).url);
  const steered = await leonardoImage(cn(square));
  const steeredPx = await pixels(steered.url);
  assert.notDeepEqual(steeredPx, plain, 'a ControlNet at High changes the picture');
  assert.notDeepEqual(await pixels((await leonardoImage(cn(other))).url), steeredPx, 'another control image, another picture');
  assert.deepEqual(await pixels((await leonardoImage(cn(square, { strengthType: undefined, weight: 0 }))).url), plain, 'weight 0: the plain picture');
  assert.equal(await balance(t), before - 4, 'one credit per image');

  // A generated image as the control image.
  const fromGenerated = await leonardoImage({ controlnets: [{ initImageId: steered.id, initImageType: InitImageType.Generated, preprocessorId: 19 }] });
  assert.notDeepEqual(await pixels(fromGenerated.url), plain);
});

test('Leonardo platformModels list each model\'s ControlNets', async () => {
  const r = await t.api('/api/rest/v1/platformModels');
  const models = ((await r.json()) as { custom_models: { name: string; darkroom_controlnets: string[] }[] }).custom_models;
  assert.deepEqual(models.find((m) => m.name === 'Tiny SD 1.x with a ControlNet (test)')?.darkroom_controlnets, ['canny']);
  assert.deepEqual(models.find((m) => m.name === 'Tiny SD 1.x (test)')?.darkroom_controlnets, []);
});

test("Leonardo refusals: ids not served, the model's missing ControlNet, an unknown image — 400 naming the field, nothing charged", async () => {
  const square = await leonardoUpload(await squarePng(16, 48));
  const cases: [string, Record<string, unknown>, string | RegExp][] = [
    ['Depth to Image', { modelId: MODEL, controlnets: [{ initImageId: square, preprocessorId: 20 }] }, /^controlnets\[0\]\.preprocessorId: 20 \(Depth to Image\) is not served/],
    ['unknown id', { modelId: MODEL, controlnets: [{ initImageId: square, preprocessorId: 4242 }] }, /^controlnets\[0\]\.preprocessorId: unknown preprocessor 4242/],
    ['a model without ControlNets', { modelId: 'tiny-sd1', controlnets: [{ initImageId: square, preprocessorId: 19 }] }, /^controlnets\[0\]\.name: model tiny-sd1 has no ControlNets/],
    ['an init image not uploaded', { modelId: MODEL, controlnets: [{ initImageId: '00000000-0000-4000-8000-000000000000', preprocessorId: 19 }] }, /^controlnets\[0\]\.initImageId: /],
    ['strengthType and weight', { modelId: MODEL, controlnets: [{ initImageId: square, preprocessorId: 19, strengthType: 'Low', weight: 1 }] }, /^controlnets\[0\]\.weight: /],
    ['weight 3', { modelId: MODEL, controlnets: [{ initImageId: square, preprocessorId: 19, weight: 3 }] }, /^controlnets\.0\.weight: .*must be between 0 and 2/],
  ];
  for (const [name, fields, error] of cases) {
    const before = await balance(t);
    const res = await t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'x', width: 64, height: 64, num_images: 1, ...fields } });
    const body = (await res.json()) as { error: string; path: string };
    assert.equal(res.status, 400, `${name}: ${JSON.stringify(body)}`);
    assert.equal(body.path, '$');
    assert.match(body.error, error as RegExp, name);
    assert.equal(await balance(t), before, name);
  }
});

async function stablecogUpload(png: Buffer): Promise<string> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'control.png');
  const r = await t.api('/v1/image/upload', { method: 'POST', body: form });
  assert.equal(r.status, 200);
  return ((await r.json()) as { object: string }).object;
}

async function stablecogCreate(extra: Record<string, unknown>): Promise<Response> {
  return t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'a square', model_id: MODEL, width: 256, height: 256, num_outputs: 1, seed: 5, inference_steps: 10, ...extra } });
}

test("Stablecog's controlnets extension: the model lists its ControlNets; canny and none maps steer the picture; refusals name the field", async () => {
  const models = (await (await t.api('/v1/image/generation/models')).json()) as { models: { darkroom_id: string; controlnets: string[] }[] };
  assert.deepEqual(models.models.find((m) => m.darkroom_id === MODEL)?.controlnets, ['canny']);
  assert.deepEqual(models.models.find((m) => m.darkroom_id === 'tiny-sd1')?.controlnets, []);

  const image = await stablecogUpload(await squarePng(16, 48));
  const url = async (r: Response) => {
    assert.equal(r.status, 200, await r.clone().text());
    return ((await r.json()) as { outputs: { url: string }[] }).outputs[0]!.url;
  };
  const plain = await pixels(await url(await stablecogCreate({})));
  const canny = await pixels(await url(await stablecogCreate({ controlnets: [{ name: 'canny', image_url: image, preprocessor: 'canny', weight: 1 }] })));
  const none = await pixels(await url(await stablecogCreate({ controlnets: [{ name: 'canny', image_url: image, preprocessor: 'none' }] })));
  assert.notDeepEqual(canny, plain);
  assert.notDeepEqual(none, canny, "'none' reads the image itself as the map");
  assert.deepEqual(await pixels(await url(await stablecogCreate({ controlnets: [{ name: 'canny', image_url: image, weight: 0 }] }))), plain);

  const before = await balance(t);
  for (const [controlnets, field, words] of [
    [[{ name: 'depth', image_url: image }], 'controlnets[0].name', /no ControlNet "depth"/],
    [[{ name: 'canny', image_url: image, preprocessor: 'openpose' }], 'controlnets[0].preprocessor', /"openpose" is not served/],
    [[{ name: 'canny', image_url: image, weight: 2.5 }], 'controlnets', /between 0 and 2/],
    [[{ name: 'canny', image_url: 's3://nothing/here.png' }], 'controlnets[0].image', /./],
  ] as const) {
    const r = await stablecogCreate({ controlnets });
    const body = (await r.json()) as { error: string; field?: string; description?: string };
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.ok(body.field?.startsWith(field), `${field}: ${JSON.stringify(body)}`);
    assert.match(`${body.error} ${body.description ?? ''}`, words);
  }
  assert.equal(await balance(t), before, 'refusals cost nothing');
});
