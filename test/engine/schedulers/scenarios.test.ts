/**
 * diffusers' own scheduler tests (tests/schedulers/test_scheduler_*.py) ported: their dummy model
 * model(sample, t) = sample * t / (t + 1), their dummy sample arange(768) / 768 laid out as [4, 3, 8, 8], their
 * loop (the scaled model input carried on as the sample), step noise from a torch generator seeded 0
 * (Darkroom's TorchCpuGenerator). Expected values: test/engine/fixtures/schedulers/diffusers-scenarios.json,
 * written by tools/scheduler-reference/make_fixtures.py from diffusers' scheduler code run on torch; where
 * diffusers' tests state result_sum / result_mean, those numbers are checked here too, with the tests' tolerances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/engine/schedulers/index.ts';
import { TorchCpuGenerator } from '../../../src/engine/noise/torch-cpu.ts';
import { betaPpf } from '../../../src/engine/schedulers/beta-distribution.ts';
import { thresholdSample } from '../../../src/engine/schedulers/thresholding.ts';
import { fixture, type Case } from './scenario-fixture.ts';

const N = 768;

/** diffusers' dummy_sample_deter (flip: dummy_noise_deter): arange(768) laid out [3, 8, 8, 4], permuted to [4, 3, 8, 8]. */
function deter(flip = false): Float32Array {
  const out = new Float32Array(N);
  for (let b = 0; b < 4; b++) {
    for (let r = 0; r < 192; r++) {
      const v = r * 4 + b;
      out[b * 192 + r] = (flip ? N - 1 - v : v) / N;
    }
  }
  return out;
}

/** sample * t / (t + 1) in float32, as torch computes it. */
function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tf = Math.fround(t);
  const d = Math.fround(tf + 1);
  return sample.map((x) => Math.fround(Math.fround(x * tf) / d));
}

/** The tests' loop, replayed through Darkroom's scheduler. */
function replay(c: Case): { final: Float32Array; timesteps: readonly number[]; initNoiseSigma: number } {
  // Thresholding works per image of the [4, 3, 8, 8] batch.
  const s = createScheduler(c.scheduler, c.config, { ...(c.eta === null ? {} : { eta: c.eta }), valuesPerImage: N / 4 });
  s.setTimesteps(c.timesteps ? { timesteps: c.timesteps } : c.steps!);
  const gen = c.seed === null ? null : new TorchCpuGenerator(c.seed);
  const init = Math.fround(s.initNoiseSigma);
  let sample: Float32Array = deter().map((x) => x * init);
  let ts = s.timesteps;
  if (c.start !== null) {
    ts = ts.slice(c.start * s.order);
    sample = s.addNoise(sample, deter(true), ts[0]!);
  }
  for (const t of ts) {
    sample = s.scaleModelInput(sample, t);
    sample = s.step(dummyModel(sample, t), t, sample, gen ? () => gen.randn(N) : undefined);
  }
  return { final: sample, timesteps: s.timesteps, initNoiseSigma: s.initNoiseSigma };
}

function absSumMean(a: Float32Array): { sum: number; mean: number } {
  let sum = 0;
  for (const v of a) sum += Math.abs(v);
  return { sum, mean: sum / a.length };
}

for (const c of fixture.cases) {
  test(`${c.id}: ${c.scheduler} follows diffusers ${fixture.diffusersCommit.slice(0, 10)} ${c.diffusersClass}`, () => {
    const { final, timesteps, initNoiseSigma } = replay(c);
    assert.equal(timesteps.length, c.scheduleTimesteps.length, 'number of timesteps');
    timesteps.forEach((t, i) => assert.ok(Math.abs(t - c.scheduleTimesteps[i]!) <= 1e-4 * Math.max(1, Math.abs(t)),
      `timestep ${i}: ${t} vs ${c.scheduleTimesteps[i]}`));
    assert.ok(Math.abs(initNoiseSigma - c.initNoiseSigma) <= 1e-6 * c.initNoiseSigma,
      `initNoiseSigma ${initNoiseSigma} vs ${c.initNoiseSigma}`);
    const scale = Math.max(1, ...c.final.map(Math.abs));
    let worst = 0;
    let at = 0;
    for (let i = 0; i < N; i++) {
      const e = Math.abs(final[i]! - c.final[i]!) / scale;
      if (e > worst) [worst, at] = [e, i];
    }
    assert.ok(worst <= 5e-5, `value ${at}: ${final[at]} vs ${c.final[at]} (relative to the largest, ${worst})`);
    const { sum, mean } = absSumMean(final);
    assert.ok(Math.abs(sum - c.sum) <= 1e-4 * Math.max(1, c.sum), `sum ${sum} vs ${c.sum}`);
    if (c.diffusersTests) {
      if (c.diffusersTests.sum !== null) assert.ok(Math.abs(sum - c.diffusersTests.sum) < 1e-2, `diffusers' test sum ${c.diffusersTests.sum}, ours ${sum}`);
      assert.ok(Math.abs(mean - c.diffusersTests.mean) < 1e-3, `diffusers' test mean ${c.diffusersTests.mean}, ours ${mean}`);
    }
  });
}

test(`use_beta_sigmas' quantiles: betaPpf agrees with scipy ${fixture.betaPpf.scipy}'s beta.ppf`, () => {
  const { a, b, q, x } = fixture.betaPpf;
  q.forEach((qi, i) => {
    const ours = betaPpf(qi, a, b);
    assert.ok(Math.abs(ours - x[i]!) <= 1e-12 * x[i]!, `ppf(${qi}): ${ours} vs scipy ${x[i]}`);
  });
});

test('thresholding: per image, s the ratio quantile of |x0| held to [1, sample_max_value], as diffusers\' _threshold_sample', () => {
  const { shape, ratio, sampleMaxValue, input, output } = fixture.threshold;
  const x0 = Float64Array.from(input);
  thresholdSample(x0, { ratio, maxValue: sampleMaxValue, valuesPerImage: shape.slice(1).reduce((a, b) => a * b) }, 'test');
  x0.forEach((v, i) => assert.ok(Math.abs(v - output[i]!) <= 1e-6, `value ${i}: ${v} vs ${output[i]}`));
  assert.throws(() => thresholdSample(x0, { ratio, maxValue: sampleMaxValue, valuesPerImage: undefined }, 'DDIMScheduler'), /valuesPerImage/);
});
