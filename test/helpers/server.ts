/**
 * The real server for end-to-end tests: in this process, on an ephemeral port, SQLite in a temp
 * dir, the tiny random-weight test model (256 x 256 fits both its size range and Stablecog's).
 * Tests talk to it over HTTP with fetch.
 */
import { mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.ts';
import { startServer, type ServerHandle, type ServerOptions } from '../../src/server/server.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { debit } from '../../src/db/ledger.ts';

export interface TestServer {
  url: string;
  adminKey: string;
  server: ServerHandle;
  dataDir: string;
  /** What the server logged so far. */
  logs: string[];
  /** fetch against the server with a key. */
  api: (path: string, init?: RequestInit & { key?: string; json?: unknown }) => Promise<Response>;
  close: () => Promise<void>;
}

/**
 * DARKROOM_TEST_MODE=scaled runs the same suites against Darkroom scaled out (cluster.ts): two API
 * processes and two worker processes over Postgres, Redis and S3, requests spread over both APIs.
 * Suites that need a stand-in engine or the local data directory run embedded only.
 */
export const SCALED = process.env['DARKROOM_TEST_MODE'] === 'scaled';

export async function startTestServer(env: Record<string, string> = {}, options: Pick<ServerOptions, 'engine'> = {}): Promise<TestServer> {
  if (SCALED && !options.engine) return startScaledTestServer(env);
  const dataDir = mkdtempSync(join(tmpdir(), 'darkroom-e2e-'));
  const modelsDir = join(dataDir, 'models');
  mkdirSync(modelsDir, { recursive: true });
  symlinkSync(await testModelDir('tiny-sd1'), join(modelsDir, 'tiny-sd1'));
  const config = loadConfig({
    DARKROOM_DATA_DIR: dataDir,
    DARKROOM_PORT: '0',
    DARKROOM_HOST: '127.0.0.1',
    DARKROOM_DEFAULT_MODEL: 'tiny-sd1',
    DARKROOM_RATE_LIMIT: '0',
    DARKROOM_MAX_IN_FLIGHT: '8',
    ...env,
  });
  let adminKey = '';
  const logs: string[] = [];
  const server = await startServer(config, { ...options, log: (m) => logs.push(m), onAdminKey: (secret) => (adminKey = secret) });
  const api = (path: string, init: RequestInit & { key?: string; json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    const key = init.key === undefined ? adminKey : init.key;
    if (key) headers.set('Authorization', `Bearer ${key}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('Content-Type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return fetch(server.url + path, { ...init, headers, body });
  };
  return {
    url: server.url,
    adminKey,
    server,
    dataDir,
    logs,
    api,
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startScaledTestServer(env: Record<string, string>): Promise<TestServer> {
  const { startCluster } = await import('./cluster.ts');
  const cluster = await startCluster({ env });
  let turn = 0;
  const api: TestServer['api'] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    const key = init.key === undefined ? cluster.adminKey : init.key;
    if (key) headers.set('Authorization', `Bearer ${key}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('Content-Type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const base = cluster.apis[turn++ % cluster.apis.length]!.url;
    return fetch(base + path, { ...init, headers, body });
  };
  return {
    url: cluster.apis[0]!.url,
    adminKey: cluster.adminKey,
    server: cluster.admin,
    dataDir: '',
    logs: [],
    api,
    close: () => cluster.close(),
  };
}

/** A second account with `credits` credits and a key, made through the core (as the CLI does). */
export async function makeUser(t: TestServer, name: string, credits: number): Promise<{ key: string; userId: string }> {
  const { accounts, credits: ledger } = t.server.services;
  const user = await accounts.createUser(name);
  const start = await ledger.balance(user.id);
  if (credits > start) await ledger.grant(user.id, credits - start);
  if (credits < start) await t.server.db.transaction((tx) => debit(tx, user.id, start - credits, 'grant', { note: 'test setup' }));
  const { secret } = await accounts.createKey(user.id);
  return { key: secret, userId: user.id };
}
