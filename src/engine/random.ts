/**
 * Seeded Gaussian noise, so that an image depends only on its seed and settings, never on the host,
 * the runtime or the batch it ran in. Seeds are integers in 0..2^32-1. Two sources:
 *
 * - `darkroom` (the default): uniforms from sfc32 (Small Fast Counter, 128-bit state) seeded through
 *   splitmix32; normals from the Box-Muller transform (both values of each pair are used).
 * - `torch-cpu`: PyTorch's CPU generator (noise/torch-cpu.ts), so a seed gives the latents diffusers
 *   gives for `torch.Generator("cpu").manual_seed(seed)`.
 */
import { TorchCpuGenerator } from './noise/torch-cpu.ts';

export const MAX_SEED = 0xffffffff;

export const NOISE_KINDS = ['darkroom', 'torch-cpu'] as const;
export type NoiseKind = (typeof NOISE_KINDS)[number];
export const DEFAULT_NOISE: NoiseKind = 'darkroom';

export function isNoiseKind(value: unknown): value is NoiseKind {
  return (NOISE_KINDS as readonly unknown[]).includes(value);
}

export function assertSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`seed must be an integer in 0..${MAX_SEED}, got ${seed}`);
  }
}

/** Seed of output k of a batch whose first output has `seed`: wraps at 2^32. */
export function seedForOutput(seed: number, k: number): number {
  return (seed + k) >>> 0;
}

export function randomSeed(): number {
  return Math.floor(Math.random() * (MAX_SEED + 1));
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    assertSeed(seed);
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in (0, 1): never 0, so log() in Box-Muller is finite. */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  fillNormal(out: Float32Array, offset = 0, length = out.length - offset): Float32Array {
    for (let i = offset; i < offset + length; i++) out[i] = this.normal();
    return out;
  }
}

/** One image's noise stream: the next `length` normals written at `offset`. */
type NormalStream = (out: Float32Array, offset: number, length: number) => void;

function normalStream(seed: number, kind: NoiseKind): NormalStream {
  if (kind === 'torch-cpu') {
    // Each draw is one torch.randn of the image's latent size, as diffusers' randn_tensor draws
    // per image from a list of generators.
    const g = new TorchCpuGenerator(seed);
    return (out, offset, length) => out.set(g.randn(length), offset);
  }
  const rng = new Rng(seed);
  return (out, offset, length) => rng.fillNormal(out, offset, length);
}

/**
 * Gaussian noise for a batch: image k draws only from its own stream (seed + k, of its own kind), so
 * its slice equals what a batch of one seeded with seed + k would draw, call after call.
 */
export class BatchNoise {
  private readonly streams: NormalStream[];

  /** `kinds[k]` is image k's noise source (`darkroom` where absent). */
  constructor(seeds: readonly number[], private readonly perImage: number, kinds: readonly (NoiseKind | undefined)[] = []) {
    this.streams = seeds.map((s, k) => normalStream(s, kinds[k] ?? DEFAULT_NOISE));
  }

  next(): Float32Array {
    const out = new Float32Array(this.streams.length * this.perImage);
    this.streams.forEach((draw, k) => draw(out, k * this.perImage, this.perImage));
    return out;
  }
}
