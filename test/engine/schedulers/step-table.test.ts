/**
 * The coefficient tables (step-table.ts) replayed on diffusers' scenarios (the fixtures scenarios.test.ts
 * holds the schedulers' own `step` to): stepping with the table in JS must give the scheduler's own result,
 * and diffusers', for every scenario of a scheduler that has a table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { Scheduler } from '../../../src/engine/schedulers/types.ts';
import { scaleByTable, stepByTable } from '../../../src/engine/schedulers/step-table.ts';
import { TorchCpuGenerator } from '../../../src/engine/noise/torch-cpu.ts';
import { fixture, type Case } from './scenario-fixture.ts';

const N = 768;

function deter(flip = false): Float32Array {
  const out = new Float32Array(N);
  for (let b = 0; b < 4; b++) for (let r = 0; r < 192; r++) out[b * 192 + r] = (flip ? N - 1 - (r * 4 + b) : r * 4 + b) / N;
  return out;
}

function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tf = Math.fround(t);
  const d = Math.fround(tf + 1);
  return sample.map((x) => Math.fround(Math.fround(x * tf) / d));
}

function setUp(c: Case): { s: Scheduler; begin: number; sample: Float32Array } {
  const s = createScheduler(c.scheduler, c.config, { ...(c.eta === null ? {} : { eta: c.eta }), valuesPerImage: N / 4 });
  s.setTimesteps(c.timesteps ? { timesteps: c.timesteps } : c.steps!);
  const begin = (c.start ?? 0) * s.order;
  let sample: Float32Array = deter().map((x) => x * Math.fround(s.initNoiseSigma));
  if (c.start !== null) sample = s.addNoise(sample, deter(true), s.timesteps[begin]!);
  return { s, begin, sample };
}

/** scenarios.test.ts' loop (the scaled input carried on as the sample), with the scheduler's own step. */
function ownSteps(c: Case): Float32Array {
  const { s, begin, sample: start } = setUp(c);
  const gen = c.seed === null ? null : new TorchCpuGenerator(c.seed);
  let sample = start;
  for (const t of s.timesteps.slice(begin)) {
    sample = s.scaleModelInput(sample, t);
    sample = s.step(dummyModel(sample, t), t, sample, gen ? () => gen.randn(N) : undefined);
  }
  return sample;
}

/** The same loop through the table; null when the scheduler has none for this configuration. */
function tableSteps(c: Case): Float32Array | null {
  const { s, begin, sample: start } = setUp(c);
  const table = s.stepTable?.(begin) ?? null;
  if (!table) return null;
  assert.deepEqual(table.map((r) => r.timestep), s.timesteps.slice(begin));
  const gen = c.seed === null ? null : new TorchCpuGenerator(c.seed);
  let sample = start;
  let prev: Float32Array | null = null;
  for (const row of table) {
    sample = scaleByTable(row, sample);
    const noise = row.drawsNoise ? gen!.randn(N) : null;
    const { next, prediction } = stepByTable(row, sample, dummyModel(sample, row.timestep), prev, noise);
    [sample, prev] = [next, prediction];
  }
  return sample;
}

function worstRelative(a: Float32Array, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  return worst;
}

const TABLED: readonly SchedulerName[] = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'dpmpp_2m_sde', 'dpmpp_2m_sde_karras', 'lcm'];
const covered: string[] = [];

for (const c of fixture.cases) {
  test(`${c.id}: the ${c.scheduler} table steps as the scheduler does`, () => {
    const viaTable = tableSteps(c);
    const thresholding = c.config['thresholding'] === true;
    if (!TABLED.includes(c.scheduler) || thresholding) {
      assert.equal(viaTable, null, `${c.id} has no table (${thresholding ? 'thresholding' : 'scheduler without one'})`);
      return;
    }
    assert.ok(viaTable, `${c.id} has a table`);
    covered.push(c.id);
    const own = ownSteps(c);
    const vsOwn = worstRelative(viaTable, own);
    assert.ok(vsOwn <= 1e-6, `table vs the scheduler's own step: ${vsOwn}`);
    assert.ok(worstRelative(viaTable, c.final) <= 5e-5, `table vs diffusers: ${worstRelative(viaTable, c.final)}`);
  });
}

test('every tabled scheduler is replayed: Euler (epsilon, v), Euler a, DDIM (eta 0 and > 0), DPM++ 2M (Karras), 2M SDE, LCM', () => {
  for (const id of ['euler', 'euler-v', 'euler-karras', 'euler-with-noise', 'euler-a', 'euler-a-v', 'ddim', 'ddim-v', 'ddim-eta', 'ddim-with-noise',
    'dpm', 'dpm-karras-v', 'dpm-with-noise', 'dpm-heun', 'dpm-sd-defaults', 'dpm-sde', 'dpm-sde-heun-karras', 'lcm-multistep', 'lcm-onestep']) {
    assert.ok(covered.includes(id), id);
  }
});
