/**
 * Signed image URLs expire: `?exp=<unix seconds>&sig=<HMAC of key and exp>`, valid
 * DARKROOM_SIGNED_URL_TTL seconds; an expired, altered or old-style (sig-only) URL is a 404, and
 * every answer that lists an image signs it afresh.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/config.ts';
import { setSettingOnce } from '../../src/db/uploads.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

const TTL = 3;
let plain: TestServer; // default TTL
let short: TestServer; // DARKROOM_SIGNED_URL_TTL=3
before(async () => {
  plain = await startTestServer();
  short = await startTestServer({ DARKROOM_SIGNED_URL_TTL: String(TTL) });
});
after(async () => {
  await plain?.close();
  await short?.close();
});

function parts(url: string): { bare: string; key: string; exp: number; sig: string } {
  const u = new URL(url);
  assert.deepEqual([...u.searchParams.keys()], ['exp', 'sig'], url);
  return { bare: `${u.origin}${u.pathname}`, key: decodeURIComponent(u.pathname.slice('/images/'.length)), exp: Number(u.searchParams.get('exp')), sig: u.searchParams.get('sig')! };
}

async function generate(t: TestServer, key: string): Promise<{ id: string; url: string }> {
  const r = await t.api('/v1/image/generation/create', { method: 'POST', key, json: { prompt: 'signed', num_outputs: 1 } });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { outputs: { id: string; url: string }[] }).outputs[0]!;
}

/** Waits until `exp` (unix seconds) is past by a margin. */
async function outlive(exp: number): Promise<void> {
  const wait = exp * 1000 - Date.now() + 300;
  if (wait > 0) await sleep(wait);
}

test('a URL in an answer carries exp (now + 3600 s by default) and sig, and works without a key', async () => {
  const before = Math.floor(Date.now() / 1000);
  const out = await generate(plain, plain.adminKey);
  const { exp, sig } = parts(out.url);
  const after = Math.floor(Date.now() / 1000);
  assert.ok(exp >= before + 3600 && exp <= after + 3600, `exp ${exp} is now + 3600`);
  assert.match(sig, /^[0-9a-f]{32}$/);
  const res = await fetch(out.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
});

test('an altered exp or sig, a missing exp, or an old-style sig over the key alone: 404', async () => {
  const out = await generate(plain, plain.adminKey);
  const { bare, key, exp, sig } = parts(out.url);
  const refused = async (url: string, why: string) => {
    const r = await fetch(url);
    assert.equal(r.status, 404, `${why}: ${url}`);
    assert.deepEqual(await r.json(), { error: 'not_found' });
  };
  await refused(`${bare}?exp=${exp + 86400}&sig=${sig}`, 'exp pushed later');
  await refused(`${bare}?exp=${exp - 1}&sig=${sig}`, 'exp moved earlier');
  await refused(`${bare}?exp=${exp}&sig=${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`, 'sig altered');
  await refused(`${bare}?sig=${sig}`, 'exp missing');
  await refused(`${bare}?exp=${exp}`, 'sig missing');
  await refused(`${bare}?exp=${exp}x&sig=${sig}`, 'exp not a number');
  // The URL form before expiry existed (?sig= = HMAC of the key under the same stored secret).
  const secret = Buffer.from(await setSettingOnce(plain.server.db.kysely, 'image_url_secret', 'unused'), 'hex');
  const oldSig = createHmac('sha256', secret).update(key).digest('hex').slice(0, 32);
  await refused(`${bare}?sig=${oldSig}`, 'old sig-only URL');
  // Another output's signature does not open this one.
  const other = parts((await generate(plain, plain.adminKey)).url);
  await refused(`${bare}?exp=${other.exp}&sig=${other.sig}`, "another key's signature");
  // The untouched URL still works.
  assert.equal((await fetch(out.url)).status, 200);
});

test('with a short TTL a URL works, then after its exp is refused; the owner key still sees it; every listing hands out a fresh one that works', async () => {
  const u = await makeUser(short, 'lister', 10);
  const out = await generate(short, u.key);
  const first = parts(out.url);
  assert.ok(first.exp - Date.now() / 1000 <= TTL, 'exp within the TTL');
  assert.equal((await fetch(out.url)).status, 200, 'works now');

  await outlive(first.exp);
  assert.equal((await fetch(out.url)).status, 404, 'refused once expired');
  assert.equal((await fetch(first.bare, { headers: { Authorization: `Bearer ${u.key}` } })).status, 200, "the owner's key needs no signature");

  // Stablecog's outputs list signs again.
  const list = (await (await short.api('/v1/image/generation/outputs', { key: u.key })).json()) as { outputs: { id: string; image_url: string }[] };
  const listed = list.outputs.find((o) => o.id === out.id)!;
  const fresh = parts(listed.image_url);
  assert.equal(fresh.bare, first.bare);
  assert.ok(fresh.exp > first.exp, 'a later exp');
  assert.equal((await fetch(listed.image_url)).status, 200, 'the listed URL works');

  // Leonardo's poll signs again too.
  const created = await short.api('/api/rest/v1/generations', { method: 'POST', key: u.key, json: { prompt: 'leo', width: 64, height: 64, num_images: 1 } });
  assert.equal(created.status, 200, await created.clone().text());
  const { generationId } = ((await created.json()) as { sdGenerationJob: { generationId: string } }).sdGenerationJob;
  const poll = async () => {
    for (;;) {
      const g = ((await (await short.api(`/api/rest/v1/generations/${generationId}`, { key: u.key })).json()) as { generations_by_pk: { status: string; generated_images: { url: string }[] } }).generations_by_pk;
      if (g.status === 'COMPLETE') return g.generated_images[0]!.url;
      assert.notEqual(g.status, 'FAILED');
      await sleep(50);
    }
  };
  const leoUrl = await poll();
  assert.equal((await fetch(leoUrl)).status, 200);
  await outlive(parts(leoUrl).exp);
  assert.equal((await fetch(leoUrl)).status, 404, 'the polled URL expires');
  const again = await poll();
  assert.ok(parts(again).exp > parts(leoUrl).exp);
  assert.equal((await fetch(again)).status, 200, 'polling again hands a fresh one');
});

test('a public output needs no signature, also after the signature expired', async () => {
  const pub = await startTestServer({ DARKROOM_SIGNED_URL_TTL: '1', DARKROOM_OUTPUTS_PUBLIC: 'true' });
  try {
    const out = await generate(pub, pub.adminKey);
    const { bare, exp } = parts(out.url);
    assert.equal((await fetch(bare)).status, 200);
    await outlive(exp);
    assert.equal((await fetch(out.url)).status, 200);
  } finally {
    await pub.close();
  }
});

test('DARKROOM_SIGNED_URL_TTL must be a whole number of seconds from 1 to 604800', () => {
  assert.equal(loadConfig({ DARKROOM_SIGNED_URL_TTL: '604800' }).signedUrlTtl, 604800);
  for (const bad of ['0', '604801', '1.5', 'an hour']) {
    assert.throws(() => loadConfig({ DARKROOM_SIGNED_URL_TTL: bad }), /DARKROOM_SIGNED_URL_TTL=.*must be an integer from 1 to 604800/);
  }
});
