/**
 * DDPM ancestral sampling (Ho et al. 2020, https://arxiv.org/abs/2006.11239): diffusers' DDPMScheduler.
 *
 * Each step samples the posterior q(x_t' | x_t, x0) around the predicted x0 (eqs. 6-7), generalised to
 * skipped steps (t' = the next timestep in the schedule, -1 after the last):
 *   mean = sqrt(abar_t') * beta'_t / (1 - abar_t) * x0 + sqrt(alpha'_t) * (1 - abar_t') / (1 - abar_t) * x_t
 *   var  = (1 - abar_t') / (1 - abar_t) * beta'_t            ("fixed_small", clamped at 1e-20)
 * with alpha'_t = abar_t / abar_t' and beta'_t = 1 - alpha'_t. Noise is drawn only while t > 0.
 */
import type { CustomTimesteps, NoiseFn, PredictionType, Scheduler, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types.ts';
import { addNoiseAtTimestep, alphasCumprod, makeBetas } from './betas.ts';
import { ConfigReader, checkCustomTimesteps, assertBeginIndex, assertSameLength, drawNoise, notReady } from './config.ts';
import { predictX0Vp } from './prediction.ts';
import { readThresholding, thresholdSample, type Thresholding } from './thresholding.ts';
import { assertTrainTimestep, spacedTimesteps } from './spacing.ts';

const OWNER = 'DDPMScheduler';
type VarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large';

export class DdpmScheduler implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private ts: number[] = [];
  private readonly numTrainTimesteps: number;
  private readonly alphasCumprod: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly clipSample: boolean;
  private readonly clipRange: number;
  private readonly thresholding: Thresholding | null;
  private readonly varianceType: VarianceType;

  constructor(config: SchedulerConfig, options: SchedulerOptions = {}) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.alphasCumprod = alphasCumprod(makeBetas(training));
    this.prediction = c.prediction();
    this.spacing = c.spacing('leading');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.clipSample = c.bool('clip_sample', true);
    this.clipRange = c.number('clip_sample_range', 1);
    // "learned"/"learned_range" need the UNet's extra variance channels, which SD UNets do not have.
    this.varianceType = c.choice<VarianceType>(
      'variance_type',
      ['fixed_small', 'fixed_small_log', 'fixed_large'],
      'fixed_small',
    );
    this.thresholding = readThresholding(c, options.valuesPerImage);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  /** Custom timesteps are visited as given; each step goes to the next one (diffusers' previous_timestep). */
  setTimesteps(steps: number | CustomTimesteps): void {
    if (typeof steps !== 'number') {
      this.ts = checkCustomTimesteps(steps.timesteps, this.numTrainTimesteps, OWNER);
      return;
    }
    const numInferenceSteps = steps;
    this.ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, true);
  }

  /** DDPM keeps no state between steps: the loop simply starts at timesteps[index]. */
  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    if (this.ts.length === 0) notReady(OWNER);
    assertSameLength(modelOutput, sample, OWNER);
    assertTrainTimestep(timestep, this.numTrainTimesteps, OWNER);
    // diffusers `previous_timestep`: the successor of the timestep's first occurrence in the schedule.
    const first = this.ts.indexOf(timestep);
    if (first < 0) throw new RangeError(`${OWNER}: timestep ${timestep} is not in the schedule`);
    const prevT = first === this.ts.length - 1 ? -1 : this.ts[first + 1]!;
    const aT = this.alphasCumprod[timestep]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1;
    // Scalars in float32, as diffusers holds them.
    const f = Math.fround;
    const bT = f(1 - aT);
    const bPrev = f(1 - aPrev);
    const curAlpha = f(aT / aPrev);
    const curBeta = f(1 - curAlpha);
    const cX0 = f(f(f(Math.sqrt(aPrev)) * curBeta) / bT);
    const cXt = f(f(f(Math.sqrt(curAlpha)) * bPrev) / bT);
    // diffusers thresholds instead of clipping when both are set.
    const clip = this.clipSample && !this.thresholding ? this.clipRange : null;
    const x0 = predictX0Vp(this.prediction, modelOutput, sample, Math.sqrt(aT), Math.sqrt(bT), clip);
    if (this.thresholding) thresholdSample(x0, this.thresholding, OWNER);

    let std = 0;
    let z: Float32Array | null = null;
    if (timestep > 0) {
      z = drawNoise(noise, sample.length, OWNER);
      const small = Math.max(f(f(bPrev / bT) * curBeta), 1e-20);
      std = f(this.varianceType === 'fixed_large' ? Math.sqrt(curBeta) : Math.sqrt(small));
    }
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = cX0 * x0[i]! + cXt * sample[i]! + (z ? std * z[i]! : 0);
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtTimestep(this.alphasCumprod, original, noise, timestep, OWNER);
  }
}
