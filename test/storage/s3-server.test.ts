/**
 * The server with its images in S3 (s3rver on loopback, chosen by DARKROOM_S3_* settings and the AWS
 * SDK's credentials from the environment): outputs land in the bucket and download through their
 * URLs (the API's /images route keeps its access rules), uploads round-trip, nothing is written to
 * the local disk, and start-up sweeps the bucket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { STORE_OWNER_KEY } from '../../src/core/orphans.ts';
import type { S3Store } from '../../src/storage/s3.ts';
import { listed } from './contract.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';

let s3: TestS3;
let bucket: S3Store;
let t: TestServer;
const orphan = `outputs/${randomUUID()}.png`;

before(async () => {
  s3 = await startS3();
  s3.useCredentialsFromEnv();
  bucket = s3.store();
  // Left in the bucket by a crashed process, before this server starts.
  await bucket.put(orphan, new Uint8Array([1, 2, 3]), 'image/png');
  t = await startTestServer(s3.env);
});
after(async () => {
  await t?.close();
  await s3?.stop();
});

const keyOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice('/images/'.length));

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 20, g: 140, b: 90 } } }).png().toBuffer();
}

test('start-up swept the bucket: the orphan is gone, the store is claimed', async () => {
  assert.equal(await bucket.exists(orphan), false);
  assert.ok(await bucket.exists(STORE_OWNER_KEY));
});

test('a generated image lands in the bucket and downloads through its URL; private outputs stay private', async () => {
  const r = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'to the bucket', num_outputs: 1 } });
  assert.equal(r.status, 200, await r.clone().text());
  const { outputs } = (await r.json()) as { outputs: { url: string }[] };
  const key = keyOf(outputs[0]!.url);
  assert.match(key, /^outputs\/[0-9a-f-]{36}\.png$/);
  const inBucket = await bucket.get(key);
  assert.ok(inBucket, 'the object is in the bucket');
  assert.equal(inBucket.contentType, 'image/png');
  const res = await fetch(outputs[0]!.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(inBucket.bytes)), 'the same bytes');
  const unsigned = new URL(outputs[0]!.url);
  unsigned.search = '';
  assert.equal((await fetch(unsigned)).status, 404, 'not without its signature');
  const stranger = await makeUser(t, 'stranger', 1);
  assert.equal((await t.api(unsigned.pathname, { key: stranger.key })).status, 404, 'not for another account');
  assert.equal((await t.api(unsigned.pathname)).status, 200, "but for its owner's key");
  assert.equal(existsSync(join(t.dataDir, 'images')), false, 'nothing on the local disk');
});

test('an upload round-trips: stored in the bucket, then used for image-to-image', async () => {
  const form = new FormData();
  const bytes = await png(256, 256);
  form.set('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'in.png');
  const up = await t.api('/v1/image/upload', { method: 'POST', body: form });
  assert.equal(up.status, 200);
  const { object } = (await up.json()) as { object: string };
  const stored = await bucket.get(`uploads/${object.slice('s3://'.length)}`);
  assert.ok(stored && Buffer.from(stored.bytes).equals(bytes), 'the upload is in the bucket, byte for byte');
  const r = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'from my upload', init_image_url: object, num_outputs: 1 } });
  assert.equal(r.status, 200, await r.clone().text());
  const { outputs } = (await r.json()) as { outputs: { url: string }[] };
  assert.ok(await bucket.exists(keyOf(outputs[0]!.url)));
});

test('a refused edit writes nothing to the bucket', async () => {
  const before = await listed(bucket, '');
  const form = new FormData();
  form.set('prompt', 'x');
  form.set('image', new Blob([new Uint8Array(await png(64, 64))], { type: 'image/png' }), 'in.png');
  const r = await t.api('/v1/images/edits', { method: 'POST', body: form });
  assert.equal(r.status, 400);
  assert.deepEqual([...(await listed(bucket, '')).keys()].sort(), [...before.keys()].sort());
});
