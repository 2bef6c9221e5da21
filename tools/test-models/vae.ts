/**
 * A linear 8x VAE. The decoder maps each latent pixel's 4 values to an 8x8 RGB patch with one
 * 1x1 Conv (4 → 192) and DepthToSpace(8), then clips to [-1, 1]; the encoder is SpaceToDepth(8) and
 * the decoder's pseudo-inverse as a 1x1 Conv (192 → 4). So encode(decode(z)) = z wherever the decoder
 * does not clip, and decode(encode(x)) is x projected onto the decoder's 4 patch patterns: the
 * patch's mean brightness, two colour differences and one random texture, i.e. an 8x-downsampled
 * copy of the image. Image-to-image at low strength keeps the init image's layout and colours.
 *
 * The patterns are scaled by the scaling factor, so latents × scaling_factor are O(1), as the
 * pipelines expect.
 */
import type { ModelProto } from '../../src/engine/onnx/proto.ts';
import { Net } from './net.ts';
import { Prng } from './rng.ts';

export const VAE_FACTOR = 8;
const PATCH = VAE_FACTOR * VAE_FACTOR * 3; // 192 values per latent pixel

export interface VaeSpec {
  scalingFactor: number;
  /** Encoder output: 'latent_sample' [b,4,h,w] (older exports) or 'latent_parameters' [b,8,h,w] (mean ‖ logvar). */
  encoderOutput: 'latent_sample' | 'latent_parameters';
  fp16: boolean;
}

/** The decoder's patch patterns, [192, 4], row index (i * 8 + j) * 3 + c as DepthToSpace (DCR) lays it out. */
function decoderMatrix(rng: Prng, scalingFactor: number): Float64Array {
  const amp = 0.08 * (scalingFactor / 0.18215); // latents / scaling_factor ~ N(0, 1/sf^2) → pixels mostly within ±1
  const noise = rng.fork('decoder.noise');
  const texture = rng.fork('decoder.texture');
  const w = new Float64Array(PATCH * 4);
  for (let i = 0; i < VAE_FACTOR; i++) {
    for (let j = 0; j < VAE_FACTOR; j++) {
      for (let ch = 0; ch < 3; ch++) {
        const row = (i * VAE_FACTOR + j) * 3 + ch;
        const patterns = [1, [1, 0, -1][ch]!, [-0.5, 1, -0.5][ch]!, texture.normal() * 0.7];
        for (let k = 0; k < 4; k++) w[row * 4 + k] = amp * (patterns[k]! + 0.05 * noise.normal());
      }
    }
  }
  return w;
}

/** Moore-Penrose pseudo-inverse of a full-column-rank [m, n] matrix: (WᵀW)⁻¹Wᵀ, [n, m]. */
export function pseudoInverse(w: Float64Array, m: number, n: number): Float64Array {
  const a = new Float64Array(n * 2 * n); // [WᵀW | I], Gauss-Jordan
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < m; r++) s += w[r * n + i]! * w[r * n + j]!;
      a[i * 2 * n + j] = s;
    }
    a[i * 2 * n + n + i] = 1;
  }
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * 2 * n + col]!) > Math.abs(a[piv * 2 * n + col]!)) piv = r;
    if (Math.abs(a[piv * 2 * n + col]!) < 1e-12) throw new Error('matrix is rank deficient');
    for (let k = 0; k < 2 * n; k++) [a[col * 2 * n + k], a[piv * 2 * n + k]] = [a[piv * 2 * n + k]!, a[col * 2 * n + k]!];
    const d = a[col * 2 * n + col]!;
    for (let k = 0; k < 2 * n; k++) a[col * 2 * n + k]! /= d;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r * 2 * n + col]!;
      if (f !== 0) for (let k = 0; k < 2 * n; k++) a[r * 2 * n + k]! -= f * a[col * 2 * n + k]!;
    }
  }
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < m; r++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * 2 * n + n + j]! * w[r * n + j]!;
      out[i * m + r] = s;
    }
  }
  return out;
}

export function buildVaeDecoder(spec: VaeSpec, rng: Prng): ModelProto {
  const net = new Net('vae_decoder', rng, spec.fp16);
  const g = net.g;
  const w = decoderMatrix(rng, spec.scalingFactor); // [192, 4] is already Conv's [out, in, 1, 1] layout
  const z = net.floatInput('latent_sample', ['batch', 4, 'height', 'width']);
  const patches = g.conv(z, net.param('decoder.conv.weight', Float32Array.from(w), [PATCH, 4, 1, 1]), undefined);
  const image = g.op('DepthToSpace', [patches], { blocksize: VAE_FACTOR, mode: 'DCR' });
  const clipped = g.op('Clip', [image, net.scalar(-1), net.scalar(1)]);
  net.floatOutput('sample', ['batch', 3, 'image_height', 'image_width'], clipped);
  return net.toModel('Darkroom test model: linear 8x patch VAE decoder. Not for use.');
}

export function buildVaeEncoder(spec: VaeSpec, rng: Prng): ModelProto {
  const net = new Net('vae_encoder', rng, spec.fp16);
  const g = net.g;
  const pinv = pseudoInverse(decoderMatrix(rng, spec.scalingFactor), PATCH, 4); // [4, 192]
  const x = net.floatInput('sample', ['batch', 3, 'image_height', 'image_width']);
  const patches = g.op('SpaceToDepth', [x], { blocksize: VAE_FACTOR });
  if (spec.encoderOutput === 'latent_sample') {
    const mean = g.conv(patches, net.param('encoder.conv.weight', Float32Array.from(pinv), [4, PATCH, 1, 1]), undefined);
    net.floatOutput('latent_sample', ['batch', 4, 'height', 'width'], mean);
  } else {
    // Mean ‖ log-variance: the log-variance is about -8 (std ≈ 0.02), with a little dependence on the image.
    const weight = new Float32Array(8 * PATCH);
    weight.set(Float32Array.from(pinv));
    weight.set(rng.fork('encoder.logvar').normals(4 * PATCH, 0.01), 4 * PATCH);
    const bias = new Float32Array([0, 0, 0, 0, -8, -8, -8, -8]);
    const params = g.conv(patches, net.param('encoder.conv.weight', weight, [8, PATCH, 1, 1]), net.param('encoder.conv.bias', bias, [8]));
    net.floatOutput('latent_parameters', ['batch', 8, 'height', 'width'], params);
  }
  return net.toModel('Darkroom test model: linear 8x patch VAE encoder (decoder pseudo-inverse). Not for use.');
}
