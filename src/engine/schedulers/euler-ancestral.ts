/**
 * Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`, after Karras et al. 2022,
 * https://arxiv.org/abs/2206.00364): diffusers' EulerAncestralDiscreteScheduler. Stochastic.
 *
 * Each step splits the move from sigma to sigma_next into a deterministic Euler step down to sigma_down and
 * fresh noise of standard deviation sigma_up, chosen so the marginal noise level is exactly sigma_next:
 *   sigma_up = sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2),  sigma_down = sqrt(sigma_next^2 - sigma_up^2).
 * The model input is scaled by 1/sqrt(sigma^2 + 1), as for Euler.
 */
import type { NoiseFn, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { alphasCumprod, clampTerminalAlphaBar, makeBetas } from './betas.ts';
import { ConfigReader, assertBeginIndex, assertSameLength, drawNoise, notReady } from './config.ts';
import { interpOnGrid, sigmasFromAlphasCumprod } from './sigmas.ts';
import { indexForTimestep, spacedTimesteps } from './spacing.ts';

const OWNER = 'EulerAncestralDiscreteScheduler';

export class EulerAncestralScheduler implements Scheduler {
  readonly order = 1;
  private ts: number[] = [];
  private sigmas: number[];
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  private ready = false;
  private readonly numTrainTimesteps: number;
  private readonly trainSigmas: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    let ac = alphasCumprod(makeBetas(training));
    if (training.rescaleZeroSnr) ac = clampTerminalAlphaBar(ac);
    this.trainSigmas = sigmasFromAlphasCumprod(ac);
    // diffusers raises NotImplementedError for "sample" at the first step; we refuse it up front.
    this.prediction = c.prediction(['epsilon', 'v_prediction']);
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
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
    this.ts = spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, false);
    this.sigmas = [...this.ts.map((t) => interpOnGrid(t, this.trainSigmas)), 0];
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

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.currentIndex(timestep, true);
    const sigma = this.sigmas[i]!;
    const sigmaTo = this.sigmas[i + 1]!;
    const sigmaUp = Math.sqrt((sigmaTo * sigmaTo * (sigma * sigma - sigmaTo * sigmaTo)) / (sigma * sigma));
    const sigmaDown = Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
    const dt = sigmaDown - sigma;
    const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
    const xScale = 1 / (sigma * sigma + 1);
    // diffusers draws the noise on every step, the last (sigma_up = 0) included.
    const z = drawNoise(noise, sample.length, OWNER);
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      const m = modelOutput[j]!;
      const x0 = this.prediction === 'epsilon' ? x - sigma * m : m * vScale + x * xScale;
      out[j] = x + ((x - x0) / sigma) * dt + z[j]! * sigmaUp;
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
