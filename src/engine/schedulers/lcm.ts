/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023, https://arxiv.org/abs/2310.04378, Algorithm 3;
 * consistency models: Song et al. 2023, https://arxiv.org/abs/2303.01469): diffusers' LCMScheduler. Stochastic.
 *
 * An LCM was distilled on a coarse grid of `original_inference_steps` timesteps (k-1, 2k-1, ..., T-1 with
 * k = T // original_inference_steps); sampling with n steps picks n of them, evenly by index from the top
 * (999, 759, 499, 259 for n = 4). Each step evaluates the consistency function with its boundary-condition
 * scalings (c_skip -> 1, c_out -> 0 as t -> 0; sigma_data = 0.5, t scaled by timestep_scaling):
 *   denoised = c_out * x0_pred + c_skip * x_t,
 * then, except after the last step, re-noises it to the next timestep with fresh noise:
 *   x_next = sqrt(abar_next) * denoised + sqrt(1 - abar_next) * z.
 * The last step returns `denoised` itself.
 */
import type { CustomTimesteps, NoiseFn, PredictionType, Scheduler, SchedulerConfig, SchedulerOptions } from './types.ts';
import { addNoiseAtTimestep, alphasCumprod, makeBetas } from './betas.ts';
import { ConfigReader, checkCustomTimesteps, assertSameLength, drawNoise, notReady } from './config.ts';
import { predictX0Vp } from './prediction.ts';
import { readThresholding, thresholdSample, type Thresholding } from './thresholding.ts';
import { assertTrainTimestep, linspace } from './spacing.ts';
import { StepIndex } from './step-index.ts';
import { stepRow, x0CoefficientsVp, type StepTable } from './step-table.ts';

const OWNER = 'LCMScheduler';
const SIGMA_DATA = 0.5;

export class LcmScheduler implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private ts: number[] = [];
  private readonly position = new StepIndex(OWNER);
  private readonly numTrainTimesteps: number;
  private readonly alphasCumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly originalSteps: number;
  private readonly prediction: PredictionType;
  private readonly clipSample: boolean;
  private readonly clipRange: number;
  private readonly thresholding: Thresholding | null;
  private readonly timestepScaling: number;

  constructor(config: SchedulerConfig, options: SchedulerOptions = {}) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.alphasCumprod = alphasCumprod(makeBetas(training));
    this.finalAlphaCumprod = c.bool('set_alpha_to_one', true) ? 1 : this.alphasCumprod[0]!;
    this.originalSteps = c.integer('original_inference_steps', 50, 1);
    if (this.originalSteps > this.numTrainTimesteps) {
      throw new RangeError(`${OWNER}: original_inference_steps ${this.originalSteps} exceeds num_train_timesteps ${this.numTrainTimesteps}`);
    }
    this.prediction = c.prediction();
    this.clipSample = c.bool('clip_sample', false);
    this.clipRange = c.number('clip_sample_range', 1);
    this.timestepScaling = c.number('timestep_scaling', 10);
    this.thresholding = readThresholding(c, options.valuesPerImage);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  /** Custom timesteps are visited as given (diffusers only warns when they are off the distillation grid). */
  setTimesteps(steps: number | CustomTimesteps): void {
    if (typeof steps !== 'number') {
      this.ts = checkCustomTimesteps(steps.timesteps, this.numTrainTimesteps, OWNER);
      this.position.clear();
      return;
    }
    const numInferenceSteps = steps;
    const orig = this.originalSteps;
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > orig) {
      throw new RangeError(
        `${OWNER}: numInferenceSteps must be an integer in 1..${orig} (original_inference_steps), got ${numInferenceSteps}`,
      );
    }
    const k = Math.floor(this.numTrainTimesteps / orig);
    // The distillation grid, descending: orig*k - 1, ..., 2k - 1, k - 1.
    const grid = Array.from({ length: orig }, (_, j) => (orig - j) * k - 1);
    const indices = linspace(0, grid.length, numInferenceSteps, false).map(Math.floor);
    this.ts = indices.map((j) => grid[j]!);
    this.position.clear();
  }

  setBeginIndex(index: number): void {
    this.position.setBegin(index);
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  /** Boundary-condition scalings of the consistency function (diffusers `get_scalings_for_boundary_condition_discrete`). */
  boundaryScalings(timestep: number): { cSkip: number; cOut: number } {
    const t = timestep * this.timestepScaling;
    return { cSkip: SIGMA_DATA ** 2 / (t * t + SIGMA_DATA ** 2), cOut: t / Math.sqrt(t * t + SIGMA_DATA ** 2) };
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    if (this.ts.length === 0) notReady(OWNER);
    assertSameLength(modelOutput, sample, OWNER);
    assertTrainTimestep(timestep, this.numTrainTimesteps, OWNER);
    const i = this.position.current(this.ts, timestep);
    const last = i === this.ts.length - 1;
    const prevT = last ? timestep : this.ts[i + 1]!;
    const aT = this.alphasCumprod[timestep]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const { cSkip, cOut } = this.boundaryScalings(timestep);
    const z = last ? null : drawNoise(noise, sample.length, OWNER);
    // diffusers thresholds instead of clipping when both are set.
    const clip = this.clipSample && !this.thresholding ? this.clipRange : null;
    const x0 = predictX0Vp(this.prediction, modelOutput, sample, Math.sqrt(aT), Math.sqrt(1 - aT), clip);
    if (this.thresholding) thresholdSample(x0, this.thresholding, OWNER);
    const sqAPrev = Math.sqrt(aPrev);
    const sqBPrev = Math.sqrt(1 - aPrev);
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const denoised = cOut * x0[j]! + cSkip * sample[j]!;
      out[j] = z ? sqAPrev * denoised + sqBPrev * z[j]! : denoised;
    }
    this.position.advance();
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtTimestep(this.alphasCumprod, original, noise, timestep, OWNER);
  }

  /** denoised = c_out x0 + c_skip x, re-noised to the next timestep except after the last step; null with thresholding. */
  stepTable(begin: number): StepTable | null {
    if (this.ts.length === 0) notReady(OWNER);
    if (this.thresholding) return null;
    return this.ts.slice(begin).map((t, k) => {
      assertTrainTimestep(t, this.numTrainTimesteps, OWNER);
      const i = begin + k;
      const last = i === this.ts.length - 1;
      const aT = this.alphasCumprod[t]!;
      const prevT = last ? t : this.ts[i + 1]!;
      const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
      const { cSkip, cOut } = this.boundaryScalings(t);
      const keep = last ? 1 : Math.sqrt(aPrev);
      return stepRow(t, {
        ...x0CoefficientsVp(this.prediction, Math.sqrt(aT), Math.sqrt(1 - aT)),
        clip: this.clipSample ? this.clipRange : Infinity,
        nextX: keep * cSkip,
        nextPred: keep * cOut,
        nextNoise: last ? 0 : Math.sqrt(1 - aPrev),
        drawsNoise: !last,
      });
    });
  }
}
