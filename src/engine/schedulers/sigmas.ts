/**
 * The "sigma" view of a variance-preserving schedule (Karras et al. 2022, https://arxiv.org/abs/2206.00364):
 * x_t = alpha_t * x0 + s_t * eps  with alpha_t^2 = alpha_bar_t, s_t^2 = 1 - alpha_bar_t, is the same point as
 * the variance-exploding x = x0 + sigma * eps scaled by alpha_t, where sigma = s_t / alpha_t.
 */
import type { TimestepSpacing } from './types.ts';
import { alphasCumprod, clampTerminalAlphaBar, makeBetas } from './betas.ts';
import type { TrainingScheduleOptions } from './types.ts';
import { assertNoiseLength, notReady, type ConfigReader } from './config.ts';
import { betaPpf } from './beta-distribution.ts';
import { linspace } from './spacing.ts';
import { StepIndex } from './step-index.ts';

/** sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) for every training timestep (ascending in t), in float32 as diffusers. */
export function sigmasFromAlphasCumprod(alphasCumprod: Float64Array): Float64Array {
  const f = Math.fround;
  return alphasCumprod.map((a) => f(Math.sqrt(f(f(1 - a) / a))));
}

/** The training tables of a sigma-based scheduler, ascending in t. */
export interface TrainingSigmas {
  alphasCumprod: Float64Array;
  sigmas: Float64Array;
  logSigmas: Float64Array;
}

/**
 * alpha_bar, sigma and log-sigma of every training timestep. A zero-terminal-SNR schedule gets its last
 * alpha_bar clamped to 2^-24 so the last sigma is finite (see clampTerminalAlphaBar; the classes that do not
 * read rescale_betas_zero_snr never rescale).
 */
export function trainingSigmas(training: TrainingScheduleOptions): TrainingSigmas {
  let ac = alphasCumprod(makeBetas(training));
  if (training.rescaleZeroSnr) ac = clampTerminalAlphaBar(ac);
  const sigmas = sigmasFromAlphasCumprod(ac);
  return { alphasCumprod: ac, sigmas, logSigmas: sigmas.map((x) => Math.fround(Math.log(x))) };
}

/** `np.interp(x, arange(len(table)), table)`: linear interpolation on the integer grid, clamped at both ends. */
export function interpOnGrid(x: number, table: ArrayLike<number>): number {
  const n = table.length;
  if (!(x > 0)) return table[0]!;
  if (x >= n - 1) return table[n - 1]!;
  const j = Math.floor(x);
  const lo = table[j]!;
  return lo + (table[j + 1]! - lo) * (x - j);
}

/**
 * Fractional timestep of a sigma, interpolating linearly in log-sigma between the two neighbouring
 * training timesteps (diffusers `_sigma_to_t`, after k-diffusion). `logSigmas` is ascending in t (float32 values).
 * The arithmetic is float32, as numpy 1 does it there (a float64 scalar against the float32 table is cast down):
 * a sigma of the table then lands exactly on its timestep. In float64 (numpy 2) the cosine schedule's sigma_max
 * comes out at 998.99999, truncated to 998 and doubled, and diffusers' DPM-Solver then steps past its last sigma.
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const f = Math.fround;
  const logSigma = f(Math.log(Math.max(sigma, 1e-10)));
  const n = logSigmas.length;
  // Last index whose log-sigma is <= ours (0 when none is), kept one short of the end so high exists.
  let low = 0;
  for (let i = 0; i < n; i++) if (f(logSigma - logSigmas[i]!) >= 0) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, f(f(lo - logSigma) / f(lo - hi))));
  return f(1 - w) * low + w * (low + 1);
}

/** Karras et al. 2022, eq. 5: n sigmas from sigmaMax down to sigmaMin, evenly spaced in sigma^(1/rho). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): number[] {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  const ramp = linspace(0, 1, n);
  return ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/**
 * How n inference sigmas are spread between the ends of the range (diffusers' use_karras_sigmas,
 * use_exponential_sigmas, use_beta_sigmas); timesteps are then found from the sigmas.
 */
export type SigmaSpacing = 'karras' | 'exponential' | 'beta';

/**
 * The config's sigma spacing, null when none is set. diffusers refuses more than one; a "_karras" scheduler name
 * (forceKarras) chooses Karras whatever the config says.
 */
export function readSigmaSpacing(c: ConfigReader, forceKarras = false): SigmaSpacing | null {
  const on = (['karras', 'exponential', 'beta'] as const).filter((k) => c.bool(`use_${k}_sigmas`, false));
  if (forceKarras) return 'karras';
  if (on.length > 1) {
    throw new Error(`${c.owner}: only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas can be true`);
  }
  return on[0] ?? null;
}

/** diffusers' use_beta_sigmas: the beta(0.6, 0.6) distribution's quantiles, as its _convert_to_beta defaults. */
const BETA_SIGMAS_ALPHA = 0.6;
const BETA_SIGMAS_BETA = 0.6;

/** n sigmas from sigmaMax down to sigmaMin, spread as `spacing` says (diffusers' _convert_to_<spacing>). */
export function spacedSigmas(spacing: SigmaSpacing, sigmaMin: number, sigmaMax: number, n: number): number[] {
  switch (spacing) {
    case 'karras':
      return karrasSigmas(sigmaMin, sigmaMax, n);
    case 'exponential':
      // k-diffusion's get_sigmas_exponential: evenly spaced in log-sigma.
      return linspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
    case 'beta':
      return linspace(0, 1, n).map((r) => sigmaMin + betaPpf(1 - r, BETA_SIGMAS_ALPHA, BETA_SIGMAS_BETA) * (sigmaMax - sigmaMin));
  }
}

/** The variance-preserving pair (alpha_t, s_t) of a sigma: alpha = 1/sqrt(sigma^2+1), s = sigma*alpha. */
export function alphaSigmaOf(sigma: number): { alpha: number; sigmaT: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigmaT: sigma * alpha };
}

/** alpha_t, s_t and the half-log-SNR lambda = log(alpha_t / s_t) of a sigma (lambda = +inf at sigma = 0). */
export function levelsOf(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const { alpha, sigmaT } = alphaSigmaOf(sigma);
  return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
}

/**
 * The schedule of a sigma-based scheduler: its timesteps, the sigma of each followed by the final sigma, and
 * the run's position in them. It holds the plumbing those schedulers share (diffusers repeats it in every
 * class): the step and begin index, the 1/sqrt(sigma^2 + 1) model-input scaling, the initial noise sigma,
 * and addNoise at the begin index.
 */
export class SigmaSchedule {
  private ts: number[] = [];
  private sigmaList: number[] = [];
  private ready = false;
  private readonly position: StepIndex;

  constructor(
    private readonly owner: string,
    missing: 'throw' | 'last' = 'throw',
  ) {
    this.position = new StepIndex(owner, missing);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  /** One sigma per timestep, then the final sigma. */
  get sigmas(): readonly number[] {
    return this.sigmaList;
  }

  /** setTimesteps: a new schedule, ready to step, with no begin index and no position. */
  set(timesteps: number[], sigmas: number[]): void {
    this.ts = timesteps;
    // diffusers keeps its sigmas in a float32 tensor, whatever precision they were computed in.
    this.sigmaList = sigmas.map(Math.fround);
    this.position.clear();
    this.ready = true;
  }

  /** The tables diffusers' `__init__` holds before set_timesteps (they set initNoiseSigma); not ready to step. */
  preset(timesteps: number[], sigmas: number[]): void {
    this.ts = timesteps;
    this.sigmaList = sigmas;
  }

  setBeginIndex(index: number): void {
    this.position.setBegin(index);
  }

  /** Forgets the position, keeping the begin index. */
  restart(): void {
    this.position.restart();
  }

  /** The index of this call (see StepIndex.current); throws before setTimesteps. */
  index(timestep: number, forStep = true): number {
    if (!this.ready) notReady(this.owner);
    return this.position.current(this.ts, timestep, forStep);
  }

  /** A step is done. */
  advance(): void {
    this.position.advance();
  }

  /** The largest sigma, or sqrt(sigma_max^2 + 1) for "leading" spacing (diffusers' choice). */
  initNoiseSigma(spacing: TimestepSpacing): number {
    const max = Math.max(...this.sigmaList);
    return spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  /** x / sqrt(sigma^2 + 1): the variance-preserving point of the same noise level, what the model sees. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmaList[this.index(timestep, false)]!;
    const k = 1 / Math.sqrt(sigma * sigma + 1);
    return sample.map((x) => x * k);
  }

  /** x0 + sigma * noise (variance-exploding form), sigma taken at the begin index when one is set, as diffusers does. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const sigma = this.noiseSigma(original, noise, timestep);
    return original.map((x, j) => x + noise[j]! * sigma);
  }

  /** alpha_t x0 + s_t noise: the same noise level in variance-preserving form (DPM-Solver, UniPC). */
  addNoiseVp(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const { alpha, sigmaT } = alphaSigmaOf(this.noiseSigma(original, noise, timestep));
    return original.map((x, j) => alpha * x + sigmaT * noise[j]!);
  }

  private noiseSigma(original: Float32Array, noise: Float32Array, timestep: number): number {
    assertNoiseLength(original, noise, this.owner);
    if (!this.ready) notReady(this.owner);
    return this.sigmaList[this.position.forAddNoise(this.ts, timestep)]!;
  }
}
