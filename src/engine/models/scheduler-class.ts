/**
 * The scheduler a diffusers `scheduler_config.json` names by its `_class_name`, as one of Darkroom's
 * scheduler names: what a plain export runs with when nothing else says. The config's own keys
 * (spacing, Karras sigmas, prediction type) still configure the scheduler itself (schedulers/config.ts).
 */
import { createScheduler, type SchedulerName } from '../schedulers/index.ts';
import type { SchedulerConfig } from '../schedulers/types.ts';

export type SchedulerChoice = { scheduler: SchedulerName } | { scheduler?: undefined; note: string };

const BY_CLASS: Record<string, SchedulerName> = {
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  LCMScheduler: 'lcm',
  DDIMScheduler: 'ddim',
  PNDMScheduler: 'pndm',
  LMSDiscreteScheduler: 'lms',
  HeunDiscreteScheduler: 'heun',
  UniPCMultistepScheduler: 'unipc',
  DDPMScheduler: 'ddpm',
};

/** DPM-Solver++ is two of Darkroom's schedulers (2M and 2M SDE), each with or without Karras sigmas. */
function dpmSolver(config: SchedulerConfig): SchedulerName | string {
  const algorithm = config['algorithm_type'] ?? 'dpmsolver++';
  const order = config['solver_order'] ?? 2;
  if (order !== 2) return `solver_order ${String(order)}`;
  const karras = config['use_karras_sigmas'] === true ? '_karras' : '';
  if (algorithm === 'dpmsolver++') return `dpmpp_2m${karras}`;
  if (algorithm === 'sde-dpmsolver++') return `dpmpp_2m_sde${karras}`;
  return `algorithm_type "${String(algorithm)}"`;
}

export function schedulerForConfig(config: SchedulerConfig): SchedulerChoice {
  const cls = String(config['_class_name'] ?? '');
  let name: string | undefined = BY_CLASS[cls];
  if (cls === 'DPMSolverMultistepScheduler') {
    const picked = dpmSolver(config);
    if (!picked.startsWith('dpmpp_')) return { note: `scheduler_config.json names ${cls} with ${picked}, which Darkroom does not have` };
    name = picked;
  }
  if (!name) return { note: `scheduler_config.json names ${cls || 'no _class_name'}, a scheduler Darkroom does not have` };
  try {
    // Options Darkroom refuses (thresholding, say) surface here, at load, rather than on the first request.
    createScheduler(name as SchedulerName, config);
  } catch (err) {
    return { note: `scheduler_config.json's ${cls} does not configure Darkroom's ${name}: ${(err as Error).message}` };
  }
  return { scheduler: name as SchedulerName };
}
