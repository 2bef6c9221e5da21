/** The scheduler registry (index.ts). The peer APIs' names for these live with their dialects (src/api/<dialect>/schedulers.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SCHEDULER_NAMES,
  STOCHASTIC_SCHEDULERS,
  createScheduler,
  isSchedulerName,
  type SchedulerName,
} from '../../../src/engine/schedulers/index.ts';
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
