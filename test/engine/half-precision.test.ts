import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { inferElementTypes } from '../../src/engine/onnx/element-types.ts';
import { NonFiniteOutputError } from '../../src/engine/errors.ts';
import { readModel, saveModel } from '../../src/engine/onnx/builder.ts';
import { DataType, decodeModel } from '../../src/engine/onnx/proto.ts';
import { makeBenchModel } from '../../tools/bench/make.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/darkroom.mjs', import.meta.url).pathname;
let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-fp16-'));
});
after(() => rm(root, { recursive: true, force: true }));

/** A copy of a model folder: converting writes next to the model files. */
async function copyOf(src: string, name: string): Promise<string> {
  const dir = join(root, name);
  await cp(src, dir, { recursive: true });
  return dir;
}

interface Options {
  fp16?: boolean;
  optimize?: boolean;
  prompt?: string;
  size?: number;
}

async function generate(dir: string, options: Options, logs: string[] = []) {
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: 1, fp16: options.fp16, optimize: options.optimize, log: (m) => logs.push(m) });
  try {
    const size = options.size ? { width: options.size, height: options.size } : {};
    const { images } = await engine.generate(dir, { prompt: options.prompt ?? 'a red star on the left on a blue background', seed: 4, steps: 8, ...size });
    const model = await engine.model(dir);
    return {
      pixels: images[0]!.pixels,
      paths: { textEncoder: model.textEncoder.path, textEncoder2: model.textEncoder2?.path, unet: model.unet.path, vaeDecoder: model.vaeDecoder.path },
    };
  } finally {
    await engine.dispose();
  }
}

function difference(a: Float32Array, b: Float32Array) {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

async function floatTypes(path: string) {
  const graph = decodeModel(await readFile(path)).graph!;
  const init = (t: number) => graph.initializer!.filter((i) => i.data_type === t).length;
  return {
    graph,
    float16Weights: init(DataType.FLOAT16),
    float32Weights: init(DataType.FLOAT),
    io: [...graph.input!, ...graph.output!].map((v) => v.type!.tensor_type!.elem_type),
  };
}

test('the demo model converted to float16 draws the same picture, loading converted twins of its ONNX files', async () => {
  const demo = await copyOf(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), 'demo');
  const plain = await generate(demo, {});
  const logs: string[] = [];
  const half = await generate(demo, { fp16: true }, logs);
  assert.equal(half.paths.unet, join(demo, 'unet', 'model.fp16.onnx'));
  assert.equal(half.paths.textEncoder, join(demo, 'text_encoder', 'model.fp16.onnx'));
  assert.equal(half.paths.vaeDecoder, join(demo, 'vae_decoder', 'model.fp16.onnx'));
  assert.match(logs.join('\n'), /unet\/model\.onnx: float16 \(\d+ weights and constants converted, \d+ nodes kept in float32\)/);
  const unet = await floatTypes(half.paths.unet);
  assert.ok(unet.float16Weights > 100, `${unet.float16Weights} float16 weights`);
  // What stays float32: the sinusoidal embeddings' constants (frequencies, coordinate scales), none of the layers' weights.
  assert.ok(unet.float32Weights < unet.float16Weights / 10, `${unet.float32Weights} float32 initializers left`);
  assert.ok(!unet.graph.initializer!.some((t) => t.data_type === DataType.FLOAT && (t.dims?.length ?? 0) >= 2), 'no float32 weight matrix is left');
  assert.ok(unet.io.every((t) => t === DataType.FLOAT), 'inputs and outputs stay float32: the engine feeds the model as before');
  const types = inferElementTypes(unet.graph);
  const convs = unet.graph.node!.filter((n) => n.op_type === 'Conv' || n.op_type === 'MatMul' || n.op_type === 'Gemm');
  assert.ok(convs.every((n) => types.get(n.output![0]!) === DataType.FLOAT16), 'every Conv, MatMul and Gemm computes in float16');
  const d = difference(plain.pixels, half.pixels);
  assert.ok(d.max < 0.05 && d.mean < 2e-3, `pixel difference max ${d.max}, mean ${d.mean}`);
  assert.ok((await stat(half.paths.unet)).size < (await stat(join(demo, 'unet', 'model.onnx'))).size * 0.55, 'the weights take half the bytes');

  // Cached: a second load converts nothing.
  const again: string[] = [];
  assert.equal((await generate(demo, { fp16: true }, again)).paths.unet, half.paths.unet);
  assert.ok(!again.some((m) => m.includes('float16 (')), again.join('\n'));

  // With attention fusion, fusing comes first (its scale read at full precision), then the conversion.
  const both = await generate(demo, { fp16: true, optimize: true });
  assert.equal(both.paths.unet, join(demo, 'unet', 'model.optimized.fp16.onnx'));
  const fused = decodeModel(await readFile(both.paths.unet)).graph!;
  assert.equal(fused.node!.filter((n) => n.op_type === 'MultiHeadAttention').length, 10);
  const bd = difference(plain.pixels, both.pixels);
  assert.ok(bd.max < 0.05 && bd.mean < 2e-3, `pixel difference max ${bd.max}, mean ${bd.mean}`);
});

test('SDXL: text encoders and UNet convert, the VAE stays float32 (it overflows float16)', async () => {
  const xl = await copyOf(await testModelDir('tiny-sdxl'), 'tiny-sdxl');
  const plain = await generate(xl, { prompt: 'a cat' });
  const half = await generate(xl, { fp16: true, prompt: 'a cat' });
  assert.equal(half.paths.unet, join(xl, 'unet', 'model.fp16.onnx'));
  assert.equal(half.paths.textEncoder2, join(xl, 'text_encoder_2', 'model.fp16.onnx'));
  assert.equal(half.paths.vaeDecoder, join(xl, 'vae_decoder', 'model.onnx'));
  // Random weights draw noise that a rounding can tip here and there: the mean says the picture is the same.
  const d = difference(plain.pixels, half.pixels);
  assert.ok(d.mean < 5e-3, `pixel difference mean ${d.mean}`);
});

test('a model that is float16 already (its timestep embedding float32 on purpose) loads as it is, and that is remembered', async () => {
  const h = join(root, 'mini-fp16');
  await makeBenchModel(h, 'mini', 'fp16');
  const r = await generate(h, { fp16: true, prompt: 'a red circle', size: 64 });
  assert.equal(r.paths.unet, join(h, 'unet', 'model.onnx'));
  assert.equal(r.paths.vaeDecoder, join(h, 'vae_decoder', 'model.onnx'));
  await stat(join(h, 'unet', 'model.fp16.none'));
});

test('weights in external data are converted one tensor at a time into model.fp16.onnx_data', async () => {
  const inline = join(root, 'mini-inline');
  const external = join(root, 'mini-external');
  await makeBenchModel(inline, 'mini', 'fp32');
  await makeBenchModel(external, 'mini', 'fp32', { externalAboveBytes: 0 });
  const opts = { fp16: true, prompt: 'a red circle', size: 64 };
  const plain = await generate(external, { prompt: opts.prompt, size: 64 });
  const fromInline = await generate(inline, opts);
  const fromExternal = await generate(external, opts);
  assert.equal(fromExternal.paths.unet, join(external, 'unet', 'model.fp16.onnx'));
  const data = join(external, 'unet', 'model.fp16.onnx_data');
  const originalBytes = (await stat(join(external, 'unet', 'model.onnx_data'))).size;
  const bytes = (await stat(data)).size;
  assert.ok(bytes > originalBytes * 0.45 && bytes < originalBytes * 0.55, `${bytes} bytes of float16 weights for ${originalBytes} of float32`);
  const graph = decodeModel(await readFile(fromExternal.paths.unet)).graph!;
  const locations = new Set(graph.initializer!.flatMap((t) => (t.external_data ?? []).filter((e) => e.key === 'location').map((e) => e.value)));
  assert.ok(locations.has('model.fp16.onnx_data'));
  assert.deepEqual(fromExternal.pixels, fromInline.pixels, 'the same conversion, wherever the weights were');
  const d = difference(plain.pixels, fromExternal.pixels);
  assert.ok(d.max < 0.05, `pixel difference max ${d.max}`);
});

test('darkroom models optimize --fp16 true converts ahead of time and says when it is up to date', async () => {
  const demo = await copyOf(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), 'cli-demo');
  const env = { ...process.env, DARKROOM_DATA_DIR: root };
  const first = await run(process.execPath, [bin, 'models', 'optimize', '--fp16', 'true', demo], { env });
  assert.match(first.stdout, /darkroom-demo unet: 10 attention blocks fused, \d+ → \d+ nodes; float16 \(\d+ weights and constants converted, \d+ nodes kept in float32\) \(.*unet\/model\.optimized\.fp16\.onnx\)/);
  assert.match(first.stdout, /darkroom-demo textEncoder: float16 \(.*\) \(.*text_encoder\/model\.fp16\.onnx\)/);
  assert.match(first.stdout, /darkroom-demo vaeDecoder: no attention to fuse; float16 .*vae_decoder\/model\.fp16\.onnx/);
  const second = await run(process.execPath, [bin, 'models', 'optimize', '--fp16', 'true', demo], { env });
  assert.match(second.stdout, /darkroom-demo unet: attention: up to date; float16: up to date/);
  assert.match(second.stdout, /darkroom-demo vaeDecoder: attention: nothing to do \(checked before\); float16: up to date/);
});

/** Makes `input` pass through x / factor * factor first: the identity in float32 for factor 1e-8, NaN in float16 (1e-8 underflows to 0). */
async function guardInput(path: string, input: string, factor: number): Promise<void> {
  const model = await readModel(path);
  const graph = model.graph!;
  for (const n of graph.node!) n.input = n.input!.map((i) => (i === input ? `${input}/guarded` : i));
  graph.initializer!.push({ name: 'guard_factor', dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.of(factor).buffer) });
  graph.node!.unshift(
    { op_type: 'Div', input: [input, 'guard_factor'], output: [`${input}/divided`], name: 'guard_div' },
    { op_type: 'Mul', input: [`${input}/divided`, 'guard_factor'], output: [`${input}/guarded`], name: 'guard_mul' },
  );
  await saveModel(path, model);
}

test('a float16 twin that makes NaN is refused: that component reloads in float32, the generation succeeds, and it is remembered', async () => {
  const dir = await copyOf(await testModelDir('tiny-sd1'), 'tiny-underflow');
  await guardInput(join(dir, 'vae_decoder', 'model.onnx'), 'latent_sample', 1e-8);
  const plain = await generate(dir, { prompt: 'a cat' });
  const logs: string[] = [];
  const half = await generate(dir, { fp16: true, prompt: 'a cat' }, logs);
  assert.match(logs.join('\n'), /vae_decoder\/model\.onnx: its float16 twin produced NaN or infinite values; loading it in float32 from now on/);
  assert.equal(half.paths.vaeDecoder, join(dir, 'vae_decoder', 'model.onnx'));
  assert.equal(half.paths.unet, join(dir, 'unet', 'model.fp16.onnx'), 'only the component at fault goes back to float32');
  assert.ok(half.pixels.every(Number.isFinite));
  assert.ok(difference(plain.pixels, half.pixels).mean < 5e-3);
  assert.match(await readFile(join(dir, 'vae_decoder', 'model.fp16.refused'), 'utf8'), /vaeDecoder .*model\.fp16\.onnx\) produced values that are not finite/);
  // A new engine knows it before generating.
  const again: string[] = [];
  const second = await generate(dir, { fp16: true, prompt: 'a cat' }, again);
  assert.equal(second.paths.vaeDecoder, join(dir, 'vae_decoder', 'model.onnx'));
  assert.ok(!again.some((m) => m.includes('produced NaN')), again.join('\n'));
  assert.deepEqual(second.pixels, half.pixels);
});

test('NaN from a float32 model is an error, not an image', async () => {
  const dir = await copyOf(await testModelDir('tiny-sd1'), 'tiny-nan');
  await guardInput(join(dir, 'vae_decoder', 'model.onnx'), 'latent_sample', 0);
  await assert.rejects(generate(dir, { prompt: 'a cat' }), (err: unknown) => err instanceof NonFiniteOutputError && err.component === 'vaeDecoder');
});
