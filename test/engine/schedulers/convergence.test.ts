/**
 * Order of accuracy, independently of diffusers: for Gaussian data x0 ~ N(mu, c^2) the exact denoiser is
 * E[x0 | x_sigma] = mu + c^2/(c^2 + sigma^2) (x_sigma - mu), and the probability-flow ODE has the closed-form
 * solution x(sigma) = mu + (x(sigma_0) - mu) sqrt(c^2 + sigma^2) / sqrt(c^2 + sigma_0^2) (variance-exploding form).
 * We compare the sample each scheduler feeds the model at its last call with that solution: halving the step
 * size must divide the error by about 2 for first-order methods (Euler, DDIM) and about 4 for Heun.
 * (The multistep solvers' orders are pinned by the diffusers parity replay instead: their error constants on
 * this toy depend too much on where the grid's last point falls to assert a clean ratio.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import { SD15, cleanSample, levelFromTable, levelLinear, maxAbsDiff, normals, sample, type NoiseLevel } from './reference.ts';

const N = 64;
const MU = cleanSample(5, N);
const C = 0.5;

/** Error of the sample at the scheduler's last model call against the exact ODE solution. */
function lastCallError(name: SchedulerName, steps: number, level: NoiseLevel): number {
  const s = createScheduler(name, { ...SD15, set_alpha_to_one: true });
  s.setTimesteps(steps);
  const calls: { x: Float64Array; sigma: number }[] = [];
  const model = (xIn: Float32Array, t: number): Float32Array => {
    const { alpha, s: sd } = level(t, calls.length);
    const sigma = sd / alpha;
    const x = Float64Array.from(xIn, (v) => v / alpha);
    calls.push({ x, sigma });
    const k = (C * C) / (C * C + sigma * sigma);
    return Float32Array.from(xIn, (v, i) => (v - alpha * (MU[i]! + k * (x[i]! - MU[i]!))) / sd);
  };
  sample(s, normals(3, N).map((v) => v * s.initNoiseSigma), model);
  const first = calls[0]!;
  const last = calls[calls.length - 1]!;
  const exact = first.x.map(
    (v, i) => MU[i]! + ((v - MU[i]!) * Math.sqrt(C * C + last.sigma ** 2)) / Math.sqrt(C * C + first.sigma ** 2),
  );
  return maxAbsDiff(last.x, exact);
}

const CASES: [SchedulerName, NoiseLevel, number, number][] = [
  ['euler', levelLinear, 0.8, 1.25],
  ['ddim', levelFromTable, 0.8, 1.25],
  ['heun', levelLinear, 1.75, 2.3],
];

for (const [name, level, lo, hi] of CASES) {
  test(`${name} converges at order ${lo < 1.5 ? 1 : 2} on Gaussian data`, () => {
    const errs = [10, 20, 40].map((n) => lastCallError(name, n, level));
    for (let i = 1; i < errs.length; i++) {
      const p = Math.log2(errs[i - 1]! / errs[i]!);
      assert.ok(p > lo && p < hi, `${name}: observed order ${p.toFixed(2)} (errors ${errs.map((e) => e.toExponential(2))})`);
    }
  });
}
