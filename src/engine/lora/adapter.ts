/**
 * One LoRA file: its tensors grouped by module (keys.ts), the base model family it says it was made
 * for, and how it fits a model: every module must name a weight the model has, with the shape its
 * factors make (up [out, r(, 1, 1)] · down [r, in(, kh, kw)]), or the adapter is refused by name.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { EngineInputError } from '../errors.ts';
import type { ModelFamily } from '../models/manifest.ts';
import { parseLoraKeys, LoraKeyError, type LoraComponent, type LoraModule } from './keys.ts';
import { readHeader, SafetensorsError, type SafetensorsHeader } from './safetensors.ts';
import type { Target, TargetIndex } from './targets.ts';

export interface LoraAdapter {
  /** The file name without `.safetensors`: what prompts and requests name it by. */
  name: string;
  path: string;
  bytes: number;
  mtimeMs: number;
  header: SafetensorsHeader;
  modules: LoraModule[];
  /** The family it was trained for: from kohya's or modelspec's metadata, else from its text encoders. */
  family?: ModelFamily;
}

/** A module of an adapter matched to the weight it changes. */
export interface FittedModule {
  module: LoraModule;
  target: Target;
  rank: number;
}

export const LORA_EXTENSION = '.safetensors';

export function loraName(path: string): string {
  return basename(path).replace(/\.safetensors$/i, '');
}

function familyOf(header: SafetensorsHeader, modules: LoraModule[]): ModelFamily | undefined {
  const said = `${header.metadata['ss_base_model_version'] ?? ''} ${header.metadata['modelspec.architecture'] ?? ''}`.toLowerCase();
  if (said.includes('xl')) return 'sdxl';
  if (/v2|sd_2|sd-2|stable-diffusion-v2/.test(said)) return 'sd2';
  if (/v1|sd_1|sd-1|stable-diffusion-v1/.test(said)) return 'sd1';
  return modules.some((m) => m.component === 'textEncoder2') ? 'sdxl' : undefined;
}

/** Reads an adapter's header; a file that is not a LoRA is an EngineInputError on `field` naming it. */
export async function readAdapter(path: string, field = 'loras'): Promise<LoraAdapter> {
  const name = loraName(path);
  try {
    const [header, info] = await Promise.all([readHeader(path), stat(path)]);
    const modules = parseLoraKeys(header.tensors.keys());
    if (modules.length === 0) throw new EngineInputError(field, `LoRA "${name}" holds no LoRA weights`);
    const family = familyOf(header, modules);
    return { name, path, bytes: info.size, mtimeMs: info.mtimeMs, header, modules, ...(family ? { family } : {}) };
  } catch (err) {
    if (err instanceof LoraKeyError) throw new EngineInputError(field, `LoRA "${name}": key ${err.message}`);
    if (err instanceof SafetensorsError) throw new EngineInputError(field, `LoRA "${name}" is not a readable .safetensors file (${err.message})`);
    throw err;
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Matches an adapter's modules of `component` to a model file's targets. Throws EngineInputError on
 * `field` naming the LoRA and the key when a module has no target or its shape does not fit.
 */
export function fitAdapter(adapter: LoraAdapter, component: LoraComponent, targets: TargetIndex, field = 'loras'): FittedModule[] {
  const underscored = new Map<string, string>();
  for (const module of targets.keys()) underscored.set(module.replace(/\./g, '_'), module);
  const fitted: FittedModule[] = [];
  for (const m of adapter.modules) {
    if (m.component !== component) continue;
    const key = m.up!;
    const target = targets.get(m.underscored ? (underscored.get(m.module) ?? '') : m.module);
    if (!target) throw new EngineInputError(field, `LoRA "${adapter.name}" does not fit this model: key ${key} names no weight of its ${component}`);
    const down = adapter.header.tensors.get(m.down!)!.shape;
    const up = adapter.header.tensors.get(m.up!)!.shape;
    const rank = down[0] ?? 0;
    const out = target.shape[0]!;
    const rest = size(target.shape.slice(1));
    const upFits = up[0] === out && up[1] === rank && size(up) === out * rank;
    const downFits = size(down) === rank * rest && (down.length === 2 || target.shape.length === 4) && (down.length !== 4 || (down[2] === target.shape[2] && down[3] === target.shape[3]));
    if (!rank || !upFits || !downFits) {
      throw new EngineInputError(
        field,
        `LoRA "${adapter.name}" does not fit this model: key ${key} is [${up}]·[${down}], the weight it changes (${target.initializer}) is [${target.shape}]`,
      );
    }
    fitted.push({ module: m, target, rank });
  }
  return fitted;
}
