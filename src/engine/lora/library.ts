/**
 * The LoRA adapters installed: every `.safetensors` file directly in the LoRA folder, by file name.
 * An adapter's header is read once per file version; fitting a set of adapters to a model reads the
 * model files' graphs once per model version (targets.ts).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineInputError } from '../errors.ts';
import type { ModelInfo } from '../models/model-folder.ts';
import { fitAdapter, LORA_EXTENSION, loraName, readAdapter, type LoraAdapter } from './adapter.ts';
import type { LoraComponent } from './keys.ts';
import type { WeightedAdapter } from './merge.ts';
import { targetsOf } from './targets.ts';

/** A LoRA as a request names it. */
export interface LoraChoice {
  name: string;
  /** How strongly it applies: 1 as trained, 0 not at all, negative the opposite way. */
  weight: number;
}

export interface ListedLora {
  name: string;
  adapter?: LoraAdapter;
  /** A file that failed to read: listed so the user sees why. */
  error?: string;
}

export const MAX_LORAS = 8;
export const MAX_LORA_WEIGHT = 10;

export type FittedSet = Record<LoraComponent, WeightedAdapter[]>;

export const LORA_COMPONENTS: readonly LoraComponent[] = ['unet', 'textEncoder', 'textEncoder2'];

/** The key a set of choices is cached and batched by: the same adapters at the same weights, in order. */
export function loraSetKey(loras: readonly LoraChoice[] | undefined): string {
  return (loras ?? []).map((l) => `${l.name}:${l.weight}`).join(',');
}

export class LoraLibrary {
  private readonly adapters = new Map<string, { mtimeMs: number; adapter: Promise<LoraAdapter> }>();

  constructor(readonly dir: string | undefined) {}

  async list(): Promise<ListedLora[]> {
    let names: string[];
    try {
      names = this.dir ? (await readdir(this.dir)).filter((n) => n.toLowerCase().endsWith(LORA_EXTENSION) && !n.startsWith('.')).sort() : [];
    } catch {
      return []; // no folder yet: nothing installed
    }
    return Promise.all(
      names.map(async (file) => {
        const name = loraName(file);
        try {
          return { name, adapter: await this.get(name) };
        } catch (err) {
          return { name, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  /** An installed adapter by name; EngineInputError on `field` when there is none. */
  async get(name: string, field = 'loras'): Promise<LoraAdapter> {
    const path = this.dir && /^[^/\\]+$/.test(name) && !name.startsWith('.') ? join(this.dir, `${name}${LORA_EXTENSION}`) : undefined;
    const info = path ? await stat(path).catch(() => undefined) : undefined;
    if (!path || !info?.isFile()) {
      const installed = (await this.list()).map((l) => l.name);
      throw new EngineInputError(field, `unknown LoRA "${name}"` + (installed.length ? ` (installed: ${installed.join(', ')})` : ' (none installed)'));
    }
    const hit = this.adapters.get(path);
    if (hit && hit.mtimeMs === info.mtimeMs) return hit.adapter;
    const adapter = readAdapter(path, field);
    this.adapters.set(path, { mtimeMs: info.mtimeMs, adapter });
    adapter.catch(() => this.adapters.delete(path));
    return adapter;
  }

  /**
   * Resolves `loras` and matches each to `model`'s weights, per component. Throws EngineInputError on
   * `field` naming the LoRA (and the key) that is not installed or does not fit.
   */
  async fit(model: ModelInfo, loras: readonly LoraChoice[], field = 'loras'): Promise<FittedSet> {
    if (loras.length > MAX_LORAS) throw new EngineInputError(field, `at most ${MAX_LORAS} LoRAs per request, got ${loras.length}`);
    const set: FittedSet = { unet: [], textEncoder: [], textEncoder2: [] };
    const seen = new Set<string>();
    for (const choice of loras) {
      if (!Number.isFinite(choice.weight) || Math.abs(choice.weight) > MAX_LORA_WEIGHT) {
        throw new EngineInputError(field, `LoRA "${choice.name}": weight must be between -${MAX_LORA_WEIGHT} and ${MAX_LORA_WEIGHT}, got ${choice.weight}`);
      }
      if (seen.has(choice.name)) throw new EngineInputError(field, `LoRA "${choice.name}" is named twice`);
      seen.add(choice.name);
      const adapter = await this.get(choice.name, field);
      for (const component of LORA_COMPONENTS) {
        const path = model.components[component];
        const keys = adapter.modules.filter((m) => m.component === component);
        if (keys.length === 0) continue;
        if (!path) throw new EngineInputError(field, `LoRA "${adapter.name}" does not fit model ${model.manifest.id}: key ${keys[0]!.up} is for a ${component} the model does not have`);
        const fitted = fitAdapter(adapter, component, await targetsOf(path), field);
        set[component].push({ adapter, weight: choice.weight, fitted });
      }
    }
    return set;
  }
}
