/** The dialect settings: DARKROOM_DIALECTS (each dialect on or off), DARKROOM_URL_ALLOWLIST, DARKROOM_LEONARDO_MODELS. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DIALECTS, loadConfig } from '../../src/config/config.ts';
import { createApp } from '../../src/api/app.ts';
import type { ApiServices } from '../../src/api/env.ts';

test('defaults: every dialect on, nothing allow-listed, no Leonardo model mapping', () => {
  const c = loadConfig({});
  assert.deepEqual(c.dialects, [...DIALECTS]);
  assert.deepEqual(c.urlAllowlist, []);
  assert.deepEqual(c.leonardoModels, {});
});

test('values are parsed, and bad ones listed together', () => {
  const c = loadConfig({
    DARKROOM_DIALECTS: 'openai, Stablecog',
    DARKROOM_URL_ALLOWLIST: '127.0.0.1, 10.0.0.0/8,images.internal',
    DARKROOM_LEONARDO_MODELS: 'b24e16ff-06e3-43eb-8d33-4416c2d75876=darkroom-demo, SDXL_1_0 = sdxl-base',
  });
  assert.deepEqual(c.dialects, ['openai', 'stablecog']);
  assert.deepEqual(c.urlAllowlist, ['127.0.0.1', '10.0.0.0/8', 'images.internal']);
  assert.deepEqual(c.leonardoModels, { 'b24e16ff-06e3-43eb-8d33-4416c2d75876': 'darkroom-demo', SDXL_1_0: 'sdxl-base' });
  assert.deepEqual(loadConfig({ DARKROOM_DIALECTS: 'none' }).dialects, []);
  try {
    loadConfig({ DARKROOM_DIALECTS: 'openai,midjourney', DARKROOM_URL_ALLOWLIST: '10.0.0.0/40', DARKROOM_LEONARDO_MODELS: 'nope' });
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 3);
    assert.match(err.message, /DARKROOM_DIALECTS="openai,midjourney": unknown dialect\(s\) midjourney/);
    assert.match(err.message, /DARKROOM_URL_ALLOWLIST/);
    assert.match(err.message, /DARKROOM_LEONARDO_MODELS/);
  }
});

test('a dialect that is off has no routes; the others answer', async () => {
  const options = { publicUrl: '', version: 'test', log: () => undefined };
  const only = createApp({} as ApiServices, { ...options, dialects: ['stablecog'] });
  assert.equal((await only.request('/v1/images/generations', { method: 'POST' })).status, 404);
  const doc = (await (await only.request('/openapi.json')).json()) as { paths: Record<string, unknown> };
  assert.equal(doc.paths['/v1/images/generations'], undefined);
  const all = createApp({} as ApiServices, options);
  assert.equal((await all.request('/v1/images/generations', { method: 'POST' })).status, 401);
  const none = createApp({} as ApiServices, { ...options, dialects: ['openai'] });
  assert.equal((await none.request('/v1/image/generation/create', { method: 'POST' })).status, 404);
});
