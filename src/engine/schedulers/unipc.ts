/**
 * UniPC (Zhao et al. 2023, https://arxiv.org/abs/2302.04867), multistep predictor-corrector on data
 * predictions: diffusers' UniPCMultistepScheduler with solver_order 2, solver_type "bh2", predict_x0.
 *
 * In half-log-SNR time (lambda = log(alpha/sigma)), with h = lambda_t - lambda_s0 and hh = -h:
 *  - UniP (predictor, eq. 8 with B(h) = e^{hh} - 1, "bh2"):
 *      x_t = (sigma_t/sigma_s0) x - alpha_t (e^{hh} - 1) m0 - alpha_t B(h) * 0.5 * D1   (D1 term at order 2)
 *    with D1 = (m1 - m0) / r1, r1 = (lambda_s1 - lambda_s0) / h.
 *  - UniC (corrector), applied to the sample just produced once the model has been evaluated on it: the same
 *    update redone from the previous sample, adding the new data prediction with weights rho solving
 *    R rho = b (R_ij = r_j^(i-1), b_i = i! phi_{i+1}(hh) / B(h)); rho = 0.5 at order 1.
 * The order is 1 for the first step and, with lower_order_final, for the last one.
 *
 * Refused by name: solver_order other than 2, predict_x0 false. solver_p (another scheduler as predictor) is no
 * config key, so no config can ask for it.
 */
import type { CustomTimesteps, PredictionType, Scheduler, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types.ts';
import { ConfigReader, stepCount, assertSameLength } from './config.ts';
import { dataPrediction } from './prediction.ts';
import { readThresholding, type Thresholding } from './thresholding.ts';
import { SigmaSchedule, interpOnGrid, levelsOf, readSigmaSpacing, sigmaToT, spacedSigmas, trainingSigmas, type SigmaSpacing, type TrainingSigmas } from './sigmas.ts';
import { multistepTimesteps, roundHalfEven } from './spacing.ts';

const OWNER = 'UniPCMultistepScheduler';
const SOLVER_ORDER = 2;

export interface UniPcOptions extends SchedulerOptions {
  /** Force use_karras_sigmas on; otherwise the config decides. */
  karras?: boolean;
}

export class UniPcScheduler implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private readonly schedule = new SigmaSchedule(OWNER, 'last');
  /** Data predictions, most recent last (at most SOLVER_ORDER). */
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
    if (c.integer('solver_order', SOLVER_ORDER, 1) !== SOLVER_ORDER) {
      throw new Error(`${OWNER}: solver_order ${String(c.value('solver_order'))} is not supported by Darkroom (supported: ${SOLVER_ORDER})`);
    }
    if (!c.bool('predict_x0', true)) throw new Error(`${OWNER}: predict_x0=false is not supported by Darkroom`);
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

    const x0 = dataPrediction(this.prediction, modelOutput, sample, this.schedule.sigmas[i]!, this.thresholding, OWNER);
    let x = sample;
    const useCorrector = i > 0 && !this.disableCorrector.has(i - 1) && this.lastSample !== null;
    if (useCorrector) x = this.correct(x0, this.lastSample!, i, this.thisOrder);

    this.modelOutputs = [...this.modelOutputs, x0].slice(-SOLVER_ORDER);
    let order = this.lowerOrderFinal ? Math.min(SOLVER_ORDER, n - i) : SOLVER_ORDER;
    order = Math.min(order, this.lowerOrderNums + 1);
    this.thisOrder = order;
    this.lastSample = x;
    const prev = this.predict(x, i, order);
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, SOLVER_ORDER);
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

  /** UniP-2 (bh2): from sigmas[i] to sigmas[i+1]. diffusers `multistep_uni_p_bh_update`. */
  private predict(x: Float32Array, i: number, order: number): Float32Array {
    const t = this.levels(i + 1);
    const s0 = this.levels(i);
    const h = t.lambda - s0.lambda;
    const hPhi1 = Math.expm1(-h);
    const bH = this.bh1 ? -h : hPhi1;
    const outputs = this.modelOutputs;
    const m0 = outputs[outputs.length - 1]!;
    const cx = t.sigmaT / s0.sigmaT;
    const out = new Float32Array(x.length);
    if (order === 1) {
      for (let j = 0; j < out.length; j++) out[j] = cx * x[j]! - t.alpha * hPhi1 * m0[j]!;
      return out;
    }
    const m1 = outputs[outputs.length - 2]!;
    const rk = (this.levels(i - 1).lambda - s0.lambda) / h;
    const rhoP = 0.5; // diffusers fixes rho = 0.5 for the order-2 predictor
    for (let j = 0; j < out.length; j++) {
      const d1 = (m1[j]! - m0[j]!) / rk;
      out[j] = cx * x[j]! - t.alpha * hPhi1 * m0[j]! - t.alpha * bH * rhoP * d1;
    }
    return out;
  }

  /**
   * UniC: refines the sample at sigmas[i] (just predicted from lastSample at sigmas[i-1]) using the model's
   * data prediction `modelT` there. diffusers `multistep_uni_c_bh_update`.
   */
  private correct(modelT: Float32Array, lastSample: Float32Array, i: number, order: number): Float32Array {
    const t = this.levels(i);
    const s0 = this.levels(i - 1);
    const h = t.lambda - s0.lambda;
    const hh = -h;
    const hPhi1 = Math.expm1(hh);
    const bH = this.bh1 ? hh : hPhi1;
    const outputs = this.modelOutputs; // not yet holding modelT
    const m0 = outputs[outputs.length - 1]!;
    // rks (r_1..r_{order-1}, then 1) and b_k = k! phi_{k+1}(hh) / B(h), phi by the recurrence diffusers uses.
    const rks: number[] = [];
    const d1s: Float32Array[] = [];
    for (let k = 1; k < order; k++) {
      const mk = outputs[outputs.length - 1 - k]!;
      const rk = (this.levels(i - 1 - k).lambda - s0.lambda) / h;
      rks.push(rk);
      d1s.push(mk.map((v, j) => (v - m0[j]!) / rk));
    }
    rks.push(1);
    const b: number[] = [];
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    for (let k = 1; k <= order; k++) {
      b.push((hPhiK * factorial) / bH);
      factorial *= k + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    let rhos: number[];
    if (order === 1) {
      rhos = [0.5];
    } else {
      // order 2: [[1, 1], [r1, 1]] rho = [b1, b2]
      const r1 = rks[0]!;
      const det = 1 * 1 - 1 * r1;
      rhos = [(b[0]! * 1 - 1 * b[1]!) / det, (1 * b[1]! - r1 * b[0]!) / det];
    }
    const cx = t.sigmaT / s0.sigmaT;
    const out = new Float32Array(lastSample.length);
    for (let j = 0; j < out.length; j++) {
      let corr = 0;
      for (let k = 0; k < d1s.length; k++) corr += rhos[k]! * d1s[k]![j]!;
      const d1t = modelT[j]! - m0[j]!;
      out[j] = cx * lastSample[j]! - t.alpha * hPhi1 * m0[j]! - t.alpha * bH * (corr + rhos[rhos.length - 1]! * d1t);
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
