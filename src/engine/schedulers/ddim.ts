/**
 * DDIM (Song et al. 2020, https://arxiv.org/abs/2010.02502): diffusers' DDIMScheduler.
 *
 * Each step predicts x0 and eps from the model output at t and moves to the previous timestep
 * t' = t - T // n (eq. 12):
 *   x_t' = sqrt(abar_t') * x0 + sqrt(1 - abar_t' - s_t^2) * eps + s_t * z,
 *   s_t = eta * sqrt((1 - abar_t') / (1 - abar_t) * (1 - abar_t / abar_t'))   (eq. 16).
 * eta = 0 is deterministic DDIM; eta > 0 draws fresh noise z on every step, as diffusers does.
 * As in diffusers, t' is always t - T // n whatever the spacing, and the step after the last timestep
 * uses `final_alpha_cumprod` (1 when set_alpha_to_one, else abar_0: SD 1.x configs end at abar_0).
 */
import type { CustomTimesteps, NoiseFn, PredictionType, Scheduler, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types.ts';
import { addNoiseAtTimestep, alphasCumprod, makeBetas } from './betas.ts';
import { ConfigReader, stepCount, assertBeginIndex, assertSameLength, drawNoise, notReady } from './config.ts';
import { assertTrainTimestep, spacedTimesteps } from './spacing.ts';
import { readThresholding, thresholdSample, type Thresholding } from './thresholding.ts';
import { stepRow, type StepTable } from './step-table.ts';

const OWNER = 'DDIMScheduler';

export class DdimScheduler implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private ts: number[] = [];
  private numInferenceSteps: number | null = null;
  private readonly numTrainTimesteps: number;
  private readonly alphasCumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly clipSample: boolean;
  private readonly clipRange: number;
  /** diffusers passes eta to each step; Darkroom fixes it for the run. */
  private readonly eta: number;
  private readonly thresholding: Thresholding | null;

  constructor(config: SchedulerConfig, options: SchedulerOptions = {}) {
    this.eta = options.eta ?? 0;
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.alphasCumprod = alphasCumprod(makeBetas(training));
    this.finalAlphaCumprod = c.bool('set_alpha_to_one', true) ? 1 : this.alphasCumprod[0]!;
    this.prediction = c.prediction();
    this.spacing = c.spacing('leading');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.clipSample = c.bool('clip_sample', true);
    this.clipRange = c.number('clip_sample_range', 1);
    this.thresholding = readThresholding(c, options.valuesPerImage);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const numInferenceSteps = stepCount(steps, OWNER);
    this.ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, true);
    this.numInferenceSteps = numInferenceSteps;
  }

  /** DDIM keeps no state between steps: the loop simply starts at timesteps[index]. */
  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    if (this.numInferenceSteps === null) notReady(OWNER);
    assertSameLength(modelOutput, sample, OWNER);
    assertTrainTimestep(timestep, this.numTrainTimesteps, OWNER);
    const { sqA, sqB, sqAPrev, sqBPrev, std } = this.levels(timestep, this.numInferenceSteps);
    const z = this.eta > 0 ? drawNoise(noise, sample.length, OWNER) : null;
    const lim = this.clipRange;
    const x0 = new Float64Array(sample.length);
    const eps = new Float64Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      if (this.prediction === 'epsilon') {
        x0[i] = (x - sqB * m) / sqA;
        eps[i] = m;
      } else if (this.prediction === 'sample') {
        x0[i] = m;
        eps[i] = (x - sqA * m) / sqB;
      } else {
        x0[i] = sqA * x - sqB * m;
        eps[i] = sqA * m + sqB * x;
      }
    }
    // diffusers thresholds or clips the x0 prediction but (use_clipped_model_output=False) keeps the unclipped eps.
    if (this.thresholding) thresholdSample(x0, this.thresholding, OWNER);
    else if (this.clipSample) for (let i = 0; i < x0.length; i++) x0[i] = Math.min(lim, Math.max(-lim, x0[i]!));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sqAPrev * x0[i]! + sqBPrev * eps[i]! + (z ? std * z[i]! : 0);
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtTimestep(this.alphasCumprod, original, noise, timestep, OWNER);
  }

  /** x_t' = sqrt(abar_t') clip(x0) + sqrt(1 - abar_t' - s_t^2) eps + s_t z, eps from the unclipped output; null with thresholding. */
  stepTable(begin: number): StepTable | null {
    if (this.numInferenceSteps === null) notReady(OWNER);
    if (this.thresholding) return null;
    const n = this.numInferenceSteps;
    return this.ts.slice(begin).map((t) => {
      assertTrainTimestep(t, this.numTrainTimesteps, OWNER);
      const { sqA, sqB, sqAPrev, sqBPrev, std } = this.levels(t, n);
      // x0 = predX x + predM m, eps = epsX x + epsM m.
      const [predX, predM, epsX, epsM] =
        this.prediction === 'epsilon' ? [1 / sqA, -sqB / sqA, 0, 1]
        : this.prediction === 'sample' ? [0, 1, 1 / sqB, -sqA / sqB]
        : [sqA, -sqB, sqB, sqA];
      return stepRow(t, {
        predX,
        predM,
        clip: this.clipSample ? this.clipRange : Infinity,
        nextX: sqBPrev * epsX,
        nextPred: sqAPrev,
        nextM: sqBPrev * epsM,
        nextNoise: this.eta > 0 ? std : 0,
        drawsNoise: this.eta > 0,
      });
    });
  }

  /** The step's scalars at `timestep`, in float32 as diffusers holds them. */
  private levels(timestep: number, numInferenceSteps: number): { sqA: number; sqB: number; sqAPrev: number; sqBPrev: number; std: number } {
    const prevTimestep = timestep - Math.floor(this.numTrainTimesteps / numInferenceSteps);
    const aT = this.alphasCumprod[timestep]!;
    const aPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep]! : this.finalAlphaCumprod;
    const f = Math.fround;
    const variance = f(f(f(1 - aPrev) / f(1 - aT)) * f(1 - f(aT / aPrev)));
    const std = f(this.eta * f(Math.sqrt(variance)));
    return {
      sqA: f(Math.sqrt(aT)),
      sqB: f(Math.sqrt(f(1 - aT))),
      sqAPrev: f(Math.sqrt(aPrev)),
      sqBPrev: f(Math.sqrt(f(f(1 - aPrev) - f(std * std)))),
      std,
    };
  }
}
