/** Keys, credits, usage and who may see which image, over HTTP against the real server. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';
import { uuidV5 } from '../../src/core/uuid.ts';
import { debit } from '../../src/db/ledger.ts';

let t: TestServer;
before(async () => (t = await startTestServer({ DARKROOM_INITIAL_CREDITS: '0' })));
after(() => t.close());

test('API keys: create up to 10, the 11th is too_many_tokens; list; revoke; a revoked key is refused', async () => {
  const { key } = await makeUser(t, 'keyholder', 0); // holds 1 active key already
  const made: { id: string; token: string }[] = [];
  for (let i = 2; i <= 10; i++) {
    const r = await t.api('/v1/user/tokens', { method: 'POST', key, json: { name: `key ${i}` } });
    assert.equal(r.status, 200);
    made.push((await r.json()) as { id: string; token: string });
  }
  const eleventh = await t.api('/v1/user/tokens', { method: 'POST', key, json: { name: 'one too many' } });
  assert.equal(eleventh.status, 400);
  assert.deepEqual(await eleventh.json(), { error: 'too_many_tokens', description: 'You already have the maximum number of API tokens (10)' });

  const list = (await (await t.api('/v1/user/tokens', { key })).json()) as { tokens: { id: string; name: string; short_string: string; is_active: boolean }[] };
  assert.equal(list.tokens.length, 10);
  assert.ok(list.tokens.every((k) => k.is_active && /^dr-\.\.\.[0-9a-f]{4}$/.test(k.short_string)));
  assert.ok(!JSON.stringify(list).includes(made[0]!.token), 'secrets are never listed');

  const victim = made[0]!;
  assert.equal((await t.api('/v1/credits', { key: victim.token })).status, 200);
  const del = await t.api('/v1/user/tokens', { method: 'DELETE', key, json: { id: victim.id } });
  assert.deepEqual(await del.json(), { status: 'ok' });
  assert.equal((await t.api('/v1/credits', { key: victim.token })).status, 401);
  const again = await t.api('/v1/user/tokens', { method: 'DELETE', key, json: { id: victim.id } });
  assert.equal(again.status, 404);
  assert.equal(((await again.json()) as { error: string }).error, 'token_not_found');
  // A slot is free again.
  assert.equal((await t.api('/v1/user/tokens', { method: 'POST', key, json: {} })).status, 200);
});

test('GET /v1/credits: the balance as one credit row, JSON, current after every change', async () => {
  const { key, userId } = await makeUser(t, 'balance-watcher', 5);
  const expected = (balance: number) => ({
    total_remaining_credits: balance,
    credits: [
      {
        id: uuidV5(`credits:${userId}`),
        remaining_amount: balance,
        expires_at: '2100-01-01T00:00:00Z',
        type: { id: uuidV5('credit-type:darkroom'), name: 'Darkroom credits', description: 'Credits granted by the server admin.', amount: balance },
      },
    ],
  });
  for (const balance of [5, 5, 12, 12, 0]) {
    const now = await t.server.services.credits.balance(userId);
    if (balance > now) await t.server.services.credits.grant(userId, balance - now);
    if (balance < now) await t.server.db.transaction((tx) => debit(tx, userId, now - balance, 'grant', { note: 'test' }));
    const r = await t.api('/v1/credits', { key });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(await r.text(), JSON.stringify(expected(balance)));
  }
});

test("another user's private output: 404 by URL without its signature, 404 to their key; the owner and the signed URL see it", async () => {
  const alice = await makeUser(t, 'alice', 2);
  const mallory = await makeUser(t, 'mallory', 0);
  const r = await t.api('/v1/image/generation/create', { method: 'POST', key: alice.key, json: { prompt: 'private', num_outputs: 1 } });
  assert.equal(r.status, 200);
  const { outputs } = (await r.json()) as { outputs: { id: string; url: string }[] };
  const signed = outputs[0]!.url;
  const bare = signed.split('?')[0]!;
  assert.equal((await fetch(signed)).status, 200);
  assert.equal((await fetch(bare)).status, 404);
  assert.equal((await fetch(bare, { headers: { Authorization: `Bearer ${mallory.key}` } })).status, 404);
  assert.equal((await fetch(`${bare}?sig=00000000000000000000000000000000`)).status, 404);
  assert.equal((await fetch(bare, { headers: { Authorization: `Bearer ${alice.key}` } })).status, 200);
  // Not in mallory's outputs either; in alice's.
  const mine = (await (await t.api('/v1/image/generation/outputs', { key: mallory.key })).json()) as { outputs: unknown[]; total: number };
  assert.equal(mine.total, 0);
  const hers = (await (await t.api('/v1/image/generation/outputs', { key: alice.key })).json()) as { outputs: { id: string }[] };
  assert.deepEqual(hers.outputs.map((o) => o.id), [outputs[0]!.id]);
  // And mallory cannot upscale it.
  const up = await t.api('/v1/image/upscale/create', { method: 'POST', key: mallory.key, json: { input: outputs[0]!.id } });
  assert.equal(up.status, 400);
  assert.equal(((await up.json()) as { error: string }).error, 'output_not_found');
});

test('outputs: cursor pagination walks every output once; filters apply', async () => {
  const u = await makeUser(t, 'pager', 20);
  for (const [n, steps] of [[3, 10], [2, 12], [4, 10]] as const) {
    const r = await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: `batch of ${n}`, num_outputs: n, inference_steps: steps } });
    assert.equal(r.status, 200);
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  let first = true;
  for (let page = 0; page < 10; page++) {
    const q = new URLSearchParams({ per_page: '2', ...(cursor ? { cursor } : {}) });
    const body = (await (await t.api(`/v1/image/generation/outputs?${q}`, { key: u.key })).json()) as { total?: number; next?: string; outputs: { id: string; created_at: string }[] };
    if (first) assert.equal(body.total, 9);
    else assert.equal(body.total, undefined);
    first = false;
    seen.push(...body.outputs.map((o) => o.id));
    if (!body.next) break;
    cursor = body.next;
  }
  assert.equal(seen.length, 9);
  assert.equal(new Set(seen).size, 9);
  const filtered = (await (await t.api('/v1/image/generation/outputs?inference_steps=12', { key: u.key })).json()) as { total: number; outputs: { generation: { inference_steps: number; prompt: { text: string } } }[] };
  assert.equal(filtered.total, 2);
  assert.ok(filtered.outputs.every((o) => o.generation.inference_steps === 12 && o.generation.prompt.text === 'batch of 2'));
  const bad = await t.api('/v1/image/generation/outputs?per_page=500', { key: u.key });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { field: string }).field, 'per_page');
});

test('usage: operations with their net cost, newest first', async () => {
  const u = await makeUser(t, 'user-of-things', 5);
  await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'one', num_outputs: 1 } });
  await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'three', num_outputs: 3 } });
  const body = (await (await t.api('/v1/user/operations', { key: u.key })).json()) as { operations: { operation_type: string; num_outputs: number; cost: number; status: string; source: string }[] };
  assert.deepEqual(
    body.operations.map((o) => [o.operation_type, o.num_outputs, o.cost, o.status, o.source]),
    [['generate', 3, 3, 'succeeded', 'api'], ['generate', 1, 1, 'succeeded', 'api']],
  );
});
