/**
 * Test-side reference formulas, written independently of src/engine/schedulers (straight from the papers'
 * definitions, no shared code), plus oracle denoisers and a sampling loop shaped like the pipeline's.
 */
import assert from 'node:assert/strict';
import { Rng } from '../../../src/engine/random.ts';
import type { NoiseFn, PredictionType, Scheduler, SchedulerConfig } from '../../../src/engine/schedulers/types.ts';

/** Stable Diffusion 1.5's scheduler_config.json (PNDMScheduler). */
export const SD15: SchedulerConfig = Object.freeze({
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  clip_sample: false,
});

/** alpha_bar_t for t = 0..T-1: SD's "scaled_linear" betas (linear in sqrt(beta)) or plain linear ones. */
export function refAlphasCumprod(
  T = 1000,
  betaStart = 0.00085,
  betaEnd = 0.012,
  kind: 'scaled_linear' | 'linear' = 'scaled_linear',
): Float64Array {
  const out = new Float64Array(T);
  let prod = 1;
  for (let t = 0; t < T; t++) {
    const frac = t / (T - 1);
    const beta =
      kind === 'linear'
        ? betaStart + frac * (betaEnd - betaStart)
        : (Math.sqrt(betaStart) + frac * (Math.sqrt(betaEnd) - Math.sqrt(betaStart))) ** 2;
    prod *= 1 - beta;
    out[t] = prod;
  }
  return out;
}

export const SD15_AC = refAlphasCumprod();
/** Variance-exploding sigma_t = sqrt((1 - abar_t) / abar_t), t = 0..999. */
export const SD15_SIGMAS = Array.from(SD15_AC, (a) => Math.sqrt((1 - a) / a));

/** sigma at a fractional timestep: linear in sigma ('linear') or in log sigma ('log') between integers. */
export function sigmaAt(t: number, mode: 'linear' | 'log', sigmas: readonly number[] = SD15_SIGMAS): number {
  const n = sigmas.length;
  if (t <= 0) return sigmas[0]!;
  if (t >= n - 1) return sigmas[n - 1]!;
  const j = Math.floor(t);
  const f = t - j;
  if (mode === 'linear') return sigmas[j]! * (1 - f) + sigmas[j + 1]! * f;
  return Math.exp(Math.log(sigmas[j]!) * (1 - f) + Math.log(sigmas[j + 1]!) * f);
}

/** Inverse of sigmaAt(·, 'log'): the fractional timestep whose log-interpolated sigma is `sigma`. */
export function timestepOfSigma(sigma: number, sigmas: readonly number[] = SD15_SIGMAS): number {
  const ls = Math.log(sigma);
  if (ls <= Math.log(sigmas[0]!)) return 0;
  let j = 0;
  while (j < sigmas.length - 2 && Math.log(sigmas[j + 1]!) <= ls) j++;
  const a = Math.log(sigmas[j]!);
  const b = Math.log(sigmas[j + 1]!);
  return j + Math.min(1, (ls - a) / (b - a));
}

/** Karras et al. 2022 eq. 5, rho = 7: sigma_i = (max^(1/7) + i/(n-1) (min^(1/7) - max^(1/7)))^7. */
export function refKarras(sigmaMin: number, sigmaMax: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const r = n === 1 ? 0 : i / (n - 1);
    return (sigmaMax ** (1 / 7) + r * (sigmaMin ** (1 / 7) - sigmaMax ** (1 / 7))) ** 7;
  });
}

/** The variance-preserving pair of a VE sigma: the model input is alpha*x0 + s*eps with alpha^2 + s^2 = 1. */
export function vp(sigma: number): { alpha: number; s: number } {
  const alpha = 1 / Math.sqrt(1 + sigma * sigma);
  return { alpha, s: sigma * alpha };
}

export function vpOfAlphaBar(abar: number): { alpha: number; s: number } {
  return { alpha: Math.sqrt(abar), s: Math.sqrt(1 - abar) };
}

/** Where the oracle reads the noise level of a model call from. */
export type NoiseLevel = (timestep: number, call: number) => { alpha: number; s: number };

export const levelFromTable: NoiseLevel = (t) => {
  assert.ok(Number.isInteger(t) && t >= 0 && t < 1000, `integer timestep expected, got ${t}`);
  return vpOfAlphaBar(SD15_AC[t]!);
};
export const levelLinear: NoiseLevel = (t) => vp(sigmaAt(t, 'linear'));
export const levelLog: NoiseLevel = (t) => vp(sigmaAt(t, 'log'));
/** For schedules whose model timestep is a rounded stand-in for the sigma (DPM/UniPC Karras): sigma by call. */
export function levelFromList(sigmas: readonly number[], offset = 0): NoiseLevel {
  return (_t, call) => vp(sigmas[call + offset]!);
}

/**
 * A model that knows x0: for any input x_in (VP-scaled) at the given noise level it returns the exact
 * epsilon = (x_in - alpha x0) / s, v = alpha eps - s x0, or x0. It records every epsilon it computed.
 */
export function oracle(x0: Float32Array, prediction: PredictionType, level: NoiseLevel) {
  const eps: Float64Array[] = [];
  const timesteps: number[] = [];
  const model = (xIn: Float32Array, t: number): Float32Array => {
    const { alpha, s } = level(t, eps.length);
    const e = Float64Array.from(xIn, (v, i) => (v - alpha * x0[i]!) / s);
    eps.push(e);
    timesteps.push(t);
    if (prediction === 'epsilon') return Float32Array.from(e);
    if (prediction === 'sample') return x0.slice();
    return Float32Array.from(e, (v, i) => alpha * v - s * x0[i]!);
  };
  return { model, eps, timesteps };
}

/** The pipeline's loop: scale, model, step, from timesteps[begin] to the end. */
export function sample(
  s: Scheduler,
  x: Float32Array,
  model: (xIn: Float32Array, t: number) => Float32Array,
  noise?: NoiseFn,
  begin = 0,
): Float32Array {
  for (const t of s.timesteps.slice(begin)) {
    const xIn = s.scaleModelInput(x, t);
    x = s.step(model(xIn, t), t, x, noise);
  }
  return x;
}

export function normals(seed: number, n: number): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n));
}

/** A unit-scale clean sample in [-1, 1). */
export function cleanSample(seed: number, n: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r.uniform() - 1);
}

export function noiseFn(seed: number, n: number): NoiseFn {
  const r = new Rng(seed);
  return () => r.fillNormal(new Float32Array(n));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Largest difference between any recorded epsilon and the first one: 0 when every step stays on the trajectory. */
export function epsDrift(eps: readonly Float64Array[]): number {
  return Math.max(0, ...eps.map((e) => maxAbsDiff(e, eps[0]!)));
}

export function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s / a.length);
}
