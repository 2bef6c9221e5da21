/**
 * Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, https://arxiv.org/abs/2206.00364,
 * Algorithm 2 without churn): diffusers' EulerDiscreteScheduler.
 *
 * The sample lives in the variance-exploding form x = x0 + sigma * eps; the model sees x / sqrt(sigma^2 + 1)
 * (the variance-preserving point of the same noise level) and the step is
 *   d = (x - x0_pred) / sigma,   x_next = x + d * (sigma_next - sigma).
 * Sigmas come from the training table interpolated at the (possibly fractional) timesteps, or from the Karras
 * schedule (use_karras_sigmas) whose timesteps are then found by log-sigma interpolation. The last sigma is 0
 * (final_sigmas_type "zero") or the smallest training sigma ("sigma_min").
 */
import type { PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { alphasCumprod, clampTerminalAlphaBar, makeBetas } from './betas.ts';
import { ConfigReader, assertBeginIndex, assertSameLength, notReady } from './config.ts';
import { interpOnGrid, karrasSigmas, sigmaToT, sigmasFromAlphasCumprod } from './sigmas.ts';
import { indexForTimestep, linspace, spacedTimesteps } from './spacing.ts';

const OWNER = 'EulerDiscreteScheduler';

export class EulerScheduler implements Scheduler {
  readonly order = 1;
  private ts: number[] = [];
  private sigmas: number[];
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  private ready = false;
  private readonly numTrainTimesteps: number;
  /** Training sigmas, ascending in t. */
  private readonly trainSigmas: Float64Array;
  private readonly logSigmas: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly interpolation: 'linear' | 'log_linear';
  private readonly useKarras: boolean;
  private readonly sigmaMin: number | null;
  private readonly sigmaMax: number | null;
  private readonly continuousTimesteps: boolean;
  private readonly finalSigma: number;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    let ac = alphasCumprod(makeBetas(training));
    if (training.rescaleZeroSnr) ac = clampTerminalAlphaBar(ac);
    this.trainSigmas = sigmasFromAlphasCumprod(ac);
    this.logSigmas = this.trainSigmas.map(Math.log);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.interpolation = c.choice('interpolation_type', ['linear', 'log_linear'], 'linear');
    this.useKarras = c.bool('use_karras_sigmas', false);
    this.sigmaMin = c.optionalNumber('sigma_min');
    this.sigmaMax = c.optionalNumber('sigma_max');
    // "continuous" timesteps (0.25 * log sigma) are what diffusers uses for continuous-time v models.
    const timestepType = c.choice('timestep_type', ['discrete', 'continuous'], 'discrete');
    this.continuousTimesteps = timestepType === 'continuous' && this.prediction === 'v_prediction';
    this.finalSigma = c.choice('final_sigmas_type', ['zero', 'sigma_min'], 'zero') === 'zero' ? 0 : this.trainSigmas[0]!;
    c.rejectTrue('use_exponential_sigmas', 'use_beta_sigmas');
    // Before setTimesteps diffusers holds the whole training table (it sets initNoiseSigma).
    this.sigmas = [...this.trainSigmas].reverse().concat(0);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  /** The largest sigma, or sqrt(sigma_max^2 + 1) for "leading" spacing (diffusers' choice). */
  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  setTimesteps(numInferenceSteps: number): void {
    let ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, false);
    let sig: number[];
    if (this.interpolation === 'linear') {
      sig = ts.map((t) => interpOnGrid(t, this.trainSigmas));
    } else {
      // diffusers: n+1 sigmas log-evenly from the largest to the smallest training sigma, whatever the timesteps.
      const hi = Math.log(this.trainSigmas[this.trainSigmas.length - 1]!);
      const lo = Math.log(this.trainSigmas[0]!);
      sig = linspace(hi, lo, numInferenceSteps + 1).map(Math.exp);
    }
    if (this.useKarras) {
      sig = karrasSigmas(this.sigmaMin ?? sig[sig.length - 1]!, this.sigmaMax ?? sig[0]!, numInferenceSteps);
      ts = sig.map((s) => sigmaToT(s, this.logSigmas));
    }
    this.sigmas = [...sig, this.finalSigma];
    this.ts = this.continuousTimesteps ? sig.map((s) => Math.fround(0.25 * Math.log(s))) : ts.map(Math.fround);
    this.stepIndex = null;
    this.beginIndex = null;
    this.ready = true;
  }

  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
    this.beginIndex = index;
    this.stepIndex = null;
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
    const dt = this.sigmas[i + 1]! - sigma;
    const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
    const xScale = 1 / (sigma * sigma + 1);
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      const m = modelOutput[j]!;
      const x0 = this.prediction === 'epsilon' ? x - sigma * m : this.prediction === 'sample' ? m : m * vScale + x * xScale;
      out[j] = x + ((x - x0) / sigma) * dt;
    }
    this.stepIndex = i + 1;
    return out;
  }

  /** x0 + sigma * noise, sigma taken at the begin index when one is set (image-to-image), as diffusers does. */
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
