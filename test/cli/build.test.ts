/**
 * The built CLI (scripts/build.mjs, what `npm install` makes in dist/), built afresh into a temporary
 * folder: `--version` and `--help` answer without loading onnxruntime-node, sharp or a database driver
 * (a command that needs onnxruntime shows the check would see it), embedded `serve` starts without
 * BullMQ, ioredis or the AWS SDK, and the bundle finds the shipped models and generates like the sources do.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { testModelDir } from '../../tools/test-models/cache.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECORDER = fileURLToPath(new URL('./record-loaded-modules.mjs', import.meta.url));
const HEAVY = ['onnxruntime-node', 'sharp', 'better-sqlite3', 'pg', 'ioredis', 'bullmq', '@aws-sdk'];
let dir = '';
let cli = '';

before(async () => {
  // Under the repository, so the bundle's external packages resolve from its node_modules.
  await mkdir(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  dir = await mkdtemp(join(ROOT, 'node_modules', '.cache', 'darkroom-build-'));
  await run(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--outdir', join(dir, 'dist')]);
  cli = join(dir, 'dist', 'darkroom.js');
});
after(() => rm(dir, { recursive: true, force: true }));

/** Runs the built CLI; resolves with its output and the packages it loaded. */
async function built(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string; packages: Set<string> }> {
  const record = join(dir, `loaded-${Math.random().toString(36).slice(2)}.json`);
  const { stdout, stderr } = await run(process.execPath, ['--import', RECORDER, cli, ...args], {
    env: { ...process.env, LOADED_MODULES_FILE: record, DARKROOM_DATA_DIR: join(dir, 'data'), ...env },
  });
  const files = JSON.parse(readFileSync(record, 'utf8')) as string[];
  const packages = new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []));
  return { stdout, stderr, packages };
}

function assertLight(packages: Set<string>, what: string): void {
  assert.ok(packages.has('commander'), `${what}: the recorder sees the packages loaded (${[...packages].join(', ')})`);
  for (const heavy of HEAVY) assert.ok(![...packages].some((p) => p === heavy || p.startsWith(`${heavy}/`)), `${what} loaded ${heavy}`);
}

test('--version prints package.json version, loading no engine, image or database package', async () => {
  const { stdout, packages } = await built(['--version']);
  assert.equal(stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  assertLight(packages, '--version');
});

test('--help and a command\'s --help list the commands and flags, loading no engine, image or database package', async () => {
  const top = await built(['--help']);
  for (const command of ['generate', 'models', 'bench', 'serve', 'worker', 'keys', 'credits', 'openapi']) assert.match(top.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  assertLight(top.packages, '--help');
  const generate = await built(['generate', '--help']);
  assert.match(generate.stdout, /--num-outputs <n>/);
  assert.match(generate.stdout, /--init-image <file>/);
  assertLight(generate.packages, 'generate --help');
  assertLight((await built(['keys', 'create', '--help'])).packages, 'keys create --help');
});

test('a command that runs the engine does load onnxruntime-node (the check above can fail)', async () => {
  const { stdout, packages } = await built(['bench', '--print-config', '--shape', 'mini']);
  assert.ok(JSON.parse(stdout));
  assert.ok(packages.has('onnxruntime-node'), [...packages].join(', '));
});

test('the bundle finds the shipped demo model and generates with a model folder', async () => {
  const listed = JSON.parse((await built(['models', '--json'])).stdout) as { id?: string }[];
  assert.ok(listed.some((m) => m.id === 'darkroom-demo'));
  const out = join(dir, 'out.png');
  const { stdout } = await built(['generate', 'a red circle', '--model', await testModelDir('tiny-sd1'), '--seed', '7', '--steps', '2', '--width', '64', '--height', '64', '--out', out]);
  assert.match(stdout, /out\.png {2}seed 7/);
  assert.ok(existsSync(out));
});

test('embedded serve (SQLite, no Redis, no S3) answers /readyz without loading BullMQ, ioredis, the AWS SDK or pg', { timeout: 120_000 }, async () => {
  const record = join(dir, 'loaded-serve.json');
  const child = spawn(process.execPath, ['--import', RECORDER, cli, 'serve'], {
    env: { ...process.env, LOADED_MODULES_FILE: record, DARKROOM_DATA_DIR: join(dir, 'serve-data'), DARKROOM_PORT: '0', DARKROOM_HOST: '127.0.0.1', DARKROOM_PRELOAD: 'false' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    // stderr is read to the end: a pipe nobody drains could hold the server's last lines, or its exit.
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (line) => {
        const listening = /^darkroom: listening on (\S+)/.exec(line);
        if (listening) resolve(listening[1]!);
      });
      void exited.then((code) => reject(new Error(`serve exited (${code}) before it listened`)));
    });
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
  const files = JSON.parse(readFileSync(record, 'utf8')) as string[];
  const packages = new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []));
  assert.ok(packages.has('better-sqlite3'), `the recorder sees what serve loads (${[...packages].join(', ')})`);
  for (const scaledOnly of ['bullmq', 'ioredis', '@aws-sdk/', 'pg']) assert.ok(![...packages].some((p) => p === scaledOnly || p.startsWith(scaledOnly)), `embedded serve loaded ${scaledOnly}`);
});
