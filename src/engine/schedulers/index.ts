/**
 * The scheduler registry: Darkroom's scheduler names and the factory that builds one from a model's
 * `scheduler_config.json`. Each name is one algorithm (one diffusers class and its fixed algorithm keys);
 * the config supplies the model's training noise schedule and prediction type.
 */
import type { Scheduler, SchedulerConfig, SchedulerOptions } from './types.ts';
import { DdimScheduler } from './ddim.ts';
import { DdpmScheduler } from './ddpm.ts';
import { PndmScheduler } from './pndm.ts';
import { EulerScheduler } from './euler.ts';
import { EulerAncestralScheduler } from './euler-ancestral.ts';
import { LmsScheduler } from './lms.ts';
import { HeunScheduler } from './heun.ts';
import { DpmPP2MScheduler } from './dpmpp-2m.ts';
import { DpmPP2MSdeScheduler } from './dpmpp-2m-sde.ts';
import { UniPcScheduler } from './unipc.ts';
import { LcmScheduler } from './lcm.ts';

export type { Scheduler, SchedulerConfig, SchedulerOptions, CustomTimesteps, NoiseFn, PredictionType, BetaSchedule, TimestepSpacing } from './types.ts';

export type SchedulerName =
  | 'ddim'
  | 'ddpm'
  | 'pndm'
  | 'euler'
  | 'euler_a'
  | 'lms'
  | 'heun'
  | 'dpmpp_2m'
  | 'dpmpp_2m_karras'
  | 'dpmpp_2m_sde'
  | 'dpmpp_2m_sde_karras'
  | 'unipc'
  | 'lcm';

export const SCHEDULER_NAMES: readonly SchedulerName[] = Object.freeze([
  'ddim',
  'ddpm',
  'pndm',
  'euler',
  'euler_a',
  'lms',
  'heun',
  'dpmpp_2m',
  'dpmpp_2m_karras',
  'dpmpp_2m_sde',
  'dpmpp_2m_sde_karras',
  'unipc',
  'lcm',
] as const);

/** Schedulers that draw fresh noise while stepping: their `step` needs a NoiseFn. */
export const STOCHASTIC_SCHEDULERS: readonly SchedulerName[] = Object.freeze([
  'ddpm',
  'euler_a',
  'dpmpp_2m_sde',
  'dpmpp_2m_sde_karras',
  'lcm',
] as const);

export function isSchedulerName(s: string): s is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(s);
}

/**
 * Builds a scheduler; the `_karras` names force use_karras_sigmas on whatever the config says. `options.eta` is
 * DDIM's; any other scheduler refuses an eta other than 0 by name.
 */
export function createScheduler(name: SchedulerName, config: SchedulerConfig, options: SchedulerOptions = {}): Scheduler {
  const eta = options.eta ?? 0;
  if (!Number.isFinite(eta) || eta < 0) throw new RangeError(`eta must be a finite number >= 0, got ${eta}`);
  if (eta !== 0 && name !== 'ddim') throw new Error(`eta is DDIMScheduler's option; scheduler "${name}" does not take it`);
  switch (name) {
    case 'ddim':
      return new DdimScheduler(config, { ...options, eta });
    case 'ddpm':
      return new DdpmScheduler(config, options);
    case 'pndm':
      return new PndmScheduler(config);
    case 'euler':
      return new EulerScheduler(config);
    case 'euler_a':
      return new EulerAncestralScheduler(config);
    case 'lms':
      return new LmsScheduler(config);
    case 'heun':
      return new HeunScheduler(config);
    case 'dpmpp_2m':
      return new DpmPP2MScheduler(config, options);
    case 'dpmpp_2m_karras':
      return new DpmPP2MScheduler(config, { ...options, karras: true });
    case 'dpmpp_2m_sde':
      return new DpmPP2MSdeScheduler(config, options);
    case 'dpmpp_2m_sde_karras':
      return new DpmPP2MSdeScheduler(config, { ...options, karras: true });
    case 'unipc':
      return new UniPcScheduler(config, options);
    case 'lcm':
      return new LcmScheduler(config, options);
    default:
      throw new Error(`unknown scheduler "${String(name)}" (valid: ${SCHEDULER_NAMES.join(', ')})`);
  }
}
