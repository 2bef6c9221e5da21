import { ModelFormatError } from '../errors.ts';
import { isSchedulerName, type SchedulerName } from '../schedulers/index.ts';
import type { ModelFamily, ModelManifest } from './manifest.ts';

const FAMILIES: readonly ModelFamily[] = ['sd1', 'sd2', 'sdxl', 'turbo', 'lcm'];

/** Validates darkroom.json, naming every bad key at once. */
export function parseManifest(raw: Record<string, unknown>, path: string): ModelManifest {
  const problems: string[] = [];
  const str = (key: string): string => {
    const v = raw[key];
    if (typeof v !== 'string' || v === '') problems.push(`"${key}" must be a non-empty string`);
    return String(v);
  };
  const num = (obj: Record<string, unknown>, key: string, where: string): number => {
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`"${where}${key}" must be a number`);
    return Number(v);
  };
  const scheduler = (v: unknown, where: string): SchedulerName => {
    if (typeof v !== 'string' || !isSchedulerName(v)) problems.push(`"${where}" names an unknown scheduler: ${JSON.stringify(v)}`);
    return v as SchedulerName;
  };

  const id = str('id');
  const name = str('name');
  const family = raw['family'] as ModelFamily;
  if (!FAMILIES.includes(family)) problems.push(`"family" must be one of ${FAMILIES.join(', ')}`);
  const d = (raw['defaults'] ?? {}) as Record<string, unknown>;
  const defaults = {
    width: num(d, 'width', 'defaults.'),
    height: num(d, 'height', 'defaults.'),
    steps: num(d, 'steps', 'defaults.'),
    guidance: num(d, 'guidance', 'defaults.'),
    scheduler: scheduler(d['scheduler'], 'defaults.scheduler'),
  };
  const list = Array.isArray(raw['schedulers']) ? raw['schedulers'] : [];
  if (list.length === 0) problems.push('"schedulers" must list at least one scheduler');
  const schedulers = list.map((s, i) => scheduler(s, `schedulers[${i}]`));
  const minSize = num(raw, 'minSize', '');
  const maxSize = num(raw, 'maxSize', '');
  if (problems.length) throw new ModelFormatError(`invalid ${path}: ${problems.join('; ')}`, path);
  return {
    id,
    name,
    family,
    description: typeof raw['description'] === 'string' ? raw['description'] : undefined,
    license: typeof raw['license'] === 'string' ? raw['license'] : undefined,
    defaults,
    schedulers,
    minSize,
    maxSize,
    maxSteps: typeof raw['maxSteps'] === 'number' ? raw['maxSteps'] : undefined,
    tiling: raw['tiling'] === true,
  };
}
