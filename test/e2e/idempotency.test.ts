/**
 * Idempotency-Key on every dialect's create routes, over HTTP against the real server (tiny test
 * model, smallest sizes and steps): the same key and request again answers the first answer again
 * (Idempotent-Replayed: true) and charges once, also when both are sent at once; the same key with
 * another request is a 422 in the dialect's envelope and charges nothing; another account's same
 * key is its own; a bad key is a 400 naming the header; without the header nothing changes. Then:
 * refused requests do not keep the key, and a request still waiting for the first's answer after
 * the generation timeout gets 409.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../../src/config/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { ImageEngine } from '../../src/worker/worker.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';
import { balance, startDialectServer } from '../helpers/dialects.ts';
import { startPostgres } from '../helpers/databases.ts';
import { requestFingerprint } from '../../src/core/idempotency.ts';
import { isoAt, reserveIdempotencyKey } from '../../src/db/idempotency.ts';

let t: TestServer;
before(async () => (t = await startDialectServer()));
after(() => t.close());

async function png(width: number, height: number, hole = false): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4, 255);
  for (let i = 0; i < width * height; i++) {
    data[i * 4] = (i * 7) % 256;
    data[i * 4 + 1] = (i * 3) % 256;
    if (hole && i % width < width / 2) data[i * 4 + 3] = 0; // the left half transparent: the area to repaint
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** A multipart form, built afresh for every request (so each one has its own boundary, as a retrying client's would). */
function form(fields: Record<string, string>, files: Record<string, Buffer> = {}): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  for (const [k, v] of Object.entries(files)) f.append(k, new Blob([new Uint8Array(v)], { type: 'image/png' }), `${k}.png`);
  return f;
}

interface User {
  key: string;
  /** Per-user inputs (an uploaded image for upscales). */
  input: string;
}

interface CreateRoute {
  name: string;
  cost: number;
  /** Sends the route's request; variant 1 is a different request (another prompt or input). */
  send: (user: User, headers: Record<string, string>, variant?: 0 | 1) => Promise<Response>;
  prepare?: (key: string) => Promise<string>;
  /** Asserts the dialect's envelope for "this key was used with another request" (422). */
  reused: (res: Response) => Promise<void>;
  /** Asserts the dialect's envelope for a bad key (400 naming the header). */
  badKey: (res: Response) => Promise<void>;
}

const post = (path: string, user: User, headers: Record<string, string>, init: { json?: unknown; body?: FormData; raw?: boolean }) => {
  const h: Record<string, string> = { ...headers };
  if (init.raw) h['Authorization'] = user.key;
  return t.api(path, { method: 'POST', key: init.raw ? '' : user.key, headers: h, ...(init.json !== undefined ? { json: init.json } : { body: init.body }) });
};

const json = async <T>(res: Response) => (await res.json()) as T;

const stablecog = {
  reused: async (res: Response) => {
    assert.equal(res.status, 422);
    const body = await json<{ error: string; field: string; description: string }>(res);
    assert.equal(body.error, 'idempotency_key_reused');
    assert.equal(body.field, 'Idempotency-Key');
    assert.match(body.description, /different request/);
  },
  badKey: async (res: Response) => {
    assert.equal(res.status, 400);
    const body = await json<{ error: string; field: string }>(res);
    assert.equal(body.field, 'Idempotency-Key');
    assert.match(body.error, /Idempotency-Key: must be 1 to 255 printable ASCII characters/);
  },
};
const openai = {
  reused: async (res: Response) => {
    assert.equal(res.status, 422);
    const body = await json<{ error: { message: string; type: string; param: null; code: string } }>(res);
    assert.equal(body.error.code, 'idempotency_key_reused');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /Idempotency-Key/);
  },
  badKey: async (res: Response) => {
    assert.equal(res.status, 400);
    const body = await json<{ error: { param: string; code: string } }>(res);
    assert.equal(body.error.param, 'Idempotency-Key');
    assert.equal(body.error.code, 'invalid_value');
  },
};

const ROUTES: CreateRoute[] = [
  {
    name: 'Stablecog POST /v1/image/generation/create',
    cost: 1,
    send: (u, h, v = 0) =>
      post('/v1/image/generation/create', u, h, { json: { prompt: v ? 'a blue boat' : 'a red boat', width: 256, height: 256, inference_steps: 10, num_outputs: 1 } }),
    ...stablecog,
  },
  {
    name: 'Stablecog POST /v1/image/generate (alias)',
    cost: 1,
    send: (u, h, v = 0) => post('/v1/image/generate', u, h, { json: { prompt: v ? 'a blue cup' : 'a red cup', width: 256, height: 256, inference_steps: 10, num_outputs: 1 } }),
    ...stablecog,
  },
  {
    name: 'Stablecog POST /v1/image/upscale/create',
    cost: 1,
    prepare: async (key) => {
      const up = await t.api('/v1/image/upload', { method: 'POST', key, body: form({}, { file: await png(48, 32) }) });
      assert.equal(up.status, 200, await up.clone().text());
      return (await json<{ object: string }>(up)).object;
    },
    send: (u, h, v = 0) => post('/v1/image/upscale/create', u, h, { json: { input: v ? `${u.input}?another` : u.input } }),
    ...stablecog,
  },
  {
    name: 'Stablecog POST /v1/image/upscale (alias)',
    cost: 1,
    prepare: async (key) => {
      const up = await t.api('/v1/image/upload', { method: 'POST', key, body: form({}, { file: await png(40, 40) }) });
      return (await json<{ object: string }>(up)).object;
    },
    send: (u, h, v = 0) => post('/v1/image/upscale', u, h, { json: { input: v ? `${u.input}?another` : u.input } }),
    ...stablecog,
  },
  {
    name: 'Stability (seed 002) POST /api/generate/core',
    cost: 6,
    send: (u, h, v = 0) =>
      post('/api/generate/core', u, { Accept: 'application/json', ...h }, { raw: true, json: { prompt: v ? 'a green hill' : 'a brown hill', width: 320, height: 320 } }),
    reused: async (res) => {
      assert.equal(res.status, 422);
      const body = await json<{ code: number; message: string }>(res);
      assert.equal(body.code, -1);
      assert.match(body.message, /Idempotency-Key .* different request/);
    },
    badKey: async (res) => {
      assert.equal(res.status, 400);
      const body = await json<{ code: number; message: string }>(res);
      assert.equal(body.code, -1);
      assert.match(body.message, /^Idempotency-Key: /);
    },
  },
  {
    name: 'Stability POST /v2beta/stable-image/generate/core',
    cost: 3,
    send: (u, h, v = 0) => post('/v2beta/stable-image/generate/core', u, { Accept: 'image/*', ...h }, { body: form({ prompt: v ? 'a grey owl' : 'a white owl', output_format: 'png' }) }),
    reused: async (res) => {
      assert.equal(res.status, 422);
      const body = await json<{ id: string; name: string; errors: string[] }>(res);
      assert.match(body.id, /^[0-9a-f]{32}$/);
      assert.equal(body.name, 'invalid_request');
      assert.match(body.errors[0]!, /Idempotency-Key .* different request/);
    },
    badKey: async (res) => {
      assert.equal(res.status, 400);
      const body = await json<{ name: string; errors: string[] }>(res);
      assert.equal(body.name, 'bad_request');
      assert.match(body.errors[0]!, /^Idempotency-Key: /);
    },
  },
  {
    name: 'Leonardo POST /api/rest/v1/generations',
    cost: 1,
    send: (u, h, v = 0) =>
      post('/api/rest/v1/generations', u, h, { json: { prompt: v ? 'a tall tower' : 'a short tower', width: 64, height: 64, num_images: 1, num_inference_steps: 10 } }),
    reused: async (res) => {
      assert.equal(res.status, 422);
      const body = await json<{ error: string; path: string; code: string }>(res);
      assert.deepEqual([body.path, body.code], ['$', 'idempotency-key-reused']);
      assert.match(body.error, /Idempotency-Key/);
    },
    badKey: async (res) => {
      assert.equal(res.status, 400);
      const body = await json<{ error: string; path: string; code: string }>(res);
      assert.equal(body.path, '$');
      assert.match(body.error, /^Idempotency-Key: /);
    },
  },
  {
    name: 'OpenAI POST /v1/images/generations',
    cost: 1,
    send: (u, h, v = 0) => post('/v1/images/generations', u, h, { json: { prompt: v ? 'a sleeping cat' : 'a running cat', size: '64x64', n: 1 } }),
    ...openai,
  },
  {
    name: 'OpenAI POST /v1/images/edits',
    cost: 1,
    send: async (u, h, v = 0) => post('/v1/images/edits', u, h, { body: form({ prompt: v ? 'a moon' : 'a sun', size: '64x64' }, { image: await png(64, 64, true) }) }),
    ...openai,
  },
  {
    name: 'OpenAI POST /v1/images/variations',
    cost: 1,
    send: async (u, h, v = 0) => post('/v1/images/variations', u, h, { body: form({ size: '64x64', n: v ? '2' : '1' }, { image: await png(64, 64) }) }),
    ...openai,
  },
];

let users = 0;
async function user(route: CreateRoute, credits = 20): Promise<User> {
  const u = await makeUser(t, `idem-${++users}`, credits);
  return { key: u.key, input: route.prepare ? await route.prepare(u.key) : '' };
}

/** Status, the answer's own headers and the body bytes: what a replay must repeat. */
async function snapshot(res: Response) {
  const headers = ['content-type', 'finish-reason', 'seed', 'x-darkroom-ignored'].map((h) => [h, res.headers.get(h)]);
  return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()).toString('base64') };
}

for (const route of ROUTES) {
  describe(route.name, () => {
    test('same key, same request: the first answer again (Idempotent-Replayed: true), charged once', async () => {
      const u = await user(route);
      const start = await balance(t, u.key);
      const first = await route.send(u, { 'Idempotency-Key': 'order-1' });
      assert.equal(first.status, 200, await first.clone().text());
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const second = await route.send(u, { 'Idempotency-Key': 'order-1' });
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      assert.notEqual(second.headers.get('x-request-id'), first.headers.get('x-request-id'), 'the replay has its own request id');
      assert.deepEqual(await snapshot(second), await snapshot(first));
      assert.equal(await balance(t, u.key), start - route.cost);
    });

    test('same key sent twice at once: charged once, both get the same answer, one of them replayed', async () => {
      const u = await user(route);
      const start = await balance(t, u.key);
      const [a, b] = await Promise.all([route.send(u, { 'Idempotency-Key': 'together' }), route.send(u, { 'Idempotency-Key': 'together' })]);
      assert.equal(a.status, 200, await a.clone().text());
      assert.deepEqual([a.headers.get('idempotent-replayed'), b.headers.get('idempotent-replayed')].sort(), ['true', null].sort());
      assert.deepEqual(await snapshot(b), await snapshot(a));
      assert.equal(await balance(t, u.key), start - route.cost);
    });

    test('same key, another request: 422 in the dialect envelope, nothing charged; the first answer stays', async () => {
      const u = await user(route);
      const first = await route.send(u, { 'Idempotency-Key': 'k-2' });
      assert.equal(first.status, 200, await first.clone().text());
      const after = await balance(t, u.key);
      await route.reused(await route.send(u, { 'Idempotency-Key': 'k-2' }, 1));
      assert.equal(await balance(t, u.key), after);
      const again = await route.send(u, { 'Idempotency-Key': 'k-2' });
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(await snapshot(again), await snapshot(first));
    });

    test("another account's same key is its own", async () => {
      const u = await user(route);
      const v = await user(route);
      assert.equal((await route.send(u, { 'Idempotency-Key': 'shared-name' })).status, 200);
      const startV = await balance(t, v.key);
      const theirs = await route.send(v, { 'Idempotency-Key': 'shared-name' });
      assert.equal(theirs.status, 200, await theirs.clone().text());
      assert.equal(theirs.headers.get('idempotent-replayed'), null);
      assert.equal(await balance(t, v.key), startV - route.cost);
    });

    test('a bad key (256 characters; a control character) is a 400 naming the header, nothing charged', async () => {
      const u = await user(route);
      const start = await balance(t, u.key);
      await route.badKey(await route.send(u, { 'Idempotency-Key': 'k'.repeat(256) }));
      await route.badKey(await route.send(u, { 'Idempotency-Key': 'tab\there' }));
      assert.equal(await balance(t, u.key), start);
      // 255 characters is fine.
      assert.equal((await route.send(u, { 'Idempotency-Key': 'k'.repeat(255) })).status, 200);
    });

    test('no key: every request runs and is charged, as before', async () => {
      const u = await user(route);
      const start = await balance(t, u.key);
      const a = await route.send(u, {});
      const b = await route.send(u, {});
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.equal(a.headers.get('idempotent-replayed'), null);
      assert.equal(b.headers.get('idempotent-replayed'), null);
      assert.equal(await balance(t, u.key), start - 2 * route.cost);
    });
  });
}

test('a refused request (too few credits) does not keep its key: the same request runs once the credits are there', async () => {
  const u = await makeUser(t, 'idem-poor', 0);
  const send = () => t.api('/v1/images/generations', { method: 'POST', key: u.key, headers: { 'Idempotency-Key': 'retry-me' }, json: { prompt: 'x', size: '64x64' } });
  const refused = await send();
  assert.equal(refused.status, 429);
  assert.equal((await json<{ error: { code: string } }>(refused)).error.code, 'insufficient_quota');
  await t.server.services.credits.grant(u.userId, 1);
  const ran = await send();
  assert.equal(ran.status, 200, await ran.clone().text());
  assert.equal(ran.headers.get('idempotent-replayed'), null);
  assert.equal(await balance(t, u.key), 0);
  assert.equal((await send()).headers.get('idempotent-replayed'), 'true');
});

test('the key and a quoted key (the IETF draft sends a structured-field string) are one key', async () => {
  const u = await makeUser(t, 'idem-quoted', 5);
  const body = { prompt: 'quoted', width: 64, height: 64, num_images: 1, num_inference_steps: 10 };
  const a = await t.api('/api/rest/v1/generations', { method: 'POST', key: u.key, headers: { 'Idempotency-Key': 'abc-1' }, json: body });
  const b = await t.api('/api/rest/v1/generations', { method: 'POST', key: u.key, headers: { 'Idempotency-Key': '"abc-1"' }, json: body });
  assert.equal(b.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(await b.json(), await a.json());
  assert.equal(await balance(t, u.key), 4);
});

test('keys expire after DARKROOM_IDEMPOTENCY_TTL: the same key then runs afresh; the setting takes units', async () => {
  assert.equal(loadConfig({}).idempotencyTtl, 86400);
  assert.equal(loadConfig({ DARKROOM_IDEMPOTENCY_TTL: '90m' }).idempotencyTtl, 5400);
  assert.throws(() => loadConfig({ DARKROOM_IDEMPOTENCY_TTL: 'soon' }), /DARKROOM_IDEMPOTENCY_TTL="soon": must be a duration/);
  const brief = await startTestServer({ DARKROOM_IDEMPOTENCY_TTL: '3s' });
  try {
    const u = await makeUser(brief, 'idem-brief', 5);
    const send = () => brief.api('/v1/image/generation/create', { method: 'POST', key: u.key, headers: { 'Idempotency-Key': 'short-lived' }, json: { prompt: 'x', num_outputs: 1, inference_steps: 10 } });
    const firstUse = Date.now();
    assert.equal((await send()).status, 200);
    assert.equal((await send()).headers.get('idempotent-replayed'), 'true');
    await new Promise((r) => setTimeout(r, firstUse + 3100 - Date.now()));
    const later = await send();
    assert.equal(later.status, 200);
    assert.equal(later.headers.get('idempotent-replayed'), null);
    assert.equal(await balance(brief, u.key), 3);
  } finally {
    await brief.close();
  }
});

describe('two servers on one Postgres (as several API processes are)', () => {
  const pg = startPostgres();
  if ('skip' in pg) {
    test('the same key sent to both at once', { skip: pg.skip }, () => {});
    return;
  }
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    a = await startTestServer({ DARKROOM_DATABASE_URL: pg.url });
    b = await startTestServer({ DARKROOM_DATABASE_URL: pg.url });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    pg.stop();
  });

  test('the same key sent to both at once: one runs, the other waits for its answer; charged once', async () => {
    const u = await makeUser(a, 'idem-two-servers', 10);
    const send = (server: TestServer, key: string) =>
      fetch(`${server.url}/v1/image/generation/create`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${u.key}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ prompt: 'one of two', num_outputs: 1, inference_steps: 10 }),
      });
    for (const key of ['both-1', 'both-2', 'both-3']) {
      const [x, y] = await Promise.all([send(a, key), send(b, key)]);
      assert.equal(x.status, 200, await x.clone().text());
      assert.deepEqual([x.headers.get('idempotent-replayed'), y.headers.get('idempotent-replayed')].sort(), ['true', null].sort());
      assert.deepEqual(await y.json(), await x.json());
    }
    assert.equal(await balance(a, u.key), 7);
  });
});

describe('a request still running in another API process; one whose process died; one that failed', () => {
  let slow: TestServer;
  let engine: Engine;
  let failing = true;
  before(async () => {
    engine = new Engine({ modelDirs: [dirname(await testModelDir('tiny-sd1'))], provider: 'cpu' });
    // The real engine, but a prompt starting with "fail" fails until the test says otherwise.
    const flaky: ImageEngine & { dispose: () => Promise<void> } = {
      generate: async (model, input, options) => {
        if (input.prompt.startsWith('fail') && failing) throw new Error('the GPU caught fire (test engine)');
        return engine.generate(model, input, options);
      },
      dispose: () => engine.dispose(),
    };
    slow = await startTestServer({ DARKROOM_GENERATION_TIMEOUT: '4' }, { engine: flaky });
  });
  after(() => slow.close());

  /** The key's row as another API process writes it when it starts the same request (its claim fresh, or last renewed `ageMs` ago). */
  async function claimedElsewhere(userId: string, key: string, request: Request, ageMs = 0): Promise<void> {
    const url = new URL(request.url);
    const fingerprint = requestFingerprint({
      method: request.method,
      path: url.pathname + url.search,
      accept: request.headers.get('accept') ?? '',
      contentType: request.headers.get('content-type') ?? '',
      body: new Uint8Array(await request.clone().arrayBuffer()),
    });
    const at = Date.now() - ageMs;
    const reserved = await reserveIdempotencyKey(slow.server.db.kysely, { user_id: userId, key, fingerprint, owner: 'another-process', now: isoAt(at), expires_at: isoAt(at + 86_400_000) });
    assert.ok(reserved);
  }

  test('still running elsewhere: each dialect waits for its answer up to the generation timeout, then 409 in its envelope; nothing charged', async () => {
    const u = await makeUser(slow, 'idem-waiting', 10);
    const auth = { Authorization: `Bearer ${u.key}`, Accept: 'application/json' };
    const jsonRequest = (path: string, body: unknown, headers: Record<string, string> = auth) =>
      new Request(`${slow.url}${path}`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json', 'Idempotency-Key': path }, body: JSON.stringify(body) });
    const requests = [
      jsonRequest('/v1/image/generation/create', { prompt: 'elsewhere' }),
      jsonRequest('/api/generate/core', { prompt: 'elsewhere' }, { Authorization: u.key, Accept: 'application/json' }),
      jsonRequest('/api/rest/v1/generations', { prompt: 'elsewhere' }),
      jsonRequest('/v1/images/generations', { prompt: 'elsewhere' }),
      new Request(`${slow.url}/v2beta/stable-image/generate/core`, { method: 'POST', headers: { ...auth, 'Idempotency-Key': 'v2' }, body: form({ prompt: 'elsewhere' }) }),
    ];
    // Sent as the bytes the other process saw (a multipart body keeps its boundary here, though it would not matter).
    const sendable = await Promise.all(
      requests.map(async (r) => ({ url: r.url, init: { method: 'POST', headers: r.headers, body: new Uint8Array(await r.clone().arrayBuffer()) } })),
    );
    for (const r of requests) await claimedElsewhere(u.userId, r.headers.get('idempotency-key')!, r);
    const started = Date.now();
    const [stablecogRes, seedRes, leonardoRes, openaiRes, v2Res] = await Promise.all(sendable.map((r) => fetch(r.url, r.init)));
    assert.ok(Date.now() - started >= 3500, 'each waited for the answer first');
    assert.equal(stablecogRes!.status, 409);
    assert.deepEqual(
      { ...(await json<Record<string, unknown>>(stablecogRes!)), description: '' },
      { error: 'idempotency_key_in_progress', field: 'Idempotency-Key', description: '' },
    );
    assert.equal(seedRes!.status, 409);
    assert.match((await json<{ code: number; message: string }>(seedRes!)).message, /still in progress/);
    assert.equal(leonardoRes!.status, 409);
    assert.equal((await json<{ code: string }>(leonardoRes!)).code, 'idempotency-key-in-progress');
    assert.equal(openaiRes!.status, 409);
    assert.equal((await json<{ error: { code: string } }>(openaiRes!)).error.code, 'idempotency_key_in_progress');
    assert.equal(v2Res!.status, 409);
    assert.equal((await json<{ name: string }>(v2Res!)).name, 'conflict');
    assert.equal(await balance(slow, u.key), 10);
  });

  test("a claim not renewed for 30 s (its process died) is taken over: the retry runs, charged once, and is what is replayed", async () => {
    const u = await makeUser(slow, 'idem-orphan', 5);
    const request = () =>
      new Request(`${slow.url}/v1/image/generation/create`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${u.key}`, 'Content-Type': 'application/json', Accept: '*/*', 'Idempotency-Key': 'orphaned' },
        body: JSON.stringify({ prompt: 'after a crash', num_outputs: 1, inference_steps: 10 }),
      });
    await claimedElsewhere(u.userId, 'orphaned', request(), 120_000);
    const retried = await fetch(request());
    assert.equal(retried.status, 200, await retried.clone().text());
    assert.equal(retried.headers.get('idempotent-replayed'), null);
    const again = await fetch(request());
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await again.json(), await retried.json());
    assert.equal(await balance(slow, u.key), 4);
    assert.ok(slow.logs.some((l) => /stopped renewing its claim; taken over/.test(l)));
  });

  test('a generation that failed (refunded) does not keep its key: the retry runs, and its answer is the one kept', async () => {
    const u = await makeUser(slow, 'idem-unlucky', 3);
    const send = () =>
      slow.api('/v1/images/generations', { method: 'POST', key: u.key, headers: { 'Idempotency-Key': 'try-again' }, json: { prompt: 'fail once', size: '64x64' } });
    const failed = await send();
    assert.equal(failed.status, 500);
    assert.match((await json<{ error: { message: string } }>(failed)).error.message, /failed/);
    assert.equal(await balance(slow, u.key), 3, 'refunded');
    failing = false;
    const retried = await send();
    assert.equal(retried.status, 200, await retried.clone().text());
    assert.equal(retried.headers.get('idempotent-replayed'), null);
    const replayed = await send();
    assert.equal(replayed.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await replayed.json(), await retried.json());
    assert.equal(await balance(slow, u.key), 2);
  });
});
