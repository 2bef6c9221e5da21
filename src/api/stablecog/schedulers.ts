/**
 * Stablecog's scheduler vocabulary over the engine's scheduler names (reference/peer-apis.md): the ids
 * and names its API lists (SCWEB `schedulers.ts`), plus PNDM and HEUN, which its worker also knows. A
 * scheduler Stablecog has no id for is listed with a v5 UUID of "scheduler:<name>" and our name
 * upper-cased, so every scheduler a model offers has an id to send back.
 *
 * `scheduler_id` takes any listed id, or a scheduler name as the peer APIs spell them (ours, Stablecog's,
 * Leonardo's enum, Stability v1's samplers), in any case: clients ported from those APIs send their own
 * names. Kandinsky's P_SAMPLER and the DPM++ 2S / DPM2 / DEIS samplers are not implemented and are
 * refused like any unknown name.
 */
import { UnknownSchedulerError } from '../../core/errors.ts';
import { uuidV5 } from '../../core/uuid.ts';
import type { ModelManifest } from '../../engine/models/manifest.ts';
import { SCHEDULER_NAMES, type SchedulerName } from '../../engine/schedulers/index.ts';
import { LEONARDO_SCHEDULERS } from '../leonardo/schedulers.ts';

export interface StablecogScheduler {
  /** Stablecog's scheduler_id. */
  id: string;
  /** Stablecog's name (what its API returns and its worker uses). */
  name: string;
  scheduler: SchedulerName;
}

/** Stablecog's schedulers with an id that Darkroom runs. */
export const STABLECOG_SCHEDULERS: readonly StablecogScheduler[] = Object.freeze([
  { id: '6fb13b76-9900-4fa4-abf8-8f843e034a7f', name: 'K_EULER', scheduler: 'euler' },
  { id: 'af2679a4-dbbb-4950-8c06-c3bb15416ef6', name: 'K_EULER_ANCESTRAL', scheduler: 'euler_a' },
  { id: '9d175114-9a26-4371-861c-729ba9ecb4da', name: 'DPM++_2M', scheduler: 'dpmpp_2m' },
  { id: '55027f8b-f046-4e71-bc51-53d5448661e0', name: 'K_LMS', scheduler: 'lms' },
  { id: '82cf78dd-6afb-48cc-aca6-14224cca6950', name: 'DDIM', scheduler: 'ddim' },
  { id: 'cc1b8dbf-0aec-4e52-8110-8082506fb7ba', name: 'DDPM', scheduler: 'ddpm' },
  { id: '01e94c28-501d-4c6d-8f00-079f3230bf58', name: 'UNI_PC', scheduler: 'unipc' },
] as const satisfies readonly StablecogScheduler[]);

/** Names the Stablecog worker knows without a public id. */
const STABLECOG_WORKER_NAMES: Readonly<Record<string, SchedulerName>> = { PNDM: 'pndm', HEUN: 'heun' };

/** Stability v1 `sampler` values not already covered by Stablecog's names. */
const STABILITY_SAMPLERS: Readonly<Record<string, SchedulerName>> = { K_DPMPP_2M: 'dpmpp_2m', K_HEUN: 'heun' };

/** A scheduler as Stablecog lists it (available_schedulers): its id and name. */
export function stablecogScheduler(name: SchedulerName): { id: string; name: string } {
  const sc = STABLECOG_SCHEDULERS.find((s) => s.scheduler === name);
  return sc ? { id: sc.id, name: sc.name } : { id: uuidV5(`scheduler:${name}`), name: name.toUpperCase() };
}

const BY_KEY: ReadonlyMap<string, SchedulerName> = (() => {
  const m = new Map<string, SchedulerName>();
  const add = (key: string, s: SchedulerName): void => {
    const k = key.toLowerCase();
    const had = m.get(k);
    if (had !== undefined && had !== s) throw new Error(`scheduler alias "${key}" maps to both ${had} and ${s}`);
    m.set(k, s);
  };
  for (const n of SCHEDULER_NAMES) {
    add(n, n);
    add(stablecogScheduler(n).id, n);
  }
  for (const s of STABLECOG_SCHEDULERS) add(s.name, s.scheduler);
  for (const [k, v] of Object.entries(STABLECOG_WORKER_NAMES)) add(k, v);
  for (const [k, v] of Object.entries(LEONARDO_SCHEDULERS)) add(k, v);
  for (const [k, v] of Object.entries(STABILITY_SAMPLERS)) add(k, v);
  return m;
})();

/** Every accepted name (the ids aside), for error messages and help. */
export const ACCEPTED_SCHEDULER_NAMES: readonly string[] = Object.freeze([
  ...new Set([
    ...SCHEDULER_NAMES,
    ...STABLECOG_SCHEDULERS.map((s) => s.name),
    ...Object.keys(STABLECOG_WORKER_NAMES),
    ...Object.keys(LEONARDO_SCHEDULERS),
    ...Object.keys(STABILITY_SAMPLERS),
  ]),
]);

/** The engine's scheduler for a listed id or an accepted name, in any case; undefined for anything else. */
export function schedulerNamed(ref: string): SchedulerName | undefined {
  return BY_KEY.get(String(ref).trim().toLowerCase());
}

/** schedulerNamed, throwing for anything else with the accepted names listed (for a command line). */
export function resolveSchedulerName(input: string): SchedulerName {
  const hit = schedulerNamed(input);
  if (hit === undefined) {
    throw new Error(
      `unknown scheduler "${input}": accepted names are ${ACCEPTED_SCHEDULER_NAMES.join(', ')} ` +
        `(any case), or a Stablecog scheduler id`,
    );
  }
  return hit;
}

/** The scheduler a request's `scheduler_id` names, which the model must offer; the model's default when empty. */
export function schedulerOfRequest(manifest: ModelManifest, ref: string | undefined, field = 'scheduler_id'): SchedulerName {
  if (ref === undefined || ref === '') return manifest.defaults.scheduler;
  const name = schedulerNamed(ref);
  if (name === undefined || !manifest.schedulers.includes(name)) {
    throw new UnknownSchedulerError(ref, manifest.schedulers.map((s) => stablecogScheduler(s).name), field);
  }
  return name;
}
