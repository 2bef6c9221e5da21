/**
 * SIGTERM under load, on a real `darkroom serve` process with the shipped demo model: it stops taking
 * connections, lets the running job finish within DARKROOM_SHUTDOWN_GRACE, fails and refunds the
 * rest with an answer to every waiting client, closes the database and exits; the next start finds
 * nothing left to refund, and the ledger adds up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../src/db/database.ts';

const BIN = fileURLToPath(new URL('../../bin/darkroom.mjs', import.meta.url));
let dataDir: string;

before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'darkroom-shutdown-'));
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

interface Served {
  child: ChildProcess;
  url: string;
  key?: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function serve(env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, DARKROOM_DATA_DIR: dataDir, DARKROOM_HOST: '127.0.0.1', DARKROOM_PORT: '0', DARKROOM_RATE_LIMIT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      stderr += d;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolve({ child, url: m[1]!, key: /dr-[0-9a-f]{64}/.exec(stdout)?.[0], stderr: () => stderr, exited });
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}

test('SIGTERM with jobs running and queued: every client is answered, the rest refunded, exit within the grace', async () => {
  const env = { DARKROOM_SHUTDOWN_GRACE: '1', DARKROOM_WORKER_CONCURRENCY: '1', DARKROOM_MAX_IN_FLIGHT: '8', DARKROOM_PRELOAD: 'true' };
  const s = await serve(env);
  assert.ok(s.key, 'the first start printed the admin key');
  while (!/model darkroom-demo loaded/.test(s.stderr())) await new Promise((r) => setTimeout(r, 50));
  const create = () =>
    fetch(`${s.url}/v1/image/generation/create`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'a large red star on a blue background', width: 512, height: 512, inference_steps: 30, num_outputs: 1 }),
    }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as { error?: string; outputs?: unknown[] } }),
      (err: unknown) => ({ status: 0, body: { error: `no answer: ${String(err)}` } }),
    );
  const answers = Array.from({ length: 6 }, create);
  // Let the first one start running; the others wait in the queue.
  await new Promise((r) => setTimeout(r, 1500));
  const stopping = Date.now();
  s.child.kill('SIGTERM');
  const results = await Promise.all(answers);
  const code = await s.exited;
  const took = Date.now() - stopping;
  assert.equal(code, 0, s.stderr());
  // 1 s of grace, then what was cut off is failed; answers and the database close take a little more.
  assert.ok(took < 15_000, `exit took ${took} ms`);
  for (const r of results) {
    assert.notEqual(r.status, 0, `every client gets an answer, not a dropped socket: ${r.body.error}`);
    assert.notEqual(r.body.error, 'An unknown error has occured', s.stderr());
    if (r.status !== 200) assert.match(String(r.body.error ?? ''), /stopped|could not queue/i, JSON.stringify(r.body));
  }
  const delivered = results.filter((r) => r.status === 200).length;
  assert.ok(delivered < results.length, 'some jobs were cut off by the shutdown');
  assert.doesNotMatch(s.stderr(), /database connection is not open|driver has already been destroyed/);

  // The next start has nothing to refund: the shutdown already did.
  const again = await serve(env);
  again.child.kill('SIGTERM');
  await again.exited;
  assert.doesNotMatch(again.stderr(), /left unfinished/);

  const db = await openDatabase(`sqlite:${join(dataDir, 'darkroom.db')}`);
  try {
    const admin = await db.kysely.selectFrom('users').selectAll().where('role', '=', 'admin').executeTakeFirstOrThrow();
    assert.equal(Number(admin.credits), 100 - delivered, 'charged exactly for the images delivered');
    const open = await db.kysely.selectFrom('generations').select('id').where('status', 'in', ['queued', 'running']).execute();
    assert.equal(open.length, 0, 'no job left queued or running');
  } finally {
    await db.close();
  }
});
