import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

test('the web page is served at / and calls only routes the server has', async () => {
  const res = await fetch(`${server.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  for (const id of ['prompt', 'model', 'scheduler', 'go', 'galleryGrid', 'keyRows', 'usageRows']) assert.match(html, new RegExp(`id="${id}"`));
  const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  const called = [...html.matchAll(/['`](\/v1\/[a-z/]+)/g)].map((m) => m[1]!);
  assert.ok(called.length >= 6);
  for (const path of new Set(called)) assert.ok(path in doc.paths, `the page calls ${path}, which the API documents`);
});
