/** Each dialect's scheduler vocabulary over the engine's names (src/api/stablecog/schedulers.ts, src/api/leonardo/schedulers.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCHEDULER_NAMES, type SchedulerName } from '../../src/engine/schedulers/index.ts';
import { UnknownSchedulerError } from '../../src/core/errors.ts';
import { uuidV5 } from '../../src/core/uuid.ts';
import {
  ACCEPTED_SCHEDULER_NAMES,
  STABLECOG_SCHEDULERS,
  resolveSchedulerName,
  schedulerNamed,
  schedulerOfRequest as stablecogSchedulerOf,
  stablecogScheduler,
} from '../../src/api/stablecog/schedulers.ts';
import { LEONARDO_SCHEDULERS, leonardoScheduler, schedulerOfRequest as leonardoSchedulerOf } from '../../src/api/leonardo/schedulers.ts';
import { fakeManifest } from '../helpers/core.ts';

test('Stablecog: our names in any case, with blanks trimmed', () => {
  for (const n of SCHEDULER_NAMES) {
    assert.equal(resolveSchedulerName(n), n);
    assert.equal(resolveSchedulerName(n.toUpperCase()), n);
  }
  assert.equal(resolveSchedulerName('  Euler_A '), 'euler_a');
});

test('Stablecog: its names and ids; the schedulers it has no id for are listed with minted ids that resolve back', () => {
  const expected: [string, string, SchedulerName][] = [
    ['6fb13b76-9900-4fa4-abf8-8f843e034a7f', 'K_EULER', 'euler'],
    ['af2679a4-dbbb-4950-8c06-c3bb15416ef6', 'K_EULER_ANCESTRAL', 'euler_a'],
    ['9d175114-9a26-4371-861c-729ba9ecb4da', 'DPM++_2M', 'dpmpp_2m'],
    ['55027f8b-f046-4e71-bc51-53d5448661e0', 'K_LMS', 'lms'],
    ['82cf78dd-6afb-48cc-aca6-14224cca6950', 'DDIM', 'ddim'],
    ['cc1b8dbf-0aec-4e52-8110-8082506fb7ba', 'DDPM', 'ddpm'],
    ['01e94c28-501d-4c6d-8f00-079f3230bf58', 'UNI_PC', 'unipc'],
  ];
  assert.deepEqual(STABLECOG_SCHEDULERS.map((s) => [s.id, s.name, s.scheduler]), expected);
  for (const [id, name, ours] of expected) {
    assert.deepEqual(stablecogScheduler(ours), { id, name });
    assert.equal(resolveSchedulerName(id), ours);
    assert.equal(resolveSchedulerName(id.toUpperCase()), ours);
    assert.equal(resolveSchedulerName(name), ours);
    assert.equal(resolveSchedulerName(name.toLowerCase()), ours);
  }
  assert.equal(resolveSchedulerName('PNDM'), 'pndm');
  assert.equal(resolveSchedulerName('HEUN'), 'heun');
  assert.deepEqual(stablecogScheduler('pndm'), { id: uuidV5('scheduler:pndm'), name: 'PNDM' });
  assert.deepEqual(stablecogScheduler('dpmpp_2m_karras'), { id: uuidV5('scheduler:dpmpp_2m_karras'), name: 'DPMPP_2M_KARRAS' });
  for (const n of SCHEDULER_NAMES) assert.equal(schedulerNamed(stablecogScheduler(n).id), n, n);
});

test("Stablecog's scheduler_id also takes Leonardo's enum and Stability v1's extra samplers", () => {
  for (const [k, v] of Object.entries(LEONARDO_SCHEDULERS)) assert.equal(resolveSchedulerName(k), v);
  assert.equal(resolveSchedulerName('K_DPMPP_2M'), 'dpmpp_2m');
  assert.equal(resolveSchedulerName('K_HEUN'), 'heun');
});

test('Stablecog: unknown input is refused, naming it and listing the accepted names', () => {
  for (const bad of ['P_SAMPLER', 'b7224e56-1440-43b9-ac86-66d66f9e8c91', 'DPM++_2S', 'DEIS', 'K_DPM_2', '', 'euler a', 'toString']) {
    assert.equal(schedulerNamed(bad), undefined, bad);
    assert.throws(
      () => resolveSchedulerName(bad),
      (e: Error) =>
        e.message.includes(`"${bad}"`) && ['euler_a', 'K_EULER', 'EULER_DISCRETE', 'LEONARDO'].every((n) => e.message.includes(n)),
      bad,
    );
  }
  assert.ok(ACCEPTED_SCHEDULER_NAMES.includes('DPM++_2M') && ACCEPTED_SCHEDULER_NAMES.includes('dpmpp_2m_sde_karras'));
  assert.equal(new Set(ACCEPTED_SCHEDULER_NAMES).size, ACCEPTED_SCHEDULER_NAMES.length);
});

test("Stablecog: a request's scheduler_id names one the model offers, by id or any name; empty: the model's default", () => {
  const m = fakeManifest(); // euler (default), euler_a, ddim, pndm
  assert.equal(stablecogSchedulerOf(m, 'af2679a4-dbbb-4950-8c06-c3bb15416ef6'), 'euler_a');
  assert.equal(stablecogSchedulerOf(m, 'K_EULER_ANCESTRAL'), 'euler_a');
  assert.equal(stablecogSchedulerOf(m, stablecogScheduler('pndm').id), 'pndm');
  assert.equal(stablecogSchedulerOf(m, undefined), 'euler');
  assert.equal(stablecogSchedulerOf(m, ''), 'euler');
  for (const ref of ['K_LMS', 'nonsense']) {
    assert.throws(
      () => stablecogSchedulerOf(m, ref), // K_LMS: not offered by this model
      (e: Error) =>
        e instanceof UnknownSchedulerError &&
        e.field === 'scheduler_id' &&
        e.message === `scheduler "${ref}" is not available for this model (available: K_EULER, K_EULER_ANCESTRAL, DDIM, PNDM)`,
      ref,
    );
  }
});

test("Leonardo: its enum (LEONARDO -> DPM++ 2M Karras), read back from the engine's names", () => {
  const expected: Record<string, SchedulerName> = {
    KLMS: 'lms', EULER_ANCESTRAL_DISCRETE: 'euler_a', EULER_DISCRETE: 'euler', DDIM: 'ddim', DPM_SOLVER: 'dpmpp_2m',
    PNDM: 'pndm', LEONARDO: 'dpmpp_2m_karras',
  };
  assert.deepEqual({ ...LEONARDO_SCHEDULERS }, expected);
  for (const [k, v] of Object.entries(expected)) assert.equal(leonardoScheduler(v), k);
  assert.equal(leonardoScheduler('unipc'), undefined);
});

test("Leonardo: a request's scheduler must be offered by the model; absent: Euler, or the model's default without it", () => {
  const m = fakeManifest(); // euler (default), euler_a, ddim, pndm
  assert.equal(leonardoSchedulerOf(m, 'EULER_ANCESTRAL_DISCRETE'), 'euler_a');
  assert.equal(leonardoSchedulerOf(m, null), 'euler');
  assert.equal(leonardoSchedulerOf(fakeManifest({ schedulers: ['ddim', 'pndm'], defaults: { ...m.defaults, scheduler: 'ddim' } }), undefined), 'ddim');
  assert.throws(
    () => leonardoSchedulerOf(m, 'KLMS'),
    (e: Error) =>
      e instanceof UnknownSchedulerError &&
      e.field === 'scheduler' &&
      e.message === 'scheduler "KLMS" is not available for this model (available: EULER_ANCESTRAL_DISCRETE, EULER_DISCRETE, DDIM, PNDM)',
  );
  assert.throws(() => leonardoSchedulerOf(m, 'toString'), UnknownSchedulerError);
});
