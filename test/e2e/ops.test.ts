/**
 * Operating the API over HTTP against the real server: /healthz and /readyz with no key, /readyz asking the server's own database (200, then 503 naming it once it is closed),
 * /metrics counting a generation by its route pattern and status, and one JSON log line per
 * request whose requestId is the answer's X-Request-Id (an incoming sane one is kept).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../../src/api/app.ts';
import { databaseCheck } from '../../src/api/ops.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { sample } from '../observability/prom.ts';

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

type Line = Record<string, unknown>;
const requestLines = (from = 0): Line[] =>
  t.logs
    .slice(from)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)
    .filter((o) => o['msg'] === 'request');

test('/healthz and /readyz answer without a key, as often as asked', async () => {
  for (let i = 0; i < 5; i++) {
    const h = await fetch(`${t.url}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok' });
    const r = await fetch(`${t.url}/readyz`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { status: string }).status, 'ok');
  }
});

test('/metrics counts a generation over HTTP by its route pattern and status; raw paths never become labels', async () => {
  const before = await (await fetch(`${t.url}/metrics`)).text();
  const gen = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'a lighthouse at dusk', num_outputs: 1, width: 256, height: 256, inference_steps: 10, seed: 7 } });
  assert.equal(gen.status, 200, await gen.clone().text());
  const { outputs } = (await gen.json()) as { outputs: { url: string }[] };
  const image = await fetch(outputs[0]!.url);
  assert.equal(image.status, 200);
  await image.arrayBuffer();
  assert.equal((await fetch(`${t.url}/no/such/route/123`)).status, 404);

  const res = await fetch(`${t.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^# TYPE darkroom_http_requests_total counter$/m);
  assert.match(text, /^# TYPE darkroom_http_request_duration_seconds histogram$/m);
  const created = { method: 'POST', route: '/v1/image/generation/create', status: '200' };
  assert.equal(sample(text, 'darkroom_http_requests_total', created) - sample(before, 'darkroom_http_requests_total', created), 1);
  assert.equal(sample(text, 'darkroom_http_request_duration_seconds_count', created) - sample(before, 'darkroom_http_request_duration_seconds_count', created), 1);
  // The image's own key is in its path: the label is the route pattern.
  assert.equal(sample(text, 'darkroom_http_requests_total', { method: 'GET', route: '/images/*', status: '200' }) - sample(before, 'darkroom_http_requests_total', { method: 'GET', route: '/images/*', status: '200' }), 1);
  assert.ok(sample(text, 'darkroom_http_requests_total', { route: 'unmatched', status: '404' }) >= 1);
  const imagePath = new URL(outputs[0]!.url).pathname;
  assert.ok(!text.includes(imagePath) && !text.includes('/no/such/route'), 'no raw path in the labels');
  assert.ok(sample(text, 'darkroom_process_cpu_user_seconds_total') > 0, 'process metrics, prefixed');

  // The generation's own log line.
  const line = requestLines().find((l) => l['requestId'] === gen.headers.get('x-request-id'));
  assert.deepEqual([line?.['method'], line?.['route'], line?.['status']], ['POST', '/v1/image/generation/create', 200]);
});

test("the job side: images, job seconds, step seconds, credits and jobs by state in /metrics; the job's log lines carry the request id", async () => {
  const before = await (await fetch(`${t.url}/metrics`)).text();
  const gen = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'two of them', num_outputs: 2, width: 256, height: 256, inference_steps: 10 } });
  assert.equal(gen.status, 200, await gen.clone().text());
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const grew = (name: string, labels: Record<string, string> = {}) => sample(text, name, labels) - sample(before, name, labels);
  assert.equal(grew('darkroom_images_generated_total'), 2);
  assert.equal(grew('darkroom_job_duration_seconds_count', { kind: 'generate', status: 'succeeded' }), 1);
  assert.equal(grew('darkroom_denoising_step_duration_seconds_count'), 10);
  assert.equal(grew('darkroom_credits_debited_total'), 2);
  assert.ok(sample(text, 'darkroom_jobs', { kind: 'generate', state: 'succeeded' }) >= 1);
  const requestId = gen.headers.get('x-request-id');
  const jobLines = t.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line).filter((o) => o['requestId'] === requestId && typeof o['jobId'] === 'string');
  assert.deepEqual(jobLines.map((o) => o['msg']), ['job started', 'job ended']);
  assert.equal(jobLines[0]!['kind'], 'generate');
});

test('one JSON log line per request carrying the X-Request-Id of its answer; a sane incoming X-Request-Id is kept, others replaced', async () => {
  const from = t.logs.length;
  const r = await fetch(`${t.url}/v1/image/generation/defaults`);
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const id = r.headers.get('x-request-id');
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  const lines = requestLines(from);
  assert.equal(lines.length, 1, t.logs.slice(from).join('\n'));
  const line = lines[0]!;
  assert.equal(line['requestId'], id);
  assert.equal(line['level'], 'info');
  assert.equal(line['method'], 'GET');
  assert.equal(line['route'], '/v1/image/generation/defaults');
  assert.equal(line['path'], '/v1/image/generation/defaults');
  assert.equal(line['status'], 200);
  assert.equal(typeof line['ms'], 'number');
  assert.match(String(line['time']), /^\d{4}-\d\d-\d\dT/);

  const kept = await t.api('/v1/credits', { headers: { 'X-Request-Id': 'lb-7f3a.92_X-1' } });
  assert.equal(kept.status, 200);
  assert.equal(kept.headers.get('x-request-id'), 'lb-7f3a.92_X-1');
  assert.ok(requestLines(from).some((l) => l['requestId'] === 'lb-7f3a.92_X-1' && l['route'] === '/v1/credits'));

  for (const bad of ['has space', 'a'.repeat(129), 'semi;colon', 'quote"d']) {
    const res = await fetch(`${t.url}/healthz`, { headers: { 'X-Request-Id': bad } });
    const given = res.headers.get('x-request-id');
    assert.match(given ?? '', /^[0-9a-f-]{36}$/, bad);
  }
  assert.ok(!t.logs.slice(from).some((l) => l.includes('semi;colon') || l.includes('has space')));
});

// Last: it closes the server's database.
test("/readyz on the API app asks the server's database: 200 with it ok, 503 naming it once it is closed", async () => {
  // The server's own services and database, mounted with a readiness list as startServer passes it.
  const app = createApp(t.server.services, { publicUrl: '', version: 'test', log: () => undefined, readiness: [databaseCheck(t.server.db)] });
  const http = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  try {
    let r = await fetch(`${url}/readyz`);
    assert.equal(r.status, 200);
    let body = (await r.json()) as { status: string; checks: Record<string, { status: string }>; failed: string[] };
    assert.equal(body.checks['database']?.status, 'ok');
    assert.deepEqual(body.failed, []);

    await t.server.db.close();
    r = await fetch(`${url}/readyz`);
    assert.equal(r.status, 503);
    body = (await r.json()) as typeof body;
    assert.equal(body.status, 'unavailable');
    assert.deepEqual(body.failed, ['database']);
    assert.equal(body.checks['database']?.status, 'failed');
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'alive all the same');
  } finally {
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      (http as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  }
});
