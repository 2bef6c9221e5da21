/** The scheduler registry (index.ts) and the peer-API name tables (aliases.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SCHEDULER_NAMES,
  STOCHASTIC_SCHEDULERS,
  createScheduler,
  isSchedulerName,
  type SchedulerName,
} from '../../../src/engine/schedulers/index.ts';
import {
  ACCEPTED_SCHEDULER_NAMES,
  LEONARDO_SCHEDULERS,
  STABLECOG_SCHEDULERS,
  resolveSchedulerName,
} from '../../../src/engine/schedulers/aliases.ts';
import { SD15, SD15_SIGMAS, refKarras, timestepOfSigma } from './reference.ts';

test('SCHEDULER_NAMES: the thirteen names, once each; isSchedulerName agrees', () => {
  assert.deepEqual([...SCHEDULER_NAMES], [
    'ddim', 'ddpm', 'pndm', 'euler', 'euler_a', 'lms', 'heun', 'dpmpp_2m', 'dpmpp_2m_karras', 'dpmpp_2m_sde',
    'dpmpp_2m_sde_karras', 'unipc', 'lcm',
  ]);
  for (const n of SCHEDULER_NAMES) assert.ok(isSchedulerName(n));
  for (const n of ['', 'Euler', 'euler-a', 'k_euler', 'dpmpp_3m', 'toString', 'constructor']) assert.ok(!isSchedulerName(n), n);
});

test('createScheduler builds every name from an SD 1.5 config; only Heun has order 2', () => {
  for (const name of SCHEDULER_NAMES) {
    const s = createScheduler(name, SD15);
    s.setTimesteps(name === 'lcm' ? 4 : 10);
    assert.equal(s.order, name === 'heun' ? 2 : 1, name);
    assert.ok(s.timesteps.length >= 4, name);
    assert.ok(s.initNoiseSigma >= 1, name);
  }
});

test('createScheduler: an unknown name throws, naming it and listing the valid names', () => {
  assert.throws(
    () => createScheduler('k_dpm_2' as SchedulerName, SD15),
    (e: Error) => e.message.includes('"k_dpm_2"') && SCHEDULER_NAMES.every((n) => e.message.includes(n)),
  );
});

test('the _karras names force Karras sigmas whatever the config says', () => {
  const karras = refKarras(SD15_SIGMAS[0]!, SD15_SIGMAS[999]!, 15).map((sg) => Math.round(timestepOfSigma(sg)));
  for (const name of ['dpmpp_2m_karras', 'dpmpp_2m_sde_karras'] as const) {
    const s = createScheduler(name, { ...SD15, use_karras_sigmas: false });
    s.setTimesteps(15);
    assert.deepEqual([...s.timesteps], karras, name);
  }
  const plain = createScheduler('dpmpp_2m', SD15);
  plain.setTimesteps(15);
  assert.notDeepEqual([...plain.timesteps], karras);
  // ...and a plain name follows the config, as diffusers' from_config would.
  const fromConfig = createScheduler('dpmpp_2m', { ...SD15, use_karras_sigmas: true });
  fromConfig.setTimesteps(15);
  assert.deepEqual([...fromConfig.timesteps], karras);
});

test('deterministic schedulers never draw noise; stochastic ones do', () => {
  for (const name of SCHEDULER_NAMES) {
    const s = createScheduler(name, SD15);
    s.setTimesteps(name === 'lcm' ? 4 : 6);
    let draws = 0;
    let x: Float32Array = new Float32Array(8).fill(0.5);
    for (const t of s.timesteps) {
      const xIn = s.scaleModelInput(x, t);
      x = s.step(xIn.map((v) => 0.3 * v), t, x, () => {
        draws++;
        return new Float32Array(8).fill(0.1);
      });
    }
    assert.equal(draws > 0, STOCHASTIC_SCHEDULERS.includes(name), `${name}: ${draws} draws`);
  }
});

test('resolveSchedulerName: our names in any case, with blanks trimmed', () => {
  for (const n of SCHEDULER_NAMES) {
    assert.equal(resolveSchedulerName(n), n);
    assert.equal(resolveSchedulerName(n.toUpperCase()), n);
  }
  assert.equal(resolveSchedulerName('  Euler_A '), 'euler_a');
});

test('resolveSchedulerName: Stablecog names and ids', () => {
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
    assert.equal(resolveSchedulerName(id), ours);
    assert.equal(resolveSchedulerName(id.toUpperCase()), ours);
    assert.equal(resolveSchedulerName(name), ours);
    assert.equal(resolveSchedulerName(name.toLowerCase()), ours);
  }
  assert.equal(resolveSchedulerName('PNDM'), 'pndm');
  assert.equal(resolveSchedulerName('HEUN'), 'heun');
});

test('resolveSchedulerName: Leonardo\'s enum (LEONARDO -> DPM++ 2M Karras) and Stability\'s extra samplers', () => {
  const expected: Record<string, SchedulerName> = {
    KLMS: 'lms', EULER_ANCESTRAL_DISCRETE: 'euler_a', EULER_DISCRETE: 'euler', DDIM: 'ddim', DPM_SOLVER: 'dpmpp_2m',
    PNDM: 'pndm', LEONARDO: 'dpmpp_2m_karras',
  };
  assert.deepEqual({ ...LEONARDO_SCHEDULERS }, expected);
  for (const [k, v] of Object.entries(expected)) assert.equal(resolveSchedulerName(k), v);
  assert.equal(resolveSchedulerName('K_DPMPP_2M'), 'dpmpp_2m');
  assert.equal(resolveSchedulerName('K_HEUN'), 'heun');
});

test('resolveSchedulerName: unknown input throws, naming it and listing the accepted names', () => {
  for (const bad of ['P_SAMPLER', 'b7224e56-1440-43b9-ac86-66d66f9e8c91', 'DPM++_2S', 'DEIS', 'K_DPM_2', '', 'euler a']) {
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
