/**
 * `darkroom generate --control image.png --control-type canny|none [--control-name] [--control-weight]`
 * as a user types it, on the ControlNet-ready test model: the control image steers the picture,
 * weight 0 leaves it as without one, and bad flags are refused naming the flag.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { cliHome, type CliHome } from '../helpers/cli.ts';

let home: CliHome;
let dir: string;

before(async () => {
  home = cliHome('control-cli', {
    models: { 'tiny-sd1': await testModelDir('tiny-sd1'), 'tiny-sd1-controlnet': await testModelDir('tiny-sd1-controlnet') },
    env: { DARKROOM_DEFAULT_MODEL: 'tiny-sd1-controlnet' },
  });
  dir = home.dir;
  const raw = Buffer.alloc(64 * 64 * 3);
  for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) raw.fill(255, 3 * (y * 64 + x), 3 * (y * 64 + x) + 3);
  writeFileSync(join(dir, 'square.png'), await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
});
after(() => home.remove());

function generate(out: string, ...flags: string[]) {
  const r = home.run(['generate', 'a square', '--seed', '3', '--steps', '4', '-o', join(dir, out), ...flags]);
  return { ...r, pixels: () => sharp(readFileSync(join(dir, out))).raw().toBuffer() };
}

test('--control steers the picture; --control-weight 0 draws the plain one; --control-type none reads the image as the map', async () => {
  const plain = generate('plain.png');
  assert.equal(plain.status, 0, plain.stderr);
  const canny = generate('canny.png', '--control', join(dir, 'square.png'), '--control-type', 'canny');
  assert.equal(canny.status, 0, canny.stderr);
  const none = generate('none.png', '--control', join(dir, 'square.png'), '--control-type', 'none', '--control-name', 'canny');
  assert.equal(none.status, 0, none.stderr);
  const zero = generate('zero.png', '--control', join(dir, 'square.png'), '--control-weight', '0');
  assert.equal(zero.status, 0, zero.stderr);
  assert.notDeepEqual(await canny.pixels(), await plain.pixels());
  assert.notDeepEqual(await none.pixels(), await canny.pixels());
  assert.deepEqual(await zero.pixels(), await plain.pixels());
});

test('bad control flags are refused naming the flag', () => {
  const square = join(dir, 'square.png');
  const cases: [string[], RegExp][] = [
    [['--control-type', 'canny'], /--control-type: needs --control/],
    [['--control', square, '--control-type', 'depth'], /--control-type: .*"depth" is not served/],
    [['--control', square, '--control-name', 'pose'], /--control-name: .*no ControlNet "pose"/],
    [['--control', square, '--control-weight', '3'], /--control-weight: .*between 0 and 2/],
    [['--control', join(dir, 'missing.png')], /--control: cannot read/],
    [['--control', square, '--model', 'tiny-sd1'], /--control-name: model tiny-sd1 has no ControlNets/],
  ];
  for (const [flags, error] of cases) {
    const r = generate('bad.png', ...flags);
    assert.notEqual(r.status, 0, flags.join(' '));
    assert.match(r.stderr, error, flags.join(' '));
  }
});
