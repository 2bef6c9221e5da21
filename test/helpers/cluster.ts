/**
 * Darkroom scaled out, for tests: a real Postgres, Redis and S3 server (s3rver) started here, then
 * real `darkroom worker` and `darkroom serve --no-worker` processes on loopback, sharing them. The
 * test process keeps an admin handle of its own on the same database (as the CLI would: no port)
 * for setting up users and reading the ledger.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/config.ts';
import { startServer, type ServerHandle } from '../../src/server/server.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { startPostgres, type TempPostgres } from './databases.ts';
import { RedisServer } from './redis.ts';
import { startS3, type TestS3 } from './s3.ts';

const BIN = fileURLToPath(new URL('../../bin/darkroom.mjs', import.meta.url));

export interface Proc {
  role: 'worker' | 'api';
  child: ChildProcess;
  /** The API's URL, or the worker's health URL. */
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

export interface Cluster {
  /** What every process was started with. */
  env: Record<string, string>;
  admin: ServerHandle;
  adminKey: string;
  apis: Proc[];
  workers: Proc[];
  redis: RedisServer;
  pg: TempPostgres;
  s3: TestS3;
  startWorker(extra?: Record<string, string>): Promise<Proc>;
  startApi(extra?: Record<string, string>): Promise<Proc>;
  close(): Promise<void>;
}

function spawnRole(role: 'worker' | 'api', env: Record<string, string>): Promise<Proc> {
  const args = role === 'worker' ? [BIN, 'worker'] : [BIN, 'serve', '--no-worker'];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = role === 'worker' ? /health: (http:\/\/\S+)\/readyz/ : /listening on (http:\/\/\S+)/;
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      output = (output + d).slice(-20_000);
      const m = ready.exec(output);
      if (m) resolve({ role, child, url: m[1]!, output: () => output, exited });
    });
    void exited.then((code) => reject(new Error(`darkroom ${role} exited with ${code}:\n${output}`)));
  });
}

export async function startCluster(options: { workers?: number; apis?: number; env?: Record<string, string> } = {}): Promise<Cluster> {
  const pg = startPostgres();
  if ('skip' in pg) throw new Error(`scaled mode needs Postgres: ${pg.skip}`);
  const redis = await RedisServer.start();
  const s3 = await startS3();
  s3.useCredentialsFromEnv(); // the AWS SDK's default chain, in this process and the children it starts
  const root = mkdtempSync(join(tmpdir(), 'darkroom-cluster-'));
  const modelsDir = join(root, 'models');
  mkdirSync(modelsDir);
  symlinkSync(await testModelDir('tiny-sd1'), join(modelsDir, 'tiny-sd1'));
  const env: Record<string, string> = {
    DARKROOM_DATABASE_URL: pg.url,
    DARKROOM_REDIS_URL: redis.url,
    ...s3.env,
    DARKROOM_MODELS_DIR: modelsDir,
    DARKROOM_DEFAULT_MODEL: 'tiny-sd1',
    DARKROOM_HOST: '127.0.0.1',
    DARKROOM_PORT: '0',
    DARKROOM_HEALTH_PORT: '0',
    DARKROOM_RATE_LIMIT: '0',
    DARKROOM_MAX_IN_FLIGHT: '8',
    DARKROOM_JOB_LEASE: '3',
    DARKROOM_LOG_LEVEL: 'warn',
    ...options.env,
  };
  let n = 0;
  const dataDir = () => {
    const d = join(root, `p${n++}`);
    mkdirSync(d);
    return d;
  };
  let adminKey = '';
  // The admin handle makes the first account (its key printed once, as on a first start) before any API process starts.
  const admin = await startServer(loadConfig({ ...env, DARKROOM_DATA_DIR: dataDir() }), {
    worker: false,
    listen: false,
    log: () => undefined,
    onAdminKey: (secret) => (adminKey = secret),
  });
  const procs: Proc[] = [];
  const cluster: Cluster = {
    env,
    admin,
    adminKey,
    apis: [],
    workers: [],
    redis,
    pg,
    s3,
    startWorker: async (extra = {}) => {
      const p = await spawnRole('worker', { ...env, DARKROOM_DATA_DIR: dataDir(), ...extra });
      procs.push(p);
      cluster.workers.push(p);
      return p;
    },
    startApi: async (extra = {}) => {
      const p = await spawnRole('api', { ...env, DARKROOM_DATA_DIR: dataDir(), ...extra });
      procs.push(p);
      cluster.apis.push(p);
      return p;
    },
    close: async () => {
      await Promise.all(
        procs.map(async (p) => {
          if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
          await p.exited;
        }),
      );
      await admin.close();
      await s3.stop();
      await redis.stop();
      pg.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    // Workers first: they announce the models that the API processes list.
    await Promise.all(Array.from({ length: options.workers ?? 2 }, () => cluster.startWorker()));
    await Promise.all(Array.from({ length: options.apis ?? 2 }, () => cluster.startApi()));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}
