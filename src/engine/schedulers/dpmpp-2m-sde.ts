/**
 * SDE-DPM-Solver++(2M) (Lu et al. 2022, https://arxiv.org/abs/2211.01095, Appendix on SDE solvers; the
 * "DPM++ 2M SDE" sampler): diffusers' DPMSolverMultistepScheduler with algorithm_type "sde-dpmsolver++",
 * solver_order 2, solver_type "midpoint". Stochastic. Same schedule and history as DPM-Solver++(2M)
 * (dpmpp-2m.ts); only the update differs: with h = lambda_t - lambda_s,
 *   x_t = (sigma_t / sigma_s) e^{-h} x_s + alpha_t (1 - e^{-2h}) (D0 [+ 0.5 D1]) + sigma_t sqrt(1 - e^{-2h}) z
 * so the sample keeps exactly the noise level sigma_t when the data prediction is exact.
 * solver_type "heun" weighs D1 by alpha_t ((1 - e^{-2h}) / (-2h) + 1) instead of 0.5 alpha_t (1 - e^{-2h}).
 * Noise is drawn on every step (the last step to sigma = 0 multiplies it by 0), as diffusers does.
 */
import type { NoiseFn, SchedulerConfig } from './types.ts';
import { drawNoise } from './config.ts';
import { DpmSolverMultistepBase, type DpmOptions } from './dpmpp-2m.ts';

export class DpmPP2MSdeScheduler extends DpmSolverMultistepBase {
  constructor(config: SchedulerConfig, options: DpmOptions = {}) {
    super(config, options, 'DPMSolverMultistepScheduler(sde-dpmsolver++)');
  }

  protected update(
    sample: Float32Array,
    x0: Float32Array,
    prevX0: Float32Array | null,
    i: number,
    noise: NoiseFn | undefined,
  ): Float32Array {
    const z = drawNoise(noise, sample.length, this.owner);
    const t = this.levels(i + 1);
    const s0 = this.levels(i);
    const h = t.lambda - s0.lambda;
    const cx = (t.sigmaT / s0.sigmaT) * Math.exp(-h);
    const oneMinusE2h = -Math.expm1(-2 * h); // 1 - e^{-2h}
    const cd = t.alpha * oneMinusE2h;
    const cz = t.sigmaT * Math.sqrt(oneMinusE2h);
    const out = new Float32Array(sample.length);
    if (prevX0 === null) {
      for (let j = 0; j < out.length; j++) out[j] = cx * sample[j]! + cd * x0[j]! + cz * z[j]!;
      return out;
    }
    const s1 = this.levels(i - 1);
    const r0 = (s0.lambda - s1.lambda) / h;
    const c1 = this.solverType === 'heun' ? t.alpha * (oneMinusE2h / (-2 * h) + 1) : 0.5 * cd;
    for (let j = 0; j < out.length; j++) {
      const d0 = x0[j]!;
      const d1 = (d0 - prevX0[j]!) / r0;
      out[j] = cx * sample[j]! + cd * d0 + c1 * d1 + cz * z[j]!;
    }
    return out;
  }

  protected updateCoefficients(i: number, firstOrder: boolean) {
    const t = this.levels(i + 1);
    const s0 = this.levels(i);
    const h = t.lambda - s0.lambda;
    const cx = (t.sigmaT / s0.sigmaT) * Math.exp(-h);
    const oneMinusE2h = -Math.expm1(-2 * h);
    const cd = t.alpha * oneMinusE2h;
    const noise = { nextX: cx, nextNoise: t.sigmaT * Math.sqrt(oneMinusE2h), drawsNoise: true };
    if (firstOrder) return { ...noise, nextPred: cd, nextPrev: 0 };
    const r0 = (s0.lambda - this.levels(i - 1).lambda) / h;
    const c1 = this.solverType === 'heun' ? t.alpha * (oneMinusE2h / (-2 * h) + 1) : 0.5 * cd;
    return { ...noise, nextPred: cd + c1 / r0, nextPrev: -c1 / r0 };
  }
}
