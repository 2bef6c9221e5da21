/**
 * Generations as the core sees them. The API side: check the request against the model, then in one
 * transaction debit, admit (the user's queued + running jobs, counted in the database, so the limit
 * holds across API processes) and record it with its deadline; enqueue it; for synchronous dialects
 * wait for its end. The worker side: claim, progress, and the end (outputs + status + refund of
 * what failed, in one transaction), all through the one job lifecycle (jobs.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { timestamp } from '../db/clock.ts';
import * as keysDb from '../db/api-keys.ts';
import * as gens from '../db/generations.ts';
import * as ledger from '../db/ledger.ts';
import type { Generation, GenerationOutput } from '../db/schema.ts';
import { EngineInputError, SchedulerNotOfferedError } from '../engine/errors.ts';
import { checkServedRequest } from '../engine/pipelines/check-request.ts';
import type { ControlNetInput, GenerationRequest } from '../engine/pipelines/request.ts';
import { DEFAULT_NOISE, type NoiseKind } from '../engine/random.ts';
import { DEFAULT_PROMPT_SYNTAX, type PromptSyntax } from '../engine/prompts/weighting.ts';
import * as outbox from '../db/webhook-outbox.ts';
import { jobChannel, type EventBus, type JobEvent, type JobQueue } from '../queue/types.ts';
import type { Auth } from './accounts.ts';
import {
  ConflictError,
  GenerationFailedError,
  GenerationTimeoutError,
  InsufficientCreditsError,
  NotFoundError,
  UnknownSchedulerError,
  ValidationError,
} from './errors.ts';
import type { ImageInputs } from './images.ts';
import type { ModelCatalog } from './models.ts';
import type { LoraCatalog } from './loras.ts';
import { generationCost, generationRefund, type GenerationPriceInput, type Tariff } from './pricing.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { channelsOf, isTimeout, jobOf, timeoutMessage, type ClaimResult, type JobLifecycle } from './jobs.ts';
import { isUuid } from './uuid.ts';
import { waitForEnd } from './wait-for-end.ts';

/** The engine's own request less the image bytes: what a worker hands the engine, adding the bytes from the store. */
export type EngineSettings = Omit<GenerationRequest, 'initImage' | 'mask' | 'controlnets'> & { controlnets?: StoredControlNet[] };

/** A ControlNet of a stored request: its control image lives in the store (StoredSettings.controlImageKeys). */
export type StoredControlNet = Omit<ControlNetInput, 'image'>;

/** A ControlNet as a dialect asks for it: the control image named like an init image. */
export type SpecControlNet = StoredControlNet & { imageUrl: string };

/**
 * A generation as a dialect asks for it, every default filled in: the engine's request, on a model,
 * with its images named (an http(s) URL or an upload reference) rather than carried, at a tariff.
 */
export interface GenerationSpec extends Omit<EngineSettings, 'controlnets'> {
  controlnets?: SpecControlNet[];
  /** Manifest id of the model. */
  model: string;
  negativePrompt: string;
  /** Image-to-image from this image. */
  initImageUrl?: string;
  /** Inpainting (with initImageUrl): the mask. */
  maskUrl?: string;
  /** Which price applies (pricing.ts); absent: one credit per requested image. */
  tariff?: Tariff;
}

/**
 * What a generation keeps besides its columns (generations.settings, JSON). The engine's request is
 * stored once, as the engine takes it, and handed to it as it is.
 */
export interface StoredSettings {
  request: EngineSettings;
  tariff?: Tariff;
  /** Object key of the init image in the store. */
  initImageKey?: string;
  /** Object key of the mask in the store. */
  maskImageKey?: string;
  /** Object keys of the control images, one per request.controlnets entry, in order. */
  controlImageKeys?: string[];
  /** Client-chosen SSE stream id (Stablecog's stream_id). */
  streamId?: string;
  isPublic: boolean;
  /** The API dialect that made it (stablecog when absent). */
  dialect?: string;
  /** What that dialect keeps for its own answers and webhooks (its own wire values, base URL, ...). */
  extra?: Record<string, unknown>;
  /** The upscaler the worker runs on the init image before the engine takes it (resized to the request's size). */
  upscaleInitWith?: string;
}

/** The engine's request of a spec: the images' strength and mask source only where there are images. */
export function engineSettingsOf(spec: GenerationSpec): EngineSettings {
  const { model: _model, initImageUrl, maskUrl, tariff: _tariff, strength, maskSource, controlnets, ...request } = spec;
  return {
    ...request,
    ...(initImageUrl !== undefined ? { strength } : {}),
    ...(maskUrl !== undefined ? { maskSource: maskSource ?? 'luminance' } : {}),
    ...(controlnets?.length ? { controlnets: controlnets.map(({ imageUrl: _url, ...c }) => c) } : {}),
  };
}

/** What a stored generation is priced by (its refunds follow the same tariff). */
export function priceOf(gen: Generation): GenerationPriceInput {
  const { request, tariff } = storedSettings(gen);
  return { ...request, model: gen.model, tariff };
}

export interface RunOptions {
  source: string;
  streamId?: string;
  dialect?: string;
  extra?: Record<string, unknown>;
  /** Overrides the server's DARKROOM_OUTPUTS_PUBLIC for this generation's outputs. */
  isPublic?: boolean;
  /** The HTTP request's id, kept with the job so the worker's logs name it. */
  requestId?: string;
  /** A variation: the output it is made from and which variation it is (variations.ts). */
  variation?: { of: string; transformType: string };
  /** See StoredSettings.upscaleInitWith. */
  upscaleInitWith?: string;
}

export interface GenerationResult {
  generation: Generation;
  outputs: GenerationOutput[];
  balance: number;
}

/** An image the worker stored. */
export interface MadeOutput {
  id: string;
  idx: number;
  seed: number;
  key: string;
  width: number;
  height: number;
  /** The model's safety checker flagged it (the image is black). */
  nsfw?: boolean;
}

export interface GenerationOptions {
  /** How long a generation may take from its acceptance; then it is failed and refunded (TIMEOUT). */
  timeoutMs: number;
  /** Whether new outputs are visible to everyone with the URL (else to their owner and signed URLs). */
  outputsPublic: boolean;
  /** The noise of specs that do not choose one (DARKROOM_NOISE); absent: Darkroom's own. */
  noise?: NoiseKind;
  /** How the prompts of specs that do not say are read (DARKROOM_PROMPT_SYNTAX); absent: A1111's syntax. */
  promptSyntax?: PromptSyntax;
}

export interface GenerationDeps {
  db: Database;
  queue: JobQueue;
  events: EventBus;
  lifecycle: JobLifecycle;
  catalog: ModelCatalog;
  /** LoRA adapters; absent: they are not resolved here, and the engine refuses those it lacks. */
  loras?: LoraCatalog;
  images: ImageInputs;
  /** Where the images live (to remove a deleted generation's images). */
  store?: ObjectStore;
  log?: (message: string) => void;
}

type RecordExtra = Omit<RunOptions, 'streamId'> & { streamId?: string; initImageKey?: string; maskImageKey?: string; controlImageKeys?: string[] };

/** The failure reason of a generation its owner cancelled. */
export const CANCELLED = 'cancelled';

export function storedSettings(gen: Generation): StoredSettings {
  return JSON.parse(gen.settings) as StoredSettings;
}

export class Generations {
  constructor(
    private readonly deps: GenerationDeps,
    private readonly options: GenerationOptions,
  ) {}

  /**
   * The checks that need the model, before anything is charged: the engine's own rules over its
   * manifest (sizes, steps, seed, init image support, tiling...), a scheduler the model offers, and
   * LoRAs that are installed and fit it. Returns the spec with its LoRAs resolved (the prompt's tags taken out).
   */
  async check(spec: GenerationSpec): Promise<GenerationSpec> {
    const model = await this.deps.catalog.resolve(spec.model);
    try {
      checkServedRequest(model, {
        ...spec,
        promptSyntax: this.promptSyntaxOf(spec),
        initImage: spec.initImageUrl,
        mask: spec.maskUrl,
        controlnets: spec.controlnets?.map(({ imageUrl, ...c }) => ({ ...c, image: imageUrl })),
      });
    } catch (err) {
      if (err instanceof SchedulerNotOfferedError) throw new UnknownSchedulerError(err.scheduler, err.offered);
      throw err instanceof EngineInputError ? new ValidationError(err.field, err.message) : err;
    }
    return this.deps.loras ? this.deps.loras.prepare(model.id, spec) : spec;
  }

  /**
   * The synchronous path: check, debit + admit + record, enqueue, wait for the end (an event, or the
   * row itself should the event be missed). Throws InsufficientCreditsError, QueueLimitError,
   * GenerationFailedError, GenerationTimeoutError, ...
   */
  async run(auth: Auth, spec: GenerationSpec, options: RunOptions): Promise<GenerationResult> {
    spec = await this.check(spec);
    const inputs = await this.resolveInputs(auth, spec);
    const id = randomUUID();
    // Listen before the job can possibly finish.
    const end = waitForEnd(this.deps.events, jobChannel(id), async () => (await this.get(id))?.status);
    try {
      await end.ready;
      await this.submit(id, auth, spec, { ...inputs, ...options });
    } catch (err) {
      end.cancel();
      throw err;
    }
    const ended = await end.wait(this.options.timeoutMs);
    // Past the deadline it is failed (here, or by a reaper anywhere); should it have finished just then, report what it did.
    if (ended === 'timeout') await this.fail(id, timeoutMessage(this.options.timeoutMs));
    const generation = (await this.get(id))!;
    const outputs = await this.outputs(id);
    if (generation.status !== 'succeeded') {
      if (isTimeout(generation.error)) throw new GenerationTimeoutError(this.options.timeoutMs / 1000);
      if (ended !== 'timeout' && ended.field) throw new ValidationError(ended.field, generation.error ?? 'invalid request');
      throw new GenerationFailedError(generation.error ?? 'generation failed');
    }
    return { generation, outputs, balance: await ledger.balance(this.deps.db.kysely, auth.user.id) };
  }

  /**
   * The asynchronous path (Leonardo): check, debit + admit + record, enqueue, and answer at once. Its
   * deadline lives in the database: past it, the reaper fails and refunds it, whichever process runs.
   */
  async start(auth: Auth, spec: GenerationSpec, options: RunOptions): Promise<Generation> {
    spec = await this.check(spec);
    const inputs = await this.resolveInputs(auth, spec);
    return this.submit(randomUUID(), auth, spec, { ...inputs, ...options });
  }

  /** The init image, mask and control images named in the spec, as store keys (fetched or found now, before any charge). */
  private async resolveInputs(auth: Auth, spec: GenerationSpec): Promise<{ initImageKey?: string; maskImageKey?: string; controlImageKeys?: string[] }> {
    const init = spec.initImageUrl ? await this.deps.images.resolve(auth.user.id, spec.initImageUrl, 'initImage') : undefined;
    const mask =
      spec.maskUrl === undefined ? undefined : spec.maskUrl === spec.initImageUrl ? init : await this.deps.images.resolve(auth.user.id, spec.maskUrl, 'mask');
    const controls: string[] = [];
    for (const [i, c] of (spec.controlnets ?? []).entries()) controls.push((await this.deps.images.resolve(auth.user.id, c.imageUrl, `controlnets[${i}].image`)).key);
    return { initImageKey: init?.key, maskImageKey: mask?.key, ...(controls.length ? { controlImageKeys: controls } : {}) };
  }

  /** Debit + admit + insert (queued) in one transaction, then enqueue; a job that cannot be queued is failed and refunded. */
  private async submit(id: string, auth: Auth, spec: GenerationSpec, extra: RecordExtra): Promise<Generation> {
    const gen = await this.record(id, auth, spec, extra);
    try {
      await this.deps.queue.add(jobOf('generate', id));
    } catch (err) {
      const message = `could not queue the generation: ${err instanceof Error ? err.message : String(err)}`;
      await this.fail(id, message);
      throw new GenerationFailedError(message);
    }
    return gen;
  }

  private async record(id: string, auth: Auth, spec: GenerationSpec, extra: RecordExtra): Promise<Generation> {
    // The request keeps the noise it was made with, whatever a worker's own setting (absent: Darkroom's own).
    const noise = spec.noise ?? this.options.noise ?? DEFAULT_NOISE;
    const settings: StoredSettings = {
      request: { ...engineSettingsOf(spec), ...(noise !== DEFAULT_NOISE ? { noise } : {}), promptSyntax: this.promptSyntaxOf(spec) },
      ...(spec.tariff ? { tariff: spec.tariff } : {}),
      initImageKey: extra.initImageKey,
      maskImageKey: extra.maskImageKey,
      ...(extra.controlImageKeys ? { controlImageKeys: extra.controlImageKeys } : {}),
      streamId: extra.streamId,
      isPublic: extra.isPublic ?? this.options.outputsPublic,
      ...(extra.dialect ? { dialect: extra.dialect } : {}),
      ...(extra.extra ? { extra: extra.extra } : {}),
      ...(extra.upscaleInitWith ? { upscaleInitWith: extra.upscaleInitWith } : {}),
    };
    const cost = generationCost(spec);
    const { lifecycle } = this.deps;
    const gen = await this.deps.db.transaction(async (tx) => {
      // Throwing anywhere here rolls everything back: nothing is recorded, nothing is charged.
      const row = await gens.insertGeneration(tx, {
        id,
        user_id: auth.user.id,
        api_key_id: auth.key.id,
        status: 'queued',
        model: spec.model,
        scheduler: spec.scheduler,
        prompt: spec.prompt,
        negative_prompt: spec.negativePrompt,
        width: spec.width,
        height: spec.height,
        steps: spec.steps,
        guidance: spec.guidance,
        seed: spec.seed,
        num_outputs: spec.numOutputs,
        init_image_url: spec.initImageUrl ?? null,
        prompt_strength: spec.strength ?? null,
        settings: JSON.stringify(settings),
        cost,
        source: extra.source,
        error: null,
        created_at: timestamp(),
        started_at: null,
        completed_at: null,
        deadline_at: lifecycle.deadline(this.options.timeoutMs),
        request_id: extra.requestId ?? null,
        variation_of: extra.variation?.of ?? null,
        transform_type: extra.variation?.transformType ?? null,
      });
      const after = await ledger.debit(tx, auth.user.id, cost, 'generation', { generation_id: id, api_key_id: auth.key.id });
      if (after === null) throw new InsufficientCreditsError(cost, await ledger.balance(tx, auth.user.id));
      await lifecycle.admit(tx, auth.user.id);
      return row;
    });
    lifecycle.debited(cost);
    this.publish(gen, { type: 'status', id, kind: 'generate', status: 'queued', at: timestamp() });
    return gen;
  }

  /** The request's own syntax, else the server's: stored with the request, so a worker reads the prompt as it was checked. */
  private promptSyntaxOf(spec: GenerationSpec): PromptSyntax {
    return spec.promptSyntax ?? this.options.promptSyntax ?? DEFAULT_PROMPT_SYNTAX;
  }

  publish(gen: Pick<Generation, 'id' | 'user_id' | 'settings'>, event: JobEvent): void {
    this.deps.lifecycle.publish(channelsOf(gen.id, gen.user_id, storedSettings(gen as Generation).streamId), event);
  }

  get(id: string): Promise<Generation | undefined> {
    return gens.getGeneration(this.deps.db.kysely, id);
  }

  outputs(id: string): Promise<GenerationOutput[]> {
    return gens.outputsOf(this.deps.db.kysely, id);
  }

  /** One of the user's generations (not deleted), or undefined. */
  async getOwned(userId: string, id: string): Promise<Generation | undefined> {
    const gen = await gens.getGeneration(this.deps.db.kysely, id);
    return gen && gen.user_id === userId && gen.deleted_at === null ? gen : undefined;
  }

  /** One of the user's outputs (not deleted) with its generation (not deleted), or undefined. */
  async ownedOutput(userId: string, outputId: string): Promise<{ output: GenerationOutput; generation: Generation } | undefined> {
    const output = isUuid(outputId) ? await gens.getOutput(this.deps.db.kysely, outputId.toLowerCase()) : undefined;
    if (!output || output.user_id !== userId || output.deleted_at !== null) return undefined;
    const generation = await this.getOwned(userId, output.generation_id);
    return generation ? { output, generation } : undefined;
  }

  /** The variations made from these outputs (variations.ts), newest first. */
  variationsOf(outputIds: readonly string[]): Promise<Generation[]> {
    return gens.variationsOfOutputs(this.deps.db.kysely, outputIds);
  }

  /** A user's generations (not deleted), newest first, with their outputs. */
  async list(userId: string, offset: number, limit: number): Promise<{ generation: Generation; outputs: GenerationOutput[] }[]> {
    const rows = await gens.listGenerations(this.deps.db.kysely, userId, offset, limit);
    const outs = await gens.outputsOfMany(this.deps.db.kysely, rows.map((g) => g.id));
    return rows.map((generation) => ({ generation, outputs: outs.filter((o) => o.generation_id === generation.id) }));
  }

  /**
   * Deletes one of the user's generations: one still queued or running is failed and refunded
   * first (and its worker told to stop); its images leave the store; it leaves every listing. Its
   * ledger rows stay (usage history keeps what was charged). Undefined when there is no such generation of this user.
   */
  async delete(userId: string, id: string): Promise<Generation | undefined> {
    const gen = await this.getOwned(userId, id);
    if (!gen) return undefined;
    if (gen.status === 'queued' || gen.status === 'running') await this.fail(id, 'deleted by its owner');
    if (!(await gens.markGenerationDeleted(this.deps.db.kysely, id, timestamp()))) return undefined;
    const outputs = await gens.outputsOf(this.deps.db.kysely, id);
    const store = this.deps.store;
    if (store) {
      const keys = outputs.flatMap((o) => [o.image_key, ...(o.upscaled_image_key ? [o.upscaled_image_key] : [])]);
      await Promise.allSettled(keys.map((k) => store.delete(k)));
    }
    return gen;
  }

  /**
   * Deletes one of the user's outputs (not their generation): marked deleted, so it leaves every
   * listing and its URLs stop serving, and its images (the upscaled one too) leave the store. Nothing
   * is refunded. NotFoundError when it is not one of the user's (or is deleted already).
   */
  async deleteOutput(userId: string, id: string): Promise<GenerationOutput> {
    const db = this.deps.db.kysely;
    const output = await gens.getOutput(db, id.toLowerCase());
    const owned = output && output.user_id === userId && (await this.getOwned(userId, output.generation_id)) !== undefined;
    const deleted = owned ? await gens.markOutputDeleted(db, userId, output.id, timestamp()) : undefined;
    if (!deleted) throw new NotFoundError('output', id);
    const store = this.deps.store;
    if (store) {
      const keys = [deleted.image_key, ...(deleted.upscaled_image_key ? [deleted.upscaled_image_key] : [])];
      const results = await Promise.allSettled(keys.map((k) => store.delete(k)));
      for (const [i, r] of results.entries()) if (r.status === 'rejected') this.deps.log?.(`output ${deleted.id}: could not delete ${keys[i]} from the store: ${String(r.reason)}`);
    }
    return deleted;
  }

  /**
   * Cancels one of the user's generations while it is queued or running: failed with reason
   * `cancelled` and its unfinished outputs refunded, through the one lifecycle (so a worker's late
   * result, a second cancel or the reaper refund nothing more); a worker running it is told to stop,
   * wherever it runs. NotFoundError when it is not one of the user's; ConflictError once it has ended.
   */
  async cancel(userId: string, id: string): Promise<{ generation: Generation; refunded: number }> {
    const gen = await this.getOwned(userId, id);
    if (!gen) throw new NotFoundError('generation', id);
    const ended = await this.failed(id, CANCELLED);
    const now = (await this.get(id))!;
    if (!ended) throw new ConflictError(`generation ${id} has already ${now.status === 'failed' ? `failed (${now.error ?? 'no reason given'})` : now.status}: only a queued or running generation can be cancelled`);
    return { generation: now, refunded: ended.refunded };
  }

  // ---- the worker's side ----

  /** queued → running (or a lapsed lease taken over); busy when its user has enough running already. */
  async claim(id: string): Promise<ClaimResult<Generation>> {
    const r = await this.deps.lifecycle.claim('generate', id);
    if (!('claimed' in r)) return r;
    const gen = (await this.get(id))!;
    this.publish(gen, { type: 'status', id, kind: 'generate', status: 'running', at: timestamp() });
    return { claimed: gen };
  }

  /** A denoising step done; `preview` (a data URL) on the steps that publish one. */
  progress(gen: Generation, step: number, total: number, preview?: string): void {
    this.publish(gen, { type: 'progress', id: gen.id, kind: 'generate', step, total, ...(preview ? { preview } : {}), at: timestamp() });
  }

  /**
   * running → succeeded (or failed when nothing was made), with the outputs and the refund for
   * every missing one, in one transaction. False when the generation was no longer running (the
   * caller should delete the images it stored).
   */
  async complete(id: string, made: MadeOutput[], error?: string): Promise<boolean> {
    const status = made.length > 0 ? 'succeeded' : 'failed';
    const end = { status, error: error ?? (made.length ? null : 'no images were made') } as const;
    const ended = await this.deps.lifecycle.finish('generate', id, end, async (tx, row) => {
      const gen = (await gens.getGeneration(tx, id))!;
      const settings = storedSettings(gen);
      const times = await gens.nextOutputTimes(tx, gen.user_id, made.length);
      await gens.insertOutputs(
        tx,
        made.map((o, i) => ({
          id: o.id,
          generation_id: id,
          user_id: gen.user_id,
          idx: o.idx,
          seed: o.seed,
          image_key: o.key,
          width: o.width,
          height: o.height,
          is_public: settings.isPublic ? 1 : 0,
          nsfw: o.nsfw ? 1 : 0,
          upscaled_image_key: null,
          created_at: times[i]!,
          updated_at: times[i]!,
        })),
      );
      const missing = gen.num_outputs - made.length;
      const refund = generationRefund(priceOf(gen), missing);
      if (refund > 0) await ledger.credit(tx, gen.user_id, refund, 'refund', { generation_id: id, api_key_id: gen.api_key_id, note: `${missing} of ${gen.num_outputs} outputs failed` });
      if (gen.api_key_id && made.length) await keysDb.recordApiKeyUse(tx, gen.api_key_id, gen.cost - refund);
      await outbox.queueIfHooked(tx, id, row.api_key_id, timestamp());
      return { gen, refund };
    });
    if (!ended) return false;
    this.deps.lifecycle.refunded(ended.result.refund);
    this.publish(ended.result.gen, { type: 'status', id, kind: 'generate', status, error, at: timestamp() });
    return true;
  }

  /**
   * queued|running → failed, refunding everything not yet refunded, in one transaction; a worker
   * running it is told to stop. False when it had already finished. `field` marks a failure caused
   * by the request (reported as bad input).
   */
  async fail(id: string, message: string, field?: string): Promise<boolean> {
    return (await this.failed(id, message, field)) !== undefined;
  }

  /** fail(), answering the credits it refunded (undefined: it had already ended). */
  private async failed(id: string, message: string, field?: string): Promise<{ refunded: number } | undefined> {
    const row = await this.deps.lifecycle.fail('generate', id, message, (tx, r) => outbox.queueIfHooked(tx, id, r.api_key_id, timestamp()));
    if (!row) return undefined;
    await this.deps.queue.cancel(id).catch(() => false);
    const gen = (await this.get(id))!;
    this.publish(gen, { type: 'status', id, kind: 'generate', status: 'failed', error: message, field, at: timestamp() });
    return { refunded: row.refunded };
  }
}
