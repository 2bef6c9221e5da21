/**
 * Heun's method, 2nd order, on the probability-flow ODE in sigma (Karras et al. 2022,
 * https://arxiv.org/abs/2206.00364, Algorithm 1): diffusers' HeunDiscreteScheduler.
 *
 * Each logical step takes two model calls: an Euler predictor from sigma_i to sigma_{i+1}, then a corrector
 * that averages the derivatives at both ends and redoes the step from the saved sample. The schedule therefore
 * lists every timestep but the first twice ([t0, t1, t1, t2, t2, ...]) and the sigmas likewise
 * ([s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0]); the last step, to sigma 0, is a plain Euler step.
 * `order` is 2: a pipeline starting image-to-image at logical step k passes setBeginIndex(2k).
 */
import type { PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { alphasCumprod, makeBetas } from './betas.ts';
import { ConfigReader, assertBeginIndex, assertSameLength, notReady } from './config.ts';
import { interpOnGrid, karrasSigmas, sigmaToT, sigmasFromAlphasCumprod } from './sigmas.ts';
import { indexForTimestep, spacedTimesteps } from './spacing.ts';

const OWNER = 'HeunDiscreteScheduler';

export class HeunScheduler implements Scheduler {
  readonly order = 2;
  private ts: number[] = [];
  private sigmas: number[] = [];
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  private ready = false;
  // Predictor state (diffusers: prev_derivative, dt, sample); dt === null means "next call is a predictor".
  private prevDerivative: Float32Array | null = null;
  private dt: number | null = null;
  private savedSample: Float32Array | null = null;
  private readonly numTrainTimesteps: number;
  private readonly trainSigmas: Float64Array;
  private readonly logSigmas: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly useKarras: boolean;
  private readonly clipSample: boolean;
  private readonly clipRange: number;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    // Heun's diffusers defaults differ from the other classes: beta 0.00085..0.012 (still "linear").
    const training = c.training({ betaStart: 0.00085, betaEnd: 0.012, zeroSnr: false });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.trainSigmas = sigmasFromAlphasCumprod(alphasCumprod(makeBetas(training)));
    this.logSigmas = this.trainSigmas.map(Math.log);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.useKarras = c.bool('use_karras_sigmas', false);
    this.clipSample = c.bool('clip_sample', false);
    this.clipRange = c.number('clip_sample_range', 1);
    c.rejectTrue('use_exponential_sigmas', 'use_beta_sigmas');
    // diffusers' __init__ runs set_timesteps(num_train_timesteps); only initNoiseSigma depends on it.
    this.build(this.numTrainTimesteps);
    this.ready = false;
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  setTimesteps(numInferenceSteps: number): void {
    this.build(numInferenceSteps);
  }

  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
    if (index % 2 !== 0) {
      throw new RangeError(`${OWNER}: begin index must be even (a logical step k starts at 2k), got ${index}`);
    }
    this.beginIndex = index;
    this.resetRun();
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.currentIndex(timestep, false)]!;
    const k = 1 / Math.sqrt(sigma * sigma + 1);
    return sample.map((x) => x * k);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.currentIndex(timestep, true);
    const firstOrder = this.dt === null;
    // The corrector's model call was made at the predicted point, sigma_{i} in the duplicated list.
    const sigma = firstOrder ? this.sigmas[i]! : this.sigmas[i - 1]!;
    const sigmaNext = firstOrder ? this.sigmas[i + 1]! : this.sigmas[i]!;
    const sigmaIn = firstOrder ? sigma : sigmaNext;
    const vScale = -sigmaIn / Math.sqrt(sigmaIn * sigmaIn + 1);
    const xScale = 1 / (sigmaIn * sigmaIn + 1);
    const lim = this.clipRange;
    const d = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      const m = modelOutput[j]!;
      let x0 = this.prediction === 'epsilon' ? x - sigmaIn * m : this.prediction === 'sample' ? m : m * vScale + x * xScale;
      if (this.clipSample) x0 = Math.min(lim, Math.max(-lim, x0));
      d[j] = (x - x0) / sigmaIn;
    }
    const out = new Float32Array(sample.length);
    if (firstOrder) {
      const dt = sigmaNext - sigma;
      for (let j = 0; j < out.length; j++) out[j] = sample[j]! + d[j]! * dt;
      this.prevDerivative = d;
      this.dt = dt;
      this.savedSample = sample.slice();
    } else {
      const prev = this.prevDerivative!;
      const base = this.savedSample!;
      const dt = this.dt!;
      for (let j = 0; j < out.length; j++) out[j] = base[j]! + ((prev[j]! + d[j]!) / 2) * dt;
      this.prevDerivative = null;
      this.dt = null;
      this.savedSample = null;
    }
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

  private build(n: number): void {
    let ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, n, this.stepsOffset, false);
    let sig = ts.map((t) => interpOnGrid(t, this.trainSigmas));
    if (this.useKarras) {
      sig = karrasSigmas(sig[sig.length - 1]!, sig[0]!, n);
      ts = sig.map((s) => sigmaToT(s, this.logSigmas));
    }
    const all = [...sig, 0];
    this.sigmas = [all[0]!, ...all.slice(1, -1).flatMap((s) => [s, s]), all[all.length - 1]!];
    const t32 = ts.map(Math.fround);
    this.ts = [t32[0]!, ...t32.slice(1).flatMap((t) => [t, t])];
    this.beginIndex = null;
    this.resetRun();
    this.ready = true;
  }

  private resetRun(): void {
    this.stepIndex = null;
    this.prevDerivative = null;
    this.dt = null;
    this.savedSample = null;
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
