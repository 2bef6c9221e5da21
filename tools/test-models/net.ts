/**
 * What every tiny network shares: a graph builder, a seeded weight stream, and the fp16 convention.
 * In fp16 models, weights are stored as float16 and Cast up, float inputs are declared float16 and
 * Cast up, and float outputs are Cast down: the graph computes in float32 (safe on every CPU) while
 * the engine sees float16 I/O, as it does with real fp16 exports.
 */
import { GraphBuilder, type Dim } from '../../src/engine/onnx/builder.ts';
import type { ModelProto } from '../../src/engine/onnx/proto.ts';
import { Prng } from './rng.ts';

export const OPSET = 17;
export const IR_VERSION = 8;

export class Net {
  readonly g: GraphBuilder;

  constructor(
    name: string,
    private readonly rng: Prng,
    readonly fp16: boolean,
  ) {
    this.g = new GraphBuilder(name);
  }

  /** A float32 value holding `data` (a float16 initializer Cast up in fp16 models). */
  param(name: string, data: Float32Array, dims: number[]): string {
    if (!this.fp16) return this.g.initializer(name, data, dims);
    return this.g.cast(this.g.initializer(name, data, dims, 'float16'), 'float32');
  }

  /** Random normal weights with standard deviation `std`, from the stream named after the tensor. */
  randn(name: string, dims: number[], std: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    return this.param(name, this.rng.fork(name).normals(n, std), dims);
  }

  /** Weights for x @ W with W [fanIn, fanOut], scaled so activations stay O(1). */
  dense(name: string, fanIn: number, fanOut: number, gain = 1): string {
    return this.randn(name, [fanIn, fanOut], gain / Math.sqrt(fanIn));
  }

  filled(name: string, dims: number[], value: number): string {
    return this.param(name, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value), dims);
  }

  /** A float32 scalar (or small table) used in computation, not a weight: always stored as float32. */
  scalar(value: number): string {
    return this.g.constant([value], [], 'float32', 'scalar');
  }

  /** Declares a float input (float16 in fp16 models) and returns its float32 value. */
  floatInput(name: string, dims: readonly Dim[]): string {
    if (!this.fp16) return this.g.input(name, 'float32', dims);
    return this.g.cast(this.g.input(name, 'float16', dims), 'float32');
  }

  /** Declares a float output (float16 in fp16 models) computed as the float32 value `value`. */
  floatOutput(name: string, dims: readonly Dim[], value: string): void {
    if (!this.fp16) {
      this.g.output(name, 'float32', dims, value);
      return;
    }
    this.g.node('Cast', [value], [name], { to: 10 });
    this.g.output(name, 'float16', dims);
  }

  /** LayerNorm over the last axis with fresh unit scale and zero bias. */
  layerNorm(name: string, x: string, dim: number): string {
    return this.g.layerNorm(x, this.filled(`${name}.weight`, [dim], 1), this.filled(`${name}.bias`, [dim], 0));
  }

  /**
   * Scaled dot-product attention: softmax(q k^T / sqrt(d) + mask) v, for q [b, n, d], k and v [b, m, d].
   */
  attention(q: string, k: string, v: string, d: number, mask?: string): string {
    const g = this.g;
    let scores = g.mul(g.matmul(q, g.transpose(k, [0, 2, 1])), this.scalar(1 / Math.sqrt(d)));
    if (mask) scores = g.add(scores, mask);
    return g.matmul(g.softmax(scores, -1), v);
  }

  /** Sinusoidal embedding of x [...] → [..., 2 * half] (sin then cos), diffusers' frequencies. */
  sinusoid(x: string, half: number, maxPeriod = 10000): string {
    const g = this.g;
    const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / half));
    const args = g.mul(g.unsqueeze(x, [-1]), g.constant(freqs, [half], 'float32', 'freqs'));
    return g.concat([g.op('Sin', [args]), g.op('Cos', [args])], -1);
  }

  toModel(doc: string): ModelProto {
    return this.g.toModel({ opset: OPSET, irVersion: IR_VERSION, producerName: 'darkroom-test-models', producerVersion: '1', docString: doc });
  }
}
