/**
 * Bounded input (issue 15, item 5): JSON bodies, multipart bodies and image pixels each have a limit,
 * refused in the dialect's own envelope before more than the limit is read or anything is decoded,
 * charged or written.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { makeUser, type TestServer } from '../helpers/server.ts';
import { balance, startDialectServer } from '../helpers/dialects.ts';
import { DEFAULT_BODY_LIMITS } from '../../src/api/body-limits.ts';
import { fastEngine } from '../helpers/fast-engine.ts';

const MiB = 1024 * 1024;
let t: TestServer;
let u: { key: string; userId: string };

before(async () => {
  t = await startDialectServer({}, { engine: fastEngine });
  u = await makeUser(t, 'bounded', 50);
});
after(() => t.close());

/** Every file under the data directory's images folder (outputs, uploads, fetched init images). */
function storedFiles(): string[] {
  const root = join(t.dataDir, 'images');
  const walk = (dir: string): string[] => {
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
    } catch {
      return [];
    }
    return names.flatMap((n) => (n.endsWith('/') ? walk(join(dir, n)) : [join(dir, n)]));
  };
  return walk(root);
}

async function generationRows(): Promise<number> {
  const r = await t.server.db.kysely.selectFrom('generations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Waits until no generation or upscale is queued or running (Leonardo's creates answer before their images exist). */
async function settled(): Promise<void> {
  for (;;) {
    const busy = await Promise.all(
      (['generations', 'upscales'] as const).map((table) =>
        t.server.db.kysely.selectFrom(table).select('id').where('status', 'in', ['queued', 'running']).executeTakeFirst(),
      ),
    );
    if (busy.every((row) => row === undefined)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Credits, stored files and generation rows, to compare before and after a refused request. */
async function footprint() {
  await settled();
  return { credits: await balance(t, u.key), files: storedFiles().length, generations: await generationRows() };
}

const padding = 'x'.repeat(DEFAULT_BODY_LIMITS.json + 1024);

const createRoutes: { dialect: string; path: string; body: Record<string, unknown>; envelope: (b: any) => void }[] = [
  {
    dialect: 'Stablecog',
    path: '/v1/image/generation/create',
    body: { prompt: 'a red circle', num_outputs: 1, padding },
    envelope: (b) => {
      assert.equal(b.error, 'payload_too_large');
      assert.match(b.description, /1 MiB/);
    },
  },
  {
    dialect: 'Stability (seed 002)',
    path: '/api/generate/core',
    body: { prompt: 'a red circle', padding },
    envelope: (b) => {
      assert.equal(b.code, -1);
      assert.match(b.message, /over 1 MiB/);
    },
  },
  {
    dialect: 'Leonardo',
    path: '/api/rest/v1/generations',
    body: { prompt: 'a red circle', num_images: 1, padding },
    envelope: (b) => {
      assert.equal(b.path, '$');
      assert.equal(b.code, 'payload-too-large');
      assert.match(b.error, /over 1 MiB/);
    },
  },
  {
    dialect: 'OpenAI',
    path: '/v1/images/generations',
    body: { prompt: 'a red circle', n: 1, size: '256x256', padding },
    envelope: (b) => {
      assert.equal(b.error.type, 'invalid_request_error');
      assert.equal(b.error.code, 'payload_too_large');
      assert.equal(b.error.param, null);
      assert.match(b.error.message, /over 1 MiB/);
    },
  },
];

for (const route of createRoutes) {
  test(`${route.dialect}: a JSON body over the limit on ${route.path} is a 413 in the dialect's envelope; nothing charged or written`, async () => {
    const before = await footprint();
    const r = await t.api(route.path, { method: 'POST', key: u.key, json: route.body });
    assert.equal(r.status, 413);
    assert.equal(r.headers.get('connection'), 'close', 'the refused body is not left on a keep-alive connection');
    route.envelope(await r.json());
    assert.deepEqual(await footprint(), before);
    // The same request within the limit goes through (the limit, not the content, refused it).
    const { padding: _, ...small } = route.body;
    const ok = await t.api(route.path, { method: 'POST', key: u.key, json: small });
    assert.equal(ok.status, 200, await ok.text());
  });
}

test('a 100 MB JSON body with Content-Length is refused unread: 413 before the body is taken, nothing charged', async () => {
  const before = await footprint();
  const body = Buffer.alloc(100 * MiB, 0x20);
  body.write('{"prompt":"a red circle","num_outputs":1,"x":"');
  body.write('"}', body.length - 2);
  const r = await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, headers: { 'Content-Type': 'application/json' }, body });
  assert.equal(r.status, 413);
  assert.equal(((await r.json()) as { error: string }).error, 'payload_too_large');
  assert.deepEqual(await footprint(), before);
});

test('a streamed (chunked) 100 MB JSON body: the server stops reading at the limit and answers 413', async () => {
  const before = await footprint();
  let pulled = 0;
  let atAnswer = -1;
  const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"prompt":"a red circle","x":"'));
    },
    pull(controller) {
      if (pulled >= 100 * MiB) return controller.close();
      pulled += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const r = await t.api('/v1/images/generations', { method: 'POST', key: u.key, headers: { 'Content-Type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
  atAnswer = pulled;
  assert.equal(r.status, 413);
  const b = (await r.json()) as { error: { code: string } };
  assert.equal(b.error.code, 'payload_too_large');
  assert.ok(atAnswer < 100 * MiB, `the server answered before the client had sent everything (${atAnswer} bytes pulled)`);
  assert.deepEqual(await footprint(), before);
});

test('a multipart body over DARKROOM_MAX_UPLOAD_BYTES (OpenAI edits): 413 in OpenAI\'s envelope, nothing stored or charged', async () => {
  const before = await footprint();
  const form = new FormData();
  form.set('prompt', 'repaint it');
  form.set('image', new Blob([new Uint8Array(DEFAULT_BODY_LIMITS.upload + MiB)], { type: 'image/png' }), 'huge.png');
  const r = await t.api('/v1/images/edits', { method: 'POST', key: u.key, body: form });
  assert.equal(r.status, 413);
  const b = (await r.json()) as { error: { code: string; type: string; message: string } };
  assert.equal(b.error.code, 'payload_too_large');
  assert.equal(b.error.type, 'invalid_request_error');
  assert.match(b.error.message, /25 MiB, the limit for multipart uploads/);
  assert.deepEqual(await footprint(), before);
});

/**
 * A valid grey PNG of width × height (deflated row by row: a 16000 × 16000 one is about 250 KB);
 * with `transparent`, grey + alpha with every pixel fully transparent.
 */
async function pngOfSize(width: number, height: number, transparent = false): Promise<Uint8Array<ArrayBuffer>> {
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(typed) >>> 0);
    return Buffer.concat([len, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = transparent ? 4 : 0; // colour type: grey + alpha, or grey
  const deflate = zlib.createDeflate({ level: 1 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const row = Buffer.alloc(1 + width * (transparent ? 2 : 1), 0x80);
  row[0] = 0; // filter: none
  if (transparent) for (let x = 0; x < width; x++) row[2 + 2 * x] = 0;
  for (let y = 0; y < height; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await ended;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]));
}

let huge: Uint8Array<ArrayBuffer>;
let imageHost: Server;
let imageUrl = '';
before(async () => {
  huge = await pngOfSize(16000, 16000);
  imageHost = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(huge));
  await new Promise<void>((r) => imageHost.listen(0, '127.0.0.1', r));
  imageUrl = `http://127.0.0.1:${(imageHost.address() as AddressInfo).port}/huge.png`;
});
after(() => new Promise<void>((r) => imageHost.close(() => r())));

test('a 16000 × 16000 image uploaded to Stablecog\'s /v1/image/upload: 400 naming file, refused from its header, nothing stored', async () => {
  const before = await footprint();
  const form = new FormData();
  form.set('file', new Blob([huge], { type: 'image/png' }), 'huge.png');
  const r = await t.api('/v1/image/upload', { method: 'POST', key: u.key, body: form });
  assert.equal(r.status, 400);
  const b = (await r.json()) as { error: string; field: string; description: string };
  assert.equal(b.field, 'file');
  assert.equal(b.error, 'invalid_file');
  assert.match(b.description, /16000x16000 .*at most 16777216 pixels/);
  assert.deepEqual(await footprint(), before);
});

test('a transparent 4100 × 4100 image (just over 4096 × 4096 pixels) to OpenAI\'s edits: 400 with param image, nothing stored or charged', async () => {
  const before = await footprint();
  const form = new FormData();
  form.set('prompt', 'repaint it');
  form.set('image', new Blob([await pngOfSize(4100, 4100, true)], { type: 'image/png' }), 'big.png');
  const r = await t.api('/v1/images/edits', { method: 'POST', key: u.key, body: form });
  assert.equal(r.status, 400);
  const b = (await r.json()) as { error: { param: string; code: string; message: string } };
  assert.equal(b.error.param, 'image');
  assert.equal(b.error.code, 'invalid_image');
  assert.match(b.error.message, /4100x4100/);
  assert.deepEqual(await footprint(), before);
});

test('a 16000 × 16000 image named by URL as a Stablecog init_image_url: 400 naming init_image_url, nothing kept or charged', async () => {
  const before = await footprint();
  const r = await t.api('/v1/image/generation/create', { method: 'POST', key: u.key, json: { prompt: 'a cat', num_outputs: 1, init_image_url: imageUrl } });
  assert.equal(r.status, 400);
  const b = (await r.json()) as { error: string; field: string; description: string };
  assert.equal(b.field, 'init_image_url');
  assert.equal(b.error, 'image_url_width_height_error');
  assert.match(b.description, /16000x16000/);
  assert.deepEqual(await footprint(), before);
});
