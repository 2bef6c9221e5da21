/**
 * The stochastic schedulers (DDPM, Euler ancestral, DPM++ 2M SDE (+Karras), LCM):
 *  - seed-determinism: the same NoiseFn seed gives bit-identical results, a different seed a different one;
 *  - with the exact oracle they land on x0 (their last step removes all noise: sigma_next = 0, DDPM's
 *    posterior at t' = -1, LCM's last step returns the denoised sample);
 *  - along the way each step re-noises to exactly the next level: starting on the forward process
 *    (addNoise at the first timestep), the oracle's epsilon stays unit-variance and uncorrelated with x0
 *    at every call, which fails if a step injects too much or too little noise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STOCHASTIC_SCHEDULERS, createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { PredictionType, SchedulerConfig } from '../../../src/engine/schedulers/types.ts';
import {
  SD15,
  SD15_SIGMAS,
  cleanSample,
  levelFromList,
  levelFromTable,
  levelLinear,
  maxAbsDiff,
  noiseFn,
  normals,
  oracle,
  refKarras,
  rms,
  sample,
  type NoiseLevel,
} from './reference.ts';

interface Spec {
  name: SchedulerName;
  config: SchedulerConfig;
  steps: number[];
  predictions: PredictionType[];
  level: (steps: number) => NoiseLevel;
}

const LCM_CONFIG: SchedulerConfig = { ...SD15, original_inference_steps: 50, set_alpha_to_one: true };
const SPECS: Spec[] = [
  { name: 'ddpm', config: SD15, steps: [10, 50], predictions: ['epsilon', 'v_prediction', 'sample'], level: () => levelFromTable },
  { name: 'euler_a', config: SD15, steps: [10, 30], predictions: ['epsilon', 'v_prediction'], level: () => levelLinear },
  { name: 'dpmpp_2m_sde', config: SD15, steps: [10, 30], predictions: ['epsilon', 'v_prediction', 'sample'], level: () => levelFromTable },
  {
    name: 'dpmpp_2m_sde_karras',
    config: SD15,
    steps: [10, 30],
    predictions: ['epsilon', 'v_prediction'],
    level: (n) => levelFromList(refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, n)),
  },
  { name: 'lcm', config: LCM_CONFIG, steps: [4, 8], predictions: ['epsilon', 'v_prediction', 'sample'], level: () => levelFromTable },
];

test('STOCHASTIC_SCHEDULERS lists exactly the schedulers specified here', () => {
  assert.deepEqual([...STOCHASTIC_SCHEDULERS].sort(), SPECS.map((s) => s.name).sort());
});

/** A fixed nonlinear stand-in for a UNet, so the final sample depends on the noise drawn. */
const toyModel = (x: Float32Array, t: number): Float32Array => x.map((v, i) => 0.7 * Math.tanh(v) + 0.1 * Math.sin(t / 100 + i));

for (const spec of SPECS) {
  test(`${spec.name}: same noise seed gives identical samples, another seed a different one`, () => {
    const n = 256;
    const run = (seed: number): Float32Array => {
      const s = createScheduler(spec.name, spec.config);
      s.setTimesteps(spec.steps[0]!);
      return sample(s, normals(7, n).map((v) => v * s.initNoiseSigma), toyModel, noiseFn(seed, n));
    };
    const a = run(11);
    assert.deepEqual(a, run(11));
    assert.ok(maxAbsDiff(a, run(12)) > 1e-2, 'a different seed must change the sample');
  });

  test(`${spec.name}: refuses to step without a NoiseFn`, () => {
    const s = createScheduler(spec.name, spec.config);
    s.setTimesteps(spec.steps[0]!);
    const t = s.timesteps[0]!;
    const x = normals(1, 16);
    assert.throws(() => s.step(s.scaleModelInput(x, t), t, x), /NoiseFn/);
  });

  for (const prediction of spec.predictions) {
    test(`${spec.name} ${prediction}: exact oracle lands on x0 and every step re-noises to exactly the next level`, () => {
      const n = 4096;
      const x0 = cleanSample(3, n);
      for (const steps of spec.steps) {
        const s = createScheduler(spec.name, { ...spec.config, prediction_type: prediction });
        s.setTimesteps(steps);
        const { model, eps } = oracle(x0, prediction, spec.level(steps));
        const start = s.addNoise(x0, normals(5, n), s.timesteps[0]!);
        const out = sample(s, start, model, noiseFn(9, n));
        assert.ok(maxAbsDiff(out, x0) < 1e-5, `${steps} steps: max |x - x0| = ${maxAbsDiff(out, x0)}`);
        eps.forEach((e, k) => {
          // 4096 unit normals: rms within ~5 standard errors (1/sqrt(2n) = 1.1%), correlation with x0 ~ 1/sqrt(n).
          const r = rms(e);
          assert.ok(Math.abs(r - 1) < 0.06, `${steps} steps, call ${k}: eps rms ${r}`);
          let dot = 0;
          for (let i = 0; i < n; i++) dot += e[i]! * x0[i]!;
          const corr = dot / (n * rms(x0));
          assert.ok(Math.abs(corr) < 0.08, `${steps} steps, call ${k}: eps correlates with x0 (${corr})`);
        });
      }
    });
  }
}

test('the noise-level check can fail: DDPM fed noise of the wrong scale shows a wrong eps rms', () => {
  const n = 4096;
  const x0 = cleanSample(3, n);
  const s = createScheduler('ddpm', SD15);
  s.setTimesteps(10);
  const { model, eps } = oracle(x0, 'epsilon', levelFromTable);
  const scaled = noiseFn(9, n);
  sample(s, s.addNoise(x0, normals(5, n), s.timesteps[0]!), model, () => scaled().map((v) => 3 * v));
  assert.ok(eps.slice(1).some((e) => Math.abs(rms(e) - 1) > 0.06));
});

test('LCM applies the boundary-condition scalings c_skip, c_out (visible with a small timestep_scaling)', () => {
  // With timestep_scaling 0.001 the scaled time t*0.001 is ~0.26 at t = 259, so c_skip is large.
  const n = 64;
  const x0 = cleanSample(4, n);
  const s = createScheduler('lcm', { ...LCM_CONFIG, timestep_scaling: 0.001 });
  s.setTimesteps(4);
  assert.deepEqual([...s.timesteps], [999, 759, 499, 259]);
  const { model } = oracle(x0, 'epsilon', levelFromTable);
  let x = s.addNoise(x0, normals(5, n), 999);
  const noise = noiseFn(2, n);
  let last = x;
  for (const t of s.timesteps) {
    last = x;
    x = s.step(model(s.scaleModelInput(x, t), t), t, x, noise);
  }
  const st = 259 * 0.001;
  const cSkip = 0.25 / (st * st + 0.25);
  const cOut = st / Math.sqrt(st * st + 0.25);
  const expected = x0.map((v, i) => cOut * v + cSkip * last[i]!);
  assert.ok(maxAbsDiff(x, expected) < 1e-5);
  assert.ok(maxAbsDiff(x, x0) > 0.05, 'and the scalings matter here');
});
