import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const WEB_DIR = fileURLToPath(new URL('../../web', import.meta.url));
let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

test('the web page is served at /, its scripts and styles under /web/, and it calls only routes the server has', async () => {
  const res = await fetch(`${server.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  for (const id of ['prompt', 'model', 'scheduler', 'go', 'cancel', 'mask', 'detail', 'search', 'galleryGrid', 'keyRows', 'usageRows', 'keyDialog']) assert.match(html, new RegExp(`id="${id}"`));
  assert.match(html, /src="\/web\/app\.js"/);
  assert.match(html, /href="\/web\/app\.css"/);
  const css = await fetch(`${server.url}/web/app.css`);
  assert.equal(css.status, 200);
  assert.match(css.headers.get('content-type') ?? '', /text\/css/);

  let scripts = '';
  for (const name of readdirSync(WEB_DIR).filter((n) => n.endsWith('.js'))) {
    const r = await fetch(`${server.url}/web/${name}`);
    assert.equal(r.status, 200, name);
    assert.match(r.headers.get('content-type') ?? '', /javascript/, name);
    scripts += await r.text();
  }
  assert.equal((await fetch(`${server.url}/web/nothing.js`)).status, 404);
  assert.equal((await fetch(`${server.url}/web/..%2Fpackage.json`)).status, 404);

  const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  // Template parts (`${id}`) and documented parameters ({id}) compare alike.
  const shape = (path: string) => path.replace(/\$\{[^}]+\}|\{[^}]+\}/g, '{}');
  const documented = new Set(Object.keys(doc.paths).map(shape));
  const called = [...scripts.matchAll(/['`](\/v1\/[^'`?]+)/g)].map((m) => m[1]!);
  assert.ok(called.length >= 12);
  for (const path of new Set(called)) assert.ok(documented.has(shape(path)), `the page calls ${path}, which the API documents`);
});
