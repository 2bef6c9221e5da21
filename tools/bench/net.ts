/**
 * What the benchmark networks share: a GraphBuilder, seeded random weights named as in diffusers'
 * and transformers' state dicts, and the layer patterns (GroupNorm, LayerNorm, attention, GELU)
 * written the way torch.onnx exports them, so ONNX Runtime's optimisers (and the fusions of
 * onnxruntime.transformers) recognise them.
 *
 * Models are "true" fp16 when asked: weights, activations, inputs and outputs are float16, and
 * only the sinusoidal timestep embedding is computed in float32 and Cast down, as real fp16 exports
 * do. Weights of big models stream into `model.onnx_data` (ONNX external data) as they are made,
 * so a 3.4 GB UNet never sits in memory twice.
 *
 * Linear layers are MatMul + Add with the weight stored [in, out] (the transpose of torch's
 * nn.Linear.weight), as in optimum's exports; every other tensor has its torch shape, except that
 * GroupNorm's per-channel scale and bias are stored [C, 1, 1] for broadcasting.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { float, GraphBuilder, makeTensor, type Dim } from '../../src/engine/onnx/builder.ts';
import { DataLocation, encodeModel, type ModelProto, type TensorProto } from '../../src/engine/onnx/proto.ts';
import { float32ToFloat16 } from '../../src/engine/runtime/fp16.ts';
import { hashString } from '../test-models/rng.ts';

export type FloatType = 'float32' | 'float16';

export const OPSET = 17;
export const IR_VERSION = 8;
const EXTERNAL_ALIGN = 64;
const INLINE_BELOW_BYTES = 1024;

/** Streams tensors into an ONNX external-data file (`<model file>_data`). */
export class ExternalDataFile {
  private readonly fd: number;
  private offset = 0;
  readonly location: string;

  constructor(readonly modelPath: string) {
    this.location = `${basename(modelPath)}_data`;
    this.fd = openSync(`${modelPath}_data`, 'w');
  }

  /** Appends `bytes` (64-byte aligned) and returns the TensorProto pointing at them. */
  add(tensor: TensorProto, bytes: Uint8Array): TensorProto {
    const pad = (EXTERNAL_ALIGN - (this.offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
    if (pad) writeSync(this.fd, new Uint8Array(pad));
    this.offset += pad;
    for (let done = 0; done < bytes.byteLength; ) done += writeSync(this.fd, bytes, done);
    const entry: TensorProto = {
      ...tensor,
      data_location: DataLocation.EXTERNAL,
      external_data: [
        { key: 'location', value: this.location },
        { key: 'offset', value: String(this.offset) },
        { key: 'length', value: String(bytes.byteLength) },
      ],
    };
    delete entry.raw_data;
    this.offset += bytes.byteLength;
    return entry;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** mulberry32, filled straight into a Float32Array: uniform with the asked standard deviation. */
function uniformWeights(count: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  const a = std * Math.sqrt(3);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 * a - a;
  }
  return out;
}

export interface LinearOptions {
  bias?: boolean;
  /** Weight standard deviation is gain / sqrt(fan_in). */
  gain?: number;
}

export class BenchNet {
  readonly g: GraphBuilder;
  private readonly weights: TensorProto[] = [];
  /** Parameters made so far (weights only, not the constants the graph needs). */
  paramCount = 0;

  constructor(
    name: string,
    private readonly seed: number,
    readonly dtype: FloatType,
    private readonly external?: ExternalDataFile,
  ) {
    this.g = new GraphBuilder(name);
  }

  /** A named weight: uniform random with standard deviation `std`, or every value `fill`. */
  param(name: string, dims: number[], init: { std: number } | { fill: number }): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const values = 'fill' in init ? new Float32Array(count).fill(init.fill) : uniformWeights(count, init.std, hashString(name, this.seed));
    const data = this.dtype === 'float16' ? float32ToFloat16(values) : values;
    let tensor = makeTensor(name, data, dims, this.dtype);
    if (this.external && tensor.raw_data!.byteLength >= INLINE_BELOW_BYTES) tensor = this.external.add(tensor, tensor.raw_data!);
    this.weights.push(tensor);
    this.paramCount += count;
    return name;
  }

  /** A constant in the compute dtype (not a parameter). */
  constant(values: readonly number[] | Float32Array, dims: number[], hint = 'const'): string {
    return this.g.constant(values instanceof Float32Array ? values : Float32Array.from(values), dims, this.dtype, hint);
  }

  scalar(value: number): string {
    return this.constant([value], [], 'scalar');
  }

  floatInput(name: string, dims: readonly Dim[]): string {
    return this.g.input(name, this.dtype, dims);
  }

  floatOutput(name: string, dims: readonly Dim[], value: string): void {
    this.g.output(name, this.dtype, dims, value);
  }

  toFloat(x: string): string {
    return this.g.cast(x, this.dtype);
  }

  // --- layers ------------------------------------------------------------------------------

  /** nn.Linear: x @ W + b, W stored [in, out]. */
  linear(x: string, name: string, fanIn: number, fanOut: number, opts: LinearOptions = {}): string {
    const w = this.param(`${name}.weight`, [fanIn, fanOut], { std: (opts.gain ?? 1) / Math.sqrt(fanIn) });
    const y = this.g.matmul(x, w);
    if (opts.bias === false) return y;
    return this.g.add(y, this.param(`${name}.bias`, [fanOut], { std: 0.02 }));
  }

  /** nn.Conv2d with bias, square kernel, 'same' padding (or stride-2 downsampling). */
  conv(x: string, name: string, cin: number, cout: number, k: number, opts: { stride?: number; gain?: number } = {}): string {
    const w = this.param(`${name}.weight`, [cout, cin, k, k], { std: (opts.gain ?? 1) / Math.sqrt(cin * k * k) });
    const b = this.param(`${name}.bias`, [cout], { std: 0.02 });
    const p = (k - 1) / 2;
    return this.g.conv(x, w, b, { pads: [p, p, p, p], ...(opts.stride ? { strides: [opts.stride, opts.stride] } : {}) });
  }

  /**
   * nn.GroupNorm as torch.onnx exports it: Reshape to [b, groups, -1] → InstanceNormalization →
   * Reshape back → per-channel Mul/Add (the pattern onnxruntime's GroupNorm fusion matches).
   */
  groupNorm(x: string, name: string, channels: number, groups: number, eps: number): string {
    const g = this.g;
    const grouped = g.reshape(x, [0, groups, -1]);
    const ones = this.constant(new Float32Array(groups).fill(1), [groups], 'gn_scale');
    const zeros = this.constant(new Float32Array(groups), [groups], 'gn_bias');
    const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: float(eps) });
    const back = g.reshape(normed, g.shape(x));
    const scale = this.param(`${name}.weight`, [channels, 1, 1], { fill: 1 });
    const bias = this.param(`${name}.bias`, [channels, 1, 1], { fill: 0 });
    return g.add(g.mul(back, scale), bias);
  }

  layerNorm(x: string, name: string, dim: number, eps = 1e-5): string {
    return this.g.layerNorm(x, this.param(`${name}.weight`, [dim], { fill: 1 }), this.param(`${name}.bias`, [dim], { fill: 0 }), eps);
  }

  silu(x: string): string {
    return this.g.silu(x);
  }

  /** Exact (erf) GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2))). */
  gelu(x: string): string {
    const g = this.g;
    const erf = g.op('Erf', [g.div(x, this.scalar(Math.SQRT2))]);
    return g.mul(g.mul(x, g.add(erf, this.scalar(1))), this.scalar(0.5));
  }

  /** CLIP's quick_gelu: x * sigmoid(1.702 x). */
  quickGelu(x: string): string {
    return this.g.mul(x, this.g.sigmoid(this.g.mul(x, this.scalar(1.702))));
  }

  /**
   * Multi-head scaled dot-product attention over q [b, n, h*d], k and v [b, m, h*d]:
   * split heads → softmax(q kᵀ / sqrt(d) + mask) v → merge heads. Returns [b, n, h*d].
   */
  attention(q: string, k: string, v: string, heads: number, headDim: number, mask?: string): string {
    const g = this.g;
    const split = (x: string, perm: number[]) => g.transpose(g.reshape(x, [0, 0, heads, headDim]), perm);
    const qh = split(q, [0, 2, 1, 3]); // [b, h, n, d]
    const kt = split(k, [0, 2, 3, 1]); // [b, h, d, m]
    const vh = split(v, [0, 2, 1, 3]); // [b, h, m, d]
    let scores = g.mul(g.matmul(qh, kt), this.scalar(1 / Math.sqrt(headDim)));
    if (mask) scores = g.add(scores, mask);
    const out = g.matmul(g.softmax(scores, -1), vh); // [b, h, n, d]
    return g.reshape(g.transpose(out, [0, 2, 1, 3]), [0, 0, heads * headDim]);
  }

  /** Sinusoidal embedding (float32) of t [n] → [n, dim], diffusers' get_timestep_embedding with flip_sin_to_cos. */
  timestepEmbedding(t: string, dim: number): string {
    const g = this.g;
    const half = dim / 2;
    const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
    const args = g.mul(g.unsqueeze(t, [1]), g.constant(freqs, [1, half], 'float32', 'freqs'));
    return g.concat([g.op('Cos', [args]), g.op('Sin', [args])], 1);
  }

  /** The model, with every weight (inline, or pointing into the external data file). */
  toModel(doc: string): ModelProto {
    const model = this.g.toModel({ opset: OPSET, irVersion: IR_VERSION, producerName: 'darkroom-bench', producerVersion: '1', docString: doc });
    model.graph!.initializer = [...(model.graph!.initializer ?? []), ...this.weights];
    return model;
  }
}

/**
 * Builds one component: `build` adds the graph to a fresh BenchNet; weights go to
 * `<path>_data` when `external` (and the data file is closed before the .onnx is written).
 */
export async function writeNetwork(
  path: string,
  name: string,
  opts: { seed: number; dtype: FloatType; external: boolean; doc: string },
  build: (net: BenchNet) => void,
): Promise<{ params: number }> {
  const file = opts.external ? new ExternalDataFile(path) : undefined;
  let model: ModelProto;
  let params: number;
  try {
    const net = new BenchNet(name, opts.seed, opts.dtype, file);
    build(net);
    model = net.toModel(opts.doc);
    params = net.paramCount;
  } finally {
    file?.close();
  }
  await writeFile(path, encodeModel(model));
  return { params };
}
