/**
 * The roles and what they need: settings that cannot work together stop start-up with a message
 * naming the setting, and one SQLite file serves one process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { BIN, cliHome, type CliHome } from '../helpers/cli.ts';

let home: CliHome;
let dataDir: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  home = cliHome('roles', {
    models: { 'tiny-sd1': await testModelDir('tiny-sd1') },
    env: { DARKROOM_DEFAULT_MODEL: 'tiny-sd1', DARKROOM_HOST: '127.0.0.1', DARKROOM_PORT: '0', DARKROOM_HEALTH_PORT: '0' },
  });
  ({ dir: dataDir, env } = home);
});
after(() => home.remove());

const run = (args: string[], extra: Record<string, string> = {}) => home.run(args, extra);

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

test('bad configuration stops start-up before anything is written, naming the setting: an unknown default model, a port in use, a data directory that cannot be written', async () => {
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'darkroom-badcfg-'));
    rmSync(dir, { recursive: true });
    return dir;
  };
  const unknown = fresh();
  const r1 = run(['serve'], { DARKROOM_DATA_DIR: unknown, DARKROOM_MODELS_DIR: join(dataDir, 'models'), DARKROOM_DEFAULT_MODEL: 'nope' });
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /DARKROOM_DEFAULT_MODEL="nope": no such model is installed; installed: .*darkroom-demo/);
  assert.doesNotMatch(r1.stdout, /dr-[0-9a-f]{64}/, 'no admin key printed');
  assert.equal(existsSync(unknown), false, 'nothing written');

  const taken = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => taken.once('listening', r));
  const port = (taken.address() as { port: number }).port;
  const busy = fresh();
  try {
    const r2 = run(['serve'], { DARKROOM_DATA_DIR: busy, DARKROOM_MODELS_DIR: join(dataDir, 'models'), DARKROOM_PORT: String(port) });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, new RegExp(`DARKROOM_PORT=${port} on DARKROOM_HOST=127.0.0.1: the port is in use`));
    assert.doesNotMatch(r2.stdout, /dr-[0-9a-f]{64}/, 'no admin key printed');
    assert.equal(existsSync(join(busy, 'darkroom.db')), false, 'no database written');
  } finally {
    taken.close();
  }

  const file = join(dataDir, 'a-file');
  writeFileSync(file, 'not a directory');
  const r3 = run(['serve'], { DARKROOM_DATA_DIR: join(file, 'data'), DARKROOM_MODELS_DIR: join(dataDir, 'models') });
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /DARKROOM_DATA_DIR=.*a-file\/data: not a directory Darkroom can write/);
});
