import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { requestHeader } from '../../src/api/request-header.ts';

const app = new Hono().get('/', (c) =>
  c.json({ id: requestHeader(c, 'x-request-id') ?? null, tag: requestHeader(c, 'x-tag') ?? null, missing: requestHeader(c, 'x-missing') ?? null }),
);

test('requestHeader reads the header over a socket as c.req.header would: repeated ones joined, missing ones undefined', async () => {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  try {
    const { port } = server.address() as AddressInfo;
    const body = await new Promise<string>((resolve, reject) => {
      // Raw pairs: fetch would join the repeated header itself before sending it.
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: ['Host', `127.0.0.1:${port}`, 'X-Request-Id', 'abc', 'X-Tag', 'one', 'X-Tag', 'two'] }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(JSON.parse(body), { id: 'abc', tag: 'one, two', missing: null });
  } finally {
    server.close();
  }
});

test('requestHeader falls back to the fetch request in-process', async () => {
  const res = await app.request('/', { headers: { 'X-Request-Id': 'in-process' } });
  assert.deepEqual(await res.json(), { id: 'in-process', tag: null, missing: null });
});
