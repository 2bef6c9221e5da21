/**
 * Each dialect's models route gives what a request may ask of each model (darkroom_limits: the
 * dialect's documented ranges narrowed by the model's manifest, in the dialect's field names), and
 * the limits are true: the edges given are accepted and one step past them is refused naming the field.
 * tiny-sd1 draws 32-256 px, so Stablecog's 256-1024 narrows to 256 alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestServer } from '../helpers/server.ts';
import { startDialectServer, WIDE_MODEL } from '../helpers/dialects.ts';

let t: TestServer;
before(async () => (t = await startDialectServer()));
after(() => t.close());

interface Range {
  min: number;
  max: number;
}
type Side = Range & { multiple: number };

test('Stablecog GET /v1/image/generation/models: each model narrows Stablecog\'s limits; the edges given are accepted, one step past refused', async () => {
  const { models } = (await (await fetch(`${t.url}/v1/image/generation/models`)).json()) as {
    models: { id: string; darkroom_id: string; darkroom_limits: { width: Side; height: Side; inference_steps: Range; guidance_scale: Range; num_outputs: Range } }[];
  };
  const tiny = models.find((m) => m.darkroom_id === 'tiny-sd1')!;
  const wide = models.find((m) => m.darkroom_id === WIDE_MODEL)!;
  assert.deepEqual(tiny.darkroom_limits, {
    width: { min: 256, max: 256, multiple: 8 },
    height: { min: 256, max: 256, multiple: 8 },
    inference_steps: { min: 10, max: 50 },
    guidance_scale: { min: 1, max: 20 },
    num_outputs: { min: 1, max: 4 },
  });
  assert.deepEqual(wide.darkroom_limits.width, { min: 256, max: 1024, multiple: 8 });

  const create = (body: Record<string, unknown>) => t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'edge', num_outputs: 1, inference_steps: 10, ...body } });
  const l = tiny.darkroom_limits;
  const ok = await create({ model_id: tiny.id, width: l.width.max, height: l.height.max });
  assert.equal(ok.status, 200, await ok.clone().text());
  const past = await create({ model_id: tiny.id, width: l.width.max + l.width.multiple, height: l.height.max });
  assert.equal(past.status, 400);
  assert.equal(((await past.json()) as { field: string }).field, 'width');
});

test('Leonardo GET /api/rest/v1/platformModels: each entry, aliases too, carries its model\'s limits in Leonardo\'s field names', async () => {
  const { custom_models } = (await (await t.api('/api/rest/v1/platformModels')).json()) as {
    custom_models: { id: string; name: string; darkroom_limits: { width: Side; height: Side; num_images: Range; num_inference_steps: Range; guidance_scale: Range; scheduler: string[] } }[];
  };
  const { models } = (await (await fetch(`${t.url}/v1/image/generation/models`)).json()) as { models: { id: string; darkroom_id: string }[] };
  const tinyUuid = models.find((m) => m.darkroom_id === 'tiny-sd1')!.id;
  const tiny = custom_models.find((m) => m.id === tinyUuid)!;
  assert.deepEqual(tiny.darkroom_limits.width, { min: 32, max: 256, multiple: 8 });
  assert.deepEqual(tiny.darkroom_limits.num_images, { min: 1, max: 8 });
  assert.deepEqual(tiny.darkroom_limits.num_inference_steps, { min: 10, max: 60 });
  assert.ok(tiny.darkroom_limits.scheduler.includes('EULER_DISCRETE'), tiny.darkroom_limits.scheduler.join());
  const sdkDefault = custom_models.find((m) => m.id === 'b24e16ff-06e3-43eb-8d33-4416c2d75876')!;
  assert.deepEqual(sdkDefault.darkroom_limits.width, { min: 32, max: 1536, multiple: 8 }, "the SDK's default id stands for the default model (tiny-wide)");

  const gen = (width: number) => t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: 'edge', modelId: tinyUuid, width, height: 64, num_images: 1 } });
  assert.equal((await gen(tiny.darkroom_limits.width.max)).status, 200);
  const past = await gen(tiny.darkroom_limits.width.max + 8);
  assert.equal(past.status, 400);
  assert.match(((await past.json()) as { error: string }).error, /^width: /);
});

test('OpenAI GET /v1/models: darkroom_limits gives the sizes and n; the largest size given is drawn, one step past refused naming size', async () => {
  const { data } = (await (await t.api('/v1/models')).json()) as { data: { id: string; darkroom_limits: { width: Side; height: Side; n: Range; default_size: string } }[] };
  const tiny = data.find((m) => m.id === 'tiny-sd1')!;
  const l = tiny.darkroom_limits;
  const gen = (size: string) => t.api('/v1/images/generations', { method: 'POST', json: { prompt: 'edge', model: 'tiny-sd1', size } });
  const ok = await gen(`${l.width.max}x${l.height.min}`);
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal(((await ok.json()) as { size: string }).size, `${l.width.max}x${l.height.min}`);
  const past = await gen(`${l.width.max + l.width.multiple}x${l.height.min}`);
  assert.equal(past.status, 400);
  assert.equal(((await past.json()) as { error: { param: string } }).error.param, 'size');
  const auto = await gen('auto');
  assert.equal(((await auto.json()) as { size: string }).size, l.default_size);
});
