/**
 * CORS as a browser meets it, over HTTP against the real server: preflights of the dialects' paths,
 * the headers on answers (successes and errors alike, so a page can read both), and the answer's
 * own headers kept beside them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

const ORIGIN = 'https://app.example';

test('a preflight of a Stablecog route allows any origin, the methods and the request headers a client sends', async () => {
  const res = await fetch(`${t.url}/v1/image/generation/create`, {
    method: 'OPTIONS',
    headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
  assert.deepEqual(res.headers.get('access-control-allow-headers')?.split(','), ['Authorization', 'Content-Type', 'Idempotency-Key']);
  assert.equal(await res.text(), '');
});

test('a preflight of the Stability and Leonardo paths allows Accept too', async () => {
  for (const path of ['/v2beta/stable-image/generate/core', '/api/rest/v1/generations']) {
    const res = await fetch(t.url + path, { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(res.status, 204, path);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', path);
    assert.deepEqual(res.headers.get('access-control-allow-headers')?.split(','), ['Authorization', 'Content-Type', 'Accept', 'Idempotency-Key'], path);
  }
});

test('an authenticated answer carries the CORS headers beside its own', async () => {
  const res = await t.api('/v1/credits', { headers: { Origin: ORIGIN } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const exposed = res.headers.get('access-control-expose-headers')?.split(',') ?? [];
  for (const h of ['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'Idempotent-Replayed']) assert.ok(exposed.includes(h), h);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(res.headers.get('x-request-id'));
  assert.equal(typeof ((await res.json()) as { total_remaining_credits: number }).total_remaining_credits, 'number');
});

test('an error answer carries them too, so a page can read why', async () => {
  const res = await t.api('/v1/credits', { key: 'dr-not-a-key', headers: { Origin: ORIGIN } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.ok(res.headers.get('access-control-expose-headers')?.split(',').includes('X-Request-Id'));
});

test('paths outside the dialects get no CORS headers', async () => {
  const res = await fetch(`${t.url}/healthz`, { headers: { Origin: ORIGIN } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), null);
});
