/**
 * Parity with Hugging Face diffusers' own code: fixtures/diffusers-parity.json holds trajectories produced by
 * diffusers' scheduling_*.py files (see fixtures/make_diffusers_parity.py, which records the diffusers commit).
 * Each case is replayed here with the same config, toy UNet, latents and step noise. Integer timestep tables
 * must be identical; every model input and step output must agree to float32 accuracy. diffusers computes its
 * tables and steps in float32, we in float64, which explains the tolerances:
 *  - fractional (Karras) timesteps differ by up to ~1e-3: diffusers' float32 1 - alpha_bar near t = 0 keeps
 *    only ~4 significant digits, and log-sigma interpolation there is steep;
 *  - schedules whose largest sigma is ~1e4 (cosine, zero terminal SNR) lose ~4 digits in diffusers'
 *    x0 = (x - sigma_t eps) / alpha_t at alpha_t ~ 1e-4, so those cases get a 5e-4 tolerance instead of 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createScheduler, type SchedulerName } from '../../../src/engine/schedulers/index.ts';
import type { SchedulerConfig } from '../../../src/engine/schedulers/types.ts';

interface Case {
  scheduler: SchedulerName;
  diffusersClass: string;
  config: SchedulerConfig;
  overrides: Record<string, unknown>;
  steps: number;
  begin: number | null;
  timesteps: number[];
  initNoiseSigma: number;
  init: number[];
  image: number[] | null;
  noises: (number[] | null)[];
  inputs: number[][];
  outputs: number[][];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/diffusers-parity.json', import.meta.url), 'utf8')) as {
  diffusersCommit: string;
  cases: Case[];
};

/** The toy UNet of the fixture generator: 0.8 tanh(x) + 0.05 cos(0.01 t + i), float64 math, float32 result. */
function toyUnet(x: Float32Array, t: number): Float32Array {
  return x.map((v, i) => 0.8 * Math.tanh(v) + 0.05 * Math.cos(0.01 * t + i));
}

/** Largest |a - b| / max(1, |b|). */
function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

function label(c: Case): string {
  const extra = { ...c.config, ...c.overrides } as Record<string, unknown>;
  const keys = ['prediction_type', 'timestep_spacing', 'use_karras_sigmas', 'beta_schedule', 'rescale_betas_zero_snr',
    'final_sigmas_type', 'interpolation_type', 'skip_prk_steps', 'set_alpha_to_one'];
  const shown = keys.filter((k) => extra[k] !== undefined).map((k) => `${k}=${String(extra[k])}`).join(' ');
  return `${c.scheduler} (${c.diffusersClass}) ${c.steps} steps${c.begin === null ? '' : `, begin ${c.begin}`} ${shown}`;
}

test('the fixture covers every scheduler name', () => {
  const names = new Set(fixture.cases.map((c) => c.scheduler));
  for (const n of ['ddim', 'ddpm', 'pndm', 'euler', 'euler_a', 'lms', 'heun', 'dpmpp_2m', 'dpmpp_2m_karras',
    'dpmpp_2m_sde', 'dpmpp_2m_sde_karras', 'unipc', 'lcm']) {
    assert.ok(names.has(n as SchedulerName), n);
  }
});

for (const c of fixture.cases) {
  test(`matches diffusers ${fixture.diffusersCommit.slice(0, 10)}: ${label(c)}`, () => {
    // Scheduler-selecting overrides (algorithm_type) are implied by our name; the rest are config keys.
    const { algorithm_type: _algorithm, ...configOverrides } = c.overrides;
    const s = createScheduler(c.scheduler, { ...c.config, ...configOverrides } as SchedulerConfig);
    s.setTimesteps(c.steps);
    if (c.timesteps.every(Number.isInteger)) {
      assert.deepEqual([...s.timesteps], c.timesteps, 'timesteps');
    } else {
      assert.equal(s.timesteps.length, c.timesteps.length);
      s.timesteps.forEach((t, i) => assert.ok(Math.abs(t - c.timesteps[i]!) < 2e-3, `timestep ${i}: ${t} vs ${c.timesteps[i]}`));
    }
    const cfg = { ...c.config, ...c.overrides } as Record<string, unknown>;
    const hugeSigma = cfg['beta_schedule'] === 'squaredcos_cap_v2' || cfg['rescale_betas_zero_snr'] === true;
    const tol = hugeSigma ? 5e-4 : 1e-5;
    const sigmaErr = Math.abs(s.initNoiseSigma - c.initNoiseSigma) / c.initNoiseSigma;
    assert.ok(sigmaErr <= (hugeSigma ? 2e-5 : 2e-6), `initNoiseSigma ${s.initNoiseSigma} vs ${c.initNoiseSigma}`);

    const start = c.begin ?? 0;
    let latents: Float32Array;
    if (c.begin === null) {
      latents = Float32Array.from(c.init, (v) => v * Math.fround(s.initNoiseSigma));
    } else {
      s.setBeginIndex(c.begin);
      latents = s.addNoise(Float32Array.from(c.image!), Float32Array.from(c.init), s.timesteps[c.begin]!);
    }
    const ts = s.timesteps.slice(start);
    assert.equal(ts.length, c.outputs.length);
    ts.forEach((t, k) => {
      const xIn = s.scaleModelInput(latents, t);
      const inErr = maxRelErr(xIn, c.inputs[k]!);
      assert.ok(inErr < tol, `step ${k} (t=${t}): model input differs by ${inErr}`);
      let drew = false;
      const noise = c.noises[k];
      latents = s.step(toyUnet(xIn, t), t, latents, () => {
        drew = true;
        return Float32Array.from(noise ?? c.init.map(() => NaN));
      });
      assert.equal(drew, noise !== null, `step ${k}: draws noise exactly when diffusers does`);
      const err = maxRelErr(latents, c.outputs[k]!);
      assert.ok(err < tol, `step ${k} (t=${t}): output differs by ${err}\n ours   ${[...latents].slice(0, 4)}\n theirs ${c.outputs[k]!.slice(0, 4)}`);
    });
  });
}
