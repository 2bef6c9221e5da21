/**
 * Training noise schedules (betas and their cumulative alpha products), in float64.
 *
 * diffusers builds these tables in float32 torch tensors; we keep float64 so that every derived table
 * (sigmas, log-sigmas, LMS coefficients) is as exact as the formulas allow. The two agree to ~1e-7 relative.
 */
import type { BetaSchedule, TrainingScheduleOptions } from './types.ts';
import { assertNoiseLength } from './config.ts';
import { assertTrainTimestep, linspace } from './spacing.ts';

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
    betas = Float64Array.from(o.trainedBetas);
  } else if (o.betaSchedule === 'linear') {
    betas = Float64Array.from(linspace(o.betaStart, o.betaEnd, o.numTrainTimesteps));
  } else if (o.betaSchedule === 'scaled_linear') {
    // Stable Diffusion's schedule: linear in sqrt(beta).
    betas = Float64Array.from(
      linspace(Math.sqrt(o.betaStart), Math.sqrt(o.betaEnd), o.numTrainTimesteps),
      (b) => b * b,
    );
  } else if (o.betaSchedule === 'squaredcos_cap_v2') {
    betas = betasForAlphaBar(o.numTrainTimesteps);
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
  const ac = alphasCumprod(betas);
  const n = ac.length;
  const sqrtAc = ac.map(Math.sqrt);
  const first = sqrtAc[0]!;
  const last = sqrtAc[n - 1]!;
  const scale = first / (first - last);
  const abar = sqrtAc.map((s) => ((s - last) * scale) ** 2);
  const out = new Float64Array(n);
  out[0] = 1 - abar[0]!;
  for (let i = 1; i < n; i++) out[i] = 1 - abar[i]! / abar[i - 1]!;
  return out;
}

/** alpha_bar_t = prod_{s<=t} (1 - beta_s). */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let p = 1;
  for (let i = 0; i < betas.length; i++) {
    p *= 1 - betas[i]!;
    out[i] = p;
  }
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
