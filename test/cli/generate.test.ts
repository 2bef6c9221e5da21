import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { testModelDir } from '../../tools/test-models/cache.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/darkroom.mjs', import.meta.url).pathname;
let dir = '';
after(() => rm(dir, { recursive: true, force: true }));

test('darkroom generate writes one file per output with its seed, at the asked size', async () => {
  dir = await mkdtemp(join(tmpdir(), 'darkroom-cli-'));
  const model = await testModelDir('tiny-sd1');
  const out = join(dir, 'new-folder', 'out.png'); // the folder is created
  const { stdout, stderr } = await run(process.execPath, [
    bin, 'generate', 'a red circle', '--model', model, '--seed', '42', '--steps', '3', '--scheduler', 'K_EULER',
    '--width', '64', '--height', '48', '--guidance', '7', '--negative', 'blue', '-n', '2', '--out', out,
  ], { env: { ...process.env, DARKROOM_DATA_DIR: dir } });
  assert.match(stdout, /new-folder\/out-1\.png {2}seed 42/);
  assert.match(stdout, /out-2\.png {2}seed 43/);
  assert.match(stderr, /64x48, 3 steps, euler, guidance 7/);
  for (const name of ['out-1.png', 'out-2.png']) {
    const meta = await sharp(await readFile(join(dir, 'new-folder', name))).metadata();
    assert.equal(meta.width, 64);
    assert.equal(meta.height, 48);
  }
  // Same seed again: the same bytes as output 1.
  const again = join(dir, 'again.png');
  await run(process.execPath, [bin, 'generate', 'a red circle', '--model', model, '--seed', '42', '--steps', '3', '--scheduler', 'euler',
    '--width', '64', '--height', '48', '--guidance', '7', '--negative', 'blue', '--out', again], { env: { ...process.env, DARKROOM_DATA_DIR: dir } });
  assert.ok((await readFile(again)).equals(await readFile(join(dir, 'new-folder', 'out-1.png'))));
});

test('darkroom generate reports bad input and exits non-zero', async () => {
  const model = await testModelDir('tiny-sd1');
  await assert.rejects(
    run(process.execPath, [bin, 'generate', 'x', '--model', model, '--width', '65', '--out', join(dir || tmpdir(), 'bad.png')]),
    (err: { code: number; stderr: string }) => err.code === 1 && /--width: must be a multiple of 8/.test(err.stderr),
  );
  await assert.rejects(
    run(process.execPath, [bin, 'generate', 'x', '--model', model, '--scheduler', 'nope']),
    (err: { stderr: string }) => /nope/.test(err.stderr),
  );
});

test('darkroom models lists the models folder', async () => {
  const model = await testModelDir('tiny-sd1');
  const parent = join(model, '..');
  const { stdout } = await run(process.execPath, [bin, 'models', '--models-dir', parent, '--json']);
  const list = JSON.parse(stdout) as { id?: string }[];
  assert.ok(list.some((m) => m.id === 'tiny-sd1'));
});
