/**
 * Linear multistep (LMS) on the probability-flow ODE in sigma, order 4 (k-diffusion's `sample_lms`, after
 * Karras et al. 2022, https://arxiv.org/abs/2206.00364): diffusers' LMSDiscreteScheduler.
 *
 * The derivative d_i = (x - x0_pred) / sigma_i is extrapolated by the Lagrange polynomial through the last
 * `order` derivatives (in sigma), and integrated over [sigma_i, sigma_{i+1}]:
 *   x_{i+1} = x_i + sum_j c_j d_{i-j},  c_j = integral over [sigma_i, sigma_{i+1}] of prod_{k != j} (s - sigma_{i-k}) / (sigma_{i-j} - sigma_{i-k}) ds.
 * diffusers integrates with scipy's adaptive quadrature; the integrand is a polynomial of degree <= 3, which
 * 5-point Gauss-Legendre integrates exactly (degree <= 9), so we use that, in float64.
 *
 * Deliberate difference from diffusers: the order is capped by the number of derivatives this run has
 * collected, min(steps taken + 1, 4). diffusers uses min(step_index + 1, 4), which for a run started at a begin
 * index (image-to-image) weights a single derivative with a 4th-order coefficient. Identical for text-to-image.
 */
import type { PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { alphasCumprod, makeBetas } from './betas.ts';
import { ConfigReader, assertBeginIndex, assertSameLength, notReady } from './config.ts';
import { interpOnGrid, karrasSigmas, sigmaToT, sigmasFromAlphasCumprod } from './sigmas.ts';
import { indexForTimestep, spacedTimesteps } from './spacing.ts';

const OWNER = 'LMSDiscreteScheduler';
const MAX_ORDER = 4;

// 5-point Gauss-Legendre rule on [-1, 1] (Abramowitz & Stegun 25.4.29).
const GL_NODES = [0, -0.5384693101056831, 0.5384693101056831, -0.906179845938664, 0.906179845938664];
const GL_WEIGHTS = [
  0.5688888888888889, 0.4786286704993665, 0.4786286704993665, 0.2369268850561891, 0.2369268850561891,
];

/** Integral of f over [a, b] (b < a gives the negative) by 5-point Gauss-Legendre: exact for degree <= 9. */
export function gaussLegendre5(f: (x: number) => number, a: number, b: number): number {
  const mid = (a + b) / 2;
  const half = (b - a) / 2;
  let s = 0;
  for (let k = 0; k < GL_NODES.length; k++) s += GL_WEIGHTS[k]! * f(mid + half * GL_NODES[k]!);
  return s * half;
}

/**
 * The LMS weight of the derivative taken `current` steps ago, for a step from sigmas[i] to sigmas[i+1]
 * with `order` derivatives (diffusers `get_lms_coefficient`).
 */
export function lmsCoefficient(sigmas: readonly number[], order: number, i: number, current: number): number {
  const basis = (tau: number): number => {
    let prod = 1;
    for (let k = 0; k < order; k++) {
      if (k === current) continue;
      prod *= (tau - sigmas[i - k]!) / (sigmas[i - current]! - sigmas[i - k]!);
    }
    return prod;
  };
  return gaussLegendre5(basis, sigmas[i]!, sigmas[i + 1]!);
}

export class LmsScheduler implements Scheduler {
  readonly order = 1;
  private ts: number[] = [];
  private sigmas: number[];
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  private ready = false;
  /** Most recent last. */
  private derivatives: Float32Array[] = [];
  private readonly numTrainTimesteps: number;
  private readonly trainSigmas: Float64Array;
  private readonly logSigmas: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly useKarras: boolean;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: false });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.trainSigmas = sigmasFromAlphasCumprod(alphasCumprod(makeBetas(training)));
    this.logSigmas = this.trainSigmas.map(Math.log);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.useKarras = c.bool('use_karras_sigmas', false);
    c.rejectTrue('use_exponential_sigmas', 'use_beta_sigmas');
    this.sigmas = [...this.trainSigmas].reverse().concat(0);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  setTimesteps(numInferenceSteps: number): void {
    let ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, false);
    let sig = ts.map((t) => interpOnGrid(t, this.trainSigmas));
    if (this.useKarras) {
      // LMS's own Karras conversion ignores config sigma_min/sigma_max.
      sig = karrasSigmas(sig[sig.length - 1]!, sig[0]!, numInferenceSteps);
      ts = sig.map((s) => sigmaToT(s, this.logSigmas));
    }
    this.sigmas = [...sig, 0];
    this.ts = ts.map(Math.fround);
    this.stepIndex = null;
    this.beginIndex = null;
    this.derivatives = [];
    this.ready = true;
  }

  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
    this.beginIndex = index;
    this.stepIndex = null;
    this.derivatives = [];
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.currentIndex(timestep, false)]!;
    const k = 1 / Math.sqrt(sigma * sigma + 1);
    return sample.map((x) => x * k);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.currentIndex(timestep, true);
    const sigma = this.sigmas[i]!;
    const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
    const xScale = 1 / (sigma * sigma + 1);
    const d = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      const m = modelOutput[j]!;
      const x0 = this.prediction === 'epsilon' ? x - sigma * m : this.prediction === 'sample' ? m : m * vScale + x * xScale;
      d[j] = (x - x0) / sigma;
    }
    this.derivatives.push(d);
    if (this.derivatives.length > MAX_ORDER) this.derivatives.shift();
    const order = this.derivatives.length;
    const coeffs = Array.from({ length: order }, (_, cur) => lmsCoefficient(this.sigmas, order, i, cur));
    const out = Float32Array.from(sample);
    const acc = Float64Array.from(sample);
    for (let cur = 0; cur < order; cur++) {
      const deriv = this.derivatives[this.derivatives.length - 1 - cur]!;
      const c = coeffs[cur]!;
      for (let j = 0; j < acc.length; j++) acc[j]! += c * deriv[j]!;
    }
    out.set(acc);
    this.stepIndex = i + 1;
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (original.length !== noise.length) throw new RangeError(`${OWNER}: noise and sample lengths differ`);
    if (!this.ready) notReady(OWNER);
    const i = this.beginIndex === null ? indexForTimestep(this.ts, timestep) : (this.stepIndex ?? this.beginIndex);
    const sigma = this.sigmas[i]!;
    return original.map((x, j) => x + noise[j]! * sigma);
  }

  /**
   * The step index, initialised on first use from the begin index or by looking the timestep up.
   * scaleModelInput may also be called once past the last step (a preview of the final sample): the final sigma.
   */
  private currentIndex(timestep: number, forStep: boolean): number {
    if (!this.ready) notReady(OWNER);
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? indexForTimestep(this.ts, timestep);
    if (this.stepIndex > this.ts.length || (forStep && this.stepIndex === this.ts.length)) {
      throw new RangeError(`${OWNER}: stepped past the last timestep`);
    }
    return this.stepIndex;
  }
}
