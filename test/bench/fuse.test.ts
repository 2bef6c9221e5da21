import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.ts';
import { readModel } from '../../src/engine/onnx/builder.ts';
import { SHAPES, type UnetConfig } from '../../tools/bench/configs.ts';
import { fixedShapeFolder, fusedFolder } from '../../tools/bench/derive.ts';
import { fuseAttention } from '../../src/engine/models/fuse-attention.ts';
import { makeBenchModel } from '../../tools/bench/make.ts';
import { defaultOptions, formatReport, runBench } from '../../tools/bench/run.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-fuse-'));
});
after(() => rm(root, { recursive: true, force: true }));

/** Self- and cross-attention in every transformer block of the UNet. */
function attentionCount(u: UnetConfig): number {
  const blocks = u.transformerDepth.reduce((s, d) => s + d * u.layersPerBlock + d * (u.layersPerBlock + 1), 0) + u.midTransformerDepth;
  return 2 * blocks;
}

async function image(dir: string): Promise<Float32Array> {
  const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: 1 });
  try {
    const { images } = await engine.generate(dir, { prompt: 'a red circle', seed: 3, steps: 3, guidance: 7.5, width: 64, height: 64 });
    return images[0]!.pixels;
  } finally {
    await engine.dispose();
  }
}

for (const [shape, dtype, tol] of [['mini', 'fp32', 1e-4], ['mini-xl', 'fp32', 1e-4], ['mini', 'fp16', 2e-2]] as const) {
  test(`${shape} ${dtype}: every attention of the UNet and VAE becomes MultiHeadAttention, with the same images`, async () => {
    const src = join(root, `${shape}-${dtype}`);
    await makeBenchModel(src, shape, dtype);
    const { dir, fused } = await fusedFolder(src, `${src}.fused`);
    assert.equal(fused['unet']!.attention, attentionCount(SHAPES[shape].unet));
    assert.equal(fused['vae_decoder']!.attention, 1);
    assert.ok(fused['unet']!.nodesAfter < fused['unet']!.nodesBefore);
    const unet = await readModel(join(dir, 'unet', 'model.onnx'), { loadExternalData: false });
    assert.ok(!unet.graph!.node!.some((n) => n.op_type === 'Softmax'), 'no unfused attention left');
    assert.ok(unet.opset_import!.some((o) => o.domain === 'com.microsoft'));
    assert.ok((await lstat(join(dir, 'text_encoder'))).isSymbolicLink(), 'other components are shared, not copied');
    const a = await image(src);
    const b = await image(dir);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    assert.ok(diff < tol, `max pixel difference ${diff}`);
  });
}

test('models with external data (model.onnx_data) get fused and fixed-shape copies that load', async () => {
  const src = join(root, 'mini-external');
  await makeBenchModel(src, 'mini', 'fp32', { externalAboveBytes: 0 });
  const { dir } = await fusedFolder(src, `${src}.fused`);
  const fixed = await fixedShapeFolder(dir, `${dir}.fixed`, { unet: { batch: 2, height: 8, width: 8 }, vae_decoder: { batch: 1 } });
  const a = await image(src);
  for (const d of [dir, fixed]) {
    const b = await image(d);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    assert.ok(diff < 1e-4, `${d}: max pixel difference ${diff}`);
  }
});

test('masked attention (the text encoder’s causal mask) is left alone', async () => {
  const src = join(root, 'mini-fp32');
  const te = await readModel(join(src, 'text_encoder', 'model.onnx'));
  const softmaxes = te.graph!.node!.filter((n) => n.op_type === 'Softmax').length;
  assert.deepEqual(fuseAttention(te).attention, 0);
  assert.equal(te.graph!.node!.filter((n) => n.op_type === 'Softmax').length, softmaxes);
});

test('the fused-all set times the engine\'s twin with every fusion the provider has kernels for (on CPU: attention and skip-layer-norm)', async () => {
  const o = { ...defaultOptions('mini'), opts: ['fused-all' as const], steps: 2, runs: 1, warmup: 0, e2eRuns: 1, batches: [2], images: [1], threads: 1, modelsDir: join(root, 'models') };
  const report = await runBench(o);
  const entry = report.runs[0]!;
  assert.deepEqual(entry.errors, []);
  assert.equal(entry.opt, 'fused-all');
  assert.ok(entry.unet[0]!.medianMs > 0 && entry.endToEnd!.medianMs > 0);
  assert.ok(entry.cacheBuildMs! > 0, 'the twins were made before loading');
  assert.ok(existsSync(join(report.modelDir, 'unet', 'model.optimized-attention+skip-layer-norm.onnx')));
});

test('a run saves its UNet output for fixed inputs and a later run compares with it: fused-all against fused (what the GPU run checks for the CUDA-only fusions)', async () => {
  const reference = join(root, 'unet-fused.f32');
  const o = { ...defaultOptions('mini'), steps: 2, runs: 1, warmup: 0, batches: [2], images: [], threads: 1, skipEndToEnd: true, modelsDir: join(root, 'models') };
  const fused = await runBench({ ...o, opts: ['fused'], saveUnetOutput: reference });
  assert.equal(fused.runs[0]!.unetParity, undefined);
  const all = await runBench({ ...o, opts: ['fused-all', 'ort-all'], compareUnetOutput: reference });
  for (const e of all.runs) {
    assert.ok(e.unetParity!.finite);
    assert.ok(e.unetParity!.maxRelDiff < 1e-4, `${e.opt}: ${e.unetParity!.maxRelDiff}`);
  }
  assert.ok(all.runs[1]!.unetParity!.maxRelDiff > 0, 'ort-all, unfused attention: another graph, not the reference read back');
  assert.match(formatReport(all), /darkroom cpu fused-all: UNet output against unet-fused\.f32: max difference \d\.\d\de-\d+ of its largest value\n/);
});
