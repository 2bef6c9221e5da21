/**
 * The models Darkroom offers, as the API dialects see them: each engine model (a folder with a
 * manifest) gets a stable UUID (v5 of its manifest id); its schedulers and defaults are its manifest's,
 * in the engine's names (each dialect spells schedulers its own way: api/<dialect>/schedulers.ts).
 * Either the UUID or the plain manifest id names a model in requests.
 */
import type { ListedModel } from '../engine/models/registry.ts';
import type { ModelManifest } from '../engine/models/manifest.ts';
import { MAX_GUIDANCE, MAX_OUTPUTS, MAX_STEPS } from '../engine/pipelines/check-request.ts';
import type { SchedulerName } from '../engine/schedulers/index.ts';
import { UnknownModelError } from './errors.ts';
import { isUuid, uuidV5 } from './uuid.ts';

export interface CatalogModel {
  /** The manifest id (what the engine and the database use). */
  id: string;
  uuid: string;
  name: string;
  description?: string;
  family: ModelManifest['family'];
  /** Its schedulers (`schedulers`) and defaults, in the engine's names. */
  manifest: ModelManifest;
  /** Whether the model has a VAE encoder (image-to-image). */
  imageToImage: boolean;
  /** Its ControlNets (controlnet/<name>/ in its folder), by name. */
  controlNets: string[];
  isDefault: boolean;
}

export interface Range {
  min: number;
  max: number;
}

/** What a model takes, by the engine's own rules (engine/pipelines/check-request.ts) over its manifest. */
export interface ModelLimits {
  width: Range & { multiple: number };
  height: Range & { multiple: number };
  steps: Range;
  guidance: Range;
  outputs: Range;
  schedulers: SchedulerName[];
}

/** The engine refuses a side that is not a multiple of this (the VAE's 8x down-sampling). */
export const SIZE_MULTIPLE = 8;

export function modelLimits(model: CatalogModel): ModelLimits {
  const m = model.manifest;
  const side = { min: m.minSize, max: m.maxSize, multiple: SIZE_MULTIPLE };
  return {
    width: side,
    height: { ...side },
    steps: { min: 1, max: m.maxSteps ?? MAX_STEPS },
    guidance: { min: 0, max: MAX_GUIDANCE },
    outputs: { min: 1, max: MAX_OUTPUTS },
    schedulers: [...m.schedulers],
  };
}

/** A dialect's documented range narrowed by a model's (min above max: the dialect cannot reach this model). */
export function narrow<R extends Range>(dialect: Range, model: R): R {
  return { ...model, min: Math.max(dialect.min, model.min), max: Math.min(dialect.max, model.max) };
}

export function modelUuid(manifestId: string): string {
  return uuidV5(`model:${manifestId}`);
}

/** What the catalog needs from the engine's registry. */
export interface ModelSource {
  list(): Promise<ListedModel[]>;
}

export class ModelCatalog {
  private cache?: { at: number; models: Promise<CatalogModel[]> };

  constructor(
    private readonly source: ModelSource,
    private readonly defaultModel: string,
    /** How long a listing is reused before the model folders are read again. */
    private readonly ttlMs = 5000,
  ) {}

  list(): Promise<CatalogModel[]> {
    const now = Date.now();
    if (!this.cache || now - this.cache.at > this.ttlMs) {
      const models = this.load();
      this.cache = { at: now, models };
      models.catch(() => (this.cache = undefined));
    }
    return this.cache.models;
  }

  /** Forget the cached listing (after installing a model). */
  refresh(): void {
    this.cache = undefined;
  }

  private async load(): Promise<CatalogModel[]> {
    const listed = await this.source.list();
    const models: CatalogModel[] = [];
    for (const m of listed) {
      if (!m.info) continue;
      const manifest = m.info.manifest;
      models.push({
        id: manifest.id,
        uuid: modelUuid(manifest.id),
        name: manifest.name,
        description: manifest.description,
        family: manifest.family,
        manifest,
        imageToImage: m.info.components.vaeEncoder !== undefined,
        controlNets: m.info.controlNets,
        isDefault: false,
      });
    }
    const def = models.find((m) => m.id === this.defaultModel) ?? models[0];
    if (def) def.isDefault = true;
    return models;
  }

  async default(): Promise<CatalogModel> {
    const models = await this.list();
    const def = models.find((m) => m.isDefault);
    if (!def) throw new UnknownModelError(this.defaultModel, []);
    return def;
  }

  /** By UUID or manifest id; the default model when `ref` is empty. */
  async resolve(ref: string | undefined, field = 'model'): Promise<CatalogModel> {
    if (ref === undefined || ref === '') return this.default();
    const models = await this.list();
    const hit = isUuid(ref) ? models.find((m) => m.uuid === ref.toLowerCase()) : models.find((m) => m.id === ref);
    if (!hit) throw new UnknownModelError(ref, models.map((m) => m.id), field);
    return hit;
  }
}
