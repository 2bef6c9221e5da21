/**
 * Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`, after Karras et al. 2022,
 * https://arxiv.org/abs/2206.00364): diffusers' EulerAncestralDiscreteScheduler. Stochastic.
 *
 * Each step splits the move from sigma to sigma_next into a deterministic Euler step down to sigma_down and
 * fresh noise of standard deviation sigma_up, chosen so the marginal noise level is exactly sigma_next:
 *   sigma_up = sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2),  sigma_down = sqrt(sigma_next^2 - sigma_up^2).
 * The model input is scaled by 1/sqrt(sigma^2 + 1), as for Euler.
 */
import type { CustomTimesteps, NoiseFn, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { ConfigReader, stepCount, assertSameLength, drawNoise } from './config.ts';
import { predictX0Ve } from './prediction.ts';
import { SigmaSchedule, interpOnGrid, trainingSigmas } from './sigmas.ts';
import { spacedTimesteps } from './spacing.ts';
import { sigmaInputScale, stepRow, x0CoefficientsVe, type StepTable } from './step-table.ts';

const OWNER = 'EulerAncestralDiscreteScheduler';

export class EulerAncestralScheduler implements Scheduler {
  readonly order = 1;
  private readonly schedule = new SigmaSchedule(OWNER);
  private readonly numTrainTimesteps: number;
  private readonly trainSigmas: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.trainSigmas = trainingSigmas(training).sigmas;
    // diffusers raises NotImplementedError for "sample" at the first step; we refuse it up front.
    this.prediction = c.prediction(['epsilon', 'v_prediction']);
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.schedule.preset([], [...this.trainSigmas].reverse().concat(0));
  }

  get timesteps(): readonly number[] {
    return this.schedule.timesteps;
  }

  get initNoiseSigma(): number {
    return this.schedule.initNoiseSigma(this.spacing);
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const numInferenceSteps = stepCount(steps, OWNER);
    const ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, false);
    this.schedule.set(ts, [...ts.map((t) => interpOnGrid(t, this.trainSigmas)), 0]);
  }

  setBeginIndex(index: number): void {
    this.schedule.setBeginIndex(index);
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return this.schedule.scaleModelInput(sample, timestep);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.schedule.index(timestep);
    const sigma = this.schedule.sigmas[i]!;
    const { sigmaUp, dt } = this.split(i);
    // diffusers draws the noise on every step, the last (sigma_up = 0) included.
    const z = drawNoise(noise, sample.length, OWNER);
    const x0 = predictX0Ve(this.prediction, modelOutput, sample, sigma);
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      out[j] = x + ((x - x0[j]!) / sigma) * dt + z[j]! * sigmaUp;
    }
    this.schedule.advance();
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.schedule.addNoise(original, noise, timestep);
  }

  /** x_next = x + (x - x0) dt / sigma + sigma_up z, a draw at every step. */
  stepTable(begin: number): StepTable {
    const { timesteps, sigmas } = this.schedule;
    return timesteps.slice(begin).map((t, k) => {
      const i = begin + k;
      const sigma = sigmas[i]!;
      const { sigmaUp, dt } = this.split(i);
      return stepRow(t, {
        scale: sigmaInputScale(sigma),
        ...x0CoefficientsVe(this.prediction, sigma),
        nextX: 1 + dt / sigma,
        nextPred: -dt / sigma,
        nextNoise: sigmaUp,
        drawsNoise: true,
        previewScale: sigmaInputScale(sigmas[i + 1]!),
      });
    });
  }

  /** The move from sigmas[i] to sigmas[i+1] split into a deterministic part down to sigma_down and noise sigma_up. */
  private split(i: number): { sigmaUp: number; dt: number } {
    const sigma = this.schedule.sigmas[i]!;
    const sigmaTo = this.schedule.sigmas[i + 1]!;
    const sigmaUp = Math.sqrt((sigmaTo * sigmaTo * (sigma * sigma - sigmaTo * sigmaTo)) / (sigma * sigma));
    const sigmaDown = Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
    return { sigmaUp, dt: sigmaDown - sigma };
  }
}
