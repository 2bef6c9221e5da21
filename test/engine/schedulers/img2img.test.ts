/**
 * Image-to-image: addNoise + setBeginIndex. The pipeline noises the clean latents to timesteps[b] with
 * addNoise and runs the loop from there (b = k * order). With the exact oracle:
 *  - the first model call must see exactly the added noise (addNoise put the sample at the noise level the
 *    model is told), deterministic schedulers must keep it (eps drift ~ 0), and every scheduler must return x0;
 *  - addNoise uses the sigma of the begin index once one is set, as diffusers does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCHEDULER_NAMES, STOCHASTIC_SCHEDULERS, createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { SchedulerConfig } from '../../../src/engine/schedulers/types.ts';
import {
  SD15,
  SD15_SIGMAS,
  cleanSample,
  epsDrift,
  levelFromList,
  levelFromTable,
  levelLinear,
  maxAbsDiff,
  noiseFn,
  normals,
  oracle,
  refKarras,
  sample,
  type NoiseLevel,
} from './reference.ts';

const N = 256;
const X0 = cleanSample(21, N);
const E = normals(22, N);

function configFor(name: SchedulerName): SchedulerConfig {
  if (name === 'lcm') return { ...SD15, original_inference_steps: 50, set_alpha_to_one: true };
  return { ...SD15, set_alpha_to_one: true };
}

function levelFor(name: SchedulerName, steps: number, begin: number): NoiseLevel {
  if (name === 'dpmpp_2m_karras' || name === 'dpmpp_2m_sde_karras') {
    return levelFromList(refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, steps), begin);
  }
  return ['euler', 'euler_a', 'lms', 'heun'].includes(name) ? levelLinear : levelFromTable;
}

for (const name of SCHEDULER_NAMES) {
  const stochastic = STOCHASTIC_SCHEDULERS.includes(name);
  test(`${name}: image-to-image from several begin indices reaches x0 from addNoise's sample`, () => {
    const steps = name === 'lcm' ? 8 : 20;
    for (const k of [1, 4, steps / 2, steps - 1]) {
      const s = createScheduler(name, configFor(name));
      s.setTimesteps(steps);
      const begin = k * s.order;
      s.setBeginIndex(begin);
      const x = s.addNoise(X0, E, s.timesteps[begin]!);
      const { model, eps } = oracle(X0, 'epsilon', levelFor(name, steps, begin));
      const out = sample(s, x, model, noiseFn(5, N), begin);
      assert.ok(maxAbsDiff(eps[0]!, E) < 1e-4, `begin ${begin}: the first call does not see the added noise`);
      if (name === 'lms') {
        // diffusers' LMS takes order min(step_index + 1, 4) from the begin index, weighting its first derivatives
        // with the leading coefficients of a higher-order rule: off the trajectory, but still ending near x0.
        // scenarios.test.ts (lms-with-noise, lms-with-noise-early) checks those numbers against diffusers.
        assert.ok(maxAbsDiff(out, X0) < 3e-2, `begin ${begin}: max |x - x0| = ${maxAbsDiff(out, X0)}`);
        continue;
      }
      if (!stochastic) assert.ok(epsDrift(eps) < 1e-4, `begin ${begin}: eps drift ${epsDrift(eps)}`);
      assert.ok(maxAbsDiff(out, X0) < 1e-4, `begin ${begin}: max |x - x0| = ${maxAbsDiff(out, X0)}`);
    }
  });
}

test('addNoise takes the sigma of the begin index once one is set, else looks the timestep up', () => {
  for (const name of ['euler', 'euler_a', 'lms', 'dpmpp_2m', 'unipc'] as const) {
    const s = createScheduler(name, SD15);
    s.setTimesteps(10);
    const ts = s.timesteps;
    const noiseAt = (t: number): number => {
      const signal = s.addNoise(new Float32Array([1]), new Float32Array([0]), t)[0]!;
      return s.addNoise(new Float32Array([0]), new Float32Array([1]), t)[0]! / signal;
    };
    const sigma3 = noiseAt(ts[3]!);
    const sigma0 = noiseAt(ts[0]!);
    assert.ok(sigma0 > sigma3 * 1.5, name);
    s.setBeginIndex(3);
    assert.ok(Math.abs(noiseAt(ts[0]!) - sigma3) < 1e-6 * sigma3, `${name}: begin index wins over the timestep`);
  }
  const e = createScheduler('euler', SD15);
  e.setTimesteps(10);
  assert.throws(() => e.addNoise(X0, E, 123.5), /not in the schedule/);
});

test('a loop started mid-schedule without setBeginIndex finds its place by timestep (Heun: second occurrence)', () => {
  for (const name of ['euler', 'heun', 'dpmpp_2m', 'unipc'] as const) {
    const s = createScheduler(name, SD15);
    s.setTimesteps(10);
    const begin = 4 * s.order;
    const x = s.addNoise(X0, E, s.timesteps[begin]!);
    const level = name === 'euler' || name === 'heun' ? levelLinear : levelFromTable;
    const { model, eps } = oracle(X0, 'epsilon', level);
    const out = sample(s, x, model, undefined, begin);
    // 5e-4: the last call is at t = 0, where the float32 table (diffusers') holds sigma_0 ~ 0.03 to ~2e-5
    // relative against the float64 oracle; a step at the wrong index drifts by orders of magnitude more.
    assert.ok(maxAbsDiff(eps[0]!, E) < 1e-4 && epsDrift(eps) < 5e-4, `${name}: eps drift ${epsDrift(eps)}`);
    assert.ok(maxAbsDiff(out, X0) < 1e-4, name);
  }
});

test('begin index validation: non-negative integers; Heun even; PNDM PRK on a Runge-Kutta step boundary', () => {
  const e = createScheduler('euler', SD15);
  e.setTimesteps(10);
  assert.throws(() => e.setBeginIndex(-1), RangeError);
  assert.throws(() => e.setBeginIndex(1.5), RangeError);
  e.setBeginIndex(10); // a strength that keeps no step: nothing left to run, not an error
  const h = createScheduler('heun', SD15);
  h.setTimesteps(10);
  assert.throws(() => h.setBeginIndex(3), /even/);
  h.setBeginIndex(4);
  const p = createScheduler('pndm', { ...SD15, skip_prk_steps: false });
  p.setTimesteps(10);
  assert.throws(() => p.setBeginIndex(6), /multiple of 4/);
  p.setBeginIndex(8);
  p.setBeginIndex(13);
});

test('PNDM begin index 1 (first of the repeated pair): that call leaves the sample as it is', () => {
  const s = createScheduler('pndm', { ...SD15, set_alpha_to_one: true });
  s.setTimesteps(10);
  s.setBeginIndex(1);
  const x = s.addNoise(X0, E, s.timesteps[1]!);
  const t = s.timesteps[1]!;
  const out = s.step(E, t, x);
  assert.deepEqual(out, x);
});

test('scaleModelInput after the last step (preview of the final sample) uses the final sigma, 0', () => {
  const s = createScheduler('euler', SD15);
  s.setTimesteps(5);
  const { model } = oracle(X0, 'epsilon', levelLinear);
  const out = sample(s, E.map((v) => v * s.initNoiseSigma), model);
  const last = s.timesteps[s.timesteps.length - 1]!;
  assert.deepEqual(s.scaleModelInput(out, last), out);
  assert.throws(() => s.step(out, last, out), /past the last timestep/);
});
