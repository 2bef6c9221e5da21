/**
 * The models Darkroom offers, as the API dialects see them: each engine model (a folder with a
 * manifest) gets a stable UUID (v5 of its manifest id), its allowed schedulers with ids (Stablecog's
 * ids where Stablecog has one, minted v5 ids otherwise), and its defaults. Either the UUID or the
 * plain manifest id names a model in requests.
 */
import type { ListedModel } from '../engine/models/registry.ts';
import type { ModelManifest } from '../engine/models/manifest.ts';
import { STABLECOG_SCHEDULERS, resolveSchedulerName } from '../engine/schedulers/aliases.ts';
import type { SchedulerName } from '../engine/schedulers/index.ts';
import { UnknownModelError, UnknownSchedulerError } from './errors.ts';
import { isUuid, uuidV5 } from './uuid.ts';

export interface SchedulerEntry {
  /** Stablecog's scheduler id where it has one, else a v5 UUID of "scheduler:<name>". */
  id: string;
  /** Stablecog's name where it has one (K_EULER...), else ours upper-cased (PNDM, DPMPP_2M_KARRAS). */
  label: string;
  name: SchedulerName;
}

export interface CatalogModel {
  /** The manifest id (what the engine and the database use). */
  id: string;
  uuid: string;
  name: string;
  description?: string;
  family: ModelManifest['family'];
  manifest: ModelManifest;
  schedulers: SchedulerEntry[];
  defaultScheduler: SchedulerEntry;
  /** Whether the model has a VAE encoder (image-to-image). */
  imageToImage: boolean;
  isDefault: boolean;
}

export function modelUuid(manifestId: string): string {
  return uuidV5(`model:${manifestId}`);
}

export function schedulerEntry(name: SchedulerName): SchedulerEntry {
  const sc = STABLECOG_SCHEDULERS.find((s) => s.scheduler === name);
  return sc ? { id: sc.id, label: sc.name, name } : { id: uuidV5(`scheduler:${name}`), label: name.toUpperCase(), name };
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
      const schedulers = manifest.schedulers.map(schedulerEntry);
      models.push({
        id: manifest.id,
        uuid: modelUuid(manifest.id),
        name: manifest.name,
        description: manifest.description,
        family: manifest.family,
        manifest,
        schedulers,
        defaultScheduler: schedulerEntry(manifest.defaults.scheduler),
        imageToImage: m.info.components.vaeEncoder !== undefined,
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

  /** A scheduler of this model by id (Stablecog's or ours) or by any accepted name; the model's default when empty. */
  resolveScheduler(model: CatalogModel, ref: string | undefined, field = 'scheduler'): SchedulerEntry {
    if (ref === undefined || ref === '') return model.defaultScheduler;
    const byId = model.schedulers.find((s) => s.id === ref.toLowerCase());
    if (byId) return byId;
    let name: SchedulerName;
    try {
      name = resolveSchedulerName(ref);
    } catch {
      throw new UnknownSchedulerError(ref, model.schedulers.map((s) => s.label), field);
    }
    const allowed = model.schedulers.find((s) => s.name === name);
    if (!allowed) throw new UnknownSchedulerError(ref, model.schedulers.map((s) => s.label), field);
    return allowed;
  }

  /** Resolves a stored scheduler name back to its entry (for echoing settings). */
  static scheduler(name: SchedulerName): SchedulerEntry {
    return schedulerEntry(name);
  }
}
