/**
 * The OpenAPI document: generated from the route schemas, committed (openapi.json) and never
 * stale, valid OpenAPI 3.1, listing every route the server answers; the typed client generated
 * from it (openapi-typescript types + openapi-fetch) drives the real server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import createClient from 'openapi-fetch';
import { COMMITTED_SERVER_URL, generatedClientTypes, generatedOpenApi } from '../../src/api/generate-openapi.ts';
import { CreateGenerationResponse, GenerationDefaultsResponse } from '../../src/api/stablecog/schemas.ts';
import type { paths } from '../helpers/stablecog-client.types.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const COMMITTED = readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8');
const COMMITTED_TYPES = readFileSync(new URL('../helpers/stablecog-client.types.ts', import.meta.url), 'utf8');

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

test('the committed openapi.json is what the routes generate, and what the server serves (run `npm run openapi` after changing a route)', async () => {
  assert.equal(COMMITTED, await generatedOpenApi());
  const served = (await (await fetch(`${t.url}/openapi.json`)).json()) as { servers: { url: string }[] };
  assert.deepEqual({ ...served, servers: [] }, { ...JSON.parse(COMMITTED), servers: [] });
  assert.deepEqual(
    served.servers.map((s) => s.url),
    [t.url],
    'a running server names itself',
  );
});

test('servers: the committed document names `npm start` on its defaults; a served one DARKROOM_PUBLIC_URL when set, else the origin asked', async () => {
  assert.deepEqual((JSON.parse(COMMITTED) as { servers: { url: string }[] }).servers.map((s) => s.url), [COMMITTED_SERVER_URL]);
  const proxied = (await (await fetch(`${t.url}/openapi.json`, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'img.example.org' } })).json()) as { servers: { url: string }[] };
  assert.deepEqual(proxied.servers.map((s) => s.url), ['https://img.example.org']);
  const pub = await startTestServer({ DARKROOM_PUBLIC_URL: 'https://darkroom.example.com' });
  try {
    const doc = (await (await fetch(`${pub.url}/openapi.json`)).json()) as { servers: { url: string }[] };
    assert.deepEqual(doc.servers.map((s) => s.url), ['https://darkroom.example.com']);
  } finally {
    await pub.close();
  }
});

test('the committed client types are what openapi-typescript makes of openapi.json', async () => {
  assert.equal(COMMITTED_TYPES, await generatedClientTypes(COMMITTED));
});

test('the document is valid OpenAPI 3.1', async () => {
  const validator = new Validator();
  const res = await validator.validate(JSON.parse(COMMITTED));
  assert.equal(res.valid, true, JSON.stringify(res.errors, null, 2));
  assert.equal(validator.version, '3.1');
});

test('every route the server answers is in the document, and every documented route answers', async () => {
  const doc = JSON.parse(COMMITTED) as { paths: Record<string, Record<string, unknown>> };
  const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
  const served = new Set(
    t.server.app.routes
      .filter((r) => r.method !== 'ALL' && !['/openapi.json', '/docs', '/'].includes(r.path))
      .map((r) => `${r.method} ${r.path.replace(/:([^/]+)/g, '{$1}').replace('/images/*', '/images/{key}')}`),
  );
  assert.deepEqual([...served].sort(), [...documented].sort());
  for (const route of [
    'POST /v1/image/generation/create', 'POST /v1/image/generate', 'GET /v1/image/generation/models', 'GET /v1/image/models/generate',
    'GET /v1/image/generation/defaults', 'GET /v1/image/defaults/generate', 'GET /v1/image/upscale/models', 'GET /v1/image/models/upscale',
    'GET /v1/image/upscale/defaults', 'GET /v1/image/defaults/upscale', 'GET /v1/image/generation/outputs', 'POST /v1/image/upload',
    'POST /v1/image/upscale/create', 'POST /v1/image/upscale', 'GET /v1/credits', 'POST /v1/user/tokens', 'GET /v1/user/tokens',
    'DELETE /v1/user/tokens', 'GET /v1/user/operations', 'GET /v1/sse',
  ]) {
    assert.ok(documented.has(route), `${route} is documented`);
  }
});

test('the typed client (generated from openapi.json) drives the server', async () => {
  const client = createClient<paths>({ baseUrl: t.url, headers: { Authorization: `Bearer ${t.adminKey}` } });
  const defaults = await client.GET('/v1/image/generation/defaults');
  assert.equal(defaults.response.status, 200);
  GenerationDefaultsResponse.parse(defaults.data);
  const width: number = defaults.data!.width; // typed
  const created = await client.POST('/v1/image/generation/create', {
    body: { prompt: 'typed', num_outputs: 1, width, height: defaults.data!.height, seed: 77 },
  });
  assert.equal(created.response.status, 200, JSON.stringify(created.error));
  const body = CreateGenerationResponse.parse(created.data);
  assert.equal(body.settings.seed, 77);
  assert.equal(created.data!.outputs.length, 1);

  const refused = await client.POST('/v1/image/generation/create', { body: { prompt: 'typed', num_outputs: 9 } });
  assert.equal(refused.response.status, 400);
  assert.equal(refused.error?.field, 'num_outputs');

  const credits = await client.GET('/v1/credits');
  assert.equal(credits.data!.total_remaining_credits, body.remaining_credits);
});

test('the docs page renders the document', async () => {
  const res = await fetch(`${t.url}/docs`);
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /fetch\('\/openapi\.json'\)/);
});
