import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { BIN, cliHome, type CliHome } from '../helpers/cli.ts';

const run = promisify(execFile);
let home: CliHome | undefined;
let dir = '';
after(() => home?.remove());

test('darkroom generate writes one file per output with its seed, at the asked size', async () => {
  home = cliHome('cli');
  dir = home.dir;
  const model = await testModelDir('tiny-sd1');
  const out = join(dir, 'new-folder', 'out.png'); // the folder is created
  const { stdout, stderr } = await run(process.execPath, [
    BIN, 'generate', 'a red circle', '--model', model, '--seed', '42', '--steps', '3', '--scheduler', 'K_EULER',
    '--width', '64', '--height', '48', '--guidance', '7', '--negative', 'blue', '-n', '2', '--out', out,
  ], { env: home.env });
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
  await run(process.execPath, [BIN, 'generate', 'a red circle', '--model', model, '--seed', '42', '--steps', '3', '--scheduler', 'euler',
    '--width', '64', '--height', '48', '--guidance', '7', '--negative', 'blue', '--out', again], { env: home.env });
  assert.ok((await readFile(again)).equals(await readFile(join(dir, 'new-folder', 'out-1.png'))));
});

test('darkroom generate reports bad input and exits non-zero', async () => {
  const model = await testModelDir('tiny-sd1');
  await assert.rejects(
    run(process.execPath, [BIN, 'generate', 'x', '--model', model, '--width', '65', '--out', join(dir || tmpdir(), 'bad.png')]),
    (err: { code: number; stderr: string }) => err.code === 1 && /--width: must be a multiple of 8/.test(err.stderr),
  );
  await assert.rejects(
    run(process.execPath, [BIN, 'generate', 'x', '--model', model, '--scheduler', 'nope']),
    (err: { stderr: string }) => /nope/.test(err.stderr),
  );
});

test('darkroom generate refuses what the server refuses, and flags it would ignore, naming the flag and writing nothing', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'darkroom-cli-refuse-'));
  try {
    const model = await testModelDir('tiny-sd1');
    const fewStep = await testModelDir('tiny-lcm');
    const controlled = await testModelDir('tiny-sd1-controlnet');
    const notAModel = join(tmp, 'not-a-model');
    await mkdir(notAModel);
    await writeFile(join(tmp, 'in.png'), await sharp({ create: { width: 64, height: 64, channels: 3, background: '#f00' } }).png().toBuffer());
    // The default model is the shipped demo model (DARKROOM_DATA_DIR has no models); it offers no lcm.
    const cases: [string[], RegExp[]][] = [
      // A numeric flag's value that is no number: the model's range for it, as the server's check says it.
      [['--steps', 'abc'], [/^darkroom: --steps: must be an integer from 1 to 150, got "abc"$/m]],
      [['--model', fewStep, '--steps', 'abc'], [/^darkroom: --steps: must be an integer from 1 to 8, got "abc"$/m]],
      [['--seed', 'abc'], [/^darkroom: --seed: must be an integer in 0\.\.4294967295, got "abc"$/m]],
      [['--width', 'wide'], [/^darkroom: --width: must be a multiple of 8 from 128 to 512 for model darkroom-demo, got "wide"$/m]],
      [['--guidance', 'x'], [/^darkroom: --guidance: must be between 0 and 30, got "x"$/m]],
      [['-n', 'two'], [/^darkroom: --num-outputs: must be an integer from 1 to 8, got "two"$/m]],
      [['--hires', 'big'], [/^darkroom: --hires: must be over 1 and at most 4, got "big"$/m]],
      [['--init-image', join(tmp, 'in.png'), '--strength', 'half'], [/^darkroom: --strength: must be between 0 and 1, got "half"$/m]],
      [['--steps', ''], [/^darkroom: --steps: must be an integer from 1 to 150, got ""$/m]],
      [['--model', controlled, '--control', join(tmp, 'in.png'), '--control-weight', 'w'], [/^darkroom: --control-weight: must be between 0 and 2, got "w"$/m]],
      [['--strength', '0.5'], [/--strength: needs --init-image/]],
      [['--mask', join(tmp, 'in.png')], [/--mask: needs --init-image/]],
      [['--init-image', join(tmp, 'in.png'), '--mask-alpha'], [/--mask-alpha: needs --mask/]],
      [['--out', join(tmp, 'out.gif')], [/--out: cannot write \.gif files \(\.png, \.jpg, \.jpeg, \.webp\)/]],
      [['--scheduler', 'lcm'], [/--scheduler: model darkroom-demo does not offer scheduler "lcm"/]],
      [['--scheduler', 'nope'], [/--scheduler: unknown scheduler "nope"/]],
      [['--model', notAModel], [new RegExp(`--model: ${notAModel} is not a model folder: it has no model_index.json`)]],
      [['--model', model, '-n', '9'], [/--num-outputs: must be an integer from 1 to 8, got 9/]],
      [['--model', model, '--guidance', '31'], [/--guidance: /]],
      [['--model', model, '--steps', '2.5'], [/--steps: /]],
      [['--model', fewStep, '--steps', '20'], [/--steps: model tiny-lcm takes at most 8 steps, got 20/]],
      [['--model', fewStep, '--tiling'], [/--tiling: model tiny-lcm does not support seamless tiling/]],
      [['--port', '9000'], [/unknown option '--port'/]],
    ];
    await Promise.all(
      cases.map(async ([args, messages], k) => {
        const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : join(tmp, `out-${k}.png`);
        const flags = args.includes('--out') ? args : [...args, '--out', out];
        await assert.rejects(
          run(process.execPath, [BIN, 'generate', 'a red circle', ...flags], { env: { ...process.env, DARKROOM_DATA_DIR: join(tmp, 'data') } }),
          (err: { code: number; stderr: string }) => {
            assert.equal(err.code, 1, `${args.join(' ')}: ${err.stderr}`);
            for (const m of messages) assert.match(err.stderr, m, args.join(' '));
            assert.doesNotMatch(err.stderr, /numOutputs|initImage|guidance must|NaN|is invalid/, args.join(' '));
            return true;
          },
        );
        assert.equal(existsSync(out), false, `${args.join(' ')} wrote ${out}`);
      }),
    );
    assert.equal(existsSync(join(tmp, 'data')), false, 'a refused request wrote nothing in the data directory');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('darkroom credits grant: an --amount that is not a positive integer is refused naming the flag, before the database opens', async () => {
  const data = await mkdtemp(join(tmpdir(), 'darkroom-cli-credits-'));
  try {
    for (const amount of ['abc', '0', '-5', '2.5']) {
      await assert.rejects(
        run(process.execPath, [BIN, 'credits', 'grant', '--user', 'admin', '--amount', amount], { env: { ...process.env, DARKROOM_DATA_DIR: join(data, 'data') } }),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 1, err.stderr);
          assert.equal(err.stderr, `darkroom: --amount: must be a positive integer, got ${JSON.stringify(amount)}\n`);
          return true;
        },
      );
    }
    assert.equal(existsSync(join(data, 'data')), false, 'nothing written');
  } finally {
    await rm(data, { recursive: true, force: true });
  }
});

test('darkroom models lists the models folder', async () => {
  const model = await testModelDir('tiny-sd1');
  const parent = join(model, '..');
  const { stdout } = await run(process.execPath, [BIN, 'models', '--models-dir', parent, '--json']);
  const list = JSON.parse(stdout) as { id?: string }[];
  assert.ok(list.some((m) => m.id === 'tiny-sd1'));
});
