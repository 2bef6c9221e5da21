import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, makeTensor, saveModel } from '../../../src/engine/onnx/builder.ts';
import { inferElementTypes } from '../../../src/engine/onnx/element-types.ts';
import { halveFloats, toFloat16Graph } from '../../../src/engine/onnx/float16-graph.ts';
import { DataType, type ModelProto, type NodeProto } from '../../../src/engine/onnx/proto.ts';
import { OnnxSession, type Feed } from '../../../src/engine/runtime/session.ts';
import { fromHalfBits } from '../../../src/engine/runtime/fp16.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-f16-graph-'));
});
after(() => rm(root, { recursive: true, force: true }));

let fileCounter = 0;
async function run(model: ModelProto, feeds: Record<string, Feed>): Promise<Float32Array> {
  const path = join(root, `m${fileCounter++}.onnx`);
  await saveModel(path, model);
  const s = await OnnxSession.load(path, { provider: 'cpu', threads: 1 });
  try {
    return Object.values(await s.run(feeds))[0]!.data;
  } finally {
    await s.dispose();
  }
}

function producerOf(model: ModelProto, value: string): NodeProto | undefined {
  return model.graph!.node!.find((n) => n.output!.includes(value));
}

const seeded = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);

/** A diffusers-style timestep embedding (sin/cos of t times frequencies) into a linear layer, plus a conv path. */
function timestepNet(): ModelProto {
  const g = new GraphBuilder('t');
  const t = g.input('timestep', 'float32', [1]);
  const x = g.input('sample', 'float32', [1, 4, 8, 8]);
  const freqs = g.constant(Float32Array.from({ length: 8 }, (_, i) => Math.exp((-Math.log(10000) * i) / 8)), [1, 8]);
  const args = g.mul(g.unsqueeze(t, [1]), freqs);
  const emb = g.concat([g.op('Sin', [args]), g.op('Cos', [args])], 1);
  const w = g.initializer('linear.weight', seeded(16 * 4, 1), [16, 4]);
  const temb = g.matmul(emb, w); // [1, 4]
  const conv = g.conv(x, g.initializer('conv.weight', seeded(4 * 4 * 9, 2), [4, 4, 3, 3]), g.initializer('conv.bias', seeded(4, 3), [4]), { pads: [1, 1, 1, 1] });
  const y = g.add(conv, g.unsqueeze(g.unsqueeze(temb, [2]), [3]));
  g.output('out', 'float32', [1, 4, 8, 8], y);
  return g.toModel();
}

test('the timestep embedding stays float32 up to its linear layer; the rest computes in float16; inputs and outputs stay float32', async () => {
  const model = timestepNet();
  const plan = toFloat16Graph(model)!;
  const half = plan.model;
  const types = inferElementTypes(half.graph!);
  for (const op of ['Sin', 'Cos']) {
    const n = half.graph!.node!.find((x) => x.op_type === op)!;
    assert.equal(types.get(n.output![0]!), DataType.FLOAT, `${op} computes in float32`);
  }
  const matmul = half.graph!.node!.find((n) => n.op_type === 'MatMul')!;
  assert.equal(types.get(matmul.input![0]!), DataType.FLOAT16, 'the embedding is cast to float16 for the linear layer');
  assert.equal(producerOf(half, matmul.input![0]!)?.op_type, 'Cast');
  assert.equal(types.get(matmul.output![0]!), DataType.FLOAT16);
  for (const t of half.graph!.initializer!) {
    if (t.name!.startsWith('linear') || t.name!.startsWith('conv')) assert.equal(t.data_type, DataType.FLOAT16, t.name);
  }
  assert.deepEqual(half.graph!.input!.map((i) => i.type!.tensor_type!.elem_type), [DataType.FLOAT, DataType.FLOAT]);
  assert.equal(half.graph!.output![0]!.type!.tensor_type!.elem_type, DataType.FLOAT);
  assert.equal(producerOf(half, 'out')?.op_type, 'Cast', 'the float16 result is cast back at the output');
  assert.equal(plan.float32Nodes, 5); // Unsqueeze, Mul, Sin, Cos, Concat

  const feeds = { timestep: { data: [981], dims: [1] }, sample: { data: seeded(256, 7), dims: [1, 4, 8, 8] } };
  const [a, b] = [await run(model, feeds), await run(half, feeds)];
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  assert.ok(max < 5e-3, `max difference ${max}`);
});

test('a timestep embedding computed in float16 would be off: the float32 region is what keeps it right', async () => {
  // sin(981 · 1) in float16: 981 · f rounds to a multiple of 0.5, so the high frequencies are lost.
  const args = 981 * 0.9;
  const halfArg = fromHalfBits(halveFloats(Float32Array.of(args))[0]!);
  assert.ok(Math.abs(Math.sin(args) - Math.sin(halfArg)) > 0.05, 'float16 would change the embedding');
});

test('Resize keeps its scales in float32; a constant wanted in both precisions is kept twice', async () => {
  const g = new GraphBuilder('r');
  const x = g.input('x', 'float32', [1, 2, 4, 4]);
  const scales = g.initializer('scales', Float32Array.of(1, 1, 2, 2), [4]);
  const up = g.node('Resize', [x, '', scales], 1, { mode: 'nearest' })[0]!;
  const two = g.initializer('two', Float32Array.of(2), []);
  const a = g.mul(up, two); // float16
  const freq = g.mul(g.op('Sin', [x]), two); // float32 region, same constant
  g.output('a', 'float32', [1, 2, 8, 8], a);
  g.output('s', 'float32', [1, 2, 4, 4], freq);
  const model = g.toModel();
  const half = toFloat16Graph(model)!.model;
  const types = inferElementTypes(half.graph!);
  const resize = half.graph!.node!.find((n) => n.op_type === 'Resize')!;
  assert.equal(types.get(resize.input![0]!), DataType.FLOAT16);
  assert.equal(types.get(resize.input![2]!), DataType.FLOAT, 'scales stay float32');
  const names = half.graph!.initializer!.map((t) => `${t.name}:${t.data_type}`).sort();
  assert.deepEqual(names, [`scales:${DataType.FLOAT}`, `two/fp16:${DataType.FLOAT16}`, `two:${DataType.FLOAT}`]);
  const x0 = seeded(32, 4);
  const [ra, rb] = [await run(model, { x: { data: x0, dims: [1, 2, 4, 4] } }), await run(half, { x: { data: x0, dims: [1, 2, 4, 4] } })];
  for (let i = 0; i < ra.length; i++) assert.ok(Math.abs(ra[i]! - rb[i]!) < 2e-3, `value ${i}: ${ra[i]} vs ${rb[i]}`);
});

test('weights beyond the float16 range are clamped to ±65504; infinities stay', () => {
  const half = halveFloats(Float32Array.of(1e6, -3.4e38, 70000, -Infinity, 1.5, 1e-9));
  assert.deepEqual(Array.from(half, fromHalfBits), [65504, -65504, 65504, -Infinity, 1.5, 0]);
});

test('an output also used inside the graph, a LayerNormalization, and Cast/ConstantOfShape targets become float16', async () => {
  const g = new GraphBuilder('ln');
  const x = g.input('x', 'float32', [2, 8]);
  const ln = g.layerNorm(x, g.initializer('s', seeded(8, 1), [8]), g.initializer('b', seeded(8, 2), [8]));
  const ones = g.node('ConstantOfShape', [g.shape(ln)], 1, { value: makeTensor('', Float32Array.of(1), [1]) })[0]!;
  const ids = g.input('ids', 'int64', [2, 8]);
  const y = g.add(g.add(ln, ones), g.cast(ids, 'float32'));
  g.output('ln', 'float32', [2, 8], ln);
  g.output('y', 'float32', [2, 8], y);
  const model = g.toModel();
  const half = toFloat16Graph(model)!.model;
  const types = inferElementTypes(half.graph!);
  const cast = half.graph!.node!.find((n) => n.op_type === 'Cast' && n.input![0] === 'ids')!;
  assert.equal(types.get(cast.output![0]!), DataType.FLOAT16);
  const cos = half.graph!.node!.find((n) => n.op_type === 'ConstantOfShape')!;
  assert.equal(types.get(cos.output![0]!), DataType.FLOAT16);
  assert.deepEqual(half.graph!.output!.map((o) => types.get(o.name!)), [DataType.FLOAT, DataType.FLOAT]);
  const feeds = { x: { data: seeded(16, 5), dims: [2, 8] }, ids: { data: Array.from({ length: 16 }, (_, i) => i), dims: [2, 8] } };
  const [a, b] = [await run(model, feeds), await run(half, feeds)];
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-2, `value ${i}: ${a[i]} vs ${b[i]}`);
});

test('a graph with nothing in float32 is not rewritten', () => {
  const g = new GraphBuilder('h');
  const x = g.input('x', 'float16', [2]);
  g.output('y', 'float16', [2], g.mul(x, g.constant(Float32Array.of(2), [], 'float16')));
  assert.equal(toFloat16Graph(g.toModel()), undefined);
});
