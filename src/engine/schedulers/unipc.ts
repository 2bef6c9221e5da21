/**
 * UniPC (Zhao et al. 2023, https://arxiv.org/abs/2302.04867), multistep predictor-corrector on data
 * predictions: diffusers' UniPCMultistepScheduler with predict_x0, solver_order 1 to 3 (2 by default), solver_type "bh2" or "bh1".
 *
 * In half-log-SNR time (lambda = log(alpha/sigma)), with h = lambda_t - lambda_s0 and hh = -h:
 *  - UniP (predictor, eq. 8 with B(h) = e^{hh} - 1, "bh2", or hh, "bh1"):
 *      x_t = (sigma_t/sigma_s0) x - alpha_t (e^{hh} - 1) m0 - alpha_t B(h) sum_k rho_k D_k
 *    with D_k = (m_k - m0) / r_k, r_k = (lambda_sk - lambda_s0) / h, over the order - 1 earlier predictions;
 *    rho = 0.5 at order 2, and at order 3 solves the system below without its last row and column.
 *  - UniC (corrector), applied to the sample just produced once the model has been evaluated on it: the same
 *    update redone from the previous sample, adding the new data prediction with weights rho solving
 *    R rho = b (R_ij = r_j^(i-1), r = 1 for the new prediction, b_i = i! phi_{i+1}(hh) / B(h)); rho = 0.5 at order 1.
 * The order climbs from 1 as predictions accumulate and, with lower_order_final, falls again over the last steps.
 *
 * With predict_x0 false the same formulas run on noise predictions, in hh = h, with alpha and sigma swapped:
 *   x_t = (alpha_t/alpha_s0) x - sigma_t (e^{h} - 1) eps0 - sigma_t B(h) sum_k rho_k D_k   (thresholding then off).
 *
 * Refused by name: solver_order above 3, and predict_x0 false with final_sigmas_type "zero" (NaN in diffusers). solver_p (another scheduler as predictor) is no
 * config key, so no config can ask for it.
 */
import type { CustomTimesteps, PredictionType, Scheduler, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types.ts';
import { ConfigReader, stepCount, assertSameLength } from './config.ts';
import { dataPrediction, noisePrediction } from './prediction.ts';
import { readThresholding, type Thresholding } from './thresholding.ts';
import { SigmaSchedule, interpOnGrid, levelsOf, readSigmaSpacing, sigmaToT, spacedSigmas, trainingSigmas, type SigmaSpacing, type TrainingSigmas } from './sigmas.ts';
import { multistepTimesteps, roundHalfEven } from './spacing.ts';

const OWNER = 'UniPCMultistepScheduler';
/** diffusers recommends 2 for guided sampling and 3 for unconditional; higher orders are refused. */
const MAX_SOLVER_ORDER = 3;

export interface UniPcOptions extends SchedulerOptions {
  /** Force use_karras_sigmas on; otherwise the config decides. */
  karras?: boolean;
}

export class UniPcScheduler implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private readonly schedule = new SigmaSchedule(OWNER, 'last');
  /** Data predictions, most recent last (at most solverOrder). */
  private modelOutputs: Float32Array[] = [];
  private lastSample: Float32Array | null = null;
  private lowerOrderNums = 0;
  private thisOrder = 1;
  private readonly numTrainTimesteps: number;
  private readonly train: TrainingSigmas;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly sigmaSpacing: SigmaSpacing | null;
  private readonly sigmaMin: number | null;
  private readonly sigmaMax: number | null;
  private readonly finalSigmasZero: boolean;
  private readonly lowerOrderFinal: boolean;
  private readonly disableCorrector: ReadonlySet<number>;
  private readonly bh1: boolean;
  private readonly solverOrder: number;
  /** Solve on data predictions (the default) or, false, on noise predictions. */
  private readonly predictX0: boolean;
  private readonly thresholding: Thresholding | null;

  constructor(config: SchedulerConfig, options: UniPcOptions = {}) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: true });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.train = trainingSigmas(training);
    this.prediction = c.prediction();
    this.spacing = c.spacing('linspace');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.sigmaSpacing = readSigmaSpacing(c, options.karras === true);
    this.sigmaMin = c.optionalNumber('sigma_min');
    this.sigmaMax = c.optionalNumber('sigma_max');
    this.finalSigmasZero = c.choice('final_sigmas_type', ['zero', 'sigma_min'], 'zero') === 'zero';
    this.lowerOrderFinal = c.bool('lower_order_final', true);
    this.disableCorrector = new Set(c.numbers('disable_corrector') ?? []);
    this.bh1 = c.choice('solver_type', ['bh1', 'bh2'], 'bh2') === 'bh1';
    this.solverOrder = c.integer('solver_order', 2, 1);
    if (this.solverOrder > MAX_SOLVER_ORDER) {
      throw new Error(`${OWNER}: solver_order ${this.solverOrder} is not supported by Darkroom (supported: 1 to ${MAX_SOLVER_ORDER})`);
    }
    this.predictX0 = c.bool('predict_x0', true);
    if (!this.predictX0 && this.finalSigmasZero) {
      // The last step to sigma 0 multiplies sigma_t = 0 by e^h - 1 = inf: diffusers' own sample is NaN.
      throw new Error(`${OWNER}: predict_x0=false needs final_sigmas_type "sigma_min" (to sigma 0 the noise-prediction update is NaN)`);
    }
    this.thresholding = readThresholding(c, options.valuesPerImage);
    c.rejectTrue('use_flow_sigmas', 'use_dynamic_shifting');
  }

  get timesteps(): readonly number[] {
    return this.schedule.timesteps;
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const numInferenceSteps = stepCount(steps, OWNER);
    const T = this.numTrainTimesteps;
    const trainSigmas = this.train.sigmas;
    let ts = multistepTimesteps(this.spacing, T, T, numInferenceSteps, this.stepsOffset);
    let sig: number[];
    let last: number;
    if (this.sigmaSpacing) {
      sig = spacedSigmas(this.sigmaSpacing, this.sigmaMin ?? trainSigmas[0]!, this.sigmaMax ?? trainSigmas[T - 1]!, numInferenceSteps);
      // diffusers rounds the Karras timesteps and truncates the others (to int64).
      const round = this.sigmaSpacing === 'karras' ? roundHalfEven : Math.trunc;
      ts = sig.map((s) => round(sigmaToT(s, this.train.logSigmas)));
      last = this.finalSigmasZero ? 0 : sig[sig.length - 1]!;
    } else {
      sig = ts.map((t) => interpOnGrid(t, trainSigmas));
      last = this.finalSigmasZero ? 0 : trainSigmas[0]!;
    }
    this.schedule.set(ts, [...sig, last]);
    this.resetRun();
  }

  setBeginIndex(index: number): void {
    this.schedule.setBeginIndex(index);
    this.resetRun();
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    assertSameLength(modelOutput, sample, OWNER);
    const i = this.schedule.index(timestep);
    const n = this.schedule.timesteps.length;

    const sigma = this.schedule.sigmas[i]!;
    const x0 = this.predictX0
      ? dataPrediction(this.prediction, modelOutput, sample, sigma, this.thresholding, OWNER)
      : noisePrediction(this.prediction, modelOutput, sample, sigma);
    let x = sample;
    const useCorrector = i > 0 && !this.disableCorrector.has(i - 1) && this.lastSample !== null;
    if (useCorrector) x = this.correct(x0, this.lastSample!, i, this.thisOrder);

    this.modelOutputs = [...this.modelOutputs, x0].slice(-this.solverOrder);
    let order = this.lowerOrderFinal ? Math.min(this.solverOrder, n - i) : this.solverOrder;
    order = Math.min(order, this.lowerOrderNums + 1);
    this.thisOrder = order;
    this.lastSample = x;
    const prev = this.predict(x, i, order);
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, this.solverOrder);
    this.schedule.advance();
    return prev;
  }

  /** alpha_t x0 + sigma_t noise at the begin index's sigma (image-to-image), as diffusers does. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.schedule.addNoiseVp(original, noise, timestep);
  }

  private levels(k: number): { alpha: number; sigmaT: number; lambda: number } {
    return levelsOf(this.schedule.sigmas[k]!);
  }

  /**
   * What UniP and UniC share for the step from sigmas[base] to sigmas[base + 1], with the data predictions so far
   * (m0 the latest): the D_k, and R and b of the file comment.
   */
  private terms(base: number, order: number) {
    const t = this.levels(base + 1);
    const s0 = this.levels(base);
    const h = t.lambda - s0.lambda;
    const hh = this.predictX0 ? -h : h;
    const hPhi1 = Math.expm1(hh);
    const bH = this.bh1 ? hh : hPhi1;
    const outputs = this.modelOutputs;
    const m0 = outputs[outputs.length - 1]!;
    const rks: number[] = [];
    const d1s: Float32Array[] = [];
    for (let k = 1; k < order; k++) {
      const mk = outputs[outputs.length - 1 - k]!;
      const rk = (this.levels(base - k).lambda - s0.lambda) / h;
      rks.push(rk);
      d1s.push(mk.map((v, j) => (v - m0[j]!) / rk));
    }
    rks.push(1);
    // b_k = k! phi_{k+1}(hh) / B(h), phi by the recurrence diffusers uses.
    const R: number[][] = [];
    const b: number[] = [];
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    for (let k = 1; k <= order; k++) {
      R.push(rks.map((r) => r ** (k - 1)));
      b.push((hPhiK * factorial) / bH);
      factorial *= k + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    // x_t = cx * x - scale * (hPhi1 * m0 + B(h) * sum_k rho_k D_k)
    const cx = this.predictX0 ? t.sigmaT / s0.sigmaT : t.alpha / s0.alpha;
    const scale = this.predictX0 ? t.alpha : t.sigmaT;
    return { cx, scale, hPhi1, bH, m0, d1s, R, b };
  }

  /** UniP: from sigmas[i] to sigmas[i+1]. diffusers `multistep_uni_p_bh_update`. */
  private predict(x: Float32Array, i: number, order: number): Float32Array {
    const { cx, scale, hPhi1, bH, m0, d1s, R, b } = this.terms(i, order);
    // diffusers fixes rho = 0.5 for the order-2 predictor.
    const rhos = order === 1 ? [] : order === 2 ? [0.5] : solve(R.slice(0, -1).map((row) => row.slice(0, -1)), b.slice(0, -1));
    const out = new Float32Array(x.length);
    for (let j = 0; j < out.length; j++) {
      let pred = 0;
      for (let k = 0; k < d1s.length; k++) pred += rhos[k]! * d1s[k]![j]!;
      out[j] = cx * x[j]! - scale * hPhi1 * m0[j]! - scale * bH * pred;
    }
    return out;
  }

  /**
   * UniC: refines the sample at sigmas[i] (just predicted from lastSample at sigmas[i-1]) using the model's
   * data prediction `modelT` there. diffusers `multistep_uni_c_bh_update`.
   */
  private correct(modelT: Float32Array, lastSample: Float32Array, i: number, order: number): Float32Array {
    // modelOutputs does not hold modelT yet: its m0 is the prediction at sigmas[i-1].
    const { cx, scale, hPhi1, bH, m0, d1s, R, b } = this.terms(i - 1, order);
    const rhos = order === 1 ? [0.5] : solve(R, b);
    const out = new Float32Array(lastSample.length);
    for (let j = 0; j < out.length; j++) {
      let corr = 0;
      for (let k = 0; k < d1s.length; k++) corr += rhos[k]! * d1s[k]![j]!;
      const d1t = modelT[j]! - m0[j]!;
      out[j] = cx * lastSample[j]! - scale * hPhi1 * m0[j]! - scale * bH * (corr + rhos[rhos.length - 1]! * d1t);
    }
    return out;
  }

  private resetRun(): void {
    this.schedule.restart();
    this.modelOutputs = [];
    this.lastSample = null;
    this.lowerOrderNums = 0;
    this.thisOrder = 1;
  }
}

/** torch.linalg.solve for UniPC's systems of at most 3 unknowns: Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= n; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = m[r]![n]!;
    for (let c = r + 1; c < n; c++) v -= m[r]![c]! * x[c]!;
    x[r] = v / m[r]![r]!;
  }
  return x;
}
