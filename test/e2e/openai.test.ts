/**
 * The OpenAI Images dialect over HTTP against the real server (tiny test models), driven by the
 * official `openai` SDK with only baseURL and key changed: generations (url and b64_json), edits
 * (mask, or the image's own alpha), variations; credits move by one per image; every validation rule
 * answers OpenAI's envelope naming the param, with credits unchanged; bad keys are refused; the
 * generations show in the Stablecog outputs and usage of their owner.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { makeUser, type TestServer } from '../helpers/server.ts';
import { balance, startDialectServer, WIDE_MODEL } from '../helpers/dialects.ts';

let t: TestServer;
let client: OpenAI;
before(async () => {
  t = await startDialectServer();
  client = new OpenAI({ apiKey: t.adminKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
});
after(() => t.close());

/** OpenAI's `size` is typed as its own list; Darkroom takes any WIDTHxHEIGHT the model can draw. */
const size = (s: string) => s as '256x256';

async function dims(bytes: Buffer): Promise<[number, number]> {
  const meta = await sharp(bytes).metadata();
  return [meta.width!, meta.height!];
}

async function rgba(width: number, height: number, transparent?: { left: number; top: number; width: number; height: number }): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4, 255);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = (x * 7) % 256;
      data[i + 1] = (y * 5) % 256;
      data[i + 2] = 120;
      const inHole = transparent && x >= transparent.left && x < transparent.left + transparent.width && y >= transparent.top && y < transparent.top + transparent.height;
      data[i + 3] = inHole ? 0 : 255;
    }
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

async function opaque(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 30, g: 140, b: 200 } } }).png().toBuffer();
}

test('images.generate: b64_json at the asked size, one credit per image', async () => {
  const before = await balance(t);
  const res = await client.images.generate({ prompt: 'a lighthouse on a cliff', n: 2, size: size('96x64'), response_format: 'b64_json' });
  assert.equal(typeof res.created, 'number');
  assert.ok(Math.abs(res.created - Date.now() / 1000) < 120);
  assert.equal(res.data?.length, 2);
  for (const d of res.data!) {
    assert.equal(d.url, undefined);
    assert.deepEqual(await dims(Buffer.from(d.b64_json!, 'base64')), [96, 64]);
  }
  assert.equal(await balance(t), before - 2);
});

test('images.generate: url (default) works without headers; OpenAI model names mean the default model; a Darkroom model id picks that model', async () => {
  const res = await client.images.generate({ prompt: 'a red fox', model: 'dall-e-3', size: size('64x64') });
  assert.equal(res.data?.length, 1);
  const img = await fetch(res.data![0]!.url!);
  assert.equal(img.status, 200);
  assert.equal(img.headers.get('content-type'), 'image/png');
  assert.deepEqual(await dims(Buffer.from(await img.arrayBuffer())), [64, 64]);

  const own = await client.images.generate({ prompt: 'a red fox', model: 'tiny-sd1', size: size('64x64'), response_format: 'b64_json', output_format: 'webp' });
  const bytes = Buffer.from(own.data![0]!.b64_json!, 'base64');
  assert.equal((await sharp(bytes).metadata()).format, 'webp');
  const listed = (await (await t.api('/v1/image/generation/outputs?per_page=1')).json()) as { outputs: { generation: { model_id: string; prompt: { text: string } } }[] };
  const models = (await (await fetch(`${t.url}/v1/image/generation/models`)).json()) as { models: { id: string; darkroom_id: string }[] };
  assert.equal(listed.outputs[0]!.generation.model_id, models.models.find((m) => m.darkroom_id === 'tiny-sd1')!.id);
});

test('a generation made here is the same record: Stablecog outputs and usage history show it', async () => {
  const u = await makeUser(t, 'openai-user', 10);
  const c = new OpenAI({ apiKey: u.key, baseURL: `${t.url}/v1`, maxRetries: 0 });
  await c.images.generate({ prompt: 'shared record', size: size('64x64'), n: 2 });
  const outputs = (await (await t.api('/v1/image/generation/outputs', { key: u.key })).json()) as { outputs: { generation: { prompt: { text: string }; width: number } }[] };
  assert.equal(outputs.outputs.length, 2);
  assert.equal(outputs.outputs[0]!.generation.prompt.text, 'shared record');
  const ops = (await (await t.api('/v1/user/operations', { key: u.key })).json()) as { operations: { cost: number; status: string; num_outputs: number }[] };
  assert.deepEqual(ops.operations.map((o) => [o.cost, o.status, o.num_outputs]), [[2, 'succeeded', 2]]);
  assert.equal(await balance(t, u.key), 8);
});

test('images.edit: a mask whose transparent pixels mark the area; or the image\'s own transparency', async () => {
  const before = await balance(t);
  const image = await opaque(64, 64);
  const mask = await rgba(64, 64, { left: 16, top: 16, width: 32, height: 32 });
  const res = await client.images.edit({
    image: await toFile(image, 'image.png', { type: 'image/png' }),
    mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
    prompt: 'a window in the wall',
    response_format: 'b64_json',
  });
  assert.deepEqual(await dims(Buffer.from(res.data![0]!.b64_json!, 'base64')), [64, 64]);
  const own = await client.images.edit({ image: await toFile(await rgba(80, 48, { left: 0, top: 0, width: 40, height: 48 }), 'cut.png', { type: 'image/png' }), prompt: 'sky', n: 2 });
  assert.equal(own.data?.length, 2);
  assert.deepEqual(await dims(Buffer.from(await (await fetch(own.data![0]!.url!)).arrayBuffer())), [80, 48]);
  assert.equal(await balance(t), before - 3);
});

test('images.createVariation: image-to-image at the image\'s size or the asked one', async () => {
  const before = await balance(t);
  const res = await client.images.createVariation({ image: await toFile(await opaque(96, 64), 'in.png', { type: 'image/png' }), n: 2, response_format: 'b64_json' });
  assert.equal(res.data?.length, 2);
  for (const d of res.data!) assert.deepEqual(await dims(Buffer.from(d.b64_json!, 'base64')), [96, 64]);
  const sized = await client.images.createVariation({ image: await toFile(await opaque(96, 64), 'in.png', { type: 'image/png' }), size: size('64x64'), response_format: 'b64_json' });
  assert.deepEqual(await dims(Buffer.from(sized.data![0]!.b64_json!, 'base64')), [64, 64]);
  assert.equal(await balance(t), before - 3);
});

async function expectError(run: () => Promise<unknown>, status: number, param: string | null, code?: string | null): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await run();
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, status, JSON.stringify(err.error));
    assert.equal(err.param ?? null, param, JSON.stringify(err.error));
    if (code !== undefined) assert.equal(err.code ?? null, code, JSON.stringify(err.error));
    assert.equal(typeof (err.error as { message?: string }).message, 'string');
    return err;
  }
  assert.fail('expected an error');
}

describe('generations: each validation rule answers 400 naming the param; nothing charged', () => {
  const cases: [string, Record<string, unknown>, string | null][] = [
    ['n below 1', { n: 0 }, 'n'],
    ['n above 8', { n: 9 }, 'n'],
    ['n not an integer', { n: 1.5 }, 'n'],
    ['size not WxH', { size: 'big' }, 'size'],
    ['size not a multiple of 8', { size: '65x64' }, 'size'],
    ['size beyond the model', { size: '2048x2048' }, 'size'],
    ['prompt missing', { prompt: undefined }, 'prompt'],
    ['prompt empty', { prompt: '' }, 'prompt'],
    ['prompt not a string', { prompt: 42 }, 'prompt'],
    ['response_format unknown', { response_format: 'gif' }, 'response_format'],
    ['output_format unknown', { output_format: 'tiff' }, 'output_format'],
    ['model unknown', { model: 'no-such-model' }, 'model'],
    ['stream requested', { stream: true }, 'stream'],
  ];
  for (const [name, fields, param] of cases) {
    test(name, async () => {
      const before = await balance(t);
      await expectError(() => client.images.generate({ prompt: 'x', size: size('64x64'), ...fields } as never), 400, param);
      assert.equal(await balance(t), before);
    });
  }

  test('a body that is not JSON', async () => {
    const res = await t.api('/v1/images/generations', { method: 'POST', body: '{"prompt":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string; type: string; param: null; code: null } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, null);
    assert.match(body.error.message, /could not parse the JSON body/);
  });
});

describe('edits and variations: bad files answer 400 naming the param; nothing charged', () => {
  const png = (b: Buffer, name = 'x.png') => toFile(b, name, { type: 'image/png' });
  test('edit without an image', async () => {
    const before = await balance(t);
    const form = new FormData();
    form.set('prompt', 'x');
    const res = await t.api('/v1/images/edits', { method: 'POST', body: form });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { param: string } }).error.param, 'image');
    assert.equal(await balance(t), before);
  });
  test('edit of an opaque image without a mask', async () => {
    const before = await balance(t);
    await expectError(async () => client.images.edit({ image: await png(await opaque(64, 64)), prompt: 'x' }), 400, 'image');
    assert.equal(await balance(t), before);
  });
  test('mask of another size', async () => {
    await expectError(async () => client.images.edit({ image: await png(await opaque(64, 64)), mask: await png(await rgba(32, 32, { left: 0, top: 0, width: 8, height: 8 })), prompt: 'x' }), 400, 'mask');
  });
  test('mask without transparency', async () => {
    await expectError(async () => client.images.edit({ image: await png(await opaque(64, 64)), mask: await png(await opaque(64, 64)), prompt: 'x' }), 400, 'mask');
  });
  test('an image that is not an image', async () => {
    const before = await balance(t);
    await expectError(async () => client.images.createVariation({ image: await png(Buffer.from('not a picture')) }), 400, 'image');
    assert.equal(await balance(t), before);
  });
  test('edit prompt missing, variation n too large', async () => {
    await expectError(async () => client.images.edit({ image: await png(await rgba(64, 64, { left: 0, top: 0, width: 8, height: 8 })) } as never), 400, 'prompt');
    await expectError(async () => client.images.createVariation({ image: await png(await opaque(64, 64)), n: 9 }), 400, 'n');
  });
});

test('a bad key or no key: 401 invalid_api_key', async () => {
  const bad = new OpenAI({ apiKey: 'dr-0000000000000000000000000000000000000000000000000000000000000000', baseURL: `${t.url}/v1`, maxRetries: 0 });
  const err = await expectError(() => bad.images.generate({ prompt: 'x' }), 401, null, 'invalid_api_key');
  assert.ok(err instanceof OpenAI.AuthenticationError);
  const none = await fetch(`${t.url}/v1/images/generations`, { method: 'POST', body: JSON.stringify({ prompt: 'x' }), headers: { 'Content-Type': 'application/json' } });
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
});

test('too few credits: 429 insufficient_quota, nothing charged', async () => {
  const u = await makeUser(t, 'openai-poor', 1);
  const c = new OpenAI({ apiKey: u.key, baseURL: `${t.url}/v1`, maxRetries: 0 });
  await expectError(() => c.images.generate({ prompt: 'two', n: 2, size: size('64x64') }), 429, null, 'insufficient_quota');
  assert.equal(await balance(t, u.key), 1);
});

test(`the wide test model is the default here (${WIDE_MODEL}); the default size is the model's`, async () => {
  const res = await client.images.generate({ prompt: 'default size', response_format: 'b64_json' });
  assert.deepEqual(await dims(Buffer.from(res.data![0]!.b64_json!, 'base64')), [64, 64]);
  assert.equal(res.size, '64x64');
});

test('models.list and models.retrieve: the installed models in OpenAI\'s shape; an unknown id is 404 model_not_found', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id).sort();
  const catalog = (await (await fetch(`${t.url}/v1/image/generation/models`)).json()) as { models: { darkroom_id: string }[] };
  assert.deepEqual(ids, catalog.models.map((m) => m.darkroom_id).sort());
  assert.ok(ids.includes('tiny-sd1') && ids.includes(WIDE_MODEL), ids.join(', '));
  for (const m of list.data) {
    assert.deepEqual(Object.keys(m).sort(), ['created', 'darkroom_limits', 'id', 'object', 'owned_by']);
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    assert.equal(m.owned_by, 'darkroom');
  }
  const raw = (await (await fetch(`${t.url}/v1/models`, { headers: { Authorization: `Bearer ${t.adminKey}` } })).json()) as { object: string };
  assert.equal(raw.object, 'list');

  const one = await client.models.retrieve('tiny-sd1');
  assert.deepEqual(one, list.data.find((m) => m.id === 'tiny-sd1'));
  // Darkroom's extension: the sizes and n the model takes (its manifest: 32-256 px, default 64 x 64).
  const side = { min: 32, max: 256, multiple: 8 };
  assert.deepEqual((one as unknown as { darkroom_limits: unknown }).darkroom_limits, { width: side, height: side, n: { min: 1, max: 8 }, default_size: '64x64' });
  const outside = await client.images.generate({ prompt: 'too wide', model: 'tiny-sd1', size: '264x64' as '256x256' }).catch((e: unknown) => e);
  assert.ok(outside instanceof OpenAI.BadRequestError && outside.param === 'size', String(outside));

  const err = await client.models.retrieve('no-such-model').then(
    () => assert.fail('an unknown model was found'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OpenAI.NotFoundError, String(err));
  assert.equal(err.status, 404);
  assert.deepEqual(err.error, { message: "The model 'no-such-model' does not exist.", type: 'invalid_request_error', param: 'model', code: 'model_not_found' });

  const anon = await fetch(`${t.url}/v1/models`);
  assert.equal(anon.status, 401);
  assert.equal(((await anon.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
});
