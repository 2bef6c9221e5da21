/**
 * What used to be accepted and no longer is (issue 15, item 7): out-of-range seeds on Stablecog,
 * values outside OpenAI's and Stability's documented enums, JSON sent as another media type, and
 * unknown routes answered in the wrong dialect's envelope. Each refusal names the field, in the
 * dialect's own envelope, and costs nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeUser, type TestServer } from '../helpers/server.ts';
import { balance, startDialectServer } from '../helpers/dialects.ts';
import { fastEngine } from '../helpers/fast-engine.ts';

let t: TestServer;
let u: { key: string; userId: string };

before(async () => {
  t = await startDialectServer({}, { engine: fastEngine });
  u = await makeUser(t, 'strict', 50);
});
after(() => t.close());

const post = (path: string, json: unknown) => t.api(path, { method: 'POST', key: u.key, json });

test('Stablecog seed: -2, -1000 and 2^32 are a 400 naming seed (nothing charged); -1 means a random seed, as on Stablecog', async () => {
  const start = await balance(t, u.key);
  for (const seed of [-2, -1000, -4294967295, 4294967296]) {
    const r = await post('/v1/image/generation/create', { prompt: 'a cat', num_outputs: 1, seed });
    assert.equal(r.status, 400, `seed ${seed}`);
    const b = (await r.json()) as { error: string; field: string };
    assert.equal(b.field, 'seed');
    assert.match(b.error, /Seed is too (small|large)/);
  }
  assert.equal(await balance(t, u.key), start);
  const random = await post('/v1/image/generation/create', { prompt: 'a cat', num_outputs: 1, seed: -1 });
  assert.equal(random.status, 200);
  const { settings } = (await random.json()) as { settings: { seed: number } };
  assert.ok(settings.seed >= 0 && settings.seed <= 4294967295, `a drawn seed, got ${settings.seed}`);
});

test("OpenAI quality, style, background, moderation, output_compression, partial_images: OpenAI's values only, else a 400 naming the param", async () => {
  const start = await balance(t, u.key);
  const bad: [string, unknown][] = [
    ['quality', { nested: true }],
    ['quality', 1e308],
    ['quality', 'ultra'],
    ['style', 'baroque'],
    ['style', ['vivid']],
    ['background', 'green'],
    ['moderation', 'none'],
    ['output_compression', 101],
    ['output_compression', 'high'],
    ['partial_images', 1e308],
  ];
  for (const [param, value] of bad) {
    const r = await post('/v1/images/generations', { prompt: 'a cat', size: '256x256', [param]: value });
    assert.equal(r.status, 400, `${param}: ${JSON.stringify(value)}`);
    const b = (await r.json()) as { error: { param: string; type: string } };
    assert.equal(b.error.param, param);
    assert.equal(b.error.type, 'invalid_request_error');
  }
  assert.equal(await balance(t, u.key), start);
  const ok = await post('/v1/images/generations', { prompt: 'a cat', size: '256x256', quality: 'hd', style: 'natural', background: 'auto', moderation: 'low', output_compression: 80, partial_images: 0 });
  assert.equal(ok.status, 200, await ok.text());
});

test("Stability's /api/generate/core output_format: png only (the image comes back as base64 PNG), else a 400 starting with output_format", async () => {
  const start = await balance(t, u.key);
  for (const value of [{ a: 1 }, 1e308, 'gif', 'jpeg']) {
    const r = await post('/api/generate/core', { prompt: 'a cat', output_format: value });
    assert.equal(r.status, 400, JSON.stringify(value));
    const b = (await r.json()) as { code: number; message: string };
    assert.equal(b.code, -1);
    assert.match(b.message, /^output_format: /);
  }
  assert.equal(await balance(t, u.key), start);
  const ok = await post('/api/generate/core', { prompt: 'a cat', output_format: 'png' });
  assert.equal(ok.status, 200);
});

const jsonRoutes: { path: string; body: unknown; check: (status: number, b: any) => void }[] = [
  { path: '/v1/image/generation/create', body: { prompt: 'a cat', num_outputs: 1 }, check: (_s, b) => assert.equal(b.error, 'unsupported_media_type') },
  { path: '/api/generate/core', body: { prompt: 'a cat' }, check: (_s, b) => (assert.equal(b.code, -1), assert.match(b.message, /Content-Type/)) },
  { path: '/api/rest/v1/generations', body: { prompt: 'a cat', num_images: 1 }, check: (_s, b) => (assert.equal(b.code, 'unsupported-media-type'), assert.equal(b.path, '$')) },
  { path: '/v1/images/generations', body: { prompt: 'a cat', size: '256x256' }, check: (_s, b) => assert.equal(b.error.code, 'unsupported_media_type') },
];

for (const route of jsonRoutes) {
  test(`JSON sent as text/plain or a form to ${route.path}: 415 in the dialect's envelope, nothing charged`, async () => {
    const start = await balance(t, u.key);
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded']) {
      const r = await t.api(route.path, { method: 'POST', key: u.key, headers: { 'Content-Type': type }, body: JSON.stringify(route.body) });
      assert.equal(r.status, 415, type);
      route.check(r.status, await r.json());
    }
    assert.equal(await balance(t, u.key), start);
    const ok = await t.api(route.path, { method: 'POST', key: u.key, headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: JSON.stringify(route.body) });
    assert.equal(ok.status, 200, await ok.text());
  });
}

test("unknown routes answer 404 in the envelope of the dialect whose prefix they are under", async () => {
  const leonardo = await t.api('/api/rest/v1/no-such-thing', { key: u.key });
  assert.equal(leonardo.status, 404);
  const l = (await leonardo.json()) as { error: string; path: string; code: string };
  assert.equal(l.path, '$');
  assert.equal(l.code, 'not-found');
  assert.match(l.error, /GET \/api\/rest\/v1\/no-such-thing/);

  const v2 = await t.api('/v2beta/stable-image/generate/ultra', { method: 'POST', key: u.key });
  assert.equal(v2.status, 404);
  const s = (await v2.json()) as { id: string; name: string; errors: string[] };
  assert.match(s.id, /^[0-9a-f]{32}$/);
  assert.equal(s.name, 'not_found');
  assert.match(s.errors[0]!, /POST \/v2beta\/stable-image\/generate\/ultra/);

  const seed = await t.api('/api/generate/sd3', { method: 'POST', key: u.key });
  assert.equal(seed.status, 404);
  const sd = (await seed.json()) as { code: number; message: string };
  assert.equal(sd.code, -1);
  assert.match(sd.message, /\/api\/generate\/sd3/);

  const openai = await t.api('/v1/images/nope', { method: 'POST', key: u.key });
  assert.equal(openai.status, 404);
  const o = (await openai.json()) as { error: { message: string; type: string; param: null; code: null } };
  assert.equal(o.error.type, 'invalid_request_error');
  assert.match(o.error.message, /\/v1\/images\/nope/);
  // A known path with the wrong method is unknown too, in the same envelope.
  const get = await t.api('/v1/images/generations', { key: u.key });
  assert.equal(get.status, 404);
  assert.equal(((await get.json()) as { error: { type: string } }).error.type, 'invalid_request_error');

  // Anything else is Stablecog's, as before.
  const other = await t.api('/v1/nope', { key: u.key });
  assert.equal(other.status, 404);
  assert.equal(((await other.json()) as { error: string }).error, 'not_found');
});
