/** The one OpenAPI document lists every route of the Stability, Leonardo and OpenAI dialects, each under its dialect's tag. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const doc = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')) as {
  tags: { name: string }[];
  paths: Record<string, Record<string, { tags?: string[]; security?: unknown[] }>>;
};

const ROUTES: Record<string, string[]> = {
  Stability: ['POST /api/generate/core', 'POST /v2beta/stable-image/generate/core'],
  Leonardo: [
    'POST /api/rest/v1/generations',
    'GET /api/rest/v1/generations/{id}',
    'DELETE /api/rest/v1/generations/{id}',
    'GET /api/rest/v1/generations/user/{userId}',
    'POST /api/rest/v1/init-image',
    'POST /api/rest/v1/init-image/upload',
    'GET /api/rest/v1/init-image/{id}',
    'DELETE /api/rest/v1/init-image/{id}',
    'GET /api/rest/v1/me',
    'GET /api/rest/v1/platformModels',
    'GET /api/rest/v1/elements',
    'POST /api/rest/v1/canvas-init-image',
    'POST /api/rest/v1/variations/upscale',
    'POST /api/rest/v1/variations/unzoom',
    'POST /api/rest/v1/variations/universal-upscaler',
    'GET /api/rest/v1/variations/{id}',
  ],
  OpenAI: ['POST /v1/images/generations', 'POST /v1/images/edits', 'POST /v1/images/variations', 'GET /v1/models', 'GET /v1/models/{id}'],
};

for (const [tag, routes] of Object.entries(ROUTES)) {
  test(`${tag}: its tag, and every route documented under it`, () => {
    assert.ok(doc.tags.some((t) => t.name === tag));
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const op = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(op, `${route} is documented`);
      assert.deepEqual(op.tags, [tag], route);
    }
    const tagged = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).filter(([, op]) => op.tags?.includes(tag)).map(([m]) => `${m.toUpperCase()} ${p}`));
    assert.deepEqual(tagged.sort(), [...routes].sort(), 'no other route carries the tag');
  });
}

test('only the presigned upload target is open without a key', () => {
  for (const routes of Object.values(ROUTES)) {
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const open = !doc.paths[path]![method.toLowerCase()]!.security?.length;
      assert.equal(open, route === 'POST /api/rest/v1/init-image/upload', route);
    }
  }
});
