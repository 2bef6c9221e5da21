/**
 * DELETE /v1/image/generation/outputs/{id} over HTTP: the output leaves the listings (Stablecog's
 * outputs and their generation's siblings, Leonardo's generation), its image and upscaled image URLs
 * answer 404, nothing is refunded, and another user's id or an unknown one is a 404.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fastEngine } from '../helpers/fast-engine.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => (t = await startTestServer({}, { engine: fastEngine })));
after(() => t.close());

interface Listed {
  total?: number;
  outputs: { id: string; image_url: string; upscaled_image_url?: string; generation: { id: string; outputs: { id: string }[] } }[];
}

const balance = async (key: string) => ((await (await t.api('/v1/credits', { key })).json()) as { total_remaining_credits: number }).total_remaining_credits;
const list = async (key: string) => (await (await t.api('/v1/image/generation/outputs', { key })).json()) as Listed;
const remove = (id: string, key: string) => t.api(`/v1/image/generation/outputs/${id}`, { method: 'DELETE', key });

test('delete output: gone from every listing, its URLs 404, credits unchanged; not yours or unknown: 404', async () => {
  const user = await makeUser(t, 'deleter', 10);
  const other = await makeUser(t, 'neighbour', 10);
  const made = await t.api('/v1/image/generation/create', { method: 'POST', key: user.key, json: { prompt: 'two of them', num_outputs: 2, width: 256, height: 256 } });
  assert.equal(made.status, 200);
  const [gone, kept] = ((await made.json()) as { outputs: { id: string }[] }).outputs.map((o) => o.id) as [string, string];
  const up = await t.api('/v1/image/upscale/create', { method: 'POST', key: user.key, json: { input: gone } });
  assert.equal(up.status, 200);
  const before = (await list(user.key)).outputs.find((o) => o.id === gone)!;
  assert.ok(before.upscaled_image_url);
  const urls = [before.image_url, before.upscaled_image_url];
  for (const u of urls) assert.equal((await fetch(u)).status, 200);
  const credits = await balance(user.key);

  for (const [id, key] of [[gone, other.key], [randomUUID(), user.key]] as const) {
    const res = await remove(id, key);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: string }).error, 'output_not_found');
  }
  assert.equal((await list(user.key)).total, 2, "another user's delete changed nothing");

  const res = await remove(gone, user.key);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: gone, deleted: true });

  const after = await list(user.key);
  assert.equal(after.total, 1);
  assert.deepEqual(after.outputs.map((o) => o.id), [kept]);
  assert.deepEqual(after.outputs[0]!.generation.outputs.map((o) => o.id), [kept], "its generation's outputs leave it out too");
  for (const u of urls) assert.equal((await fetch(u)).status, 404, `${u} after the delete`);
  const path = new URL(before.image_url).pathname;
  assert.equal((await t.api(path, { key: user.key })).status, 404, "the owner's key does not fetch it either");
  assert.equal(await balance(user.key), credits, 'nothing refunded, nothing charged');

  const leonardo = (await (await t.api(`/api/rest/v1/generations/${before.generation.id}`, { key: user.key })).json()) as { generations_by_pk: { generated_images: { id: string }[] } };
  assert.deepEqual(leonardo.generations_by_pk.generated_images.map((i) => i.id), [kept]);

  assert.equal((await remove(gone, user.key)).status, 404, 'a second delete finds nothing');
  const reuse = await t.api('/v1/image/upscale/create', { method: 'POST', key: user.key, json: { input: gone } });
  assert.equal(((await reuse.json()) as { error: string }).error, 'output_not_found');
  assert.equal(await balance(user.key), credits);
});
