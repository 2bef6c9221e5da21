/**
 * The outputs listing's `search` over HTTP: a part of the prompt in any case, LIKE's wildcards taken
 * as plain characters, combined with the model and size filters, and never another user's prompts.
 * Runs scaled out too (Postgres), where LIKE is case-sensitive by itself.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let mine: string;
let theirs: string;

const PROMPTS = ['A Red Cat', 'red dog', '100% pure', 'snake_case thing', 'snakeXcase thing', 'back\\slash'];

before(async () => {
  t = await startTestServer();
  mine = (await makeUser(t, 'searcher', 20)).key;
  theirs = (await makeUser(t, 'other-searcher', 20)).key;
  const make = async (key: string, prompt: string) => {
    const res = await t.api('/v1/image/generation/create', { method: 'POST', key, json: { prompt, num_outputs: 1, inference_steps: 10, width: 256, height: 256 } });
    assert.equal(res.status, 200, await res.clone().text());
  };
  for (const p of PROMPTS) await make(mine, p);
  await make(theirs, 'red herring');
});
after(() => t.close());

async function found(query: string, key = mine): Promise<{ total: number; prompts: string[] }> {
  const res = await t.api(`/v1/image/generation/outputs?${query}`, { key });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { total: number; outputs: { generation: { prompt: { text: string } } }[] };
  return { total: body.total, prompts: body.outputs.map((o) => o.generation.prompt.text).sort() };
}

const q = (search: string, rest = '') => `search=${encodeURIComponent(search)}${rest}`;

test('search: a part of the prompt, any case, only your own', async () => {
  assert.deepEqual(await found(q('red')), { total: 2, prompts: ['A Red Cat', 'red dog'] });
  assert.deepEqual(await found(q('RED CAT')), { total: 1, prompts: ['A Red Cat'] });
  assert.deepEqual(await found(q('red'), theirs), { total: 1, prompts: ['red herring'] }, "another user's search sees only their own");
  assert.deepEqual(await found(q('herring')), { total: 0, prompts: [] });
  assert.deepEqual(await found(''), { total: PROMPTS.length, prompts: [...PROMPTS].sort() }, 'no search: everything');
});

test('search: % _ and \\ are plain characters', async () => {
  assert.deepEqual((await found(q('%'))).prompts, ['100% pure']);
  assert.deepEqual((await found(q('e_c'))).prompts, ['snake_case thing']);
  assert.deepEqual((await found(q('_'))).prompts, ['snake_case thing']);
  assert.deepEqual((await found(q('k\\s'))).prompts, ['back\\slash']);
  assert.deepEqual((await found(q('k\\'))).prompts, ['back\\slash']);
});

test('search: combined with the model and size filters', async () => {
  assert.deepEqual((await found(q('red', '&model_ids=tiny-sd1&widths=256'))).prompts, ['A Red Cat', 'red dog']);
  assert.equal((await found(q('red', '&widths=512'))).total, 0);
  assert.equal((await found(q('red', '&model_ids=no-such-model'))).total, 0);
});

test('search: too long is a 400 naming the field', async () => {
  const res = await t.api(`/v1/image/generation/outputs?${q('x'.repeat(1001))}`, { key: mine });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { field: string }).field, 'search');
});
