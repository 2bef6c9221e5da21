/** With a super-resolution model installed, the server offers it first (the default) and upscales with it. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeTestUpscaler } from '../../tools/test-models/upscaler.ts';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => {
  t = await startTestServer();
  await makeTestUpscaler(join(t.dataDir, 'models', 'tiny-sr'));
});
after(() => t.close());

test('an installed ONNX upscaler is listed as the default super-resolution model and used for upscales', async () => {
  const { models } = (await (await fetch(`${t.url}/v1/image/upscale/models`)).json()) as {
    models: { id: string; name: string; kind: string; is_default: boolean; scale: number }[];
  };
  assert.deepEqual(
    models.map((m) => [m.kind, m.is_default]),
    [
      ['super-resolution', true],
      ['resample', false],
    ],
  );
  const u = await makeUser(t, 'sr-user', 5);
  const gen = (await (await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'x', num_outputs: 1 } })).json()) as {
    outputs: { id: string }[];
  };
  const up = await t.api('/v1/image/upscale/create', { method: 'POST', key: u.key, json: { input: gen.outputs[0]!.id } });
  assert.equal(up.status, 200, await up.clone().text());
  const body = (await up.json()) as { outputs: { upscaled_image_url: string }[]; settings: { model_id: string } };
  assert.equal(body.settings.model_id, models[0]!.id);
  const image = Buffer.from(await (await fetch(body.outputs[0]!.upscaled_image_url)).arrayBuffer());
  const meta = await sharp(image).metadata();
  assert.deepEqual([meta.width, meta.height], [1024, 1024]);

  // An explicit model_id picks Lanczos resampling instead.
  const lanczosId = models[1]!.id;
  const other = (await (await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'x', num_outputs: 1, seed: 5 } })).json()) as {
    outputs: { id: string }[];
  };
  const viaLanczos = (await (await t.api('/v1/image/upscale/create', { method: 'POST', key: u.key, json: { input: other.outputs[0]!.id, model_id: lanczosId } })).json()) as {
    settings: { model_id: string };
  };
  assert.equal(viaLanczos.settings.model_id, lanczosId);
});
