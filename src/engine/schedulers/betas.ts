/**
 * Training noise schedules (betas and their cumulative alpha products), float32 values as diffusers builds them
 * in torch float32 tensors (held in Float64Arrays so later float64 math reads them as they are): torch.linspace's
 * own rounding, 1 - beta in float32, torch.cumprod's double accumulator rounded to float32 at each entry.
 */
import type { BetaSchedule, TrainingScheduleOptions } from './types.ts';
import { assertNoiseLength } from './config.ts';
import { assertTrainTimestep } from './spacing.ts';

const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** The betas of a training schedule, as diffusers' schedulers build them in `__init__`. */
export function makeBetas(o: TrainingScheduleOptions): Float64Array {
  let betas: Float64Array;
  if (o.trainedBetas != null) {
    if (o.trainedBetas.length !== o.numTrainTimesteps) {
      throw new RangeError(
        `trained_betas has ${o.trainedBetas.length} entries but num_train_timesteps is ${o.numTrainTimesteps}`,
      );
    }
    betas = Float64Array.from(o.trainedBetas, Math.fround);
  } else if (o.betaSchedule === 'linear') {
    betas = torchLinspace32(o.betaStart, o.betaEnd, o.numTrainTimesteps);
  } else if (o.betaSchedule === 'scaled_linear') {
    // Stable Diffusion's schedule: linear in sqrt(beta).
    betas = torchLinspace32(Math.sqrt(o.betaStart), Math.sqrt(o.betaEnd), o.numTrainTimesteps).map((b) => Math.fround(b * b));
  } else if (o.betaSchedule === 'squaredcos_cap_v2') {
    // diffusers computes these in Python floats and stores them as a float32 tensor.
    betas = betasForAlphaBar(o.numTrainTimesteps).map(Math.fround);
  } else {
    throw new Error(`unsupported beta_schedule "${String(o.betaSchedule)}" (supported: ${BETA_SCHEDULES.join(', ')})`);
  }
  return o.rescaleZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/**
 * Cosine schedule (Nichol & Dhariwal 2021, https://arxiv.org/abs/2102.09672, eq. 17): discretises
 * alpha_bar(t) = cos((t + 0.008) / 1.008 * pi/2)^2 into betas, each capped at maxBeta.
 */
export function betasForAlphaBar(numDiffusionTimesteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numDiffusionTimesteps);
  for (let i = 0; i < numDiffusionTimesteps; i++) {
    const t1 = i / numDiffusionTimesteps;
    const t2 = (i + 1) / numDiffusionTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * Shifts and scales sqrt(alpha_bar) so the last timestep has zero SNR while the first keeps its value
 * (Lin et al. 2023, Algorithm 1; diffusers `rescale_zero_terminal_snr`).
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const f = Math.fround;
  const ac = alphasCumprod(betas);
  const n = ac.length;
  const sqrtAc = ac.map((a) => f(Math.sqrt(a)));
  const first = sqrtAc[0]!;
  const last = sqrtAc[n - 1]!;
  // The same float32 operations, in the same order, as diffusers' rescale_zero_terminal_snr.
  const shifted = sqrtAc.map((s) => f(s - last));
  const scale = f(first / f(first - last));
  const scaled = shifted.map((s) => f(s * scale));
  const abar = scaled.map((s) => f(s * s));
  const out = new Float64Array(n);
  out[0] = f(1 - abar[0]!);
  for (let i = 1; i < n; i++) out[i] = f(1 - f(abar[i]! / abar[i - 1]!));
  return out;
}

/** alpha_bar_t = prod_{s<=t} (1 - beta_s): torch.cumprod of float32 alphas (a double accumulator, float32 entries). */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let p = 1;
  for (let i = 0; i < betas.length; i++) {
    p *= Math.fround(1 - betas[i]!);
    out[i] = Math.fround(p);
  }
  return out;
}

/**
 * torch.linspace(start, end, n, dtype=float32) on the CPU, value for value: a float32 step, the first half
 * counted up from start and the second down from end in 8-wide AVX2 chunks whose base is one fused
 * multiply-add (start + step * idx) and whose lanes add j * step to it. Like torch's own AVX2 kernels this is
 * what a machine running torch's AVX2 code gets (see docs/engine.md on CPU capabilities).
 */
export function torchLinspace32(start: number, end: number, n: number): Float64Array {
  const f = Math.fround;
  const a = f(start);
  const b = f(end);
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = a;
    return out;
  }
  const step = f(f(b - a) / (n - 1));
  const half = Math.floor(n / 2);
  // a + step * i with one rounding (an fma): the product of two floats is exact in a double.
  const at = (i: number): number => (i < half ? f(a + step * i) : f(b - step * (n - i - 1)));
  const LANES = 8;
  let idx = 0;
  for (; idx + LANES <= n; idx += LANES) {
    const base = at(idx);
    for (let j = 0; j < LANES; j++) out[idx + j] = f(base + f(j * step));
  }
  for (; idx < n; idx++) out[idx] = at(idx);
  return out;
}

/**
 * Euler, Euler ancestral, DPM-Solver and UniPC clamp the zero-SNR terminal alpha_bar to 2^-24 so the
 * terminal sigma stays finite (diffusers sets `alphas_cumprod[-1] = 2**-24` in those four classes only).
 */
export function clampTerminalAlphaBar(ac: Float64Array): Float64Array {
  const out = Float64Array.from(ac);
  out[out.length - 1] = 2 ** -24;
  return out;
}

/**
 * Forward process q(x_t | x0) at a training timestep: sqrt(abar_t) * x0 + sqrt(1 - abar_t) * noise
 * (addNoise of the schedulers that take integer timesteps: DDIM, DDPM, PNDM, LCM).
 */
export function addNoiseAtTimestep(
  alphasCumprod: Float64Array,
  original: Float32Array,
  noise: Float32Array,
  timestep: number,
  owner: string,
): Float32Array {
  assertTrainTimestep(timestep, alphasCumprod.length, owner);
  assertNoiseLength(original, noise, owner);
  const a = Math.sqrt(alphasCumprod[timestep]!);
  const b = Math.sqrt(1 - alphasCumprod[timestep]!);
  return original.map((x, i) => a * x + b * noise[i]!);
}
