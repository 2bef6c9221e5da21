/**
 * Inpainting through Stablecog's create route (Darkroom's mask_image_url extension) over HTTP against
 * the real server, on the demo model: the init image and the mask go up through /v1/image/upload; the
 * mask's white area is repainted ("a red circle" into an empty blue canvas gives a red object there)
 * and the rest stays the init image's VAE round trip; a transparent-PNG mask (mask_source alpha) of
 * another size is resized as the engine resizes it; bad requests are 400s naming the field, costing nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { balance } from '../helpers/dialects.ts';
import { assertInpainted, blackMask, blueCanvas, MODEL, PROMPT, rgbOf, SIZE, squareMask, type Rgb } from '../helpers/inpaint-scene.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
after(() => t.close());

async function upload(bytes: Buffer, key = t.adminKey): Promise<string> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'in.png');
  const r = await t.api('/v1/image/upload', { method: 'POST', key, body: form });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { object: string }).object;
}

interface Created {
  outputs: { url: string }[];
  settings: Record<string, unknown>;
}

async function create(json: Record<string, unknown>): Promise<Created> {
  const r = await t.api('/v1/image/generation/create', { method: 'POST', json: { model_id: MODEL, num_outputs: 1, width: SIZE, height: SIZE, ...json } });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as Created;
}

let init: string;
/** The init image through the VAE and back: an all-black mask repaints nothing. */
let reference: Rgb;

before(async () => {
  t = await startTestServer();
  init = await upload(await blueCanvas());
  const black = await upload(await blackMask());
  reference = await rgbOf((await create({ prompt: 'x', init_image_url: init, mask_image_url: black, prompt_strength: 1, seed: 1 })).outputs[0]!.url);
});

test('mask_image_url: the white area is repainted, the rest stays the init image; settings echo the mask', async () => {
  const mask = await upload(await squareMask());
  const before = await balance(t);
  const res = await create({ prompt: PROMPT, init_image_url: init, mask_image_url: mask, prompt_strength: 1, seed: 11, inference_steps: 20 });
  assert.equal(res.settings['mask_image_url'], mask);
  assert.equal(res.settings['mask_source'], 'luminance');
  assert.equal(res.settings['init_image_url'], init);
  assert.equal(res.settings['prompt_strength'], 1);
  assertInpainted(await rgbOf(res.outputs[0]!.url), reference);
  assert.equal(await balance(t), before - 1);
});

test('mask_source alpha: a transparent-PNG mask of another size is resized to the image, its transparent area repainted', async () => {
  const half = SIZE / 2;
  const hole = await sharp({ create: { width: half / 2, height: half / 2, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const alphaMask = await sharp({ create: { width: half, height: half, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } })
    .composite([{ input: hole, left: half / 4, top: half / 4, blend: 'source' }])
    .png()
    .toBuffer();
  const mask = await upload(alphaMask);
  const res = await create({ prompt: PROMPT, init_image_url: init, mask_image_url: mask, mask_source: 'alpha', prompt_strength: 1, seed: 11, inference_steps: 20 });
  assert.equal(res.settings['mask_source'], 'alpha');
  // The hole, scaled to the image, is BOX.
  assertInpainted(await rgbOf(res.outputs[0]!.url), reference, { object: false });
});

test('a mask alone, a bad mask_source, a mask not yours or out of bounds: 400/401 naming the field, nothing charged', async () => {
  const mask = await upload(await squareMask());
  const other = await makeUser(t, 'inpaint-other', 10);
  const theirs = await upload(await squareMask(), other.key);
  const cases: [Record<string, unknown>, number, string, RegExp][] = [
    [{ mask_image_url: mask }, 400, 'mask_image_url', /init image/],
    [{ init_image_url: init, mask_source: 'alpha' }, 400, 'mask_source', /mask_image_url/],
    [{ init_image_url: init, mask_image_url: mask, mask_source: 'green' }, 400, 'mask_source', /luminance, alpha/],
    [{ init_image_url: init, mask_image_url: 42 }, 400, 'mask_image_url', /string/],
    [{ init_image_url: init, mask_image_url: theirs }, 401, 'mask_image_url', /./],
    [{ init_image_url: init, mask_image_url: 'http://127.0.0.1:1/mask.png' }, 400, 'mask_image_url', /./],
    [{ init_image_url: init, mask_image_url: 'ftp://example.com/mask.png' }, 400, 'mask_image_url', /./],
    [{ init_image_url: init, mask_image_url: mask, hires: { scale: 2 } }, 400, 'hires', /init image/],
  ];
  const before = await balance(t);
  const listed = async () => ((await (await t.api('/v1/image/generation/outputs?per_page=300')).json()) as { outputs: unknown[] }).outputs.length;
  const outputs = await listed();
  for (const [fields, status, field, description] of cases) {
    const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'x', model_id: MODEL, num_outputs: 1, ...fields } });
    const body = (await res.json()) as { error: string; field?: string; description?: string };
    assert.equal(res.status, status, `${JSON.stringify(fields)}: ${JSON.stringify(body)}`);
    assert.equal(body.field, field, JSON.stringify(body));
    assert.match(body.description ?? body.error, description, JSON.stringify(body));
  }
  assert.equal(await balance(t), before);
  assert.equal(await listed(), outputs, 'nothing recorded');
});
