/** Which store the configuration opens, and the S3 settings' checks at start-up. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { FilesystemStore } from '../../src/storage/filesystem.ts';
import { openStore } from '../../src/storage/open-store.ts';
import { S3Store } from '../../src/storage/s3.ts';
import { startS3 } from '../helpers/s3.ts';

function problemsOf(env: Record<string, string>, flags: Record<string, string> = {}): string[] {
  try {
    loadConfig({ DARKROOM_DATA_DIR: '/tmp/x', ...env }, flags);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
}

test('no S3 settings: images on the local disk under <dataDir>/images', async () => {
  const config = loadConfig({ DARKROOM_DATA_DIR: '/tmp/darkroom-x' });
  assert.equal(config.s3Bucket, '');
  const store = await openStore(config);
  assert.ok(store instanceof FilesystemStore);
  assert.equal(store.root, '/tmp/darkroom-x/images');
  const other = await openStore(config, '/srv/elsewhere');
  assert.ok(other instanceof FilesystemStore && other.root === '/srv/elsewhere/images');
});

test('S3 settings without a bucket stop start-up, naming DARKROOM_S3_BUCKET and what was set', () => {
  const endpointOnly = problemsOf({ DARKROOM_S3_ENDPOINT: 'http://127.0.0.1:9000' });
  assert.equal(endpointOnly.length, 1);
  assert.match(endpointOnly[0]!, /^DARKROOM_S3_BUCKET: must be set when DARKROOM_S3_ENDPOINT is/);
  const several = problemsOf({ DARKROOM_S3_REGION: 'eu-west-1', DARKROOM_S3_FORCE_PATH_STYLE: 'true', DARKROOM_S3_PUBLIC_URL: 'https://cdn.example.com' });
  assert.equal(several.length, 1);
  assert.match(several[0]!, /DARKROOM_S3_BUCKET: must be set when DARKROOM_S3_REGION, DARKROOM_S3_FORCE_PATH_STYLE, DARKROOM_S3_PUBLIC_URL are/);
  assert.match(problemsOf({}, { DARKROOM_S3_REGION: 'eu-west-1' })[0]!, /DARKROOM_S3_BUCKET: must be set when DARKROOM_S3_REGION/, 'also when given as a flag');
  // Listed with the other bad values, in one message.
  const mixed = problemsOf({ DARKROOM_S3_ENDPOINT: 'http://127.0.0.1:9000', DARKROOM_PORT: 'x' });
  assert.equal(mixed.length, 2);
  assert.deepEqual(problemsOf({ DARKROOM_S3_REGION: '' }), [], 'an empty setting is no setting');
});

test('bad S3 values are named', () => {
  assert.match(problemsOf({ DARKROOM_S3_BUCKET: 'Not_A_Bucket' }).join('\n'), /DARKROOM_S3_BUCKET="Not_A_Bucket": must be an S3 bucket name/);
  assert.match(problemsOf({ DARKROOM_S3_BUCKET: 'ok-bucket', DARKROOM_S3_ENDPOINT: 'ftp://x' }).join('\n'), /DARKROOM_S3_ENDPOINT="ftp:\/\/x": must be an http\(s\) URL/);
  assert.match(problemsOf({ DARKROOM_S3_BUCKET: 'ok-bucket', DARKROOM_S3_FORCE_PATH_STYLE: 'maybe' }).join('\n'), /DARKROOM_S3_FORCE_PATH_STYLE="maybe": must be true or false/);
  // A bad bucket is one problem, not also "must be set".
  assert.equal(problemsOf({ DARKROOM_S3_BUCKET: 'B', DARKROOM_S3_ENDPOINT: 'http://127.0.0.1:9000' }).length, 1);
});

test('a bucket: an S3Store on it, with the endpoint, path style and public URL; it reaches the bucket', async () => {
  const s3 = await startS3('configured-bucket');
  s3.useCredentialsFromEnv(); // the SDK's default chain, as an operator would set it
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-open-'));
  try {
    const config = loadConfig({ DARKROOM_DATA_DIR: dir, ...s3.env, DARKROOM_S3_PUBLIC_URL: 'https://cdn.example.com/' });
    assert.equal(config.s3Bucket, 'configured-bucket');
    assert.equal(config.s3ForcePathStyle, true);
    const store = await openStore(config);
    assert.ok(store instanceof S3Store);
    try {
      assert.equal(store.bucket, 'configured-bucket');
      assert.equal(store.publicUrl('outputs/a.png'), 'https://cdn.example.com/outputs/a.png');
      await store.check();
      await store.put('outputs/a.png', new Uint8Array([1, 2, 3]), 'image/png');
      assert.deepEqual([...((await store.get('outputs/a.png'))?.bytes ?? [])], [1, 2, 3]);
      assert.match(await store.presignedUrl('outputs/a.png', 60), new RegExp(`^${s3.endpoint}/configured-bucket/outputs/a\\.png\\?.*X-Amz-Expires=60`));
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await s3.stop();
  }
});
