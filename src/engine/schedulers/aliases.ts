/**
 * Scheduler names as the peer APIs spell them, resolved to Darkroom's own (reference/peer-apis.md):
 *  - our names (`euler_a`, `dpmpp_2m_karras`, ...);
 *  - Stablecog's scheduler names and ids (SCWEB `schedulers.ts`), plus PNDM and HEUN, which its worker also knows;
 *  - Leonardo's `scheduler` enum;
 *  - Stability v1's `sampler` values that name a scheduler we have (K_DPMPP_2M, K_HEUN; the rest coincide
 *    with Stablecog's names).
 * Matching ignores case and surrounding blanks. Kandinsky's P_SAMPLER and the DPM++ 2S / DPM2 / DEIS samplers
 * are not implemented and are refused like any unknown name.
 */
import { SCHEDULER_NAMES, isSchedulerName, type SchedulerName } from './index.ts';

export interface StablecogScheduler {
  /** Stablecog's scheduler_id. */
  id: string;
  /** Stablecog's name (what its API returns and its worker uses). */
  name: string;
  scheduler: SchedulerName;
}

/** Stablecog's schedulers with an id that Darkroom runs, for listing them with their Stablecog ids. */
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

/** Leonardo's `scheduler` enum. */
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

/** Stability v1 `sampler` values not already covered by Stablecog's names. */
const STABILITY_SAMPLERS: Readonly<Record<string, SchedulerName>> = { K_DPMPP_2M: 'dpmpp_2m', K_HEUN: 'heun' };

const BY_KEY: ReadonlyMap<string, SchedulerName> = (() => {
  const m = new Map<string, SchedulerName>();
  const add = (key: string, s: SchedulerName): void => {
    const k = key.toLowerCase();
    const had = m.get(k);
    if (had !== undefined && had !== s) throw new Error(`scheduler alias "${key}" maps to both ${had} and ${s}`);
    m.set(k, s);
  };
  for (const n of SCHEDULER_NAMES) add(n, n);
  for (const s of STABLECOG_SCHEDULERS) {
    add(s.name, s.scheduler);
    add(s.id, s.scheduler);
  }
  for (const [k, v] of Object.entries(STABLECOG_WORKER_NAMES)) add(k, v);
  for (const [k, v] of Object.entries(LEONARDO_SCHEDULERS)) add(k, v);
  for (const [k, v] of Object.entries(STABILITY_SAMPLERS)) add(k, v);
  return m;
})();

/** Every accepted name except the Stablecog ids, for error messages and help. */
export const ACCEPTED_SCHEDULER_NAMES: readonly string[] = Object.freeze([
  ...new Set([
    ...SCHEDULER_NAMES,
    ...STABLECOG_SCHEDULERS.map((s) => s.name),
    ...Object.keys(STABLECOG_WORKER_NAMES),
    ...Object.keys(LEONARDO_SCHEDULERS),
    ...Object.keys(STABILITY_SAMPLERS),
  ]),
]);

export function resolveSchedulerName(input: string): SchedulerName {
  const key = String(input).trim().toLowerCase();
  if (isSchedulerName(key)) return key;
  const hit = BY_KEY.get(key);
  if (hit === undefined) {
    throw new Error(
      `unknown scheduler "${input}": accepted names are ${ACCEPTED_SCHEDULER_NAMES.join(', ')} ` +
        `(any case), or a Stablecog scheduler id`,
    );
  }
  return hit;
}
