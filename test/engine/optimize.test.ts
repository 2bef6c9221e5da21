import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { decodeModel } from '../../src/engine/onnx/proto.ts';
import { makeBenchModel } from '../../tools/bench/make.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/darkroom.mjs', import.meta.url).pathname;
let root = '';
let demo = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-optimize-'));
  // A copy: optimising writes next to the model files.
  demo = join(root, 'darkroom-demo');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), demo, { recursive: true });
});
after(() => rm(root, { recursive: true, force: true }));

async function generate(dir: string, optimize: boolean, logs: string[] = []) {
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: 1, optimize, fp16: false, log: (m) => logs.push(m) });
  try {
    const model = await engine.model(dir);
    const { images } = await engine.generate(dir, { prompt: 'a red star on the left on a blue background', seed: 4, steps: 8 });
    return { pixels: images[0]!.pixels, unetPath: model.unet.path, vaePath: model.vaeDecoder.path };
  } finally {
    await engine.dispose();
  }
}

test('a torch.onnx export (the demo model) loads with its attention fused, drawing the same image', async () => {
  const logs: string[] = [];
  const plain = await generate(demo, false);
  const fused = await generate(demo, true, logs);
  assert.equal(fused.unetPath, join(demo, 'unet', 'model.optimized.onnx'));
  assert.match(logs.join('\n'), /unet\/model\.onnx: 10 attention blocks fused, \d+ → \d+ nodes \(cached as .*model\.optimized\.onnx\)/);
  const graph = decodeModel(await readFile(fused.unetPath)).graph!;
  assert.equal(graph.node!.filter((n) => n.op_type === 'MultiHeadAttention').length, 10);
  assert.ok(!graph.node!.some((n) => n.op_type === 'Softmax'), 'no unfused attention left');
  const original = decodeModel(await readFile(join(demo, 'unet', 'model.onnx'))).graph!;
  const shapes = (g: typeof graph) => g.node!.filter((n) => n.op_type === 'Shape').length;
  assert.ok(shapes(graph) < shapes(original), `the shape arithmetic of the removed reshapes is gone too (${shapes(original)} → ${shapes(graph)} Shape nodes)`);
  let diff = 0;
  for (let i = 0; i < plain.pixels.length; i++) diff = Math.max(diff, Math.abs(plain.pixels[i]! - fused.pixels[i]!));
  assert.ok(diff < 2e-3, `max pixel difference ${diff}`);
  // The demo VAE has no attention: its file is left as it is, and that is remembered.
  assert.equal(fused.vaePath, join(demo, 'vae_decoder', 'model.onnx'));
  await stat(join(demo, 'vae_decoder', 'model.optimized.none'));
  // A second load uses the cached file without fusing again.
  const again: string[] = [];
  assert.equal((await generate(demo, true, again)).unetPath, fused.unetPath);
  assert.ok(!again.some((m) => m.includes('fused')), again.join('\n'));
});

test('darkroom models optimize fuses ahead of time and says when a model is up to date', async () => {
  const copy = join(root, 'cli-demo');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), copy, { recursive: true });
  const env = { ...process.env, DARKROOM_DATA_DIR: root };
  const first = await run(process.execPath, [bin, 'models', 'optimize', copy], { env });
  assert.match(first.stdout, /darkroom-demo unet: 10 attention blocks fused, \d+ → \d+ nodes \(.*unet\/model\.optimized\.onnx\)/);
  assert.match(first.stdout, /darkroom-demo vaeDecoder: no attention to fuse\n/);
  const second = await run(process.execPath, [bin, 'models', 'optimize', copy], { env });
  assert.match(second.stdout, /darkroom-demo unet: attention: up to date/);
  assert.match(second.stdout, /darkroom-demo vaeDecoder: attention: nothing to do \(checked before\)/);
  await stat(join(copy, 'unet', 'model.optimized.onnx'));
});

test('a model without the attention pattern loads as it is when optimisation is on', async () => {
  const tiny = join(root, 'tiny-sd1');
  await cp(await testModelDir('tiny-sd1'), tiny, { recursive: true });
  const r = await generate(tiny, true);
  assert.equal(r.unetPath, join(tiny, 'unet', 'model.onnx'));
});

test('a model whose weights are external data (model.onnx_data) gets an optimised twin that shares them', async () => {
  const dir = join(root, 'mini-external');
  await makeBenchModel(dir, 'mini', 'fp32', { externalAboveBytes: 0 });
  const plain = await generate(dir, false);
  const fused = await generate(dir, true);
  assert.equal(fused.unetPath, join(dir, 'unet', 'model.optimized.onnx'));
  assert.equal(fused.vaePath, join(dir, 'vae_decoder', 'model.optimized.onnx'));
  const graph = decodeModel(await readFile(fused.unetPath)).graph!;
  assert.ok(graph.initializer!.some((t) => t.data_location === 1), 'the weights stay external, in the original model.onnx_data');
  assert.ok((await stat(fused.unetPath)).size < (await stat(join(dir, 'unet', 'model.onnx_data'))).size / 10);
  let diff = 0;
  for (let i = 0; i < plain.pixels.length; i++) diff = Math.max(diff, Math.abs(plain.pixels[i]! - fused.pixels[i]!));
  assert.ok(diff < 1e-3, `max pixel difference ${diff}`);
});

test('an optimised twin that does not load falls back to the original file, with a message', async () => {
  const tiny = join(root, 'tiny-broken-twin');
  await cp(await testModelDir('tiny-sd1'), tiny, { recursive: true });
  // Newer than model.onnx, so the cache takes it as current; not an ONNX model.
  await writeFile(join(tiny, 'unet', 'model.optimized.onnx'), 'not a model');
  const logs: string[] = [];
  const r = await generate(tiny, true, logs);
  assert.equal(r.unetPath, join(tiny, 'unet', 'model.onnx'));
  assert.match(logs.join('\n'), /model\.optimized\.onnx does not load \(.*\); loading .*unet\/model\.onnx as it is/);
});
