/** Per-route body limits as configured (DARKROOM_MAX_JSON_BYTES / DARKROOM_MAX_UPLOAD_BYTES), by the route's kind of body. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimits, DEFAULT_BODY_LIMITS } from '../../src/api/body-limits.ts';
import type { Env } from '../../src/api/env.ts';
import { mount } from '../../src/api/route.ts';
import { PayloadTooLargeError } from '../../src/core/errors.ts';

function app(limits: Parameters<typeof bodyLimits>[0]) {
  const a = new OpenAPIHono<Env>();
  a.onError((err, c) => c.json({ code: (err as PayloadTooLargeError).code, message: err.message }, err instanceof PayloadTooLargeError ? 413 : 500));
  const json = { 'application/json': { schema: z.object({ text: z.string() }) } };
  mount(a, createRoute({ method: 'post', path: '/json', request: { body: { required: true, content: json } }, responses: { 200: { description: 'ok' } } }), (c, { body }) => c.json({ length: body.text.length }, 200), { limits: bodyLimits(limits) });
  const form = { 'multipart/form-data': { schema: z.object({ file: z.string() }) } };
  mount(a, createRoute({ method: 'post', path: '/form', request: { body: { required: true, content: form } }, responses: { 200: { description: 'ok' } } }), async (c) => c.json({ size: (await c.req.arrayBuffer()).byteLength }, 200), { limits: bodyLimits(limits) });
  return a;
}

const jsonOf = (n: number) => JSON.stringify({ text: 'x'.repeat(n) });

test('defaults: 1 MiB of JSON, 25 MiB of multipart', () => {
  assert.deepEqual(bodyLimits(undefined), { json: 1024 * 1024, upload: 25 * 1024 * 1024 });
  assert.deepEqual(bodyLimits({ json: 2048, upload: undefined }), { ...DEFAULT_BODY_LIMITS, json: 2048 });
});

test('a JSON route takes the JSON limit as configured; a multipart route the upload limit', async () => {
  const a = app({ json: 2048, upload: 8192 });
  const ok = await a.request('/json', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: jsonOf(1000) });
  assert.equal(ok.status, 200);
  const big = await a.request('/json', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: jsonOf(3000) });
  assert.equal(big.status, 413);
  assert.equal(big.headers.get('connection'), 'close');
  assert.match(((await big.json()) as { message: string }).message, /over 2 KiB, the limit for JSON bodies/);
  // 3000 bytes is fine for the multipart route, 9000 is not.
  const form = (n: number) => {
    const f = new FormData();
    f.set('file', new Blob([new Uint8Array(n)]), 'f.bin');
    return f;
  };
  assert.equal((await a.request('/form', { method: 'POST', body: form(3000) })).status, 200);
  const over = await a.request('/form', { method: 'POST', body: form(9000) });
  assert.equal(over.status, 413);
  assert.match(((await over.json()) as { message: string }).message, /over 8 KiB, the limit for multipart uploads/);
});

test('a chunked body (no Content-Length) is read up to the limit and refused there', async () => {
  const a = app({ json: 4096 });
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 1024;
      controller.enqueue(new Uint8Array(1024).fill(0x20));
      if (pulled >= 1024 * 1024) controller.close();
    },
  });
  const r = await a.request('/json', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, duplex: 'half' } as RequestInit);
  assert.equal(r.status, 413);
  assert.ok(pulled <= 4096 + 4 * 1024, `read ${pulled} bytes of a 1 MiB body with a 4 KiB limit`);
});
