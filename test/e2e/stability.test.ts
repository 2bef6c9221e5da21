/**
 * The Stability dialect over HTTP against the real server (tiny test model allowing 32-1536 px):
 * seed 002's POST /api/generate/core exactly as its Python example sends it (JSON, the key raw in
 * Authorization), and Stability's own multipart POST /v2beta/stable-image/generate/core as its docs
 * show (image bytes or JSON). Credits move by 6 and 3 per success and not at all on failure; every
 * validation rule answers the route's envelope naming the field, credits unchanged; bad keys are
 * refused; the generations show in the owner's Stablecog outputs and usage.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { makeUser, type TestServer } from '../helpers/server.ts';
import { balance, failingEngine, startDialectServer } from '../helpers/dialects.ts';

let t: TestServer;
before(async () => (t = await startDialectServer()));
after(() => t.close());

async function dims(bytes: Buffer): Promise<[number, number, string]> {
  const meta = await sharp(bytes).metadata();
  return [meta.width!, meta.height!, meta.format!];
}

/** seed 002's example: requests.post(url, json=data, headers={'Accept': 'application/json', 'Authorization': key}). */
function seedCall(body: unknown, key: string = t.adminKey, server = t): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
  if (key) headers['Authorization'] = key;
  return fetch(`${server.url}/api/generate/core`, { method: 'POST', headers, body: JSON.stringify(body) });
}

/** Stability's docs: multipart form, Authorization: Bearer, Accept image/* or application/json. */
function v2Call(fields: Record<string, string>, accept = 'image/*', key: string = t.adminKey, server = t): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const headers: Record<string, string> = { Accept: accept };
  if (key) headers['Authorization'] = `Bearer ${key}`;
  return fetch(`${server.url}/v2beta/stable-image/generate/core`, { method: 'POST', headers, body: form });
}

describe('seed 002: POST /api/generate/core', () => {
  test('the documented example: code 0, a base64 image at the asked size, its seed; 6 credits', async () => {
    const before = await balance(t);
    const res = await seedCall({ prompt: 'A lighthouse on a cliff', height: 384, width: 320 });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { code: number; message: string; data: { image: string; seed: number } };
    assert.equal(body.code, 0);
    assert.equal(body.message, 'success');
    assert.deepEqual(Object.keys(body.data).sort(), ['image', 'seed']);
    assert.deepEqual(await dims(Buffer.from(body.data.image, 'base64')), [320, 384, 'png']);
    assert.ok(Number.isInteger(body.data.seed) && body.data.seed > 0);
    assert.equal(await balance(t), before - 6);
  });

  test('Bearer works too; a seed gives the same image again; seed 0 means random', async () => {
    const call = async (seed: number) => {
      const r = await fetch(`${t.url}/api/generate/core`, { method: 'POST', headers: { Authorization: `Bearer ${t.adminKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'same', width: 320, height: 320, seed }) });
      assert.equal(r.status, 200);
      return ((await r.json()) as { data: { image: string; seed: number } }).data;
    };
    const a = await call(4242);
    const b = await call(4242);
    assert.equal(a.seed, 4242);
    assert.equal(a.image, b.image);
    const c = await call(0);
    assert.notEqual(c.seed, 0);
  });

  test("aspect_ratio alone (default 1:1): the shape nearest the ratio at the model's native pixel count (64 x 64 here)", async () => {
    for (const [aspect, size] of [[undefined, [64, 64]], ['16:9', [88, 48]], ['9:21', [48, 112]], ['3:2', [96, 64]]] as const) {
      const res = await seedCall({ prompt: 'shape', ...(aspect ? { aspect_ratio: aspect } : {}) });
      assert.equal(res.status, 200, aspect);
      const { data } = (await res.json()) as { data: { image: string } };
      assert.deepEqual((await dims(Buffer.from(data.image, 'base64'))).slice(0, 2), size, aspect);
    }
  });

  test('style_preset and negative_prompt are applied (the same seed draws differently with a style); tile-texture tiles', async () => {
    const draw = async (extra: Record<string, unknown>) => ((await (await seedCall({ prompt: 'a brick wall', width: 320, height: 320, seed: 7, ...extra })).json()) as { data: { image: string } }).data.image;
    const plain = await draw({});
    assert.notEqual(await draw({ style_preset: 'pixel-art' }), plain);
    assert.notEqual(await draw({ negative_prompt: 'moss' }), plain);
    assert.notEqual(await draw({ style_preset: 'tile-texture' }), plain);
    const out = (await (await t.api('/v1/image/generation/outputs?per_page=1')).json()) as { outputs: { generation: { prompt: { text: string }; negative_prompt?: { text: string } } }[] };
    assert.match(out.outputs[0]!.generation.prompt.text, /^seamless tileable texture of a brick wall/);
  });

  describe('each validation rule: 400 {code: -1, message: "<field>: ..."}, nothing charged', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['width below 320', { width: 256, height: 320 }, 'width'],
      ['width above 1536', { width: 1600, height: 320 }, 'width'],
      ['width not a multiple of 64', { width: 330, height: 320 }, 'width'],
      ['height below 320', { width: 320, height: 64 }, 'height'],
      ['height not a multiple of 64', { width: 320, height: 400 }, 'height'],
      ['width without height', { width: 320 }, 'height'],
      ['height without width', { height: 320 }, 'width'],
      ['width not a number', { width: 'wide', height: 320 }, 'width'],
      ['aspect_ratio not in the list', { aspect_ratio: '7:3' }, 'aspect_ratio'],
      ['seed negative', { seed: -1 }, 'seed'],
      ['seed too large', { seed: 4294967295 }, 'seed'],
      ['seed not an integer', { seed: 1.5 }, 'seed'],
      ['prompt missing', { prompt: undefined }, 'prompt'],
      ['prompt blank', { prompt: '  ' }, 'prompt'],
      ['negative_prompt not a string', { negative_prompt: 5 }, 'negative_prompt'],
      ['style_preset not in the list', { style_preset: 'vaporwave' }, 'style_preset'],
    ];
    for (const [name, fields, field] of cases) {
      test(name, async () => {
        const before = await balance(t);
        const res = await seedCall({ prompt: 'x', ...fields });
        const body = (await res.json()) as { code: number; message: string };
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(body.code, -1);
        assert.ok(body.message.startsWith(`${field}: `), body.message);
        assert.equal(await balance(t), before);
      });
    }
    test('a body that is not JSON', async () => {
      const res = await fetch(`${t.url}/api/generate/core`, { method: 'POST', headers: { Authorization: t.adminKey, 'Content-Type': 'application/json' }, body: '{"prompt":' });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { code: number }).code, -1);
    });
  });

  test('a bad key, raw or Bearer, or none: 401 {code: -1}', async () => {
    for (const key of ['dr-0000000000000000000000000000000000000000000000000000000000000000', `Bearer dr-${'1'.repeat(64)}`, '']) {
      const res = await seedCall({ prompt: 'x', width: 320, height: 320 }, key);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: number }).code, -1);
    }
  });

  test('too few credits: 402, nothing charged', async () => {
    const u = await makeUser(t, 'stab-poor', 5);
    const res = await seedCall({ prompt: 'x', width: 320, height: 320 }, u.key);
    assert.equal(res.status, 402);
    assert.match(((await res.json()) as { message: string }).message, /needs 6 credits/);
    assert.equal(await balance(t, u.key), 5);
  });
});

describe("Stability's v2beta: POST /v2beta/stable-image/generate/core", () => {
  test('Accept image/*: the image bytes with finish-reason and seed headers; 3 credits', async () => {
    const before = await balance(t);
    const res = await v2Call({ prompt: 'a red apple', seed: '99' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(res.headers.get('finish-reason'), 'SUCCESS');
    assert.equal(res.headers.get('seed'), '99');
    assert.deepEqual(await dims(Buffer.from(await res.arrayBuffer())), [64, 64, 'png']);
    assert.equal(await balance(t), before - 3);
  });

  test('Accept application/json: {image, finish_reason, seed}; output_format and aspect_ratio', async () => {
    const res = await v2Call({ prompt: 'a pear', output_format: 'jpeg', aspect_ratio: '9:16' }, 'application/json');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; type=image/jpeg');
    assert.equal(res.headers.get('finish-reason'), null);
    const body = (await res.json()) as { image: string; finish_reason: string; seed: number };
    assert.equal(body.finish_reason, 'SUCCESS');
    assert.ok(body.seed > 0);
    assert.deepEqual(await dims(Buffer.from(body.image, 'base64')), [48, 88, 'jpeg']);
    const webp = await v2Call({ prompt: 'a plum', output_format: 'webp', style_preset: 'origami', negative_prompt: 'paper cuts' });
    assert.equal(webp.headers.get('content-type'), 'image/webp');
    assert.equal((await dims(Buffer.from(await webp.arrayBuffer())))[2], 'webp');
  });

  describe('each validation rule: 400 {id, name: bad_request, errors: ["<field>: ..."]}, nothing charged', () => {
    const cases: [string, Record<string, string>, string, string?][] = [
      ['prompt missing', {}, 'prompt'],
      ['prompt blank', { prompt: ' ' }, 'prompt'],
      ['prompt over 10000 characters', { prompt: 'x'.repeat(10001) }, 'prompt'],
      ['aspect_ratio not in the list', { prompt: 'x', aspect_ratio: '4:3' }, 'aspect_ratio'],
      ['seed negative', { prompt: 'x', seed: '-1' }, 'seed'],
      ['seed not a number', { prompt: 'x', seed: 'abc' }, 'seed'],
      ['seed too large', { prompt: 'x', seed: '4294967295' }, 'seed'],
      ['style_preset not in the list', { prompt: 'x', style_preset: 'vaporwave' }, 'style_preset'],
      ['output_format not in the list', { prompt: 'x', output_format: 'gif' }, 'output_format'],
      ['accept neither image/* nor JSON', { prompt: 'x' }, 'accept', 'text/html'],
    ];
    for (const [name, fields, field, accept] of cases) {
      test(name, async () => {
        const before = await balance(t);
        const res = await v2Call(fields, accept);
        const body = (await res.json()) as { id: string; name: string; errors: string[] };
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(body.id, /^[0-9a-f]{32}$/);
        assert.equal(body.name, 'bad_request');
        assert.ok(body.errors[0]!.startsWith(`${field}: `), body.errors[0]);
        assert.equal(await balance(t), before);
      });
    }
    test('a JSON body instead of multipart', async () => {
      const res = await t.api('/v2beta/stable-image/generate/core', { method: 'POST', json: { prompt: 'x' } });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { errors: string[] }).errors[0]!, /multipart/);
    });
  });

  test('a request over 10 MiB: 413 payload_too_large', async () => {
    const before = await balance(t);
    const res = await v2Call({ prompt: 'x', negative_prompt: 'y'.repeat(11 * 1024 * 1024) });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { name: string }).name, 'payload_too_large');
    assert.equal(await balance(t), before);
  });

  test('a bad key: 401 unauthorized', async () => {
    const res = await v2Call({ prompt: 'x' }, 'image/*', 'dr-0000000000000000000000000000000000000000000000000000000000000000');
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { name: string }).name, 'unauthorized');
  });
});

test('generations made here are the same records: Stablecog outputs and usage show them with their cost', async () => {
  const u = await makeUser(t, 'stab-user', 20);
  assert.equal((await seedCall({ prompt: 'seed route', width: 320, height: 320 }, u.key)).status, 200);
  assert.equal((await v2Call({ prompt: 'v2 route' }, 'image/*', u.key)).status, 200);
  const outputs = (await (await t.api('/v1/image/generation/outputs', { key: u.key })).json()) as { outputs: { generation: { prompt: { text: string } } }[] };
  assert.deepEqual(outputs.outputs.map((o) => o.generation.prompt.text), ['v2 route', 'seed route']);
  const ops = (await (await t.api('/v1/user/operations', { key: u.key })).json()) as { operations: { cost: number; status: string }[] };
  assert.deepEqual(ops.operations.map((o) => [o.cost, o.status]), [[3, 'succeeded'], [6, 'succeeded']]);
  assert.equal(await balance(t, u.key), 11);
});

test('a failed generation is not charged: 500 on both routes, credits back', async () => {
  const f = await startDialectServer({}, { engine: failingEngine });
  try {
    const before = await balance(f);
    const seed = await seedCall({ prompt: 'x', width: 320, height: 320 }, f.adminKey, f);
    assert.equal(seed.status, 500);
    const body = (await seed.json()) as { code: number; message: string };
    assert.equal(body.code, -1);
    assert.match(body.message, /GPU caught fire/);
    const v2 = await v2Call({ prompt: 'x' }, 'image/*', f.adminKey, f);
    assert.equal(v2.status, 500);
    assert.equal(((await v2.json()) as { name: string }).name, 'internal_error');
    assert.equal(await balance(f), before);
    const ops = (await (await f.api('/v1/user/operations')).json()) as { operations: { cost: number; status: string }[] };
    assert.deepEqual(ops.operations.map((o) => [o.cost, o.status]), [[0, 'failed'], [0, 'failed']]);
  } finally {
    await f.close();
  }
});
