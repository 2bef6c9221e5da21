/** The store contract on S3 (s3rver, a real S3-compatible server on loopback), and what only S3 has. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { S3Store } from '../../src/storage/s3.ts';
import { startS3, S3RVER_CREDENTIALS, type TestS3 } from '../helpers/s3.ts';
import { listed, storeContract } from './contract.ts';

storeContract('S3 (s3rver)', async () => {
  const s3 = await startS3();
  return { store: s3.store(), cleanup: () => s3.stop() };
});

storeContract('S3 (s3rver), two keys per list page', async () => {
  const s3 = await startS3();
  // Small pages, so every list above walks ListObjectsV2's continuation tokens.
  const store = new S3Store({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, listPageSize: 2 });
  return { store, cleanup: async () => (store.close(), await s3.stop()) };
});

describe('S3 only', () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startS3();
  });
  after(async () => {
    await s3?.stop();
  });

  test('the object is in the bucket, under its key, with its content type (read back with a plain S3 GET)', async () => {
    const store = s3.store();
    const bytes = randomBytes(321);
    await store.put('outputs/plain.png', bytes, 'image/png');
    const url = await store.presignedUrl('outputs/plain.png', 60);
    assert.match(url, new RegExp(`^${s3.endpoint}/${s3.bucket}/outputs/plain\\.png\\?`));
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  });

  // s3rver keeps no ACLs and leaves SigV4 signatures unchecked (its access key ids and the expiry
  // of presigned URLs it does check), so what an unsigned or tampered request gets is for AWS to
  // enforce, not testable here.
  test('a presigned URL works without credentials until it expires; it carries its signer\'s key id', async () => {
    const store = s3.store();
    await store.put('outputs/private.png', randomBytes(64), 'image/png');
    const short = await store.presignedUrl('outputs/private.png', 1);
    assert.equal((await fetch(short)).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await fetch(short)).status, 403, 'expired');
    const stranger = new S3Store({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'NOBODY', secretAccessKey: 'x' } });
    try {
      assert.equal((await fetch(await stranger.presignedUrl('outputs/private.png', 60))).status, 403, 'signed with a key the service does not know');
    } finally {
      stranger.close();
    }
    await assert.rejects(store.presignedUrl('outputs/private.png', 0));
    await assert.rejects(store.presignedUrl('outputs/private.png', 8 * 24 * 3600));
    await assert.rejects(store.presignedUrl('../x.png', 60), /invalid object key/);
  });

  test('publicUrl is <DARKROOM_S3_PUBLIC_URL>/<key> when set, else undefined', () => {
    assert.equal(s3.store({ publicUrl: 'https://cdn.example.com/img/' }).publicUrl('outputs/a.png'), 'https://cdn.example.com/img/outputs/a.png');
    assert.equal(s3.store().publicUrl('outputs/a.png'), undefined);
  });

  test('a missing bucket is an error (check, get, exists, list), not a missing object', async () => {
    const missing = new S3Store({ bucket: 'no-such-bucket', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    try {
      await assert.rejects(missing.check());
      await assert.rejects(missing.get('outputs/a.png'), /bucket/i);
      await assert.rejects(listed(missing, 'outputs/'), /bucket/i);
      await assert.rejects(missing.put('outputs/a.png', randomBytes(4), 'image/png'), /bucket/i);
    } finally {
      missing.close();
    }
  });

  test('an unreachable endpoint: check fails', async () => {
    const gone = new S3Store({ bucket: s3.bucket, endpoint: 'http://127.0.0.1:1', region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    try {
      await assert.rejects(gone.check());
    } finally {
      gone.close();
    }
  });
});
