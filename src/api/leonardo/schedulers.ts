/**
 * Leonardo's `scheduler` enum over the engine's scheduler names (reference/peer-apis.md §2.2): what a
 * request may name, what a generation reads back as.
 */
import { UnknownSchedulerError } from '../../core/errors.ts';
import type { ModelManifest } from '../../engine/models/manifest.ts';
import type { SchedulerName } from '../../engine/schedulers/index.ts';

export const LEONARDO_SCHEDULERS: Readonly<Record<string, SchedulerName>> = Object.freeze({
  KLMS: 'lms',
  EULER_ANCESTRAL_DISCRETE: 'euler_a',
  EULER_DISCRETE: 'euler',
  DDIM: 'ddim',
  DPM_SOLVER: 'dpmpp_2m',
  PNDM: 'pndm',
  // "LEONARDO" is Leonardo's own undocumented default sampler. We map it to DPM++ 2M Karras: deterministic,
  // good at the 20-30 steps Leonardo requests use, and the de-facto default of the SD tooling Leonardo's
  // outputs are compared with; no other scheduler we have is a closer or better-founded stand-in.
  LEONARDO: 'dpmpp_2m_karras',
});

export const LEONARDO_SCHEDULER_NAMES = Object.keys(LEONARDO_SCHEDULERS) as [string, ...string[]];

/** The request's default when it names none (Leonardo's documented default). */
const DEFAULT_SCHEDULER = 'EULER_DISCRETE';

/** The engine's scheduler name → Leonardo's enum value, when Leonardo has one. */
export function leonardoScheduler(name: string): string | undefined {
  return Object.entries(LEONARDO_SCHEDULERS).find(([, v]) => v === name)?.[0];
}

/**
 * The scheduler a request gets on this model: the one it names, which the model must offer; when it
 * names none, Euler, or the model's own default when the model does not offer Euler.
 */
export function schedulerOfRequest(manifest: ModelManifest, value: string | null | undefined): SchedulerName {
  if (!value) {
    const euler = LEONARDO_SCHEDULERS[DEFAULT_SCHEDULER]!;
    return manifest.schedulers.includes(euler) ? euler : manifest.defaults.scheduler;
  }
  const name = Object.hasOwn(LEONARDO_SCHEDULERS, value) ? LEONARDO_SCHEDULERS[value] : undefined;
  if (name === undefined || !manifest.schedulers.includes(name)) {
    const offered = LEONARDO_SCHEDULER_NAMES.filter((k) => manifest.schedulers.includes(LEONARDO_SCHEDULERS[k]!));
    throw new UnknownSchedulerError(value, offered, 'scheduler');
  }
  return name;
}
