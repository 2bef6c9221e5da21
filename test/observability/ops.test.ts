/**
 * The health port a worker serves (startHealthServer), over HTTP: /healthz, /readyz asking a real
 * database (200, then 503 naming it once the database is closed), checks that fail or outlast their
 * timeout, /metrics, and its request log lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { databaseCheck, redisCheck, runChecks, storeCheck, startHealthServer, type HealthServer, type ReadinessCheck } from '../../src/api/ops.ts';
import { loggerWritingTo } from '../../src/observability/logger.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { sample } from './prom.ts';

let dir: string;
let db: Database;
let health: HealthServer;
const lines: string[] = [];
const metrics = new Metrics({ defaultMetrics: false });
let modelLoaded = false;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'darkroom-ops-'));
  db = await openDatabase(`sqlite:${join(dir, 'darkroom.db')}`);
  const model: ReadinessCheck = {
    name: 'model',
    check: () => {
      if (!modelLoaded) throw new Error('model tiny-sd1 is still loading');
    },
  };
  health = await startHealthServer({ port: 0, host: '127.0.0.1', checks: [databaseCheck(db), model], metrics, logger: loggerWritingTo((l) => lines.push(l), 'debug') });
});
after(async () => {
  await health.close();
  await db.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

type ReadyBody = { status: string; checks: Record<string, { status: string; ms: number }>; failed: string[] };

test('/healthz answers 200 while the process lives', async () => {
  const r = await fetch(`${health.url}/healthz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok' });
  assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

test('/readyz: 503 naming the check that fails, 200 once every check passes, 503 naming the database once it is closed', async () => {
  let r = await fetch(`${health.url}/readyz`);
  assert.equal(r.status, 503);
  let body = (await r.json()) as ReadyBody;
  assert.equal(body.status, 'unavailable');
  assert.deepEqual(body.failed, ['model']);
  assert.equal(body.checks['database']!.status, 'ok');
  assert.equal(body.checks['model']!.status, 'failed');
  assert.ok(!JSON.stringify(body).includes('still loading'), 'why goes to the log, not to the public answer');
  const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o['msg'] === 'readiness check failed');
  assert.equal(warn?.['check'], 'model');
  assert.equal(warn?.['err'], 'model tiny-sd1 is still loading');
  assert.equal(warn?.['level'], 'warn');

  modelLoaded = true;
  r = await fetch(`${health.url}/readyz`);
  assert.equal(r.status, 200);
  body = (await r.json()) as ReadyBody;
  assert.deepEqual(body.failed, []);
  assert.deepEqual(Object.keys(body.checks).sort(), ['database', 'model']);
  assert.equal(body.checks['database']!.status, 'ok');
  assert.equal(typeof body.checks['database']!.ms, 'number');

  await db.close();
  r = await fetch(`${health.url}/readyz`);
  assert.equal(r.status, 503);
  body = (await r.json()) as ReadyBody;
  assert.deepEqual(body.failed, ['database']);
  assert.equal(body.checks['model']!.status, 'ok');
  // Still alive: liveness asks nothing of the database.
  assert.equal((await fetch(`${health.url}/healthz`)).status, 200);
});

test('a check that outlasts its timeout fails as "timeout", in about its timeout, and is told to stop', async () => {
  let aborted = false;
  const started = Date.now();
  const r = await runChecks([
    { name: 'redis', timeoutMs: 50, check: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve(undefined)))) },
    { name: 'store', check: async () => undefined },
  ]);
  assert.ok(Date.now() - started < 1000);
  assert.equal(r.ready, false);
  assert.deepEqual(r.failed, ['redis']);
  assert.equal(r.checks['redis']!.status, 'timeout');
  assert.equal(r.checks['store']!.status, 'ok');
  assert.ok(aborted);
  assert.deepEqual(await runChecks([]), { ready: true, checks: {}, failed: [] });
});

test('store and redis checks pass when their dependency answers and fail when it throws', async () => {
  const okStore = storeCheck({ check: async () => undefined });
  const downStore = storeCheck({ check: async () => { throw new Error('NoSuchBucket'); } });
  const redis = redisCheck({ ping: async () => 'PONG' });
  assert.deepEqual((await runChecks([okStore, redis])).failed, []);
  const r = await runChecks([downStore, redis]);
  assert.deepEqual(r.failed, ['store']);
  assert.deepEqual(Object.keys(r.checks).sort(), ['redis', 'store']);
});

test('/metrics serves the registry it was given, in the Prometheus format, counting its own requests by route', async () => {
  metrics.images(3);
  await fetch(`${health.url}/healthz`);
  await fetch(`${health.url}/no/such/path`);
  const r = await fetch(`${health.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  assert.equal(sample(text, 'darkroom_images_generated_total'), 3);
  assert.ok(sample(text, 'darkroom_http_requests_total', { method: 'GET', route: '/healthz', status: '200' }) >= 2);
  assert.equal(sample(text, 'darkroom_http_requests_total', { route: 'unmatched', status: '404' }), 1);
  assert.ok(!text.includes('/no/such/path'), 'raw paths never become labels');
});

test('each request is one JSON log line; probes at debug, others at info', async () => {
  const before = lines.length;
  const r = await fetch(`${health.url}/healthz`, { headers: { 'X-Request-Id': 'probe-1' } });
  assert.equal(r.headers.get('x-request-id'), 'probe-1');
  await fetch(`${health.url}/nothing-here`);
  const mine = lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o['msg'] === 'request');
  assert.equal(mine.length, 2);
  assert.deepEqual([mine[0]!['requestId'], mine[0]!['route'], mine[0]!['status'], mine[0]!['level']], ['probe-1', '/healthz', 200, 'debug']);
  assert.deepEqual([mine[1]!['route'], mine[1]!['path'], mine[1]!['status'], mine[1]!['level']], ['unmatched', '/nothing-here', 404, 'info']);
});
