import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Engine } from '../../../src/engine/engine.ts';
import { ModelFormatError } from '../../../src/engine/errors.ts';
import { decodeImage } from '../../../src/engine/image.ts';
import { OnnxUpscaler } from '../../../src/engine/upscale/onnx-upscaler.ts';
import { makeTestUpscaler } from '../../../tools/test-models/upscaler.ts';
import { maxAbsDiff } from '../helpers.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'darkroom-sr-'));
  dirs.push(d);
  return d;
}

async function photo(width: number, height: number): Promise<Buffer> {
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (Math.sin(i * 0.37) * 0.5 + 0.5) * 255;
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

test('an ONNX super-resolution model upscales 4x, and tiles with enough overlap equal one whole pass', async () => {
  const root = await tempDir();
  await makeTestUpscaler(join(root, 'tiled'), { tile: 16, overlap: 4 });
  await makeTestUpscaler(join(root, 'whole'), { tile: 4096, overlap: 0 });
  const tiled = await OnnxUpscaler.load(join(root, 'tiled'), { provider: 'cpu', threads: 1 });
  const whole = await OnnxUpscaler.load(join(root, 'whole'), { provider: 'cpu', threads: 1 });
  try {
    const input = await photo(40, 28); // not a multiple of the tile: edge tiles are partial
    const a = await tiled.upscale(input);
    const b = await whole.upscale(input);
    assert.equal(a.width, 160);
    assert.equal(a.height, 112);
    const pa = await decodeImage(a.png);
    const pb = await decodeImage(b.png);
    assert.equal(maxAbsDiff(pa.data, pb.data), 0, 'no seams: tiled output equals the whole-image pass');
    const nearest = await decodeImage(await sharp(input).resize(160, 112, { kernel: 'nearest' }).png().toBuffer());
    assert.ok(maxAbsDiff(pa.data, nearest.data) > 0.01, 'the network adds its residual (not plain resampling)');
  } finally {
    await tiled.dispose();
    await whole.dispose();
  }
});

test('too little overlap leaves seams (so the equality above means something)', async () => {
  const root = await tempDir();
  await makeTestUpscaler(join(root, 'seamy'), { tile: 16, overlap: 0 });
  await makeTestUpscaler(join(root, 'whole'), { tile: 4096, overlap: 0 });
  const seamy = await OnnxUpscaler.load(join(root, 'seamy'), { provider: 'cpu', threads: 1 });
  const whole = await OnnxUpscaler.load(join(root, 'whole'), { provider: 'cpu', threads: 1 });
  try {
    const input = await photo(40, 28);
    const a = await decodeImage((await seamy.upscale(input)).png);
    const b = await decodeImage((await whole.upscale(input)).png);
    assert.ok(maxAbsDiff(a.data, b.data) > 0.01);
  } finally {
    await seamy.dispose();
    await whole.dispose();
  }
});

test('the engine lists installed super-resolution models first (the default) and Lanczos last, labelled', async () => {
  const root = await tempDir();
  const bare = new Engine({ modelDirs: [root], provider: 'cpu', threads: 1 });
  const only = await bare.upscalers.list();
  assert.deepEqual(
    only.map((u) => [u.info.id, u.info.kind]),
    [['lanczos-4x', 'resample']],
  );
  assert.match(only[0]!.info.name, /resampling, not a super-resolution model/);
  const lanczos = await bare.upscale('lanczos-4x', await photo(10, 6));
  assert.deepEqual([lanczos.width, lanczos.height], [40, 24]);

  await makeTestUpscaler(join(root, 'tiny-sr'));
  const engine = new Engine({ modelDirs: [root], provider: 'cpu', threads: 1 });
  try {
    const list = await engine.upscalers.list();
    assert.deepEqual(
      list.map((u) => u.info.id),
      ['tiny-sr', 'lanczos-4x'],
    );
    const out = await engine.upscale('tiny-sr', await photo(12, 8));
    assert.deepEqual([out.width, out.height], [48, 32]);
    await assert.rejects(engine.upscale('nope', await photo(4, 4)), /"nope" not found/);
  } finally {
    await engine.dispose();
  }
});

test('a broken upscaler.json is refused, naming the problem', async () => {
  const root = await tempDir();
  await makeTestUpscaler(join(root, 'bad'));
  await writeFile(join(root, 'bad', 'upscaler.json'), JSON.stringify({ id: 'bad', name: 'x', scale: 0, tile: 8, overlap: 8 }));
  await assert.rejects(OnnxUpscaler.load(join(root, 'bad'), { provider: 'cpu' }), (e: Error) => e instanceof ModelFormatError && /"scale"/.test(e.message) && /"tile"/.test(e.message));
});
