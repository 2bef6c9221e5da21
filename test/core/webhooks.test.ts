/**
 * Webhook delivery (retries on 5xx/429/network, none on other 4xx or a refused address, the bearer
 * secret, no redirects followed), callback validation at key creation, and upload tokens.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { validateWebhook } from '../../src/core/webhook-target.ts';
import { Webhooks } from '../../src/core/webhooks.ts';
import { UrlGuard } from '../../src/core/url-guard.ts';
import { UploadTokens } from '../../src/core/upload-tokens.ts';
import type { Database } from '../../src/db/database.ts';
import { tempSqlite } from '../helpers/databases.ts';
import { receiver } from '../helpers/dialects.ts';
import { claimed, coreServices, spec } from '../helpers/core.ts';

let db: Database;
let cleanup: () => Promise<void>;
before(async () => ({ db, cleanup } = await tempSqlite()));
after(() => cleanup());

const fast = { retryDelaysMs: [10, 10], timeoutMs: 1000, pollMs: 10 };
const loopback = new UrlGuard({ allow: ['127.0.0.1'] });

describe('one attempt', () => {
  test('2xx: one call, with the bearer secret and JSON', async () => {
    const hook = await receiver();
    const w = new Webhooks({ db, guard: loopback, imagePath: (k) => `/images/${k}` }, fast);
    try {
      assert.deepEqual(await w.attempt(hook.url, 's3cret', { a: 1 }), { ok: true, retry: false, status: 200 });
      assert.equal(hook.received[0]!.headers['authorization'], 'Bearer s3cret');
      assert.equal(hook.received[0]!.body, '{"a":1}');
    } finally {
      await hook.close();
      await w.close();
    }
  });
  test('5xx, 429 and network errors may pass later; other 4xx and a refused address will not (and the address is never reached)', async () => {
    const hook = await receiver((n) => (n === 1 ? 503 : n === 2 ? 429 : 410));
    const w = new Webhooks({ db, guard: loopback, imagePath: (k) => k }, fast);
    const strict = new Webhooks({ db, guard: new UrlGuard(), imagePath: (k) => k }, fast);
    try {
      assert.deepEqual(await w.attempt(hook.url, undefined, {}), { ok: false, retry: true, status: 503 });
      assert.deepEqual(await w.attempt(hook.url, undefined, {}), { ok: false, retry: true, status: 429 });
      assert.deepEqual(await w.attempt(hook.url, undefined, {}), { ok: false, retry: false, status: 410 });
      assert.equal(hook.received[0]!.headers['authorization'], undefined);
      const network = await w.attempt('http://127.0.0.1:1/hook', undefined, {});
      assert.equal(network.ok, false);
      assert.equal(network.retry, true);
      const refused = await strict.attempt(hook.url, undefined, {});
      assert.equal(refused.retry, false);
      assert.match(refused.error!, /not a public address/);
      assert.equal(hook.received.length, 3);
    } finally {
      await hook.close();
      await w.close();
      await strict.close();
    }
  });
});

test('the outbox: a webhook is owed for a key with a callback, sent once when its dialect has a payload; retried after a 5xx', async () => {
  const core = coreServices(db);
  const hook = await receiver((n) => (n === 1 ? 500 : 200));
  const w = new Webhooks({ db, guard: loopback, imagePath: (k) => `/images/${k}` }, fast);
  try {
    w.register('leonardo', (ctx) => (ctx.generation.status === 'succeeded' ? { id: ctx.generation.id, images: ctx.outputs.map((o) => ctx.imagePath(o.image_key)) } : undefined));
    const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
    await core.credits.grant(user.id, 10);
    const hooked = await core.accounts.authenticate((await core.accounts.createKey(user.id, 'k', { url: hook.url, apiKey: 'x' })).secret);
    const plain = await core.accounts.authenticate((await core.accounts.createKey(user.id, 'k2')).secret);
    const run = async (auth: typeof hooked, dialect: string, ok: boolean) => {
      const gen = await core.generations.start(auth, spec({ numOutputs: 1 }), { source: 'test', dialect });
      await new Promise((r) => setTimeout(r, 20));
      await claimed(core.generations.claim(gen.id)).catch(() => undefined);
      if (ok) await core.generations.complete(gen.id, [{ id: randomUUID(), idx: 0, seed: 1, key: 'outputs/a.png', width: 512, height: 512 }]);
      else await core.generations.fail(gen.id, 'broken');
      return gen.id;
    };
    core.queue.process(async () => undefined);
    const id = await run(hooked, 'leonardo', true);
    await run(hooked, 'leonardo', false); // failed: no payload
    await run(hooked, 'openai', true); // no builder for that dialect
    await run(plain, 'leonardo', true); // no callback on the key: nothing owed
    const owed = await db.kysely.selectFrom('webhook_outbox').selectAll().where('generation_id', 'in', [id]).execute();
    assert.equal(owed.length, 1);
    w.start();
    const delivered = async () => (await db.kysely.selectFrom('webhook_outbox').select('delivered_at').where('generation_id', '=', id).executeTakeFirstOrThrow()).delivered_at;
    const until = Date.now() + 5000;
    while (!(await delivered()) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    await w.close();
    assert.equal(hook.received.length, 2, 'one 500, then the delivery; nothing for the others');
    assert.deepEqual(JSON.parse(hook.received[1]!.body), { id, images: ['/images/outputs/a.png'] });
    const row = await db.kysely.selectFrom('webhook_outbox').selectAll().where('generation_id', '=', id).executeTakeFirstOrThrow();
    assert.ok(row.delivered_at);
    assert.equal(row.attempts, 2);
  } finally {
    await hook.close();
    await core.close();
  }
});

test('callbacks are checked at key creation: http(s) only, no credentials, sane secret', () => {
  assert.deepEqual(validateWebhook('https://example.com/hook', 'k'), { url: 'https://example.com/hook', apiKey: 'k' });
  assert.deepEqual(validateWebhook('http://10.0.0.1/hook'), { url: 'http://10.0.0.1/hook' }, 'addresses are checked when delivering');
  assert.throws(() => validateWebhook('ftp://example.com/'), /scheme/);
  assert.throws(() => validateWebhook('https://u:p@example.com/'), /user name or password/);
  assert.throws(() => validateWebhook('nope'), /not a URL/);
  assert.throws(() => validateWebhook('https://example.com/', 'a\nb'), /one line/);
});

test('upload tokens: valid until they expire, tamper-proof, bound to their secret', () => {
  const tokens = UploadTokens.withSecret(Buffer.alloc(32, 7));
  const { token } = tokens.issue({ id: 'i', userId: 'u', ext: 'png' }, 1000, 10_000);
  assert.deepEqual(tokens.verify(token, 10_500), { id: 'i', userId: 'u', ext: 'png', exp: 11_000 });
  assert.equal(tokens.verify(token, 11_001), undefined, 'expired');
  const [body, mac] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ id: 'i', userId: 'someone-else', ext: 'png', exp: 11_000 })).toString('base64url');
  assert.equal(tokens.verify(`${forged}.${mac}`, 10_500), undefined);
  assert.equal(tokens.verify(`${body}.${mac}x`, 10_500), undefined);
  assert.equal(tokens.verify('garbage', 10_500), undefined);
  assert.equal(UploadTokens.withSecret(Buffer.alloc(32, 8)).verify(token, 10_500), undefined);
});
