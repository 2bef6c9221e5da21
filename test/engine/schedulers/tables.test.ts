/**
 * Timestep and sigma tables against values derived here from the formulas (reference.ts), or golden numbers
 * from diffusers, never by calling the implementation for the expected side. Sigma tables are read through the
 * public interface: addNoise(x0=1, noise=0) and addNoise(x0=0, noise=1) at a begin index give the signal and
 * noise coefficients of that index, whose ratio is sigma in every parametrisation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { CustomTimesteps, Scheduler, SchedulerConfig } from '../../../src/engine/schedulers/types.ts';
import { alphasCumprod, betasForAlphaBar, makeBetas, rescaleZeroTerminalSnr } from '../../../src/engine/schedulers/betas.ts';
import { arange, linspace, roundHalfEven } from '../../../src/engine/schedulers/spacing.ts';
import { sigmaToT } from '../../../src/engine/schedulers/sigmas.ts';
import { gaussLegendre5, lmsCoefficient } from '../../../src/engine/schedulers/lms.ts';
import { SD15, SD15_AC, SD15_SIGMAS, refAlphasCumprod, refKarras, sigmaAt, timestepOfSigma } from './reference.ts';

const SDXL: SchedulerConfig = { ...SD15, timestep_spacing: 'leading', interpolation_type: 'linear', use_karras_sigmas: false };
const TURBO: SchedulerConfig = { ...SD15, timestep_spacing: 'trailing' };

function make(name: SchedulerName, config: SchedulerConfig, steps: number | CustomTimesteps): Scheduler {
  const s = createScheduler(name, config);
  s.setTimesteps(steps);
  return s;
}

/** sigma at each index of the schedule (every `stride`-th), read through addNoise at that begin index. */
function probeSigmas(s: Scheduler, stride = 1): number[] {
  return s.timesteps.flatMap((t, i) => {
    if (i % stride !== 0) return [];
    s.setBeginIndex(i);
    const signal = s.addNoise(new Float32Array([1]), new Float32Array([0]), t)[0]!;
    const noise = s.addNoise(new Float32Array([0]), new Float32Array([1]), t)[0]!;
    return noise / signal;
  });
}

function assertClose(actual: readonly number[], expected: readonly number[], rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rel * Math.max(1e-12, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  });
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---- training schedules -------------------------------------------------------------------------------

test('SD 1.5 alphas_cumprod: the scaled_linear formula, golden values from diffusers', () => {
  const ac = alphasCumprod(makeBetas({
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', trainedBetas: null, rescaleZeroSnr: false,
  }));
  assertClose([...ac], [...SD15_AC], 1e-6, 'alphas_cumprod');
  assert.ok(Math.abs(ac[0]! - 0.99915) < 1e-6);
  // diffusers (float32): alphas_cumprod[999] = 0.0046600895, sigma_max = 14.6146555
  assert.ok(Math.abs(ac[999]! - 0.0046601) < 1e-6, `alphas_cumprod[999] = ${ac[999]}`);
  assert.ok(Math.abs(Math.sqrt((1 - ac[999]!) / ac[999]!) - 14.61465) < 2e-5);
});

test('linear betas and trained_betas', () => {
  const lin = alphasCumprod(makeBetas({
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', trainedBetas: null, rescaleZeroSnr: false,
  }));
  assertClose([...lin], [...refAlphasCumprod(1000, 0.0001, 0.02, 'linear')], 1e-6, 'linear');
  const trained = makeBetas({
    numTrainTimesteps: 3, betaStart: 0, betaEnd: 0, betaSchedule: 'linear', trainedBetas: [0.1, 0.2, 0.3], rescaleZeroSnr: false,
  });
  // diffusers holds trained_betas in a float32 tensor.
  assert.deepEqual([...trained], [0.1, 0.2, 0.3].map(Math.fround));
  assert.throws(() => makeBetas({
    numTrainTimesteps: 4, betaStart: 0, betaEnd: 0, betaSchedule: 'linear', trainedBetas: [0.1], rescaleZeroSnr: false,
  }), /trained_betas/);
});

test('squaredcos_cap_v2 (betas_for_alpha_bar): 1 - f(t+1)/f(t) with f the shifted cosine, capped at 0.999', () => {
  const f = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const b = betasForAlphaBar(1000);
  for (const i of [0, 1, 500, 998]) assert.ok(Math.abs(b[i]! - (1 - f((i + 1) / 1000) / f(i / 1000))) < 1e-15, `beta ${i}`);
  assert.equal(b[999], 0.999, 'the last beta is capped');
  // Telescoping: alpha_bar_t = f((t+1)/T) / f(0) while no beta is capped.
  const ac = alphasCumprod(b);
  assert.ok(Math.abs(ac[600]! - f(601 / 1000) / f(0)) < 1e-6);
});

test('rescale_zero_terminal_snr: zero terminal alpha_bar, first one kept, sqrt(alpha_bar) an affine map of the old', () => {
  const betas = makeBetas({
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', trainedBetas: null, rescaleZeroSnr: false,
  });
  const old = alphasCumprod(betas).map(Math.sqrt);
  const neu = alphasCumprod(rescaleZeroTerminalSnr(betas)).map(Math.sqrt);
  assert.ok(Math.abs(neu[999]!) < 1e-7);
  assert.ok(Math.abs(neu[0]! - old[0]!) < 1e-6);
  const k = (neu[0]! - neu[999]!) / (old[0]! - old[999]!);
  for (const i of [1, 300, 700, 998]) assert.ok(Math.abs(neu[i]! - (old[i]! - old[999]!) * k) < 1e-6, `index ${i}`);
});

// ---- numpy-compatible helpers ------------------------------------------------------------------------------

test('numpy rounding, linspace and arange semantics', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 166.5, 499.5, 832.5, 2.4999, -1.5].map(roundHalfEven), [0, 2, 2, 166, 500, 832, 2, -2]);
  assert.deepEqual(linspace(0, 999, 10), range(10).map((i) => 111 * i));
  assert.deepEqual(linspace(0, 50, 4, false), [0, 12.5, 25, 37.5]);
  assert.deepEqual(linspace(3, 7, 1), [3]);
  assert.equal(arange(1000, 0, -1000 / 3).length, 3);
  assert.deepEqual(arange(1000, 0, -250), [1000, 750, 500, 250]);
});

test('sigma -> t interpolates log-sigma between neighbouring training timesteps and clamps at both ends', () => {
  // A float32 log-sigma table, as trainingSigmas builds it; a sigma of the table lands exactly on its timestep.
  const logs = SD15_SIGMAS.map((sg) => Math.fround(Math.log(sg)));
  for (const t of [0, 1, 17, 500, 998, 999]) assert.equal(sigmaToT(SD15_SIGMAS[t]!, logs), t, `t = ${t}`);
  for (const sg of [0.05, 0.7, 3.3, 12]) assert.ok(Math.abs(sigmaToT(sg, logs) - timestepOfSigma(sg)) < 1e-4, `sigma ${sg}`);
  assert.equal(sigmaToT(0.001, logs), 0);
  assert.equal(sigmaToT(100, logs), 999);
});

test('LMS quadrature: 5-point Gauss-Legendre is exact to degree 9; coefficients match the closed form', () => {
  const p9 = (x: number): number => 3 * x ** 9 - x ** 4 + 2;
  const exact = (x: number): number => 0.3 * x ** 10 - x ** 5 / 5 + 2 * x;
  assert.ok(Math.abs(gaussLegendre5(p9, 0.3, 2) - (exact(2) - exact(0.3))) < 1e-10);
  assert.ok(Math.abs(gaussLegendre5(p9, 2, 0.3) + (exact(2) - exact(0.3))) < 1e-10, 'reversed bounds');
  const sg = [14.6, 9.1, 5.2, 2.9, 1.4, 0];
  // Order 2 at i = 1: current derivative weight = integral over [s1, s2] of (tau - s0)/(s1 - s0).
  const c0 = ((sg[2]! - sg[0]!) ** 2 - (sg[1]! - sg[0]!) ** 2) / (2 * (sg[1]! - sg[0]!));
  assert.ok(Math.abs(lmsCoefficient(sg, 2, 1, 0) - c0) < 1e-12);
  // Lagrange weights sum to the interval length at every order (they integrate the constant 1).
  for (const order of [1, 2, 3, 4]) {
    const i = 4;
    const sum = range(order).reduce((a, j) => a + lmsCoefficient(sg, order, i, j), 0);
    assert.ok(Math.abs(sum - (sg[i + 1]! - sg[i]!)) < 1e-12, `order ${order}`);
  }
});

// ---- timestep tables ---------------------------------------------------------------------------------------

test('DDIM / DDPM: leading (SD 1.5), trailing (SD-Turbo), linspace with numpy half-even rounding', () => {
  for (const name of ['ddim', 'ddpm'] as const) {
    assert.deepEqual([...make(name, SD15, 10).timesteps], range(10).map((i) => 901 - 100 * i));
    assert.deepEqual([...make(name, SD15, 50).timesteps], range(50).map((i) => 981 - 20 * i));
    assert.deepEqual([...make(name, TURBO, 4).timesteps], [999, 749, 499, 249]);
    assert.deepEqual([...make(name, TURBO, 1).timesteps], [999]);
    // linspace(0, 999, 7) = 0, 166.5, 333, 499.5, 666, 832.5, 999: halves go to the even neighbour.
    assert.deepEqual([...make(name, { ...SD15, timestep_spacing: 'linspace' }, 7).timesteps], [999, 832, 666, 500, 333, 166, 0]);
  }
});

test('PNDM: PLMS list repeats its second timestep; PRK runs three RK4 steps of four calls first', () => {
  const base = range(10).map((i) => 901 - 100 * i); // 901 .. 1
  assert.deepEqual([...make('pndm', SD15, 10).timesteps], [901, 801, ...base.slice(1)]);
  const prk = [0, 1, 2].flatMap((j) => {
    const top = 901 - 100 * j;
    return [top, top - 50, top - 50, top - 100];
  });
  assert.deepEqual([...make('pndm', { ...SD15, skip_prk_steps: false }, 10).timesteps], [...prk, ...base.slice(3)]);
  assert.deepEqual([...make('pndm', SD15, 1).timesteps], [1]);
});

test('Euler: SD 1.5 linspace sigmas are the training sigmas at linspace(0, 999, n); first sigma 14.6146', () => {
  const s = make('euler', SD15, 10);
  const ts = range(10).map((i) => 999 - 111 * i);
  assert.deepEqual([...s.timesteps], ts);
  assertClose(probeSigmas(s), ts.map((t) => SD15_SIGMAS[t]!), 3e-5, 'sigmas');
  assert.ok(Math.abs(s.initNoiseSigma - 14.6146) < 1e-4, `initNoiseSigma ${s.initNoiseSigma}`);

  // 20 steps: fractional float32 timesteps, sigma interpolated linearly between training sigmas.
  const s20 = make('euler', SD15, 20);
  const ts20 = range(20).map((i) => Math.fround((999 * (19 - i)) / 19));
  assertClose([...s20.timesteps], ts20, 1e-7, 'timesteps');
  assert.ok(!Number.isInteger(s20.timesteps[1]));
  assertClose(probeSigmas(s20), ts20.map((t) => sigmaAt(t, 'linear')), 3e-5, 'sigmas');
});

test('Euler / LMS / Heun Karras sigmas: eq. 5 with rho = 7 between the schedule\'s end sigmas; t by log-sigma', () => {
  for (const name of ['euler', 'lms'] as const) {
    for (const n of [10, 25]) {
      const s = make(name, { ...SD15, use_karras_sigmas: true }, n);
      const karras = refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, n);
      assertClose(probeSigmas(s), karras, 3e-5, `${name} ${n} sigmas`);
      // 2e-3: the float32 training table (diffusers') against this float64 reference moves log-sigma
      // interpolation by ~1e-3 of a timestep where neighbouring log-sigmas are close.
      s.timesteps.forEach((t, i) => assert.ok(Math.abs(t - timestepOfSigma(karras[i]!)) < 2e-3, `${name} t[${i}] = ${t}`));
    }
  }
  // Heun: the same sigmas; logical step k starts at index 2k (its list repeats every timestep but the first).
  const h = make('heun', { ...SD15, use_karras_sigmas: true }, 6);
  assertClose(probeSigmas(h, 2), refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, 6), 3e-5, 'heun sigmas');
  // Euler honours sigma_min / sigma_max from the config (diffusers' EulerDiscreteScheduler does).
  const e = make('euler', { ...SD15, use_karras_sigmas: true, sigma_min: 0.1, sigma_max: 10 }, 8);
  assertClose(probeSigmas(e), refKarras(0.1, 10, 8), 3e-5, 'euler sigma_min/max');
});

test('Euler leading (SDXL config) and trailing (SD-Turbo config); initNoiseSigma by spacing', () => {
  const xl = make('euler', SDXL, 12);
  const ts = range(12).map((i) => 83 * (11 - i) + 1); // 1000 // 12 = 83, steps_offset 1
  assert.deepEqual([...xl.timesteps], ts);
  assert.ok(Math.abs(xl.initNoiseSigma - Math.sqrt(SD15_SIGMAS[914]! ** 2 + 1)) < 1e-5, 'leading: sqrt(sigma^2 + 1)');
  const turbo = make('euler', TURBO, 4);
  assert.deepEqual([...turbo.timesteps], [999, 749, 499, 249]);
  assert.ok(Math.abs(turbo.initNoiseSigma - SD15_SIGMAS[999]!) < 1e-5, 'trailing: sigma_max');
  assert.deepEqual([...make('euler', TURBO, 1).timesteps], [999]);
  assert.deepEqual([...make('euler_a', TURBO, 4).timesteps], [999, 749, 499, 249]);
});

test('Euler timestep_type "continuous" with v_prediction gives the UNet 0.25 * ln(sigma)', () => {
  const s = make('euler', { ...SD15, prediction_type: 'v_prediction', timestep_type: 'continuous' }, 10);
  const sigmas = range(10).map((i) => SD15_SIGMAS[999 - 111 * i]!);
  // Absolute (0.25 ln(sigma) is near 0 where sigma is near 1): diffusers' float32 table holds 1 - abar_t near t = 0
  // to ~3e-5 relative (abar_t ~ 1 has a float32 ulp of 6e-8), which moves 0.25 ln(sigma) by up to ~4e-6.
  const expected = sigmas.map((sg) => 0.25 * Math.log(sg));
  s.timesteps.forEach((t, i) => assert.ok(Math.abs(t - expected[i]!) < 1e-5, `timesteps[${i}]: ${t} vs ${expected[i]}`));
  // Only together with v_prediction, as in diffusers.
  assert.equal(make('euler', { ...SD15, timestep_type: 'continuous' }, 10).timesteps[0], 999);
});

test('Heun lists every timestep but the first twice', () => {
  const ts = range(10).map((i) => 999 - 111 * i);
  assert.deepEqual([...make('heun', SD15, 10).timesteps], [ts[0]!, ...ts.slice(1).flatMap((t) => [t, t])]);
  assert.equal(make('heun', SD15, 10).order, 2);
});

test('DPM-Solver++ / UniPC: n+1-point spacing without the last point; trailing; leading; Karras', () => {
  for (const name of ['dpmpp_2m', 'dpmpp_2m_sde', 'unipc'] as const) {
    // round(linspace(0, 999, 11)) reversed, last dropped: 499.5 rounds to 500.
    assert.deepEqual([...make(name, SD15, 10).timesteps], [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    assert.deepEqual([...make(name, TURBO, 8).timesteps], range(8).map((i) => 999 - 125 * i));
    // leading: step ratio 1000 // 11 = 90, plus steps_offset.
    assert.deepEqual([...make(name, SDXL, 10).timesteps], range(10).map((i) => 90 * (10 - i) + 1));
  }
  for (const name of ['dpmpp_2m_karras', 'dpmpp_2m_sde_karras'] as const) {
    const s = make(name, SD15, 20);
    const karras = refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, 20);
    assertClose(probeSigmas(s), karras, 3e-5, `${name} sigmas`);
    assert.deepEqual([...s.timesteps], karras.map((k) => Math.round(timestepOfSigma(k))));
    assert.deepEqual([...s.timesteps].slice(0, 4), [999, 962, 921, 876], 'diffusers: DPM++ 2M Karras, 20 steps');
  }
});

test('LCM: n of the 50 distillation timesteps, evenly by index from the top', () => {
  const cfg = { ...SD15, original_inference_steps: 50 };
  const grid = range(50).map((j) => 999 - 20 * j); // 999, 979, ..., 19
  const pick = (n: number): number[] => range(n).map((i) => grid[Math.floor((i * 50) / n)]!);
  assert.deepEqual(pick(4), [999, 759, 499, 259]);
  for (const n of [1, 2, 4, 6, 8, 50]) assert.deepEqual([...make('lcm', cfg, n).timesteps], pick(n), `${n} steps`);
  assert.throws(() => make('lcm', cfg, 51), /original_inference_steps/);
  // 25 distillation steps: grid 999, 959, ..., 39 (k = 40); indices floor(i * 25 / 4) = 0, 6, 12, 18.
  assert.deepEqual([...make('lcm', { ...cfg, original_inference_steps: 25 }, 4).timesteps], [999, 759, 519, 279]);
});

// ---- from_config semantics ---------------------------------------------------------------------------------

test('absent keys take the target class\'s own diffusers default', () => {
  // Same SD 1.5 (PNDM) config: Euler's default spacing is linspace, DDIM's leading.
  assert.equal(make('euler', SD15, 10).timesteps[0], 999);
  assert.equal(make('ddim', SD15, 10).timesteps[0], 901);
  // Default training schedules differ by class: most are linear 1e-4..0.02, Heun 0.00085..0.012 linear,
  // LCM Stable Diffusion's scaled_linear.
  const lin = refAlphasCumprod(1000, 0.0001, 0.02, 'linear');
  const heunLin = refAlphasCumprod(1000, 0.00085, 0.012, 'linear');
  const sigmaMax = (ac: Float64Array): number => Math.sqrt((1 - ac[999]!) / ac[999]!);
  // Relative, at float32 precision: diffusers' tables are float32, these references float64.
  assert.ok(Math.abs(make('euler', {}, 10).initNoiseSigma / sigmaMax(lin) - 1) < 1e-6);
  assert.ok(Math.abs(make('heun', {}, 10).initNoiseSigma / sigmaMax(heunLin) - 1) < 1e-6);
  const lcm = make('lcm', {}, 4);
  assert.ok(Math.abs(lcm.addNoise(new Float32Array([1]), new Float32Array([0]), 999)[0]! - Math.sqrt(SD15_AC[999]!)) < 1e-6);
  // DDIM clips the x0 prediction by default (clip_sample true): a "sample" model output of 5 acts as 1.
  const ddim = make('ddim', { ...SD15, clip_sample: undefined, prediction_type: 'sample' }, 10);
  const out = ddim.step(new Float32Array([5]), 1, new Float32Array([0.3]));
  const a0 = SD15_AC[0]!;
  const a1 = SD15_AC[1]!;
  const eps = (0.3 - Math.sqrt(a1) * 5) / Math.sqrt(1 - a1); // diffusers keeps the unclipped eps
  // 2e-4: eps divides by sqrt(1 - abar_1) ~ 0.04, which the float32 table (diffusers') holds to ~2e-5 relative
  // against this float64 reference; the clipped eps would be off by ~3.
  assert.ok(Math.abs(out[0]! - (Math.sqrt(a0) * 1 + Math.sqrt(1 - a0) * eps)) < 2e-4);
});

test('_use_default_values and null values fall back to the class default', () => {
  const cfg: SchedulerConfig = { ...SD15, timestep_spacing: 'trailing', _use_default_values: ['timestep_spacing'] };
  assert.equal(make('ddim', cfg, 10).timesteps[0], 901, 'DDIM default leading');
  assert.equal(make('ddim', { ...SD15, steps_offset: null } as unknown as SchedulerConfig, 10).timesteps[0], 900);
});

test('bad config values are refused with the key named', () => {
  assert.throws(() => createScheduler('euler', { ...SD15, beta_schedule: 'bogus' as 'linear' }), /beta_schedule/);
  assert.throws(() => createScheduler('ddim', { ...SD15, prediction_type: 'flow' as 'sample' }), /prediction_type/);
  assert.throws(() => createScheduler('euler', { ...SD15, steps_offset: 'one' as unknown as number }), /steps_offset/);
  assert.throws(() => createScheduler('euler', { ...SD15, timestep_spacing: 'middle' as 'linspace' }), /timestep_spacing/);
  assert.throws(() => createScheduler('euler_a', { ...SD15, prediction_type: 'sample' }), /prediction_type "sample"/);
  assert.throws(() => createScheduler('pndm', { ...SD15, prediction_type: 'sample' }), /prediction_type "sample"/);
  assert.throws(() => createScheduler('ddim', { ...SD15, thresholding: true, dynamic_thresholding_ratio: 1.5 }), /dynamic_thresholding_ratio/);
  // Thresholding works per image: a scheduler not told the image size refuses to step rather than threshold the batch.
  const unsized = make('ddim', { ...SD15, thresholding: true }, 4);
  assert.throws(() => unsized.step(new Float32Array(4), unsized.timesteps[0]!, new Float32Array(4)), /thresholding works per image/);
  assert.throws(() => createScheduler('dpmpp_2m', { ...SD15, use_flow_sigmas: true }), /use_flow_sigmas/);
  assert.throws(() => createScheduler('unipc', { ...SD15, solver_order: 4 }), /solver_order 4 is not supported/);
  assert.throws(() => createScheduler('unipc', { ...SD15, predict_x0: false }), /predict_x0=false needs final_sigmas_type "sigma_min"/);
  assert.throws(() => createScheduler('euler', { ...SD15, use_karras_sigmas: true, use_beta_sigmas: true }), /only one of use_karras_sigmas/);
  assert.throws(() => make('heun', { ...SD15, use_exponential_sigmas: true }, { timesteps: [999, 500, 1] }), /custom timesteps cannot be combined with use_exponential_sigmas/);
  assert.throws(() => make('dpmpp_2m', { ...SD15, use_lu_lambdas: true }, { timesteps: [999, 500, 1] }), /custom timesteps cannot be combined with use_lu_lambdas/);
  assert.throws(() => make('euler', SD15, { timesteps: [500, 999] }), /descending/);
  assert.throws(() => make('lms', SD15, { timesteps: [999, 500, 1] }), /custom timesteps are not supported/);
  assert.throws(() => make('euler', SD15, 0), /numInferenceSteps/);
  assert.throws(() => make('ddim', SD15, 1001), /numInferenceSteps/);
  assert.throws(() => make('pndm', { ...SD15, skip_prk_steps: false }, 3), /PRK/);
});

test('stepping before setTimesteps is refused', () => {
  for (const name of ['ddim', 'ddpm', 'pndm', 'euler', 'euler_a', 'lms', 'heun', 'dpmpp_2m', 'unipc', 'lcm'] as const) {
    const s = createScheduler(name, SD15);
    assert.throws(() => s.step(new Float32Array(4), 999, new Float32Array(4), () => new Float32Array(4)), /setTimesteps/, name);
  }
});
