/**
 * DPM-Solver++(2M) (Lu et al. 2022, https://arxiv.org/abs/2211.01095, Algorithm 2, "midpoint" form):
 * diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++", solver_order 2, solver_type
 * "midpoint". With use_karras_sigmas it is the sampler known as "DPM++ 2M Karras".
 *
 * The solver works on data predictions x0_i (any model output is converted to one) in half-log-SNR time
 * lambda = log(alpha_t / sigma_t). With h = lambda_t - lambda_s:
 *   1st order (DDIM):  x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) D0
 *   2nd order:         the same plus  -0.5 alpha_t (e^{-h} - 1) D1,  D1 = (D0 - x0_{i-1}) / r,  r = h_prev / h
 * The first step is 1st order (no history yet); so is the last one when final_sigmas_type is "zero"
 * (a step to sigma = 0 is exactly x0), or when lower_order_final and fewer than 15 steps (diffusers' rule).
 *
 * solver_type "heun" (read from the config) replaces the 2nd-order term by alpha_t ((e^{-h} - 1) / h + 1) D1.
 * Keys fixed by the name (ignored in the config): algorithm_type, solver_order.
 * The class below also carries the schedule for the SDE variant (dpmpp-2m-sde.ts).
 */
import type { CustomTimesteps, NoiseFn, PredictionType, Scheduler, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types.ts';
import { ConfigReader, assertSameLength, checkCustomTimesteps } from './config.ts';
import { dataPrediction } from './prediction.ts';
import { readThresholding, type Thresholding } from './thresholding.ts';
import { SigmaSchedule, interpOnGrid, karrasSigmas, levelsOf, readSigmaSpacing, sigmaToT, spacedSigmas, trainingSigmas, type SigmaSpacing, type TrainingSigmas } from './sigmas.ts';
import { linspace, multistepTimesteps, roundHalfEven } from './spacing.ts';
import { stepRow, x0CoefficientsVp, type StepCoefficients, type StepTable } from './step-table.ts';

export interface DpmOptions extends SchedulerOptions {
  /** Force use_karras_sigmas on (the "_karras" scheduler names); otherwise the config decides. */
  karras?: boolean;
}

/** Everything of DPMSolverMultistepScheduler but the update formula. */
export abstract class DpmSolverMultistepBase implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private readonly schedule: SigmaSchedule;
  /** Data prediction of the previous step (the "M" of 2M) and how many steps have run. */
  protected prevX0: Float32Array | null = null;
  protected lowerOrderNums = 0;
  private readonly numTrainTimesteps: number;
  private readonly train: TrainingSigmas;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly sigmaSpacing: SigmaSpacing | null;
  private readonly useLuLambdas: boolean;
  private readonly roundKarrasTimesteps: boolean;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  private readonly finalSigmasZero: boolean;
  private readonly lambdaMinClipped: number;
  private readonly thresholding: Thresholding | null;
  /** diffusers' solver_type: how the 2nd-order update weighs D1. */
  protected readonly solverType: 'midpoint' | 'heun';

  constructor(config: SchedulerConfig, options: DpmOptions, protected readonly owner: string) {
    this.schedule = new SigmaSchedule(owner, 'last');
    const c = new ConfigReader(config, owner);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.train = trainingSigmas(training);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.sigmaSpacing = readSigmaSpacing(c, options.karras === true);
    this.useLuLambdas = c.bool('use_lu_lambdas', false);
    // diffusers rounds Karras timesteps to integers unless beta_schedule is the cosine one (then int64 truncates).
    this.roundKarrasTimesteps = training.betaSchedule !== 'squaredcos_cap_v2';
    this.solverType = c.choice('solver_type', ['midpoint', 'heun'], 'midpoint');
    this.lowerOrderFinal = c.bool('lower_order_final', true);
    this.eulerAtFinal = c.bool('euler_at_final', false);
    this.finalSigmasZero = c.choice('final_sigmas_type', ['zero', 'sigma_min'], 'zero') === 'zero';
    const lmc = c.value('lambda_min_clipped');
    this.lambdaMinClipped = typeof lmc === 'number' ? lmc : -Infinity;
    if (c.value('variance_type') !== undefined) {
      throw new Error(`${owner}: variance_type ${JSON.stringify(c.value('variance_type'))} (learned variance) is not supported`);
    }
    this.thresholding = readThresholding(c, options.valuesPerImage);
    c.rejectTrue('use_flow_sigmas', 'use_dynamic_shifting');
  }

  get timesteps(): readonly number[] {
    return this.schedule.timesteps;
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const T = this.numTrainTimesteps;
    const trainSigmas = this.train.sigmas;
    const custom = typeof steps === 'number' ? null : this.customTimesteps(steps);
    const numInferenceSteps = custom ? custom.length : (steps as number);
    // lambda_min_clipped drops the noisiest timesteps whose half-log-SNR is below it.
    let clipped = 0;
    for (const a of this.train.alphasCumprod) {
      if (0.5 * Math.log(a) - 0.5 * Math.log(1 - a) < this.lambdaMinClipped) clipped++;
    }
    let ts = custom ?? multistepTimesteps(this.spacing, T, T - clipped, numInferenceSteps, this.stepsOffset);
    let sig: number[];
    // diffusers rounds the Karras and Lu timesteps (truncates them on the cosine schedule) and truncates the others.
    const round = this.roundKarrasTimesteps ? roundHalfEven : Math.trunc;
    if (this.sigmaSpacing === 'karras') {
      sig = karrasSigmas(trainSigmas[0]!, trainSigmas[T - 1]!, numInferenceSteps);
      ts = sig.map((s) => round(sigmaToT(s, this.train.logSigmas)));
    } else if (this.useLuLambdas) {
      // Lu et al.'s schedule: evenly spaced in log-sigma between the table's ends (diffusers' _convert_to_lu, rho 1).
      const logs = this.train.logSigmas;
      sig = linspace(logs[T - 1]!, logs[0]!, numInferenceSteps).map(Math.exp);
      ts = sig.map((s) => round(sigmaToT(s, logs)));
    } else if (this.sigmaSpacing) {
      sig = spacedSigmas(this.sigmaSpacing, trainSigmas[0]!, trainSigmas[T - 1]!, numInferenceSteps);
      ts = sig.map((s) => Math.trunc(sigmaToT(s, this.train.logSigmas)));
    } else {
      sig = ts.map((t) => interpOnGrid(t, trainSigmas));
    }
    this.schedule.set(ts, [...sig, this.finalSigmasZero ? 0 : trainSigmas[0]!]);
    this.resetRun();
  }

  /** diffusers' set_timesteps(timesteps=): integer training timesteps, refused where diffusers refuses them. */
  private customTimesteps(steps: CustomTimesteps): number[] {
    if (this.sigmaSpacing) throw new Error(`${this.owner}: custom timesteps cannot be combined with use_${this.sigmaSpacing}_sigmas`);
    if (this.useLuLambdas) throw new Error(`${this.owner}: custom timesteps cannot be combined with use_lu_lambdas`);
    return checkCustomTimesteps(steps.timesteps, this.numTrainTimesteps, this.owner);
  }

  setBeginIndex(index: number): void {
    this.schedule.setBeginIndex(index);
    this.resetRun();
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    assertSameLength(modelOutput, sample, this.owner);
    const i = this.schedule.index(timestep);
    const x0 = dataPrediction(this.prediction, modelOutput, sample, this.schedule.sigmas[i]!, this.thresholding, this.owner);
    const firstOrder = this.lowerOrderNums < 1 || this.firstOrderFinal(i) || this.prevX0 === null;
    const out = this.update(sample, x0, firstOrder ? null : this.prevX0, i, noise);
    this.prevX0 = x0;
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, 2);
    this.schedule.advance();
    return out;
  }

  /** The run from `begin` as a table: a fresh run's first step is 1st order, as is a lower-order final one; null with thresholding. */
  stepTable(begin: number): StepTable | null {
    if (this.thresholding) return null;
    return this.schedule.timesteps.slice(begin).map((t, k) => {
      const i = begin + k;
      const { alpha, sigmaT } = this.levels(i);
      return stepRow(t, {
        ...x0CoefficientsVp(this.prediction, alpha, sigmaT),
        ...this.updateCoefficients(i, k === 0 || this.firstOrderFinal(i)),
      });
    });
  }

  /** Whether step i, the last, is 1st order: to sigma 0 it is exactly x0; diffusers' lower_order_final below 15 steps. */
  private firstOrderFinal(i: number): boolean {
    const n = this.schedule.timesteps.length;
    return i === n - 1 && (this.eulerAtFinal || (this.lowerOrderFinal && n < 15) || this.finalSigmasZero);
  }

  /** `update` as coefficients of x, D0, the previous x0 and z (step-table.ts). */
  protected abstract updateCoefficients(
    i: number,
    firstOrder: boolean,
  ): Pick<StepCoefficients, 'nextX' | 'nextPred' | 'nextPrev' | 'nextNoise' | 'drawsNoise'>;

  /** alpha_t x0 + sigma_t noise at the begin index's sigma (image-to-image), as diffusers does. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.schedule.addNoiseVp(original, noise, timestep);
  }

  /**
   * One solver step from sigmas[i] to sigmas[i+1] given this step's data prediction `x0` and, for the
   * 2nd-order update, the previous one (null: 1st order).
   */
  protected abstract update(
    sample: Float32Array,
    x0: Float32Array,
    prevX0: Float32Array | null,
    i: number,
    noise: NoiseFn | undefined,
  ): Float32Array;

  /** alpha, sigma and lambda of sigmas[k] (lambda = +inf at sigma = 0). */
  protected levels(k: number): { alpha: number; sigmaT: number; lambda: number } {
    return levelsOf(this.schedule.sigmas[k]!);
  }

  private resetRun(): void {
    this.schedule.restart();
    this.prevX0 = null;
    this.lowerOrderNums = 0;
  }
}

export class DpmPP2MScheduler extends DpmSolverMultistepBase {
  constructor(config: SchedulerConfig, options: DpmOptions = {}) {
    super(config, options, 'DPMSolverMultistepScheduler(dpmsolver++)');
  }

  protected update(sample: Float32Array, x0: Float32Array, prevX0: Float32Array | null, i: number): Float32Array {
    const t = this.levels(i + 1);
    const s0 = this.levels(i);
    const h = t.lambda - s0.lambda;
    const cx = t.sigmaT / s0.sigmaT;
    const cd = -t.alpha * Math.expm1(-h); // -alpha_t (e^{-h} - 1)
    const out = new Float32Array(sample.length);
    if (prevX0 === null) {
      for (let j = 0; j < out.length; j++) out[j] = cx * sample[j]! + cd * x0[j]!;
      return out;
    }
    const s1 = this.levels(i - 1);
    const r0 = (s0.lambda - s1.lambda) / h;
    // -alpha_t ((e^{-h} - 1) / h + 1) for heun, 0.5 * cd for midpoint.
    const c1 = this.solverType === 'heun' ? t.alpha * (Math.expm1(-h) / h + 1) : 0.5 * cd;
    for (let j = 0; j < out.length; j++) {
      const d0 = x0[j]!;
      const d1 = (d0 - prevX0[j]!) / r0;
      out[j] = cx * sample[j]! + cd * d0 + c1 * d1;
    }
    return out;
  }

  protected updateCoefficients(i: number, firstOrder: boolean) {
    const t = this.levels(i + 1);
    const s0 = this.levels(i);
    const h = t.lambda - s0.lambda;
    const cx = t.sigmaT / s0.sigmaT;
    const cd = -t.alpha * Math.expm1(-h);
    if (firstOrder) return { nextX: cx, nextPred: cd, nextPrev: 0, nextNoise: 0, drawsNoise: false };
    const r0 = (s0.lambda - this.levels(i - 1).lambda) / h;
    const c1 = this.solverType === 'heun' ? t.alpha * (Math.expm1(-h) / h + 1) : 0.5 * cd;
    return { nextX: cx, nextPred: cd + c1 / r0, nextPrev: -c1 / r0, nextNoise: 0, drawsNoise: false };
  }
}
