/**
 * The UNet fusions beyond attention (src/engine/models/fuse-*.ts). SkipLayerNormalization has a CPU
 * kernel: its twin must compute what the plain graph computes, on the bench's mini SD 1.5 and on the
 * demo model (a torch.onnx export). GroupNorm, BiasSplitGelu and BiasAdd are CUDA-only: on CPU their
 * graphs are checked for the patterns found and for passing ONNX Runtime's own graph resolution (type
 * and shape inference against the com.microsoft schemas), which ends, on CPU, in the missing kernel
 * only; their numbers are the GPU run's to check (tools/bench/gpu.sh, set fused-all).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { fusionsFor, type FusionName } from '../../src/engine/models/fuse-names.ts';
import { applyFusions, fusionTag } from '../../src/engine/models/fuse-set.ts';
import { optimizedFile } from '../../src/engine/models/optimized.ts';
import { makeTensor, readModel } from '../../src/engine/onnx/builder.ts';
import { toFloat16Graph } from '../../src/engine/onnx/float16-graph.ts';
import { DataType, encodeModel, type ModelProto, type NodeProto } from '../../src/engine/onnx/proto.ts';
import { OnnxSession } from '../../src/engine/runtime/session.ts';
import type { UnetConfig } from '../../tools/bench/configs.ts';
import { makeBenchModel } from '../../tools/bench/make.ts';
import { writeNetwork } from '../../tools/bench/net.ts';
import { unetFeeds } from '../../tools/bench/run.ts';
import { buildUnet } from '../../tools/bench/unet.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

let root = '';
let mini = '';
let demo = '';
/** SD 1.5's widths (320 channels, 32 groups, 8 × 320 GEGLU) in one block: the sizes the CUDA kernels take. */
let sdWidth = '';
const SD_WIDTH: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockChannels: [320],
  layersPerBlock: 1,
  transformerDepth: [1],
  midTransformerDepth: 1,
  heads: [5],
  contextDim: 32,
  linearProjection: false,
  normGroups: 32,
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-fusions-'));
  mini = join(root, 'mini');
  await makeBenchModel(mini, 'mini', 'fp32');
  demo = join(root, 'darkroom-demo');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), demo, { recursive: true });
  sdWidth = join(root, 'sd-width.onnx');
  await writeNetwork(sdWidth, 'unet', { seed: 7, dtype: 'float32', external: false, doc: 'fusion test' }, (net) => buildUnet(net, SD_WIDTH));
});
after(() => rm(root, { recursive: true, force: true }));

const ops = (m: ModelProto, op: string) => m.graph!.node!.filter((n) => n.op_type === op);

async function fused(src: string, names: FusionName[]): Promise<{ path: string; model: ModelProto; report: Awaited<ReturnType<typeof applyFusions>> }> {
  const model = await readModel(src);
  const report = await applyFusions(model, names);
  const path = join(root, `${names.join('+')}-${Math.random().toString(36).slice(2)}.onnx`);
  await writeFile(path, encodeModel(model));
  return { path, model, report };
}

/** The UNet's output for fixed inputs (batch 2, as with guidance), on CPU. */
async function unetOut(path: string, size: number): Promise<Float32Array> {
  const s = await OnnxSession.load(path, { provider: 'cpu', threads: 1, graphCache: false });
  try {
    const out = await s.run(unetFeeds(s, 2, size, size));
    return Object.values(out)[0]!.data;
  } finally {
    await s.dispose();
  }
}

/** Largest difference relative to the largest magnitude of the reference. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return diff / scale;
}

test('skip-layer-norm on the mini SD 1.5: two per transformer block fused, biases folded, same output', async () => {
  const src = join(mini, 'unet', 'model.onnx');
  const before = await readModel(src);
  const { path, model, report } = await fused(src, ['skip-layer-norm']);
  // 11 transformer blocks (down 2 × 2, mid 1, up 2 × 3): norm2 and norm3 follow a residual Add; norm1 follows proj_in.
  assert.equal(report.fused['skip-layer-norm'], 22);
  const sln = ops(model, 'SkipLayerNormalization');
  assert.equal(sln.length, 22);
  assert.equal(sln.filter((n) => n.input!.length === 5).length, 22, 'the attention output projection’s bias is folded in');
  assert.equal(ops(model, 'LayerNormalization').length, ops(before, 'LayerNormalization').length - 22);
  assert.equal(report.nodesAfter, report.nodesBefore - 22 * 2);
  const diff = relDiff(await unetOut(src, 8), await unetOut(path, 8));
  assert.ok(diff < 1e-5, `relative difference ${diff}`);
});

test('skip-layer-norm on the demo model (a torch.onnx export): all 15 fused, with attention, the same output', async () => {
  const src = join(demo, 'unet', 'model.onnx');
  const attention = await fused(src, ['attention']);
  const both = await fused(src, ['attention', 'skip-layer-norm']);
  assert.equal(both.report.fused.attention, 10);
  // norm2 and norm3 of its 5 blocks after their residual Adds, and norm1 after the positional embedding's.
  assert.equal(both.report.fused['skip-layer-norm'], 15);
  assert.equal(ops(both.model, 'SkipLayerNormalization').length, 15);
  assert.equal(ops(both.model, 'LayerNormalization').length, 0);
  const plain = await unetOut(src, 16);
  assert.ok(relDiff(plain, await unetOut(both.path, 16)) < 1e-4);
  // Against attention alone: the skip-layer-norm rewrite itself changes (almost) nothing.
  const diff = relDiff(await unetOut(attention.path, 16), await unetOut(both.path, 16));
  assert.ok(diff < 1e-5, `relative difference ${diff}`);
});

test('the engine builds the twin of the chosen set, named for it, limited to the provider’s kernels, and draws the same image', async () => {
  const draw = async (optimize: boolean, fusions?: FusionName[], logs: string[] = []) => {
    const engine = new Engine({ modelDirs: [], provider: 'cpu', threads: 1, optimize, fp16: false, ...(fusions ? { fusions } : {}), log: (m) => logs.push(m) });
    try {
      const model = await engine.model(demo);
      const { images } = await engine.generate(demo, { prompt: 'a red star on the left on a blue background', seed: 4, steps: 4 });
      return { pixels: images[0]!.pixels, unet: model.unet.path };
    } finally {
      await engine.dispose();
    }
  };
  const plain = await draw(false);
  const logs: string[] = [];
  // `all` on CPU: the CUDA-only fusions are left out, so the twin is attention + skip-layer-norm.
  const all = await draw(true, ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add'], logs);
  assert.equal(all.unet, join(demo, 'unet', `model.${fusionTag(['attention', 'skip-layer-norm'])}.onnx`));
  assert.equal(all.unet, join(demo, 'unet', 'model.optimized-attention+skip-layer-norm.onnx'));
  assert.match(logs.join('\n'), /unet\/model\.onnx: 10 attention blocks fused, 15 skip-layer-norm, \d+ → \d+ nodes/);
  let diff = 0;
  for (let i = 0; i < plain.pixels.length; i++) diff = Math.max(diff, Math.abs(plain.pixels[i]! - all.pixels[i]!));
  assert.ok(diff < 2e-3, `max pixel difference ${diff}`);
  // Attention alone keeps its twin and name: a changed set is another file, not a stale one.
  assert.equal((await draw(true, ['attention'])).unet, join(demo, 'unet', 'model.optimized.onnx'));
  const twins = (await readdir(join(demo, 'unet'))).filter((f) => f.startsWith('model.optimized'));
  assert.deepEqual(twins.sort(), ['model.optimized-attention+skip-layer-norm.onnx', 'model.optimized.onnx']);
});

test('darkroom models optimize --fusions makes the twin of that set (the CUDA-only names are left out on CPU)', async () => {
  const copy = join(root, 'cli-demo');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), copy, { recursive: true });
  const bin = new URL('../../bin/darkroom.mjs', import.meta.url).pathname;
  const env = { ...process.env, DARKROOM_DATA_DIR: root };
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'models', 'optimize', '--fusions', 'all', copy], { env });
  assert.match(stdout, /darkroom-demo unet: 10 attention blocks fused, 15 skip-layer-norm, \d+ → \d+ nodes \(.*unet\/model\.optimized-attention\+skip-layer-norm\.onnx\)/);
});

test('fusionsFor leaves the CUDA-only fusions to CUDA', () => {
  const all: FusionName[] = ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add'];
  assert.deepEqual(fusionsFor('cpu', all), ['attention', 'skip-layer-norm']);
  assert.deepEqual(fusionsFor('webgpu', ['bias-add', 'attention']), ['attention']);
  assert.deepEqual(fusionsFor('cuda', [...all].reverse()), all);
});

/** Loading on CPU fails for the missing kernel of `op` only: the graph itself resolved, types and shapes inferred. */
async function resolvesUpToKernel(path: string, op: string): Promise<void> {
  await assert.rejects(OnnxSession.load(path, { provider: 'cpu', graphCache: false }), (err: Error) => {
    // ONNX Runtime words the refusal the second way for the float16 graph.
    assert.match(err.message, new RegExp(`(Could not find an implementation for |Failed to find kernel for com\\.microsoft\\.)${op}\\(1\\)`));
    return true;
  });
}

/**
 * The CUDA-only operators written back as standard ONNX operators, as com.microsoft's operator
 * documentation defines them (GroupNorm: NHWC, per-group mean and variance, then γ, β and an optional
 * SiLU; BiasSplitGelu: (x + bias) split in halves on the last axis, left · gelu(right); BiasAdd:
 * x + bias + skip), so that CPU can check what the rewrites feed them: inputs, their order,
 * attributes and the transposes around. Not a check of the CUDA kernels (the GPU run's).
 */
function expandCudaOps(model: ModelProto): void {
  const graph = model.graph!;
  let k = 0;
  const constant = (data: number[], dims: number[], dtype: 'float32' | 'int64' = 'float32') => {
    const t = makeTensor(`expand_const_${k++}`, dtype === 'int64' ? BigInt64Array.from(data.map(BigInt)) : Float32Array.from(data), dims, dtype);
    graph.initializer!.push(t);
    return t.name!;
  };
  const node = (op: string, input: string[], attrs: NodeProto['attribute'] = [], out = `expand_${k++}`): string => {
    added.push({ op_type: op, input, output: [out], attribute: attrs });
    return out;
  };
  let added: NodeProto[] = [];
  const out: NodeProto[] = [];
  for (const n of graph.node!) {
    added = [];
    const a = (name: string) => n.attribute!.find((x) => x.name === name)!;
    const [x, second, third] = n.input!;
    const y = n.output![0]!;
    if (n.op_type === 'GroupNorm') {
      const groups = a('groups').i!;
      const nchw = node('Transpose', [x!], [{ name: 'perm', type: 7, ints: [0, 3, 1, 2] }]);
      const grouped = node('Reshape', [nchw, constant([0, groups, -1], [3], 'int64')]);
      const normed = node('InstanceNormalization', [grouped, constant(new Array(groups).fill(1), [groups]), constant(new Array(groups).fill(0), [groups])], [{ name: 'epsilon', type: 1, f: a('epsilon').f! }]);
      const back = node('Reshape', [normed, node('Shape', [nchw])]);
      const perChannel = (v: string) => node('Reshape', [v, constant([-1, 1, 1], [3], 'int64')]);
      let h = node('Add', [node('Mul', [back, perChannel(second!)]), perChannel(third!)]);
      if (a('activation').i === 1) h = node('Mul', [h, node('Sigmoid', [h])]);
      node('Transpose', [h], [{ name: 'perm', type: 7, ints: [0, 2, 3, 1] }], y);
    } else if (n.op_type === 'BiasSplitGelu') {
      const width = graph.initializer!.find((t) => t.name === second)!.dims![0]!;
      const biased = node('Add', [x!, second!]);
      const [left, right] = [`expand_${k++}`, `expand_${k++}`];
      added.push({ op_type: 'Split', input: [biased, constant([width / 2, width / 2], [2], 'int64')], output: [left, right], attribute: [{ name: 'axis', type: 2, i: -1 }] });
      const erf = node('Erf', [node('Div', [right, constant([Math.SQRT2], [])])]);
      const gelu = node('Mul', [node('Mul', [right, node('Add', [erf, constant([1], [])])]), constant([0.5], [])]);
      node('Mul', [left, gelu], [], y);
    } else if (n.op_type === 'MultiHeadAttention' && n.input!.length < 3) {
      // Packed: [B, S, N, 3, H] (q, k, v) or [B, L, N, 2, H] (k, v) split back into [B, S, N·H] each.
      const parts = n.input!.length === 1 ? 3 : 2;
      const halves = Array.from({ length: parts }, () => `expand_${k++}`);
      added.push({ op_type: 'Split', input: [n.input!.at(-1)!, constant(new Array(parts).fill(1), [parts], 'int64')], output: halves, attribute: [{ name: 'axis', type: 2, i: 3 }] });
      const flat = halves.map((h) => node('Reshape', [h, constant([0, 0, -1], [3], 'int64')]));
      added.push({ ...n, input: parts === 3 ? flat : [x!, ...flat] });
    } else if (n.op_type === 'BiasAdd') {
      node('Add', [node('Add', [x!, second!]), third!], [], y);
    } else {
      out.push(n);
      continue;
    }
    out.push(...added);
  }
  graph.node = out;
}

test('group-norm at SD widths: every GroupNorm (with its SiLU) fused between transposes, resolved by ONNX Runtime', async () => {
  const transposes = ops(await readModel(sdWidth), 'Transpose').length;
  const { path, model, report } = await fused(sdWidth, ['group-norm']);
  // 5 ResNets × 2 (with SiLU), 4 Transformer2D norms (without), conv_norm_out (with).
  assert.equal(report.fused['group-norm'], 15);
  const gn = ops(model, 'GroupNorm');
  assert.equal(gn.length, 15);
  assert.equal(gn.filter((n) => n.attribute!.find((a) => a.name === 'activation')!.i === 1).length, 11);
  assert.ok(gn.every((n) => n.attribute!.find((a) => a.name === 'groups')!.i === 32 && n.attribute!.find((a) => a.name === 'channels_last')!.i === 1));
  assert.equal(ops(model, 'InstanceNormalization').length, 0);
  assert.equal(ops(model, 'Sigmoid').length, 2, 'only the time embedding’s SiLUs are left');
  assert.equal(ops(model, 'Transpose').length, transposes + 2 * 15, 'two per GroupNorm');
  await resolvesUpToKernel(path, 'GroupNorm');
  // Float16: the scale and bias stay float32, which the CUDA kernel requires.
  const half = toFloat16Graph(model)!.model;
  const inits = new Map(half.graph!.initializer!.map((t) => [t.name!, t]));
  for (const n of ops(half, 'GroupNorm')) for (const i of [1, 2]) assert.equal(inits.get(n.input![i]!)?.data_type, DataType.FLOAT, n.input![i]);
});

test('bias-split-gelu and bias-add at SD widths: one of each per transformer block, resolved by ONNX Runtime', async () => {
  const gelu = await fused(sdWidth, ['bias-split-gelu']);
  assert.equal(gelu.report.fused['bias-split-gelu'], 4);
  assert.equal(ops(gelu.model, 'Erf').length, 0);
  assert.equal(ops(gelu.model, 'Split').length, 0);
  await resolvesUpToKernel(gelu.path, 'BiasSplitGelu');
  // BiasAdd reads SkipLayerNormalization's sum, as ORT's fusion does: without it nothing is fused.
  assert.equal((await fused(sdWidth, ['bias-add'])).report.fused['bias-add'], 0);
  const add = await fused(sdWidth, ['skip-layer-norm', 'bias-add']);
  assert.equal(add.report.fused['skip-layer-norm'], 8);
  assert.equal(add.report.fused['bias-add'], 4);
  await resolvesUpToKernel(add.path, 'BiasAdd');
});

test('packed-qkv at SD widths: self-attention’s q, k, v and cross-attention’s k, v projected by one MatMul each, the packed shapes taken by ONNX Runtime', async () => {
  const { path, model, report } = await fused(sdWidth, ['attention', 'packed-qkv']);
  assert.equal(report.fused['packed-qkv'], 8);
  const mha = ops(model, 'MultiHeadAttention');
  assert.equal(mha.filter((n) => n.input!.length === 1).length, 4, 'self-attention: packed q, k, v');
  assert.equal(mha.filter((n) => n.input!.length === 2).length, 4, 'cross-attention: q, packed k, v');
  const attentionOnly = (await fused(sdWidth, ['attention'])).model;
  assert.equal(ops(model, 'MatMul').length, ops(attentionOnly, 'MatMul').length - 4 * 2 - 4 * 1, 'three projections become one, or two one');
  assert.equal(ops(model, 'Reshape').length, ops(attentionOnly, 'Reshape').length + 8);
  // ONNX Runtime's CPU kernel reads the packed shapes, then refuses to compute them.
  const s = await OnnxSession.load(path, { provider: 'cpu', threads: 1, graphCache: false });
  try {
    await assert.rejects(s.run(unetFeeds(s, 2, 8, 8)), /Packed (QKV of shape \(B, L, N, 3, H\)|KV) not implemented for CPU/);
  } finally {
    await s.dispose();
  }
});

test('the whole set at SD widths, its CUDA-only operators written back as standard ones, computes what the plain UNet does', async () => {
  const all = await fused(sdWidth, ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add']);
  assert.deepEqual(all.report.fused, { attention: 8, 'packed-qkv': 8, 'skip-layer-norm': 8, 'group-norm': 15, 'bias-split-gelu': 4, 'bias-add': 4 });
  expandCudaOps(all.model);
  assert.ok(!all.model.graph!.node!.some((n) => ['GroupNorm', 'BiasSplitGelu', 'BiasAdd'].includes(n.op_type!) || (n.op_type === 'MultiHeadAttention' && n.input!.length < 3)));
  const expanded = join(root, 'sd-width-expanded.onnx');
  await writeFile(expanded, encodeModel(all.model));
  const diff = relDiff(await unetOut(sdWidth, 8), await unetOut(expanded, 8));
  assert.ok(diff < 1e-4, `relative difference ${diff}`);
});

test('a model with its weights in model.onnx_data (as exports and the sd15 bench build keep them) gets the same fusions, and its twin computes the same', async () => {
  const dir = join(root, 'sd-width-external');
  await mkdir(dir);
  const src = join(dir, 'model.onnx');
  await writeNetwork(src, 'unet', { seed: 7, dtype: 'float32', external: true, doc: 'fusion test' }, (net) => buildUnet(net, SD_WIDTH));
  const onDisk = await readModel(src, { loadExternalData: false });
  assert.ok(onDisk.graph!.initializer!.filter((t) => t.data_location === 1).length > 50, 'norm weights and biases are external too');
  const all: FusionName[] = ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add'];
  const twin = await optimizedFile(src, { fuse: true, fusions: all });
  assert.match(twin.reports[0]!.did!, /^8 attention blocks fused, 8 packed-qkv, 8 skip-layer-norm, 15 group-norm, 4 bias-split-gelu, 4 bias-add, \d+ → \d+ nodes$/);
  await resolvesUpToKernel(twin.path, 'GroupNorm');
  const cpu = await optimizedFile(src, { fuse: true, fusions: ['attention', 'skip-layer-norm'] });
  assert.equal(cpu.path, join(dir, 'model.optimized-attention+skip-layer-norm.onnx'));
  const diff = relDiff(await unetOut(src, 8), await unetOut(cpu.path, 8));
  assert.ok(diff < 1e-4, `relative difference ${diff}`);
});

test('group-norm where a Transformer2D goes straight back to channels-last (linear projections, mini-xl): that Transpose pair cancels, same output', async () => {
  const dir = join(root, 'mini-xl');
  await makeBenchModel(dir, 'mini-xl', 'fp32');
  const src = join(dir, 'unet', 'model.onnx');
  const { path, model, report } = await fused(src, ['group-norm']);
  const norms = new Set(ops(model, 'GroupNorm').map((n) => n.output![0]!));
  const cancelled = ops(model, 'Identity').filter((n) => norms.has(n.input![0]!));
  assert.ok(report.fused['group-norm']! > 0);
  const transformerNorms = ops(model, 'GroupNorm').filter((n) => n.attribute!.find((a) => a.name === 'activation')!.i === 0);
  assert.ok(transformerNorms.length > 0);
  assert.equal(cancelled.length, transformerNorms.length, 'each Transformer2D norm (no SiLU) feeds its tokens without a transpose pair');
  expandCudaOps(model);
  const expanded = join(root, 'mini-xl-expanded.onnx');
  await writeFile(expanded, encodeModel(model));
  const diff = relDiff(await unetOut(src, 8), await unetOut(expanded, 8));
  assert.ok(diff < 1e-4, `relative difference ${diff}`);
  await resolvesUpToKernel(path, 'GroupNorm');
});

test('float16 (what the GPU run loads): the whole set at SD widths, GroupNorm’s scale and bias float32 beside float16 activations, resolves in ONNX Runtime', async () => {
  const half = join(root, 'sd-width-fp16.onnx');
  await writeNetwork(half, 'unet', { seed: 7, dtype: 'float16', external: false, doc: 'fusion test' }, (net) => buildUnet(net, SD_WIDTH));
  const all = await fused(half, ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add']);
  assert.deepEqual(all.report.fused, { attention: 8, 'packed-qkv': 8, 'skip-layer-norm': 8, 'group-norm': 15, 'bias-split-gelu': 4, 'bias-add': 4 });
  const inits = new Map(all.model.graph!.initializer!.map((t) => [t.name!, t]));
  for (const n of ops(all.model, 'GroupNorm')) assert.equal(inits.get(n.input![1]!)!.data_type, DataType.FLOAT);
  for (const n of ops(all.model, 'BiasSplitGelu')) assert.equal(inits.get(n.input![1]!)!.data_type, DataType.FLOAT16);
  await resolvesUpToKernel(all.path, 'GroupNorm');
});

test('the test suite’s tiny SD 1.5 has none of these patterns (its one LayerNorm follows a Transpose): nothing fused', async () => {
  const { report } = await fused(join(await testModelDir('tiny-sd1'), 'unet', 'model.onnx'), ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add']);
  assert.ok(Object.values(report.fused).every((n) => n === 0), JSON.stringify(report.fused));
});

test('the demo model (a torch.onnx export): packed-qkv applies and, written back, computes what it does; its 8-group norms, GELU MLP and 96 channels are left alone', async () => {
  const src = join(demo, 'unet', 'model.onnx');
  const all = await fused(src, ['attention', 'packed-qkv', 'skip-layer-norm', 'group-norm', 'bias-split-gelu', 'bias-add']);
  assert.equal(all.report.fused['packed-qkv'], 10);
  assert.equal(all.report.fused['group-norm'], 0, 'GroupNorm(8): ORT fuses 32 groups only');
  assert.equal(all.report.fused['bias-split-gelu'], 0, 'a GELU MLP, not GEGLU');
  assert.equal(all.report.fused['bias-add'], 0, 'width 96');
  expandCudaOps(all.model);
  const expanded = join(root, 'demo-expanded.onnx');
  await writeFile(expanded, encodeModel(all.model));
  const diff = relDiff(await unetOut(src, 16), await unetOut(expanded, 16));
  assert.ok(diff < 1e-4, `relative difference ${diff}`);
});

test('the CUDA-only fusions leave widths their kernels refuse alone (the mini shape)', async () => {
  const { report } = await fused(join(mini, 'unet', 'model.onnx'), ['skip-layer-norm', 'bias-split-gelu', 'bias-add']);
  assert.equal(report.fused['bias-split-gelu'], 0);
  assert.equal(report.fused['bias-add'], 0);
});
