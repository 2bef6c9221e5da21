/**
 * A real S3-compatible server for tests: s3rver (the npm package, offline) in a child process on
 * 127.0.0.1 at a free port, keeping its objects in a fresh temp dir, with one bucket made through
 * the S3 API. s3rver checks presigned (query) signatures against its fixed credentials
 * (S3RVER / S3RVER). Its list continuation tokens use DES, which OpenSSL 3 keeps in its legacy
 * provider: hence a process of its own, started with --openssl-legacy-provider.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Store } from '../../src/storage/s3.ts';

const S3RVER_MAIN = createRequire(import.meta.url).resolve('s3rver');
const CHILD = `
const S3rver = require(process.argv[1]);
new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2] })
  .run()
  .then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'), (e) => { console.error(e); process.exit(1); });
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)); // the test process went away
process.stdin.resume();
`;

function startChild(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD, S3RVER_MAIN, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) resolve({ child, port: (JSON.parse(line) as { port: number }).port });
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before listening: ${err}`)));
    child.once('error', reject);
  });
}

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
const REGION = 'us-east-1';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the objects. */
  dir: string;
  /** A store on the bucket, with s3rver's credentials. */
  store(options?: { publicUrl?: string }): S3Store;
  /** DARKROOM_S3_* settings for a server on this bucket (credentials: see `useCredentialsFromEnv`). */
  env: Record<string, string>;
  /** Puts s3rver's credentials where the AWS SDK's default chain finds them (process.env), as an operator would. */
  useCredentialsFromEnv(): void;
  stop(): Promise<void>;
}

export async function startS3(bucket = 'darkroom-test'): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-s3-'));
  const { child, port } = await startChild(dir);
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  try {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    child.kill();
    throw err;
  } finally {
    admin.destroy();
  }
  const stores: S3Store[] = [];
  return {
    endpoint,
    bucket,
    dir,
    store: (options = {}) => {
      const s = new S3Store({ bucket, endpoint, region: REGION, forcePathStyle: true, credentials: S3RVER_CREDENTIALS, ...options });
      stores.push(s);
      return s;
    },
    env: { DARKROOM_S3_BUCKET: bucket, DARKROOM_S3_ENDPOINT: endpoint, DARKROOM_S3_REGION: REGION, DARKROOM_S3_FORCE_PATH_STYLE: 'true' },
    useCredentialsFromEnv: () => {
      process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
      process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
    },
    stop: async () => {
      for (const s of stores) s.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
