/**
 * Oracle-denoiser exactness for the deterministic schedulers. The oracle knows x0 and reads the noise level of
 * each call from the timestep it is given, through the test's own SD 1.5 tables (reference.ts):
 * integer timesteps index alpha_bar directly; Euler-family fractional timesteps interpolate sigma linearly
 * (or log-linearly for Karras sigmas, the inverse of the log-sigma -> t mapping). DPM-Solver/UniPC with Karras
 * sigmas give the UNet a *rounded* timestep, so there the oracle takes the sigma from the independently computed
 * Karras list and we check separately that the timestep is that sigma's rounded t.
 *
 * Starting from noise * initNoiseSigma, the first call defines eps* (the noise direction of the sample at the
 * first level). A correct deterministic sampler on this exact denoiser follows the probability-flow ODE
 * solution x = alpha_t x0 + s_t eps* exactly, so (1) every later call must see the same eps* -- each step lands
 * exactly on the next timestep's noise level -- and (2) the result is x0 (or, for DDIM/PNDM with
 * set_alpha_to_one false, the point alpha_bar_0 of that same trajectory, as diffusers ends there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { PredictionType, SchedulerConfig } from '../../../src/engine/schedulers/types.ts';
import {
  SD15,
  SD15_AC,
  SD15_SIGMAS,
  cleanSample,
  epsDrift,
  levelFromList,
  levelFromTable,
  levelLinear,
  levelLog,
  maxAbsDiff,
  normals,
  oracle,
  refKarras,
  sample,
  timestepOfSigma,
  type NoiseLevel,
} from './reference.ts';

const N = 256;
const X0 = cleanSample(1, N);
const STEPS = [5, 10, 20, 50];

interface Spec {
  name: SchedulerName;
  config?: SchedulerConfig;
  predictions: PredictionType[];
  level: (steps: number) => NoiseLevel;
}

const ALL: PredictionType[] = ['epsilon', 'v_prediction', 'sample'];
const SPECS: Spec[] = [
  { name: 'ddim', config: { set_alpha_to_one: true }, predictions: ALL, level: () => levelFromTable },
  // PNDM with v_prediction combines raw v outputs of different timesteps, as diffusers does: not on the ODE
  // trajectory, so only eps is checked here (scenarios.test.ts checks v against diffusers).
  { name: 'pndm', config: { set_alpha_to_one: true }, predictions: ['epsilon'], level: () => levelFromTable },
  {
    name: 'pndm',
    config: { set_alpha_to_one: true, skip_prk_steps: false },
    predictions: ['epsilon'],
    level: () => levelFromTable,
  },
  { name: 'euler', predictions: ALL, level: () => levelLinear },
  { name: 'euler', config: { use_karras_sigmas: true }, predictions: ALL, level: () => levelLog },
  { name: 'lms', predictions: ALL, level: () => levelLinear },
  { name: 'lms', config: { use_karras_sigmas: true }, predictions: ['epsilon', 'v_prediction'], level: () => levelLog },
  { name: 'heun', predictions: ALL, level: () => levelLinear },
  { name: 'heun', config: { use_karras_sigmas: true }, predictions: ['epsilon', 'v_prediction'], level: () => levelLog },
  { name: 'dpmpp_2m', predictions: ALL, level: () => levelFromTable },
  {
    name: 'dpmpp_2m_karras',
    predictions: ALL,
    level: (n) => levelFromList(refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, n)),
  },
  { name: 'unipc', predictions: ALL, level: () => levelFromTable },
  {
    name: 'unipc',
    config: { use_karras_sigmas: true },
    predictions: ['epsilon', 'v_prediction'],
    level: (n) => levelFromList(refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, n)),
  },
];

function describe(spec: Spec, prediction: PredictionType): string {
  return `${spec.name}${spec.config ? ' ' + JSON.stringify(spec.config) : ''} ${prediction}`;
}

for (const spec of SPECS) {
  for (const prediction of spec.predictions) {
    test(`oracle: ${describe(spec, prediction)} returns x0 and stays on the ODE trajectory`, () => {
      for (const steps of STEPS) {
        const s = createScheduler(spec.name, { ...SD15, ...spec.config, prediction_type: prediction });
        s.setTimesteps(steps);
        const { model, eps } = oracle(X0, prediction, spec.level(steps));
        const x = normals(2, N).map((v) => v * s.initNoiseSigma);
        const out = sample(s, x, model);
        assert.equal(eps.length, s.timesteps.length, 'one model call per timestep');
        const drift = epsDrift(eps);
        assert.ok(drift < 3e-4, `${steps} steps: the sample left the trajectory (eps drift ${drift})`);
        const err = maxAbsDiff(out, X0);
        assert.ok(err < 1e-4, `${steps} steps: max |x - x0| = ${err}`);
      }
    });
  }
}

test('oracle: one-step sampling with trailing spacing (SD-Turbo style) returns x0', () => {
  const names: SchedulerName[] = ['ddim', 'pndm', 'euler', 'lms', 'heun', 'dpmpp_2m', 'unipc'];
  for (const name of names) {
    const s = createScheduler(name, { ...SD15, timestep_spacing: 'trailing', set_alpha_to_one: true });
    s.setTimesteps(1);
    assert.deepEqual([...s.timesteps], [999], name);
    const level = name === 'euler' || name === 'lms' || name === 'heun' ? levelLinear : levelFromTable;
    const { model } = oracle(X0, 'epsilon', level);
    const out = sample(s, normals(3, N).map((v) => v * s.initNoiseSigma), model);
    assert.ok(maxAbsDiff(out, X0) < 1e-4, name);
  }
});

test('oracle: DDIM and PNDM with SD 1.5 set_alpha_to_one=false end at alpha_bar_0 of the trajectory, as diffusers', () => {
  for (const name of ['ddim', 'pndm'] as const) {
    for (const steps of [10, 25]) {
      const s = createScheduler(name, SD15);
      s.setTimesteps(steps);
      const { model, eps } = oracle(X0, 'epsilon', levelFromTable);
      const out = sample(s, normals(4, N), model);
      assert.ok(epsDrift(eps) < 3e-4);
      const a0 = SD15_AC[0]!;
      const expected = X0.map((v, i) => Math.sqrt(a0) * v + Math.sqrt(1 - a0) * eps[0]![i]!);
      assert.ok(maxAbsDiff(out, expected) < 1e-5, `${name} ${steps}: off the alpha_bar_0 point`);
      assert.ok(maxAbsDiff(out, X0) > 1e-2, 'and that point is measurably not x0');
    }
  }
});

test('oracle: DPM-Solver++ / UniPC Karras timesteps are the rounded timesteps of the Karras sigmas', () => {
  for (const name of ['dpmpp_2m_karras', 'unipc'] as const) {
    for (const steps of [10, 25]) {
      const s = createScheduler(name, { ...SD15, use_karras_sigmas: true });
      s.setTimesteps(steps);
      const karras = refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, steps);
      // diffusers rounds half to even; an exact .5 does not occur in these tables.
      assert.deepEqual([...s.timesteps], karras.map((sg) => Math.round(timestepOfSigma(sg))), `${name} ${steps}`);
    }
  }
});

test('oracle: a deliberately wrong noise level is detected (the check can fail)', () => {
  // Euler told to interpret timesteps with the table of a different schedule must leave the trajectory.
  const s = createScheduler('euler', { ...SD15, beta_end: 0.02, beta_start: 0.0001, beta_schedule: 'linear' });
  s.setTimesteps(10);
  const { model, eps } = oracle(X0, 'epsilon', levelLinear);
  sample(s, normals(2, N).map((v) => v * s.initNoiseSigma), model);
  assert.ok(epsDrift(eps) > 1e-2);
});
