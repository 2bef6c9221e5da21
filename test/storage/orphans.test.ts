/**
 * Nothing a refused or failed request wrote survives it, and start-up removes what a crash left
 * (issue 15, item 4): over HTTP against the real server, counting what is under its data dir.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../../src/config/config.ts';
import { startServer, type ServerHandle } from '../../src/server/server.ts';
import { userPrefix } from '../../src/core/images.ts';
import { STORE_OWNER_KEY, sweepOrphans } from '../../src/core/orphans.ts';
import { FilesystemStore } from '../../src/storage/filesystem.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let restarted: ServerHandle | undefined;
// Loopback is allow-listed so that an init image can be fetched from this very server (an output URL).
before(async () => (t = await startTestServer({ DARKROOM_URL_ALLOWLIST: '127.0.0.1' })));
after(async () => {
  await restarted?.close();
  await t.close();
});

/** Every file and folder under the image store, relative to it. */
function entries(): string[] {
  const root = join(t.dataDir, 'images');
  const walk = (dir: string): string[] =>
    existsSync(dir) ? readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? [relative(root, join(dir, n)) + '/', ...walk(join(dir, n))] : [relative(root, join(dir, n))])) : [];
  return walk(root).sort();
}
const files = () => entries().filter((e) => !e.endsWith('/'));

async function png(width: number, height: number, alpha = false): Promise<Buffer> {
  return sharp({ create: { width, height, channels: alpha ? 4 : 3, background: alpha ? { r: 10, g: 200, b: 90, alpha: 0.5 } : { r: 200, g: 40, b: 90 } } }).png().toBuffer();
}
function form(fields: Record<string, string | Buffer>): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') f.set(k, v);
    else f.set(k, new Blob([new Uint8Array(v)], { type: 'image/png' }), `${k}.png`);
  }
  return f;
}
async function uploadRows(): Promise<number> {
  return Number((await t.server.db.kysely.selectFrom('uploads').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
}

test('refused edits and variations store nothing; a successful one stores its inputs and outputs; an upload stores one file', async () => {
  const before = entries();
  const rowsBefore = await uploadRows();
  const opaque = await png(64, 64);
  for (let i = 0; i < 10; i++) {
    const r = await t.api('/v1/images/edits', { method: 'POST', body: form({ prompt: 'x', image: opaque }) });
    assert.equal(r.status, 400, 'an opaque image and no mask');
  }
  const maskNoAlpha = await t.api('/v1/images/edits', { method: 'POST', body: form({ prompt: 'x', image: opaque, mask: await png(64, 64) }) });
  assert.equal(maskNoAlpha.status, 400);
  const maskSize = await t.api('/v1/images/edits', { method: 'POST', body: form({ prompt: 'x', image: opaque, mask: await png(32, 32, true) }) });
  assert.equal(maskSize.status, 400);
  // Checks that run after the inputs are good (in the core): a size the model cannot draw, too few credits.
  const badSize = await t.api('/v1/images/edits', { method: 'POST', body: form({ prompt: 'x', image: await png(64, 64, true), size: '7x7' }) });
  assert.equal(badSize.status, 400);
  const broke = await makeUser(t, 'broke', 0);
  const poor = await t.api('/v1/images/edits', { method: 'POST', key: broke.key, body: form({ prompt: 'x', image: await png(64, 64, true) }) });
  assert.ok(poor.status === 429 || poor.status === 402, `no credits: ${poor.status}`);
  const poorVariation = await t.api('/v1/images/variations', { method: 'POST', key: broke.key, body: form({ image: opaque }) });
  assert.ok(poorVariation.status === 429 || poorVariation.status === 402, `no credits: ${poorVariation.status}`);
  assert.deepEqual(entries(), before, 'no file or folder left by refused requests');
  assert.equal(await uploadRows(), rowsBefore, 'no upload rows either');

  // A good edit with a mask: its two inputs (as uploads) and its one output, nothing else.
  const ok = await t.api('/v1/images/edits', { method: 'POST', body: form({ prompt: 'x', image: await png(256, 256), mask: await png(256, 256, true), size: '256x256' }) });
  assert.equal(ok.status, 200, await ok.clone().text());
  const { data } = (await ok.json()) as { data: { url: string }[] };
  const outputKey = decodeURIComponent(new URL(data[0]!.url).pathname.slice('/images/'.length));
  const added = files().filter((f) => !before.includes(f));
  assert.equal(added.length, 3, `inputs and output: ${added.join(', ')}`);
  assert.ok(added.includes(outputKey));
  assert.equal(added.filter((f) => f.startsWith('uploads/')).length, 2);
  assert.equal(await uploadRows(), rowsBefore + 2);

  // A Stablecog upload: exactly one file, the one its name points at, and one row.
  const beforeUpload = files();
  const up = await t.api('/v1/image/upload', { method: 'POST', body: (() => { const f = new FormData(); f.set('file', new Blob([new Uint8Array(opaque)], { type: 'image/png' }), 'a.png'); return f; })() });
  assert.equal(up.status, 200);
  const { object } = (await up.json()) as { object: string };
  assert.deepEqual(files().filter((f) => !beforeUpload.includes(f)), [`uploads/${object.slice('s3://'.length)}`]);
  assert.equal(await uploadRows(), rowsBefore + 3);
  const notImage = await t.api('/v1/image/upload', { method: 'POST', body: (() => { const f = new FormData(); f.set('file', new Blob(['not an image'], { type: 'image/png' }), 'a.png'); return f; })() });
  assert.equal(notImage.status, 400);
  assert.equal(files().length, beforeUpload.length + 1);
});

test('uploads are named upload:<id> inside Darkroom (Leonardo init images too); Stablecog keeps its s3:// names, in their exact shape', async () => {
  const { images } = t.server.services;
  const me = (await t.server.services.accounts.authenticate(t.adminKey)).user.id;
  const up = await images.upload(me, new Uint8Array(await png(64, 64)));
  assert.equal(up.ref, `upload:${up.id}`);
  assert.equal(up.object, `s3://${userPrefix(me)}/${up.id}.png`);
  assert.equal((await images.resolve(me, up.ref, 'initImage')).key, up.key);
  assert.equal((await images.resolve(me, up.object, 'initImage')).key, up.key);
  assert.equal((await images.findUpload(me, up.id))?.ref, up.ref);
  const other = await makeUser(t, 'other-uploader', 1);
  await assert.rejects(images.resolve(other.userId, up.ref, 'initImage'), /no upload/);
  await assert.rejects(images.resolve(other.userId, up.object, 'initImage'), /another account/);
  // An s3:// URL of some bucket is not an upload name (it would have been read as one before).
  const bucket = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'x', init_image_url: `s3://${userPrefix(me)}/../outputs/x.png` } });
  assert.equal(bucket.status, 400);
  await assert.rejects(images.resolve(me, 's3://my-bucket/uploads/x.png', 'initImage'), /is not an upload name/);
});

test('start-up deletes stored objects no row names (what a crash left), and keeps every named one', async () => {
  // Named objects: an output, an img2img generation's fetched init image, an upload, an upscale.
  const gen = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'keep me', num_outputs: 1 } });
  assert.equal(gen.status, 200);
  const { outputs } = (await gen.json()) as { outputs: { id: string; url: string }[] };
  const fromUrl = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'from a URL', num_outputs: 1, init_image_url: outputs[0]!.url } });
  assert.equal(fromUrl.status, 200, await fromUrl.clone().text());
  const upscale = await t.api('/v1/image/upscale/create', { method: 'POST', json: { input: outputs[0]!.id } });
  assert.equal(upscale.status, 200, await upscale.clone().text());
  const named = files();
  assert.ok(named.some((f) => f.startsWith('inits/')), `a fetched init image: ${named.join(', ')}`);
  assert.ok(named.some((f) => f.startsWith('upscaled/')));

  // What a kill -9 leaves: outputs of a job that never recorded them, a half-written file, a fetched
  // init image and an upload object of requests that never got their rows.
  const store = new FilesystemStore(join(t.dataDir, 'images'));
  const me = (await t.server.services.accounts.authenticate(t.adminKey)).user.id;
  const orphans = [`outputs/${randomUUID()}.png`, `outputs/${randomUUID()}.png`, `outputs/${randomUUID()}.png.tmp-0a1b2c3d`, `inits/${randomUUID()}.png`, `uploads/${userPrefix(me)}/${randomUUID()}.png`, `upscaled/${randomUUID()}.png`];
  for (const key of orphans) await store.put(key, new Uint8Array(await png(8, 8)), 'image/png');
  const old = new Date(Date.now() - 2 * 3600_000);
  for (const f of [...named, ...orphans]) utimesSync(join(t.dataDir, 'images', f), old, old);

  // The periodic form keeps young objects: a fresh orphan is not swept before its grace is up.
  const fresh = `outputs/${randomUUID()}.png`;
  await store.put(fresh, new Uint8Array([1]), 'image/png');
  const periodic = await sweepOrphans(t.server.db, store);
  assert.deepEqual(periodic.deleted.sort(), [...orphans].sort(), 'old orphans go, the fresh one stays (grace)');
  for (const key of orphans) await store.put(key, new Uint8Array(await png(8, 8)), 'image/png'); // the crash again

  // Restart on the same data dir.
  await t.server.close();
  const config = loadConfig({ DARKROOM_DATA_DIR: t.dataDir, DARKROOM_PORT: '0', DARKROOM_HOST: '127.0.0.1', DARKROOM_DEFAULT_MODEL: 'tiny-sd1', DARKROOM_RATE_LIMIT: '0', DARKROOM_URL_ALLOWLIST: '127.0.0.1' });
  const logs: string[] = [];
  restarted = await startServer(config, { log: (m) => logs.push(m) });
  t.server = restarted; // (t.api still points at the first server: requests below use restarted.url)
  const left = files();
  for (const key of orphans) assert.ok(!left.includes(key), `${key} removed at start-up`);
  assert.ok(!left.includes(fresh), 'at start-up nothing is in flight: no grace');
  for (const key of named) assert.ok(left.includes(key), `${key} kept`);
  assert.ok(logs.some((l) => /orphan sweep: deleted 7 /.test(l)), logs.join('\n'));
  // The kept ones still serve.
  const again = await fetch(outputs[0]!.url.replace(/^http:\/\/[^/]+/, restarted.url));
  assert.equal(again.status, 200);
});

test('a store that names another database is left alone', async () => {
  const store = new FilesystemStore(join(t.dataDir, 'images'));
  const marker = await store.get(STORE_OWNER_KEY);
  assert.ok(marker, 'the first sweep claimed the store');
  const orphan = `outputs/${randomUUID()}.png`;
  await store.put(orphan, new Uint8Array([1]), 'image/png');
  await store.put(STORE_OWNER_KEY, new TextEncoder().encode('some-other-database'), 'text/plain');
  try {
    const r = await sweepOrphans(t.server.db, store, { graceMs: 0 });
    assert.match(r.refused ?? '', /belongs to another Darkroom database/);
    assert.equal(await store.exists(orphan), true);
  } finally {
    await store.put(STORE_OWNER_KEY, marker.bytes, 'text/plain');
  }
  assert.deepEqual((await sweepOrphans(t.server.db, store, { graceMs: 0 })).deleted, [orphan]);
});
