/**
 * PNDM, pseudo numerical methods for diffusion models (Liu et al. 2022, https://arxiv.org/abs/2202.09778):
 * diffusers' PNDMScheduler, the default of Stable Diffusion 1.x.
 *
 * Every update is the "transfer" phi(x_t, eps, t -> t') of eq. 11, which moves x_t to t' along eps exactly as
 * DDIM does; the methods differ in the eps they feed it:
 *  - PRK (skip_prk_steps false): three pseudo Runge-Kutta 4 steps at the noisy end (4 model calls each,
 *    at t, t - h/2, t - h/2, t - h), then PLMS;
 *  - PLMS: a linear multistep (Adams-Bashforth) combination of the last eps values, orders 1..4.
 *    With skip_prk_steps (SD 1.x configs) the start-up is diffusers' own: an order-1 step, then a repeated
 *    call at the second timestep that redoes that step with the mean of both eps (a Heun step), then AB2, AB3, AB4.
 *    That is why the timestep list repeats its second entry.
 *
 * A v_prediction model's outputs are combined as they come, and the mix is converted to eps once, at the
 * timestep and sample of the transfer, as diffusers does (`_get_prev_sample`). The paper's method is for eps
 * models; converting each output at its own timestep first would be the exact analogue, but draws a different
 * picture than diffusers.
 *
 * Image-to-image (setBeginIndex(k > 0)): diffusers has no begin index for PNDM and its counter-driven start-up then
 * mislabels a step (the repeated-timestep trick assumes it starts at the top). Here a run that begins at k > 0
 * starts the multistep history afresh: PLMS of order 1, 2, 3, 4 as eps values accumulate, one model call per
 * timestep. With skip_prk_steps, k = 1 points at the first of the two equal timesteps: that call leaves the
 * sample unchanged and the run proper starts at index 2. With PRK, k inside the PRK part must start an RK step
 * (a multiple of 4).
 */
import type { CustomTimesteps, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from './types.ts';
import { addNoiseAtTimestep, alphasCumprod, makeBetas } from './betas.ts';
import { ConfigReader, stepCount, assertBeginIndex, assertSameLength, notReady } from './config.ts';
import { assertTrainTimestep, spacedTimesteps } from './spacing.ts';

const OWNER = 'PNDMScheduler';
const PNDM_ORDER = 4;

export class PndmScheduler implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  private ts: number[] = [];
  private prkTimesteps: number[] = [];
  private numInferenceSteps: number | null = null;
  private readonly numTrainTimesteps: number;
  private readonly alphasCumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: PredictionType;
  private readonly spacing: TimestepSpacing;
  private readonly stepsOffset: number;
  private readonly skipPrkSteps: boolean;

  // Run state (diffusers: counter, ets, cur_model_output, cur_sample).
  private counter = 0;
  private ets: Float32Array[] = [];
  private curModelOutput: Float64Array | null = null;
  private curSample: Float32Array | null = null;
  /** Set by setBeginIndex(k > 0): one call per timestep, multistep order grows from 1. */
  private freshStart = false;
  /** Calls still to absorb without moving (setBeginIndex(1) with skip_prk_steps). */
  private absorb = 0;

  constructor(config: SchedulerConfig) {
    const c = new ConfigReader(config, OWNER);
    const training = c.training({ zeroSnr: false });
    this.numTrainTimesteps = training.numTrainTimesteps;
    this.alphasCumprod = alphasCumprod(makeBetas(training));
    this.finalAlphaCumprod = c.bool('set_alpha_to_one', false) ? 1 : this.alphasCumprod[0]!;
    this.prediction = c.prediction(['epsilon', 'v_prediction']);
    this.spacing = c.spacing('leading');
    this.stepsOffset = c.integer('steps_offset', 0);
    this.skipPrkSteps = c.bool('skip_prk_steps', false);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  setTimesteps(steps: number | CustomTimesteps): void {
    const numInferenceSteps = stepCount(steps, OWNER);
    const T = this.numTrainTimesteps;
    // The schedule in ascending order, as diffusers' `_timesteps`.
    const base = spacedTimesteps(this.spacing, T, numInferenceSteps, this.stepsOffset, true).reverse();
    let prk: number[] = [];
    let plms: number[];
    if (this.skipPrkSteps) {
      // [t0, t1, t1, t2, ...] in descending order: the second timestep is visited twice.
      plms = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
    } else {
      if (numInferenceSteps < PNDM_ORDER) {
        throw new RangeError(`${OWNER}: PRK steps need at least ${PNDM_ORDER} inference steps, got ${numInferenceSteps}`);
      }
      // Each of the top three intervals [t, t+h] becomes t+h, t+h/2, t+h/2, t (4 calls of one RK4 step).
      const half = Math.floor(Math.floor(T / numInferenceSteps) / 2);
      const pairs = base.slice(-PNDM_ORDER).flatMap((t) => [t, t + half]).slice(0, -1);
      prk = pairs.flatMap((t) => [t, t]).slice(1, -1).reverse();
      plms = base.slice(0, -3).reverse();
    }
    this.prkTimesteps = prk;
    this.ts = [...prk, ...plms];
    this.numInferenceSteps = numInferenceSteps;
    this.resetRun();
  }

  setBeginIndex(index: number): void {
    assertBeginIndex(index, OWNER);
    this.resetRun();
    if (index === 0) return;
    const inPrk = !this.skipPrkSteps && index < this.prkTimesteps.length;
    if (inPrk && index % 4 !== 0) {
      throw new RangeError(`${OWNER}: with PRK steps a begin index inside the first ${this.prkTimesteps.length} must be a multiple of 4, got ${index}`);
    }
    this.counter = inPrk ? index : this.prkTimesteps.length;
    this.freshStart = true;
    if (this.skipPrkSteps && index === 1) this.absorb = 1;
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample.slice();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    if (this.numInferenceSteps === null) notReady(OWNER);
    assertSameLength(modelOutput, sample, OWNER);
    assertTrainTimestep(timestep, this.numTrainTimesteps, OWNER);
    if (this.absorb > 0) {
      this.absorb--;
      return sample.slice();
    }
    const eps = modelOutput.slice();
    if (!this.skipPrkSteps && this.counter < this.prkTimesteps.length) return this.stepPrk(eps, timestep, sample);
    return this.stepPlms(eps, timestep, sample);
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseAtTimestep(this.alphasCumprod, original, noise, timestep, OWNER);
  }

  private resetRun(): void {
    this.counter = 0;
    this.ets = [];
    this.curModelOutput = null;
    this.curSample = null;
    this.freshStart = false;
    this.absorb = 0;
  }

  private get stepSize(): number {
    return Math.floor(this.numTrainTimesteps / this.numInferenceSteps!);
  }

  /** One pseudo-RK4 stage (diffusers `step_prk`): all four stages start from the sample at the RK step's top. */
  private stepPrk(eps: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(this.stepSize / 2);
    const prevTimestep = timestep - diffToPrev;
    const top = this.prkTimesteps[Math.floor(this.counter / 4) * 4]!;
    const stage = this.counter % 4;
    let epsUse: ArrayLike<number> = eps;
    if (stage === 0) {
      this.curModelOutput = Float64Array.from(eps, (e) => e / 6);
      this.ets.push(eps);
      this.curSample = sample;
    } else if (stage === 1 || stage === 2) {
      const acc = this.curModelOutput!;
      for (let i = 0; i < acc.length; i++) acc[i]! += eps[i]! / 3;
    } else {
      const acc = this.curModelOutput!;
      epsUse = acc.map((a, i) => a + eps[i]! / 6);
      this.curModelOutput = null;
    }
    const prev = this.transfer(this.curSample ?? sample, top, prevTimestep, epsUse);
    this.counter++;
    return prev;
  }

  /** One pseudo linear multistep step (diffusers `step_plms`). */
  private stepPlms(eps: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    if (!this.skipPrkSteps && !this.freshStart && this.ets.length < 3) {
      throw new Error(`${OWNER}: PLMS steps can only follow the ${this.prkTimesteps.length} PRK calls`);
    }
    let t = timestep;
    let prevTimestep = t - this.stepSize;
    let x = sample;
    const heunRepeat = !this.freshStart && this.counter === 1;
    if (heunRepeat) {
      // The repeated second timestep: redo the first step from its start with the mean of both eps.
      prevTimestep = t;
      t = t + this.stepSize;
    } else {
      this.ets = [...this.ets.slice(-3), eps];
    }
    const e = this.ets;
    const n = e.length;
    let epsUse: ArrayLike<number>;
    if (heunRepeat) {
      const last = e[n - 1]!;
      epsUse = Float64Array.from(eps, (v, i) => (v + last[i]!) / 2);
      x = this.curSample!;
      this.curSample = null;
    } else if (n === 1) {
      epsUse = eps;
      this.curSample = sample;
    } else {
      // Adams-Bashforth weights of orders 2..4 (the paper's eq. 12 uses order 4).
      const [e1, e2, e3, e4] = [e[n - 1]!, e[n - 2]!, e[n - 3], e[n - 4]];
      epsUse =
        n === 2
          ? Float64Array.from(e1, (v, i) => (3 * v - e2[i]!) / 2)
          : n === 3
            ? Float64Array.from(e1, (v, i) => (23 * v - 16 * e2[i]! + 5 * e3![i]!) / 12)
            : Float64Array.from(e1, (v, i) => (55 * v - 59 * e2[i]! + 37 * e3![i]! - 9 * e4![i]!) / 24);
    }
    const prev = this.transfer(x, t, prevTimestep, epsUse);
    this.counter++;
    return prev;
  }

  /**
   * Eq. 11 of the paper (diffusers `_get_prev_sample`):
   * x_t' = sqrt(abar_t'/abar_t) x_t - (abar_t' - abar_t) eps / (abar_t sqrt(1-abar_t') + sqrt(abar_t (1-abar_t) abar_t')).
   */
  private transfer(sample: Float32Array, t: number, prevT: number, eps: ArrayLike<number>): Float32Array {
    const aT = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const sampleCoeff = Math.sqrt(aPrev / aT);
    const denom = aT * Math.sqrt(1 - aPrev) + Math.sqrt(aT * (1 - aT) * aPrev);
    const epsCoeff = (aPrev - aT) / denom;
    // v -> eps at (t, sample) of this transfer: eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t.
    const v = this.prediction === 'v_prediction';
    const a = Math.sqrt(aT);
    const b = Math.sqrt(1 - aT);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const e = v ? a * eps[i]! + b * sample[i]! : eps[i]!;
      out[i] = sampleCoeff * sample[i]! - epsCoeff * e;
    }
    return out;
  }
}
