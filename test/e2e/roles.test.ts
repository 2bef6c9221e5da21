/**
 * The roles and what they need: settings that cannot work together stop start-up with a message
 * naming the setting, and one SQLite file serves one process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testModelDir } from '../../tools/test-models/cache.ts';

const BIN = fileURLToPath(new URL('../../bin/darkroom.mjs', import.meta.url));
let dataDir: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'darkroom-roles-'));
  mkdirSync(join(dataDir, 'models'));
  symlinkSync(await testModelDir('tiny-sd1'), join(dataDir, 'models', 'tiny-sd1'));
  env = { ...process.env, DARKROOM_DATA_DIR: dataDir, DARKROOM_DEFAULT_MODEL: 'tiny-sd1', DARKROOM_HOST: '127.0.0.1', DARKROOM_PORT: '0', DARKROOM_HEALTH_PORT: '0' };
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

function run(args: string[], extra: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 60_000 });
}

test('a Redis queue over SQLite stops start-up naming DARKROOM_DATABASE_URL', () => {
  const r = run(['serve'], { DARKROOM_REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /DARKROOM_REDIS_URL is set but DARKROOM_DATABASE_URL is SQLite/);
});

test('a worker, or an API without a worker, needs DARKROOM_REDIS_URL', () => {
  for (const args of [['worker'], ['serve', '--no-worker']]) {
    const r = run(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /needs DARKROOM_REDIS_URL/);
  }
});

test('a second process on the same SQLite file is refused, naming the first; after it stops, a new one starts', async () => {
  const first = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    first.stderr!.on('data', (d) => {
      stderr += d;
      if (/listening on/.test(stderr)) resolve();
    });
    first.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  try {
    const second = run(['serve']);
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`another Darkroom process \\(pid ${first.pid}\\) serves the SQLite database`));
  } finally {
    await new Promise<void>((resolve) => {
      first.once('exit', () => resolve());
      first.kill('SIGTERM');
    });
  }
  const third = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    third.stderr!.on('data', (d) => {
      out += d;
      if (/listening on/.test(out)) resolve();
    });
    third.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  await new Promise<void>((resolve) => {
    third.once('exit', () => resolve());
    third.kill('SIGTERM');
  });
});
