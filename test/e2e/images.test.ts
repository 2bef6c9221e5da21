/** Upload → image-to-image, and upscaling (from an output, an upload, a URL), over HTTP. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
// Loopback is allow-listed: one test fetches an init image from this very server (refused by default, see test/api/url-guard-http.test.ts).
before(async () => (t = await startTestServer({ DARKROOM_URL_ALLOWLIST: '127.0.0.1' })));
after(() => t.close());

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toBuffer();
}

async function upload(key: string, bytes: Buffer, type = 'image/png'): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)], { type }), 'in.png');
  return t.api('/v1/image/upload', { method: 'POST', key, body: form });
}

test('upload an init image, then image-to-image with it; another account cannot use it', async () => {
  const up = await upload(t.adminKey, await png(300, 200));
  assert.equal(up.status, 200);
  const { object } = (await up.json()) as { object: string };
  assert.match(object, /^s3:\/\/[0-9a-f]{64}\/[0-9a-f-]{36}\.png$/);

  const r = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'from my picture', init_image_url: object, num_outputs: 1 } });
  assert.equal(r.status, 200, await r.clone().text());
  const body = (await r.json()) as { settings: { init_image_url: string; prompt_strength: number }; outputs: { url: string }[] };
  assert.equal(body.settings.init_image_url, object);
  assert.equal(body.settings.prompt_strength, 0.5);

  const other = await makeUser(t, 'stranger', 5);
  const stolen = await t.api('/v1/image/generation/create', { method: 'POST', key: other.key, json: { prompt: 'x', init_image_url: object } });
  assert.equal(stolen.status, 401);
  assert.equal(((await stolen.json()) as { error: string }).error, 'init_image_not_owned');
  const missing = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'x', init_image_url: object.replace(/[0-9a-f-]{36}(?=\.png$)/, '00000000-0000-4000-8000-000000000000') } });
  assert.equal(missing.status, 400);
  assert.equal(((await missing.json()) as { error: string }).error, 'init_image_not_found');
});

test('init_image_url may be an http(s) URL (here: one of our own signed output URLs)', async () => {
  const first = (await (await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'source', num_outputs: 1 } })).json()) as { outputs: { url: string }[] };
  const r = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'variation', num_outputs: 1, init_image_url: first.outputs[0]!.url, prompt_strength: 0.3 } });
  assert.equal(r.status, 200, await r.clone().text());
  const bad = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'x', init_image_url: `${t.url}/v1/health` } });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: string }).error, 'image_url_width_height_error');
});

test('uploads that are not images, or too large, are refused', async () => {
  const notImage = await upload(t.adminKey, Buffer.from('hello, not an image'), 'image/png');
  assert.equal(notImage.status, 400);
  assert.equal(((await notImage.json()) as { error: string }).error, 'invalid_file');
  const huge = await upload(t.adminKey, Buffer.alloc(11 * 1024 * 1024, 1));
  assert.equal(huge.status, 400);
  assert.equal(((await huge.json()) as { error: string }).error, 'image_too_large');
});

test('upscale: an output (1 credit; again for free), an upload, too big an image; the models list says what the upscaler is', async () => {
  const models = (await (await fetch(`${t.url}/v1/image/upscale/models`)).json()) as { models: { id: string; name: string; kind: string; is_default: boolean }[] };
  assert.equal(models.models[0]!.kind, 'resample');
  assert.match(models.models[0]!.name, /resampling, not a super-resolution model/);
  const defaults = (await (await fetch(`${t.url}/v1/image/defaults/upscale`)).json()) as { model_id: string };
  assert.equal(defaults.model_id, models.models[0]!.id);

  const u = await makeUser(t, 'upscaler', 3);
  const gen = (await (await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'small', num_outputs: 1 } })).json()) as { outputs: { id: string }[] };
  const outputId = gen.outputs[0]!.id;
  const up = await t.api('/v1/image/upscale/create', { method: 'POST', key: u.key, json: { input: outputId } });
  assert.equal(up.status, 200, await up.clone().text());
  const body = (await up.json()) as { outputs: { id: string; url: string; upscaled_image_url: string }[]; remaining_credits: number; settings: { model_id: string; input: string } };
  assert.equal(body.outputs[0]!.id, outputId);
  assert.equal(body.remaining_credits, 1);
  assert.deepEqual(body.settings, { model_id: defaults.model_id, input: outputId });
  const meta = await sharp(Buffer.from(await (await fetch(body.outputs[0]!.upscaled_image_url)).arrayBuffer())).metadata();
  assert.deepEqual([meta.width, meta.height], [1024, 1024]);

  const again = (await (await t.api('/v1/image/upscale', { method: 'POST', key: u.key, json: { input: outputId } })).json()) as { remaining_credits: number; outputs: { upscaled_image_url: string }[] };
  assert.equal(again.remaining_credits, 1, 'already upscaled: no charge');
  const listed = (await (await t.api('/v1/image/generation/outputs?upscaled=only', { key: u.key })).json()) as { outputs: { id: string; upscaled_image_url?: string }[] };
  assert.deepEqual(listed.outputs.map((o) => o.id), [outputId]);

  const { object } = (await (await upload(u.key, await png(100, 60))).json()) as { object: string };
  const fromUpload = await t.api('/v1/image/upscale/create', { method: 'POST', key: u.key, json: { input: object } });
  assert.equal(fromUpload.status, 200, await fromUpload.clone().text());
  assert.equal(((await fromUpload.json()) as { remaining_credits: number }).remaining_credits, 0);

  const { object: big } = (await (await upload(t.adminKey, await png(1100, 1000))).json()) as { object: string };
  const tooBig = await t.api('/v1/image/upscale/create', { method: 'POST', json: { input: big } });
  assert.equal(tooBig.status, 400);
  assert.equal(((await tooBig.json()) as { error: string }).error, 'image_url_width_height_error');
  const broke = await t.api('/v1/image/upscale/create', { method: 'POST', key: u.key, json: { input: outputId.slice(0, -1) + (outputId.endsWith('0') ? '1' : '0') } }); // another id, always
  assert.equal(broke.status, 400);
});
