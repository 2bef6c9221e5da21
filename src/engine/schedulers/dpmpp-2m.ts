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
 * Keys fixed by the name (ignored in the config): algorithm_type, solver_order, solver_type.
 * The class below also carries the schedule for the SDE variant (dpmpp-2m-sde.ts).
 */
import type { NoiseFn, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { alphasCumprod, clampTerminalAlphaBar, makeBetas } from './betas.ts';
import { ConfigReader, assertBeginIndex, assertSameLength, notReady } from './config.ts';
import { alphaSigmaOf, interpOnGrid, karrasSigmas, sigmaToT, sigmasFromAlphasCumprod } from './sigmas.ts';
import { indexForTimestep, multistepTimesteps, roundHalfEven } from './spacing.ts';

export interface DpmOptions {
  /** Force use_karras_sigmas on (the "_karras" scheduler names); otherwise the config decides. */
  karras?: boolean;
}

/** Everything of DPMSolverMultistepScheduler but the update formula. */
export abstract class DpmSolverMultistepBase implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  protected ts: number[] = [];
  protected sigmas: number[] = [];
  protected stepIndex: number | null = null;
  private beginIndex: number | null = null;
  private ready = false;
  /** Data prediction of the previous step (the "M" of 2M) and how many steps have run. */
  protected prevX0: Float32Array | null = null;
  protected lowerOrderNums = 0;
  private readonly numTrainTimesteps: number;
  private readonly alphasCumprod: Float64Array;
  private readonly trainSigmas: Float64Array;
  private readonly logSigmas: Float64Array;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly useKarras: boolean;
  private readonly roundKarrasTimesteps: boolean;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  private readonly finalSigmasZero: boolean;
  private readonly lambdaMinClipped: number;

  constructor(config: SchedulerConfig, options: DpmOptions, protected readonly owner: string) {
    const c = new ConfigReader(config, owner);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    let ac = alphasCumprod(makeBetas(training));
    if (training.rescaleZeroSnr) ac = clampTerminalAlphaBar(ac);
    this.alphasCumprod = ac;
    this.trainSigmas = sigmasFromAlphasCumprod(ac);
    this.logSigmas = this.trainSigmas.map(Math.log);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.useKarras = options.karras === true || c.bool('use_karras_sigmas', false);
    // diffusers rounds Karras timesteps to integers unless beta_schedule is the cosine one (then int64 truncates).
    this.roundKarrasTimesteps = training.betaSchedule !== 'squaredcos_cap_v2';
    this.lowerOrderFinal = c.bool('lower_order_final', true);
    this.eulerAtFinal = c.bool('euler_at_final', false);
    this.finalSigmasZero = c.choice('final_sigmas_type', ['zero', 'sigma_min'], 'zero') === 'zero';
    const lmc = c.value('lambda_min_clipped');
    this.lambdaMinClipped = typeof lmc === 'number' ? lmc : -Infinity;
    if (c.value('variance_type') !== undefined) {
      throw new Error(`${owner}: variance_type ${JSON.stringify(c.value('variance_type'))} (learned variance) is not supported`);
    }
    c.rejectTrue('thresholding', 'use_exponential_sigmas', 'use_beta_sigmas', 'use_lu_lambdas', 'use_flow_sigmas', 'use_dynamic_shifting');
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.numTrainTimesteps;
    // lambda_min_clipped drops the noisiest timesteps whose half-log-SNR is below it.
    let clipped = 0;
    for (const a of this.alphasCumprod) if (0.5 * Math.log(a) - 0.5 * Math.log(1 - a) < this.lambdaMinClipped) clipped++;
    let ts = multistepTimesteps(this.spacing, T, T - clipped, numInferenceSteps, this.stepsOffset);
    let sig: number[];
    if (this.useKarras) {
      sig = karrasSigmas(this.trainSigmas[0]!, this.trainSigmas[T - 1]!, numInferenceSteps);
      ts = sig.map((s) => sigmaToT(s, this.logSigmas)).map((t) => (this.roundKarrasTimesteps ? roundHalfEven(t) : Math.trunc(t)));
    } else {
      sig = ts.map((t) => interpOnGrid(t, this.trainSigmas));
    }
    this.sigmas = [...sig, this.finalSigmasZero ? 0 : this.trainSigmas[0]!];
    this.ts = ts;
    this.beginIndex = null;
    this.resetRun();
    this.ready = true;
  }

  setBeginIndex(index: number): void {
    assertBeginIndex(index, this.owner);
    this.beginIndex = index;
    this.resetRun();
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array {
    assertSameLength(modelOutput, sample, this.owner);
    if (!this.ready) notReady(this.owner);
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? indexForTimestep(this.ts, timestep, 'last');
    const i = this.stepIndex;
    if (i >= this.ts.length) throw new RangeError(`${this.owner}: stepped past the last timestep`);
    const n = this.ts.length;
    const lowerOrderFinal =
      i === n - 1 && (this.eulerAtFinal || (this.lowerOrderFinal && n < 15) || this.finalSigmasZero);
    const x0 = this.toDataPrediction(modelOutput, sample, this.sigmas[i]!);
    const firstOrder = this.lowerOrderNums < 1 || lowerOrderFinal || this.prevX0 === null;
    const out = this.update(sample, x0, firstOrder ? null : this.prevX0, i, noise);
    this.prevX0 = x0;
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, 2);
    this.stepIndex = i + 1;
    return out;
  }

  /** alpha_t x0 + sigma_t noise at the begin index's sigma (image-to-image), as diffusers does. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (original.length !== noise.length) throw new RangeError(`${this.owner}: noise and sample lengths differ`);
    if (!this.ready) notReady(this.owner);
    const i = this.beginIndex === null ? indexForTimestep(this.ts, timestep, 'last') : (this.stepIndex ?? this.beginIndex);
    const { alpha, sigmaT } = alphaSigmaOf(this.sigmas[i]!);
    return original.map((x, j) => alpha * x + sigmaT * noise[j]!);
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
    const { alpha, sigmaT } = alphaSigmaOf(this.sigmas[k]!);
    return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
  }

  private toDataPrediction(modelOutput: Float32Array, sample: Float32Array, sigma: number): Float32Array {
    if (this.prediction === 'sample') return modelOutput.slice();
    const { alpha, sigmaT } = alphaSigmaOf(sigma);
    if (this.prediction === 'epsilon') return modelOutput.map((m, j) => (sample[j]! - sigmaT * m) / alpha);
    return modelOutput.map((m, j) => alpha * sample[j]! - sigmaT * m);
  }

  private resetRun(): void {
    this.stepIndex = null;
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
    for (let j = 0; j < out.length; j++) {
      const d0 = x0[j]!;
      const d1 = (d0 - prevX0[j]!) / r0;
      out[j] = cx * sample[j]! + cd * d0 + 0.5 * cd * d1;
    }
    return out;
  }
}
