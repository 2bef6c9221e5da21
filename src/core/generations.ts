/**
 * Generations, end to end as the core sees them: check the request against the model, take the
 * user's in-flight slot, debit and record the generation in one transaction, enqueue it, wait for
 * the worker's result; and, for the worker, the transitions running → succeeded/failed, each in
 * one transaction with its refund. Every transition is conditional on the current status, so a
 * late result after a timeout, or a second completion, changes nothing: never lost, never charged twice.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { timestamp } from '../db/clock.ts';
import * as keysDb from '../db/api-keys.ts';
import * as gens from '../db/generations.ts';
import * as ledger from '../db/ledger.ts';
import type { Generation, GenerationOutput } from '../db/schema.ts';
import type { SchedulerName } from '../engine/schedulers/index.ts';
import { jobChannel, streamChannel, type EventBus, type InFlightGate, type JobEvent, type JobQueue } from '../queue/types.ts';
import type { Auth } from './accounts.ts';
import {
  GenerationFailedError,
  GenerationTimeoutError,
  InsufficientCreditsError,
  UnknownSchedulerError,
  ValidationError,
} from './errors.ts';
import type { ImageInputs } from './images.ts';
import type { ModelCatalog } from './models.ts';
import { generationCost, generationRefund, type Tariff } from './pricing.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/** A generation request with every default filled in (each dialect fills its own defaults). */
export interface GenerationSpec {
  /** Manifest id of the model. */
  model: string;
  scheduler: SchedulerName;
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  numOutputs: number;
  /** An http(s) URL or an `s3://` upload name: image-to-image. */
  initImageUrl?: string;
  /** How much of the init image to repaint, 0..1. */
  strength?: number;
  /** An http(s) URL or `s3://` upload name of a mask (with initImageUrl): inpainting. */
  maskUrl?: string;
  /** What marks the area to repaint: white pixels ('luminance', the default) or transparent ones ('alpha'). */
  maskSource?: 'luminance' | 'alpha';
  /** Seamless tiling (models whose manifest allows it). */
  tiling?: boolean;
  /** Which price applies (pricing.ts); absent: one credit per requested image. */
  tariff?: Tariff;
}

/** What the worker needs beyond the columns, kept in generations.settings (JSON). */
export interface StoredSettings {
  spec: GenerationSpec;
  /** Object key of the init image in the store. */
  initImageKey?: string;
  /** Object key of the mask in the store. */
  maskImageKey?: string;
  /** Client-chosen SSE stream id (Stablecog's stream_id). */
  streamId?: string;
  isPublic: boolean;
  /** The API dialect that made it (stablecog when absent). */
  dialect?: string;
  /** What that dialect keeps for its own answers and webhooks (its own wire values, base URL, ...). */
  extra?: Record<string, unknown>;
}

export interface RunOptions {
  source: string;
  streamId?: string;
  /** Aborts waiting for a slot (the client went away). */
  signal?: AbortSignal;
  dialect?: string;
  extra?: Record<string, unknown>;
  /** Overrides the server's DARKROOM_OUTPUTS_PUBLIC for this generation's outputs. */
  isPublic?: boolean;
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
}

export interface GenerationOptions {
  /** How long a synchronous request waits for its images. */
  timeoutMs: number;
  /** Whether new outputs are visible to everyone with the URL (else to their owner and signed URLs). */
  outputsPublic: boolean;
}

export interface GenerationDeps {
  db: Database;
  queue: JobQueue;
  events: EventBus;
  gate: InFlightGate;
  catalog: ModelCatalog;
  images: ImageInputs;
  /** Where the images live (to remove a deleted generation's images). */
  store?: ObjectStore;
  log?: (message: string) => void;
}

type SubmitExtra = Pick<RunOptions, 'streamId' | 'dialect' | 'extra' | 'isPublic'> & { initImageKey?: string; maskImageKey?: string; source: string };

export function storedSettings(gen: Generation): StoredSettings {
  return JSON.parse(gen.settings) as StoredSettings;
}

export class Generations {
  constructor(
    private readonly deps: GenerationDeps,
    private readonly options: GenerationOptions,
  ) {}

  /** The checks that need the model: sizes, steps, scheduler, image-to-image support. Costs nothing. */
  async check(spec: GenerationSpec): Promise<void> {
    const model = await this.deps.catalog.resolve(spec.model);
    const m = model.manifest;
    for (const field of ['width', 'height'] as const) {
      const v = spec[field];
      if (!Number.isInteger(v) || v % 8 !== 0) throw new ValidationError(field, `${field} must be a multiple of 8, got ${v}`);
      if (v < m.minSize || v > m.maxSize) {
        throw new ValidationError(field, `${field} must be between ${m.minSize} and ${m.maxSize} for model ${m.id}, got ${v}`);
      }
    }
    if (m.maxSteps !== undefined && spec.steps > m.maxSteps) {
      throw new ValidationError('steps', `model ${m.id} takes at most ${m.maxSteps} steps, got ${spec.steps}`);
    }
    if (!model.schedulers.some((s) => s.name === spec.scheduler)) {
      throw new UnknownSchedulerError(spec.scheduler, model.schedulers.map((s) => s.label));
    }
    if (spec.initImageUrl !== undefined && !model.imageToImage) {
      throw new ValidationError('initImage', `model ${m.id} has no VAE encoder, so it cannot start from an init image`);
    }
    if (spec.maskUrl !== undefined && spec.initImageUrl === undefined) throw new ValidationError('mask', 'a mask needs an init image to paint into');
    if (spec.tiling && !m.tiling) throw new ValidationError('tiling', `model ${m.id} does not support seamless tiling`);
    if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) {
      throw new ValidationError('seed', `seed must be an integer from 0 to 4294967295, got ${spec.seed}`);
    }
  }

  /**
   * The synchronous path: check, wait for a slot, debit + record, enqueue, wait for the worker.
   * Throws InsufficientCreditsError, QueueLimitError, GenerationFailedError, GenerationTimeoutError, ...
   */
  async run(auth: Auth, spec: GenerationSpec, options: RunOptions): Promise<GenerationResult> {
    await this.check(spec);
    const inputs = await this.resolveInputs(auth, spec);
    const release = await this.deps.gate.acquire(auth.user.id, options.signal);
    try {
      const cost = generationCost(spec);
      const id = randomUUID();
      // Listen before the job can possibly finish.
      const done = this.waitForEnd(id);
      try {
        await this.submit(id, auth, spec, cost, { ...inputs, ...options });
      } catch (err) {
        done.cancel();
        throw err;
      }
      const end = await done.wait(this.options.timeoutMs);
      if (end === 'timeout') {
        await this.deps.queue.cancel(id);
        const failed = await this.fail(id, `TIMEOUT: no result within ${this.options.timeoutMs / 1000} s`);
        if (failed) throw new GenerationTimeoutError(this.options.timeoutMs / 1000);
        // It finished just as time ran out: report what it did.
      }
      const generation = (await gens.getGeneration(this.deps.db.kysely, id))!;
      const outputs = await gens.outputsOf(this.deps.db.kysely, id);
      if (generation.status !== 'succeeded') {
        if (end !== 'timeout' && end.field) throw new ValidationError(end.field, generation.error ?? 'invalid request');
        throw new GenerationFailedError(generation.error ?? 'generation failed');
      }
      return { generation, outputs, balance: await ledger.balance(this.deps.db.kysely, auth.user.id) };
    } finally {
      release();
    }
  }

  /**
   * The asynchronous path (Leonardo): check, debit + record as queued, and answer at once. The job
   * is enqueued when the user has a free in-flight slot and holds it until it ends (or fails after
   * the generation timeout, refunded). A full waiting line is QueueLimitError, before any charge.
   */
  async start(auth: Auth, spec: GenerationSpec, options: RunOptions): Promise<Generation> {
    await this.check(spec);
    const inputs = await this.resolveInputs(auth, spec);
    const slot = this.deps.gate.acquire(auth.user.id);
    slot.catch(() => undefined);
    // A full line rejects at once (acquire answers synchronously when it refuses); a free slot or a
    // place in line lets the request through.
    await Promise.race([slot, Promise.resolve()]);
    const id = randomUUID();
    let gen: Generation;
    try {
      gen = await this.record(id, auth, spec, generationCost(spec), { ...inputs, ...options });
    } catch (err) {
      void slot.then((release) => release());
      throw err;
    }
    void slot.then((release) => this.runWhenAdmitted(id, release));
    return gen;
  }

  private async runWhenAdmitted(id: string, release: () => void): Promise<void> {
    try {
      const gen = await gens.getGeneration(this.deps.db.kysely, id);
      if (!gen || gen.status !== 'queued') return; // deleted (failed) while it waited in line
      const done = this.waitForEnd(id);
      try {
        await this.deps.queue.add({ id, type: 'generate', generationId: id });
      } catch (err) {
        done.cancel();
        await this.fail(id, `could not queue the generation: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      if ((await done.wait(this.options.timeoutMs)) === 'timeout') {
        await this.deps.queue.cancel(id);
        await this.fail(id, `TIMEOUT: no result within ${this.options.timeoutMs / 1000} s`);
      }
    } catch (err) {
      this.deps.log?.(`generation ${id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await this.fail(id, 'internal error while queueing').catch(() => undefined);
    } finally {
      release();
    }
  }

  /** The init image and mask named in the spec, as store keys (fetched or found now, before any charge). */
  private async resolveInputs(auth: Auth, spec: GenerationSpec): Promise<{ initImageKey?: string; maskImageKey?: string }> {
    const init = spec.initImageUrl ? await this.deps.images.resolve(auth.user.id, spec.initImageUrl, 'initImage') : undefined;
    const mask =
      spec.maskUrl === undefined ? undefined : spec.maskUrl === spec.initImageUrl ? init : await this.deps.images.resolve(auth.user.id, spec.maskUrl, 'mask');
    return { initImageKey: init?.key, maskImageKey: mask?.key };
  }

  /** Debit + insert (queued) in one transaction, then enqueue. */
  private async submit(id: string, auth: Auth, spec: GenerationSpec, cost: number, extra: SubmitExtra): Promise<Generation> {
    const gen = await this.record(id, auth, spec, cost, extra);
    try {
      await this.deps.queue.add({ id, type: 'generate', generationId: id });
    } catch (err) {
      await this.fail(id, `could not queue the generation: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
    return gen;
  }

  /** Debit + insert (queued) in one transaction; publishes "queued". */
  private async record(id: string, auth: Auth, spec: GenerationSpec, cost: number, extra: SubmitExtra): Promise<Generation> {
    const settings: StoredSettings = {
      spec,
      initImageKey: extra.initImageKey,
      maskImageKey: extra.maskImageKey,
      streamId: extra.streamId,
      isPublic: extra.isPublic ?? this.options.outputsPublic,
      ...(extra.dialect ? { dialect: extra.dialect } : {}),
      ...(extra.extra ? { extra: extra.extra } : {}),
    };
    const gen = await this.deps.db.transaction(async (tx) => {
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
      });
      // Throwing here rolls the generation back too: nothing is recorded, nothing is charged.
      const after = await ledger.debit(tx, auth.user.id, cost, 'generation', { generation_id: id, api_key_id: auth.key.id });
      if (after === null) throw new InsufficientCreditsError(cost, await ledger.balance(tx, auth.user.id));
      return row;
    });
    this.publish(gen, { type: 'status', id, kind: 'generate', status: 'queued', at: timestamp() });
    return gen;
  }

  /** Resolves on the generation's final status event (or 'timeout'). */
  private waitForEnd(id: string): { wait: (ms: number) => Promise<{ status: string; field?: string } | 'timeout'>; cancel: () => void } {
    let unsubscribe = () => {};
    let settle: (v: { status: string; field?: string }) => void = () => {};
    const ended = new Promise<{ status: string; field?: string }>((resolve) => (settle = resolve));
    unsubscribe = this.deps.events.subscribe(jobChannel(id), (e) => {
      if (e.type === 'status' && (e.status === 'succeeded' || e.status === 'failed')) settle({ status: e.status, field: e.field });
    });
    return {
      cancel: () => unsubscribe(),
      wait: async (ms) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
        try {
          return await Promise.race([ended, timeout]);
        } finally {
          clearTimeout(timer);
          unsubscribe();
        }
      },
    };
  }

  publish(gen: Pick<Generation, 'id' | 'user_id' | 'settings'>, event: JobEvent): void {
    this.deps.events.publish(jobChannel(gen.id), event);
    const streamId = (JSON.parse(gen.settings) as StoredSettings).streamId;
    if (streamId) this.deps.events.publish(streamChannel(gen.user_id, streamId), event);
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

  /** A user's generations (not deleted), newest first, with their outputs. */
  async list(userId: string, offset: number, limit: number): Promise<{ generation: Generation; outputs: GenerationOutput[] }[]> {
    const rows = await gens.listGenerations(this.deps.db.kysely, userId, offset, limit);
    const outs = await gens.outputsOfMany(this.deps.db.kysely, rows.map((g) => g.id));
    return rows.map((generation) => ({ generation, outputs: outs.filter((o) => o.generation_id === generation.id) }));
  }

  /**
   * Deletes one of the user's generations: one still queued or running is cancelled and refunded
   * first; its images leave the store; it leaves every listing. Its ledger rows stay (usage history
   * keeps what was charged). Undefined when there is no such generation of this user.
   */
  async delete(userId: string, id: string): Promise<Generation | undefined> {
    const gen = await this.getOwned(userId, id);
    if (!gen) return undefined;
    if (gen.status === 'queued' || gen.status === 'running') {
      await this.deps.queue.cancel(id);
      await this.fail(id, 'deleted by its owner');
    }
    if (!(await gens.markGenerationDeleted(this.deps.db.kysely, id, timestamp()))) return undefined;
    const outputs = await gens.outputsOf(this.deps.db.kysely, id);
    const store = this.deps.store;
    if (store) {
      const keys = outputs.flatMap((o) => [o.image_key, ...(o.upscaled_image_key ? [o.upscaled_image_key] : [])]);
      await Promise.allSettled(keys.map((k) => store.delete(k)));
    }
    return gen;
  }

  // ---- the worker's side ----

  /** queued → running; undefined when the generation is no longer queued (cancelled, timed out). */
  async markRunning(id: string): Promise<Generation | undefined> {
    const at = timestamp();
    if (!(await gens.updateGenerationIf(this.deps.db.kysely, id, ['queued'], { status: 'running', started_at: at }))) return undefined;
    const gen = (await gens.getGeneration(this.deps.db.kysely, id))!;
    this.publish(gen, { type: 'status', id, kind: 'generate', status: 'running', at });
    return gen;
  }

  progress(gen: Generation, step: number, total: number): void {
    this.publish(gen, { type: 'progress', id: gen.id, kind: 'generate', step, total, at: timestamp() });
  }

  /**
   * running → succeeded (or failed when nothing was made), with the outputs and the refund for
   * every missing one, in one transaction. False when the generation was no longer running (the
   * caller should delete the images it stored).
   */
  async complete(id: string, made: MadeOutput[], error?: string): Promise<boolean> {
    const at = timestamp();
    const result = await this.deps.db.transaction(async (tx) => {
      const gen = await gens.getGeneration(tx, id);
      if (!gen) return undefined;
      const status = made.length > 0 ? 'succeeded' : 'failed';
      const moved = await gens.updateGenerationIf(tx, id, ['running'], {
        status,
        completed_at: at,
        error: error ?? (made.length ? null : 'no images were made'),
      });
      if (!moved) return undefined;
      const settings = storedSettings(gen);
      await gens.insertOutputs(
        tx,
        made.map((o) => ({
          id: o.id,
          generation_id: id,
          user_id: gen.user_id,
          idx: o.idx,
          seed: o.seed,
          image_key: o.key,
          width: o.width,
          height: o.height,
          is_public: settings.isPublic ? 1 : 0,
          upscaled_image_key: null,
          // One timestamp each (strictly increasing), so a created_at cursor never splits a tie.
          ...((t) => ({ created_at: t, updated_at: t }))(timestamp()),
        })),
      );
      const refund = generationRefund(settings.spec, gen.num_outputs - made.length);
      if (refund > 0) {
        await ledger.credit(tx, gen.user_id, refund, 'refund', { generation_id: id, api_key_id: gen.api_key_id, note: `${gen.num_outputs - made.length} of ${gen.num_outputs} outputs failed` });
      }
      if (gen.api_key_id && made.length) await keysDb.recordApiKeyUse(tx, gen.api_key_id, gen.cost - refund);
      return { gen, status } as const;
    });
    if (!result) return false;
    this.publish(result.gen, { type: 'status', id, kind: 'generate', status: result.status, error, at });
    return true;
  }

  /**
   * queued|running → failed, refunding everything not yet refunded, in one transaction. False when
   * it had already finished. `field` marks a failure caused by the request (reported as bad input).
   */
  async fail(id: string, message: string, field?: string): Promise<boolean> {
    const at = timestamp();
    const gen = await this.deps.db.transaction(async (tx) => {
      const gen = await gens.getGeneration(tx, id);
      if (!gen) return undefined;
      if (!(await gens.updateGenerationIf(tx, id, ['queued', 'running'], { status: 'failed', error: message, completed_at: at }))) return undefined;
      const refund = gen.cost - (await ledger.refundedFor(tx, { generation_id: id }));
      if (refund > 0) await ledger.credit(tx, gen.user_id, refund, 'refund', { generation_id: id, api_key_id: gen.api_key_id, note: message.slice(0, 200) });
      return gen;
    });
    if (!gen) return false;
    this.publish(gen, { type: 'status', id, kind: 'generate', status: 'failed', error: message, field, at });
    return true;
  }

  /**
   * Embedded mode, at start: generations left queued or running by a previous process cannot
   * finish (their jobs lived in that process): fail and refund them.
   */
  async failInterrupted(): Promise<number> {
    let n = 0;
    for (const gen of await gens.unfinishedGenerations(this.deps.db.kysely)) {
      if (await this.fail(gen.id, 'interrupted: the server stopped before this generation finished')) n++;
    }
    return n;
  }
}
