/**
 * Stablecog's init_image_url and upscale input over HTTP: a URL pointing at the server itself, at
 * loopback or at a cloud metadata address is refused (400, the field named, nothing charged) unless
 * DARKROOM_URL_ALLOWLIST lets it through. Before the URL guard these were fetched (SSRF).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { balance } from '../helpers/dialects.ts';

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

test('init_image_url at loopback, a private or a link-local address: invalid_init_image_url, nothing charged', async () => {
  const first = (await (await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'source', num_outputs: 1 } })).json()) as { outputs: { url: string }[] };
  const own = first.outputs[0]!.url; // a real image on this server, at 127.0.0.1
  for (const url of [own, own.replace('127.0.0.1', 'localhost'), own.replace('127.0.0.1', '[::1]'), 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/x.png', 'http://[::ffff:127.0.0.1]/x.png']) {
    const before = await balance(t);
    const r = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'x', num_outputs: 1, init_image_url: url } });
    const body = (await r.json()) as { error: string; field: string; description: string };
    assert.equal(r.status, 400, url);
    assert.equal(body.error, 'invalid_init_image_url', url);
    assert.equal(body.field, 'init_image_url');
    assert.equal(await balance(t), before);
  }
});

test('upscale input URLs go through the same guard', async () => {
  const r = await t.api('/v1/image/upscale/create', { method: 'POST', json: { input: 'http://127.0.0.1:1/x.png' } });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { description: string }).description, /not a public address/);
});
