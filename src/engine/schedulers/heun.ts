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
import type { CustomTimesteps, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { ConfigReader, assertBeginIndex, assertSameLength, checkCustomTimesteps } from './config.ts';
import { predictX0Ve } from './prediction.ts';
import { SigmaSchedule, interpOnGrid, readSigmaSpacing, sigmaToT, spacedSigmas, trainingSigmas, type SigmaSpacing, type TrainingSigmas } from './sigmas.ts';
import { spacedTimesteps } from './spacing.ts';

const OWNER = 'HeunDiscreteScheduler';

export class HeunScheduler implements Scheduler {
  readonly order = 2;
  private readonly schedule = new SigmaSchedule(OWNER);
  // Predictor state (diffusers: prev_derivative, dt, sample); dt === null means "next call is a predictor".
  private prevDerivative: Float32Array | null = null;
  private dt: number | null = null;
  private savedSample: Float32Array | null = null;
  private readonly numTrainTimesteps: number;
  private readonly train: TrainingSigmas;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly sigmaSpacing: SigmaSpacing | null;
  private readonly clipSample: boolean;
  private readonly clipRange: number;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    // Heun's diffusers defaults differ from the other classes: beta 0.00085..0.012 (still "linear").
    const training = c.training({ betaStart: 0.00085, betaEnd: 0.012, zeroSnr: false });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.train = trainingSigmas(training);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.sigmaSpacing = readSigmaSpacing(c);
    this.clipSample = c.bool('clip_sample', false);
    this.clipRange = c.number('clip_sample_range', 1);
    // diffusers' __init__ runs set_timesteps(num_train_timesteps); only initNoiseSigma depends on it.
    const { timesteps, sigmas } = this.tables(this.numTrainTimesteps);
    this.schedule.preset(timesteps, sigmas);
  }

  get timesteps(): readonly number[] {
    return this.schedule.timesteps;
  }

  get initNoiseSigma(): number {
    return this.schedule.initNoiseSigma(this.spacing);
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const { timesteps, sigmas } = this.tables(typeof steps === 'number' ? steps : this.customTimesteps(steps));
    this.schedule.set(timesteps, sigmas);
    this.resetRun();
  }

  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
    if (index % 2 !== 0) {
      throw new RangeError(`${OWNER}: begin index must be even (a logical step k starts at 2k), got ${index}`);
    }
    this.schedule.setBeginIndex(index);
    this.resetRun();
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return this.schedule.scaleModelInput(sample, timestep);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.schedule.index(timestep);
    const sigmas = this.schedule.sigmas;
    const firstOrder = this.dt === null;
    // The corrector's model call was made at the predicted point, sigma_{i} in the duplicated list.
    const sigma = firstOrder ? sigmas[i]! : sigmas[i - 1]!;
    const sigmaNext = firstOrder ? sigmas[i + 1]! : sigmas[i]!;
    const sigmaIn = firstOrder ? sigma : sigmaNext;
    const x0 = predictX0Ve(this.prediction, modelOutput, sample, sigmaIn, this.clipSample ? this.clipRange : null);
    const d = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) d[j] = (sample[j]! - x0[j]!) / sigmaIn;
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
    this.schedule.advance();
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.schedule.addNoise(original, noise, timestep);
  }

  /** diffusers' set_timesteps(timesteps=), refused where diffusers refuses it. */
  private customTimesteps(steps: CustomTimesteps): number[] {
    if (this.sigmaSpacing) throw new Error(`${OWNER}: custom timesteps cannot be combined with use_${this.sigmaSpacing}_sigmas`);
    return checkCustomTimesteps(steps.timesteps, this.numTrainTimesteps, OWNER);
  }

  /**
   * Timesteps and sigmas for n logical steps (or the given custom timesteps), every entry after the first doubled
   * (see the file comment).
   */
  private tables(steps: number | number[]): { timesteps: number[]; sigmas: number[] } {
    const n = typeof steps === 'number' ? steps : steps.length;
    let ts = typeof steps === 'number' ? spacedTimesteps(this.spacing, this.numTrainTimesteps, n, this.stepsOffset, false) : steps;
    let sig = ts.map((t) => interpOnGrid(t, this.train.sigmas));
    if (this.sigmaSpacing) {
      sig = spacedSigmas(this.sigmaSpacing, sig[sig.length - 1]!, sig[0]!, n);
      ts = sig.map((s) => sigmaToT(s, this.train.logSigmas));
    }
    const all = [...sig, 0];
    const t32 = ts.map(Math.fround);
    return {
      timesteps: [t32[0]!, ...t32.slice(1).flatMap((t) => [t, t])],
      sigmas: [all[0]!, ...all.slice(1, -1).flatMap((s) => [s, s]), all[all.length - 1]!],
    };
  }

  private resetRun(): void {
    this.schedule.restart();
    this.prevDerivative = null;
    this.dt = null;
    this.savedSample = null;
  }
}
