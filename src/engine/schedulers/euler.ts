/**
 * Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, https://arxiv.org/abs/2206.00364,
 * Algorithm 2 without churn): diffusers' EulerDiscreteScheduler.
 *
 * The sample lives in the variance-exploding form x = x0 + sigma * eps; the model sees x / sqrt(sigma^2 + 1)
 * (the variance-preserving point of the same noise level) and the step is
 *   d = (x - x0_pred) / sigma,   x_next = x + d * (sigma_next - sigma).
 * Sigmas come from the training table interpolated at the (possibly fractional) timesteps, or from the Karras
 * schedule (use_karras_sigmas), or spaced evenly in log-sigma (use_exponential_sigmas) or by beta(0.6, 0.6) quantiles
 * (use_beta_sigmas), whose timesteps are then found by log-sigma interpolation; or custom training timesteps. The last sigma is 0
 * (final_sigmas_type "zero") or the smallest training sigma ("sigma_min").
 */
import type { CustomTimesteps, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { ConfigReader, assertSameLength, checkCustomTimesteps } from './config.ts';
import { predictX0Ve } from './prediction.ts';
import { SigmaSchedule, interpOnGrid, readSigmaSpacing, sigmaToT, spacedSigmas, trainingSigmas, type SigmaSpacing, type TrainingSigmas } from './sigmas.ts';
import { linspace, spacedTimesteps } from './spacing.ts';
import { sigmaInputScale, stepRow, x0CoefficientsVe, type StepTable } from './step-table.ts';

const OWNER = 'EulerDiscreteScheduler';

export class EulerScheduler implements Scheduler {
  readonly order = 1;
  private readonly schedule = new SigmaSchedule(OWNER);
  private readonly numTrainTimesteps: number;
  /** Training sigmas, ascending in t. */
  private readonly train: TrainingSigmas;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly interpolation: 'linear' | 'log_linear';
  private readonly sigmaSpacing: SigmaSpacing | null;
  private readonly sigmaMin: number | null;
  private readonly sigmaMax: number | null;
  private readonly continuousTimesteps: boolean;
  private readonly finalSigma: number;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.train = trainingSigmas(training);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.interpolation = c.choice('interpolation_type', ['linear', 'log_linear'], 'linear');
    this.sigmaSpacing = readSigmaSpacing(c);
    this.sigmaMin = c.optionalNumber('sigma_min');
    this.sigmaMax = c.optionalNumber('sigma_max');
    // "continuous" timesteps (0.25 * log sigma) are what diffusers uses for continuous-time v models.
    const timestepType = c.choice('timestep_type', ['discrete', 'continuous'], 'discrete');
    this.continuousTimesteps = timestepType === 'continuous' && this.prediction === 'v_prediction';
    this.finalSigma = c.choice('final_sigmas_type', ['zero', 'sigma_min'], 'zero') === 'zero' ? 0 : this.train.sigmas[0]!;
    // Before setTimesteps diffusers holds the whole training table (it sets initNoiseSigma).
    this.schedule.preset([], [...this.train.sigmas].reverse().concat(0));
  }

  get timesteps(): readonly number[] {
    return this.schedule.timesteps;
  }

  get initNoiseSigma(): number {
    return this.schedule.initNoiseSigma(this.spacing);
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const custom = typeof steps === 'number' ? null : this.customTimesteps(steps);
    const numInferenceSteps = custom ? custom.length : (steps as number);
    const trainSigmas = this.train.sigmas;
    let ts = custom ?? spacedTimesteps(this.spacing, this.numTrainTimesteps, numInferenceSteps, this.stepsOffset, false);
    let sig: number[];
    if (this.interpolation === 'linear') {
      sig = ts.map((t) => interpOnGrid(t, trainSigmas));
    } else {
      // diffusers: n+1 sigmas log-evenly from the largest to the smallest training sigma, whatever the timesteps.
      const hi = Math.log(trainSigmas[trainSigmas.length - 1]!);
      const lo = Math.log(trainSigmas[0]!);
      sig = linspace(hi, lo, numInferenceSteps + 1).map(Math.exp);
    }
    if (this.sigmaSpacing) {
      sig = spacedSigmas(this.sigmaSpacing, this.sigmaMin ?? sig[sig.length - 1]!, this.sigmaMax ?? sig[0]!, numInferenceSteps);
      ts = sig.map((s) => sigmaToT(s, this.train.logSigmas));
    }
    const timesteps = this.continuousTimesteps ? sig.map((s) => Math.fround(0.25 * Math.log(s))) : ts.map(Math.fround);
    this.schedule.set(timesteps, [...sig, this.finalSigma]);
  }

  /** diffusers' set_timesteps(timesteps=): the sigmas of those training timesteps, refused where diffusers refuses them. */
  private customTimesteps(steps: CustomTimesteps): number[] {
    if (this.sigmaSpacing) throw new Error(`${OWNER}: custom timesteps cannot be combined with use_${this.sigmaSpacing}_sigmas`);
    if (this.continuousTimesteps) throw new Error(`${OWNER}: custom timesteps cannot be combined with continuous timesteps (timestep_type "continuous")`);
    return checkCustomTimesteps(steps.timesteps, this.numTrainTimesteps, OWNER);
  }

  setBeginIndex(index: number): void {
    this.schedule.setBeginIndex(index);
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return this.schedule.scaleModelInput(sample, timestep);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.schedule.index(timestep);
    const sigma = this.schedule.sigmas[i]!;
    const dt = this.schedule.sigmas[i + 1]! - sigma;
    const x0 = predictX0Ve(this.prediction, modelOutput, sample, sigma);
    const out = new Float32Array(sample.length);
    for (let j = 0; j < sample.length; j++) {
      const x = sample[j]!;
      out[j] = x + ((x - x0[j]!) / sigma) * dt;
    }
    this.schedule.advance();
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.schedule.addNoise(original, noise, timestep);
  }

  /** x_next = x + (x - x0) dt / sigma. */
  stepTable(begin: number): StepTable {
    const { timesteps, sigmas } = this.schedule;
    return timesteps.slice(begin).map((t, k) => {
      const sigma = sigmas[begin + k]!;
      const next = sigmas[begin + k + 1]!;
      const r = (next - sigma) / sigma;
      return stepRow(t, {
        scale: sigmaInputScale(sigma),
        ...x0CoefficientsVe(this.prediction, sigma),
        nextX: 1 + r,
        nextPred: -r,
        previewScale: sigmaInputScale(next),
      });
    });
  }
}
