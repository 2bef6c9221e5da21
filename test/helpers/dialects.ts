/**
 * The real server for the Stability, Leonardo and OpenAI end-to-end tests: as startTestServer, with
 * a second tiny test model, `tiny-wide` (the same random-weight networks, a manifest allowing 32-1536
 * px), as the default, so the peer APIs' own size limits (Stability's 320-1536, Leonardo's SDK
 * default 1024 x 768) can be exercised. Loopback is allow-listed for outbound URLs (webhook receivers,
 * init images served by the test) unless the caller says otherwise.
 */
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { startTestServer, type TestServer } from './server.ts';
import type { ServerOptions } from '../../src/server/server.ts';

export const WIDE_MODEL = 'tiny-wide';

export async function startDialectServer(env: Record<string, string> = {}, options: Pick<ServerOptions, 'engine'> = {}): Promise<TestServer> {
  const modelsDir = mkdtempSync(join(tmpdir(), 'darkroom-models-'));
  const tiny = await testModelDir('tiny-sd1');
  symlinkSync(tiny, join(modelsDir, 'tiny-sd1'));
  const wide = join(modelsDir, WIDE_MODEL);
  mkdirSync(wide);
  for (const entry of readdirSync(tiny)) if (entry !== 'darkroom.json') symlinkSync(join(tiny, entry), join(wide, entry));
  const manifest = JSON.parse(readFileSync(join(tiny, 'darkroom.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(wide, 'darkroom.json'), JSON.stringify({ ...manifest, id: WIDE_MODEL, name: 'Tiny SD 1.x, any size (test)', maxSize: 1536 }));
  const t = await startTestServer({ DARKROOM_MODELS_DIR: modelsDir, DARKROOM_DEFAULT_MODEL: WIDE_MODEL, DARKROOM_URL_ALLOWLIST: '127.0.0.1,::1', ...env }, options);
  const close = t.close;
  return {
    ...t,
    close: async () => {
      await close();
      rmSync(modelsDir, { recursive: true, force: true });
    },
  };
}

export async function balance(t: TestServer, key = t.adminKey): Promise<number> {
  const r = await t.api('/v1/credits', { key });
  return ((await r.json()) as { total_remaining_credits: number }).total_remaining_credits;
}

export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local HTTP receiver (webhooks): records each request; `answer` picks the status of each. */
export async function receiver(answer: (n: number) => number = () => 200): Promise<{ url: string; received: Received[]; next: () => Promise<Received>; close: () => Promise<void> }> {
  const received: Received[] = [];
  const waiters: ((r: Received) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      res.statusCode = answer(received.length);
      res.end('ok');
      waiters.shift()?.(r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let seen = 0;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    next: () => (seen < received.length ? Promise.resolve(received[seen++]!) : new Promise((resolve) => waiters.push((r) => (seen++, resolve(r))))),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An engine whose every generation fails (to show that failures are not charged). */
export const failingEngine: NonNullable<ServerOptions['engine']> = {
  generate: async () => {
    throw new Error('the GPU caught fire (test engine)');
  },
};
