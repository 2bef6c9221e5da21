/**
 * LoRA adapters as the API dialects see them: each installed adapter (engine/lora/library.ts) gets a
 * stable UUID (v5 of its name, as models get one of their id), and a request names adapters by name
 * or UUID, in a field of its own or in the prompt the way A1111 reads it: `<lora:name:0.8>` (weight
 * 1 when left out), taken out of the text before it is encoded. They are resolved and matched to the
 * model before anything is charged: one that is not installed, or does not fit the model, is refused
 * naming it.
 */
import { EngineInputError } from '../engine/errors.ts';
import type { ListedLora, LoraChoice, LoraLibrary } from '../engine/lora/library.ts';
import type { ModelFamily } from '../engine/models/manifest.ts';
import type { ModelInfo } from '../engine/models/model-folder.ts';
import { ValidationError } from './errors.ts';
import { isUuid, uuidV5 } from './uuid.ts';

export type { LoraChoice };

export interface CatalogLora {
  name: string;
  uuid: string;
  /** The base model family it was made for, when the file says (or its text encoders show). */
  family?: ModelFamily;
  bytes: number;
}

export function loraUuid(name: string): string {
  return uuidV5(`lora:${name}`);
}

// <lora:name> or <lora:name:weight>; a name has no ':' or '>'.
const TAG = /<lora:([^:>]+)(?::([^:>]*))?>/gi;

/** The prompt without its `<lora:...>` tags, and the adapters they name (in order, weight 1 by default). */
export function promptLoras(prompt: string, field = 'prompt'): { prompt: string; loras: LoraChoice[] } {
  const loras: LoraChoice[] = [];
  const text = prompt.replace(TAG, (tag, name: string, weight: string | undefined) => {
    const w = weight === undefined || weight.trim() === '' ? 1 : Number(weight);
    if (!Number.isFinite(w)) throw new ValidationError(field, `${tag}: the weight must be a number`);
    loras.push({ name: name.trim(), weight: w });
    return ' ';
  });
  return { prompt: loras.length ? text.replace(/\s{2,}/g, ' ').replace(/\s+([,.])/g, '$1').trim() : prompt, loras };
}

/** What the catalog needs of the engine: the installed adapters, and how a set fits a model. */
export interface LoraSource {
  list(): Promise<ListedLora[]>;
  fit: LoraLibrary['fit'];
}

/** Whom the fit is checked against; absent (an API-only process holds no model files): the worker checks it. */
export interface ModelFiles {
  resolve(id: string): Promise<ModelInfo>;
}

function asValidation(err: unknown): unknown {
  return err instanceof EngineInputError ? new ValidationError(err.field, err.message) : err;
}

export class LoraCatalog {
  constructor(
    private readonly source: LoraSource,
    private readonly models?: ModelFiles,
  ) {}

  async list(): Promise<CatalogLora[]> {
    return (await this.source.list()).flatMap((l) =>
      l.adapter ? [{ name: l.name, uuid: loraUuid(l.name), ...(l.adapter.family ? { family: l.adapter.family } : {}), bytes: l.adapter.bytes }] : [],
    );
  }

  /** An installed adapter's name by name or UUID. */
  async nameOf(ref: string, field = 'loras'): Promise<string> {
    if (!isUuid(ref)) return ref;
    const hit = (await this.list()).find((l) => l.uuid === ref.toLowerCase());
    if (!hit) throw new ValidationError(field, `unknown LoRA ${ref}`);
    return hit.name;
  }

  /**
   * A request's adapters, by name: those of `field` (names or UUIDs) followed by the prompt's tags
   * (taken out of it), each matched to `model`. Refuses an unknown or ill-fitting one naming it.
   */
  async prepare<T extends { prompt: string; loras?: LoraChoice[] }>(model: string, request: T, field = 'loras'): Promise<T> {
    const tagged = promptLoras(request.prompt);
    const named = await Promise.all((request.loras ?? []).map(async (l) => ({ name: await this.nameOf(l.name, field), weight: l.weight })));
    const loras = [...named, ...tagged.loras];
    if (loras.length === 0) return request;
    try {
      if (this.models) await this.source.fit(await this.models.resolve(model), loras, field);
    } catch (err) {
      throw asValidation(err);
    }
    return { ...request, prompt: tagged.prompt, loras };
  }
}
