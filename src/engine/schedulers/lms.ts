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
 * The order is diffusers' min(step_index + 1, 4), tied to the position in the schedule rather than to the
 * derivatives collected: a run started at a begin index (image-to-image) weights its first derivative with the
 * leading coefficient of a 4th-order rule, as diffusers does (k-diffusion's sample_lms counts derivatives instead).
 */
import type { CustomTimesteps, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { ConfigReader, stepCount, assertSameLength } from './config.ts';
import { predictX0Ve } from './prediction.ts';
import { SigmaSchedule, interpOnGrid, readSigmaSpacing, sigmaToT, spacedSigmas, trainingSigmas, type SigmaSpacing, type TrainingSigmas } from './sigmas.ts';
import { spacedTimesteps } from './spacing.ts';

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
  private readonly schedule = new SigmaSchedule(OWNER);
  /** Most recent last. */
  private derivatives: Float32Array[] = [];
  private readonly numTrainTimesteps: number;
  private readonly train: TrainingSigmas;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly sigmaSpacing: SigmaSpacing | null;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: false });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.train = trainingSigmas(training);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.sigmaSpacing = readSigmaSpacing(c);
    this.schedule.preset([], [...this.train.sigmas].reverse().concat(0));
  }

  get timesteps(): readonly number[] {
    return this.schedule.timesteps;
  }

  get initNoiseSigma(): number {
    return this.schedule.initNoiseSigma(this.spacing);
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const numInferenceSteps = stepCount(steps, OWNER);
    let ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, false);
    let sig = ts.map((t) => interpOnGrid(t, this.train.sigmas));
    if (this.sigmaSpacing) {
      // LMS's own conversions ignore config sigma_min/sigma_max.
      sig = spacedSigmas(this.sigmaSpacing, sig[sig.length - 1]!, sig[0]!, numInferenceSteps);
      ts = sig.map((s) => sigmaToT(s, this.train.logSigmas));
    }
    this.schedule.set(ts.map(Math.fround), [...sig, 0]);
    this.derivatives = [];
  }

  setBeginIndex(index: number): void {
    this.schedule.setBeginIndex(index);
    this.derivatives = [];
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return this.schedule.scaleModelInput(sample, timestep);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.schedule.index(timestep);
    const sigmas = this.schedule.sigmas;
    const sigma = sigmas[i]!;
    const x0 = predictX0Ve(this.prediction, modelOutput, sample, sigma);
    const d = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) d[j] = (sample[j]! - x0[j]!) / sigma;
    this.derivatives.push(d);
    if (this.derivatives.length > MAX_ORDER) this.derivatives.shift();
    const order = Math.min(i + 1, MAX_ORDER);
    const coeffs = Array.from({ length: order }, (_, cur) => lmsCoefficient(sigmas, order, i, cur));
    const out = Float32Array.from(sample);
    const acc = Float64Array.from(sample);
    // diffusers zips the coefficients with the derivatives it has, most recent first.
    for (let cur = 0; cur < Math.min(order, this.derivatives.length); cur++) {
      const deriv = this.derivatives[this.derivatives.length - 1 - cur]!;
      const c = coeffs[cur]!;
      for (let j = 0; j < acc.length; j++) acc[j]! += c * deriv[j]!;
    }
    out.set(acc);
    this.schedule.advance();
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.schedule.addNoise(original, noise, timestep);
  }
}
