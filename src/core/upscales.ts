/**
 * Upscales: an output of the caller's (by id) or an image (URL or upload) made larger by one of the
 * engine's upscalers: an installed ONNX super-resolution model (the default when there is one), or
 * Lanczos resampling, listed as exactly that: it adds no detail. One credit each; an output already
 * upscaled is answered from the earlier result at no charge (Stablecog's rule).
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { timestamp } from '../db/clock.ts';
import * as keysDb from '../db/api-keys.ts';
import * as gens from '../db/generations.ts';
import * as ledger from '../db/ledger.ts';
import * as ups from '../db/uploads.ts';
import type { Upscale } from '../db/schema.ts';
import type { UpscaledImage, UpscalerInfo } from '../engine/upscale/types.ts';
import { jobChannel, type EventBus, type JobQueue } from '../queue/types.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { Auth } from './accounts.ts';
import {
  GenerationFailedError,
  GenerationTimeoutError,
  InsufficientCreditsError,
  InvalidImageError,
  OutputNotFoundError,
  UnknownModelError,
} from './errors.ts';
import type { ImageInputs } from './images.ts';
import { upscaleCost } from './pricing.ts';
import { isUuid, uuidV5 } from './uuid.ts';
import { channelsOf, isTimeout, jobOf, timeoutMessage, type ClaimResult, type JobLifecycle } from './jobs.ts';
import { waitForEnd } from './wait-for-end.ts';

export interface UpscalerModel extends UpscalerInfo {
  uuid: string;
  isDefault: boolean;
}

/** The upscalers on offer, the first being the default (the API side lists them; the worker runs them). */
export interface UpscalerList {
  list(): Promise<{ info: UpscalerInfo }[]>;
}

/** What a worker needs of the engine to run an upscale job. */
export interface UpscalerBackend extends UpscalerList {
  upscale(id: string, image: Uint8Array, signal?: AbortSignal): Promise<UpscaledImage>;
}

/** Stablecog's MAX_UPSCALE_MEGAPIXELS: the input may be at most 1024 x 1024 pixels. */
export const MAX_UPSCALE_PIXELS = 1024 * 1024;
/** Stablecog's MAX_UPSCALE_IMAGE_SIZE. */
export const MAX_UPSCALE_BYTES = 10 * 1024 * 1024;

export interface UpscaleResult {
  upscale: Upscale | undefined;
  /** The output id (from an output) or the upscale id (from an image). */
  id: string;
  imageKey: string;
  sourceKey: string;
  balance: number;
}

export interface UpscaleDeps {
  db: Database;
  queue: JobQueue;
  events: EventBus;
  lifecycle: JobLifecycle;
  images: ImageInputs;
  store: ObjectStore;
}

/** What the worker stored for an upscale. */
export interface UpscaledOutput {
  key: string;
  width: number;
  height: number;
}

export class Upscales {
  constructor(
    private readonly deps: UpscaleDeps,
    private readonly options: { timeoutMs: number; upscalers: UpscalerList },
  ) {}

  /** Read at each call, so a model dropped into the models folder is offered without a restart. */
  async models(): Promise<UpscalerModel[]> {
    return (await this.options.upscalers.list()).map(({ info }, i) => ({ ...info, uuid: uuidV5(`upscaler:${info.id}`), isDefault: i === 0 }));
  }

  async resolveModel(ref: string | undefined, field = 'model'): Promise<UpscalerModel> {
    const models = await this.models();
    if (ref === undefined || ref === '') return models.find((m) => m.isDefault)!;
    const hit = models.find((m) => (isUuid(ref) ? m.uuid === ref.toLowerCase() : m.id === ref));
    if (!hit) throw new UnknownModelError(ref, models.map((m) => m.id), field);
    return hit;
  }

  async run(auth: Auth, input: string, modelRef: string | undefined, options: { source: string; requestId?: string }): Promise<UpscaleResult> {
    const model = await this.resolveModel(modelRef);
    const db = this.deps.db.kysely;
    let outputId: string | null = null;
    let sourceKey: string;
    if (isUuid(input)) {
      const output = await gens.getOutput(db, input.toLowerCase());
      if (!output || output.user_id !== auth.user.id) throw new OutputNotFoundError('input', `no output ${input} among yours`);
      outputId = output.id;
      sourceKey = output.image_key;
      if (output.upscaled_image_key) {
        return { upscale: await gens.findUpscaleOfOutput(db, output.id), id: output.id, imageKey: output.upscaled_image_key, sourceKey, balance: await ledger.balance(db, auth.user.id) };
      }
    } else {
      const { key, info } = await this.deps.images.resolve(auth.user.id, input, 'input', MAX_UPSCALE_BYTES);
      if (info.width * info.height > MAX_UPSCALE_PIXELS) {
        throw new InvalidImageError('input', `images to upscale may have at most 1024 x 1024 pixels; this one is ${info.width} x ${info.height}`);
      }
      sourceKey = key;
    }

    const id = randomUUID();
    // Listen before the job can possibly finish.
    const end = waitForEnd(this.deps.events, jobChannel(id), async () => (await ups.getUpscale(db, id))?.status);
    try {
      await end.ready;
      await this.submit(id, auth, model, input, outputId, sourceKey, options);
    } catch (err) {
      end.cancel();
      throw err;
    }
    if ((await end.wait(this.options.timeoutMs)) === 'timeout') await this.fail(id, timeoutMessage(this.options.timeoutMs));
    const upscale = (await ups.getUpscale(db, id))!;
    if (upscale.status === 'failed' && isTimeout(upscale.error)) throw new GenerationTimeoutError(this.options.timeoutMs / 1000);
    if (upscale.status !== 'succeeded' || !upscale.image_key) throw new GenerationFailedError(upscale.error ?? 'upscale failed');
    return { upscale, id: outputId ?? id, imageKey: upscale.image_key, sourceKey, balance: await ledger.balance(db, auth.user.id) };
  }

  /**
   * The asynchronous path (Leonardo's variations): one of the user's outputs upscaled by the default
   * upscaler, answered at once with the job; an output already upscaled answers its earlier upscale at no charge.
   */
  async start(auth: Auth, outputId: string, options: { source: string; requestId?: string }): Promise<{ upscale: Upscale; cost: number }> {
    const db = this.deps.db.kysely;
    const output = isUuid(outputId) ? await gens.getOutput(db, outputId.toLowerCase()) : undefined;
    if (!output || output.user_id !== auth.user.id) throw new OutputNotFoundError('id', `id: no generated image ${outputId} of yours`);
    const earlier = output.upscaled_image_key ? await gens.findUpscaleOfOutput(db, output.id) : undefined;
    if (earlier) return { upscale: earlier, cost: 0 };
    const id = randomUUID();
    const cost = await this.submit(id, auth, await this.resolveModel(undefined), output.id, output.id, output.image_key, options);
    return { upscale: (await ups.getUpscale(db, id))!, cost };
  }

  /** Debit + admit + insert (queued) in one transaction, then enqueue; a job that cannot be queued is failed and refunded. The credits taken. */
  private async submit(
    id: string,
    auth: Auth,
    model: UpscalerModel,
    input: string,
    outputId: string | null,
    sourceKey: string,
    options: { source: string; requestId?: string },
  ): Promise<number> {
    const cost = upscaleCost();
    const { lifecycle } = this.deps;
    await this.deps.db.transaction(async (tx) => {
      await ups.insertUpscale(tx, {
        id,
        user_id: auth.user.id,
        api_key_id: auth.key.id,
        status: 'queued',
        model: model.id,
        input,
        output_id: outputId,
        source_key: sourceKey,
        image_key: null,
        width: null,
        height: null,
        scale: model.scale,
        cost,
        source: options.source,
        error: null,
        created_at: timestamp(),
        started_at: null,
        completed_at: null,
        deadline_at: lifecycle.deadline(this.options.timeoutMs),
        request_id: options.requestId ?? null,
      });
      const after = await ledger.debit(tx, auth.user.id, cost, 'upscale', { upscale_id: id, api_key_id: auth.key.id });
      if (after === null) throw new InsufficientCreditsError(cost, await ledger.balance(tx, auth.user.id));
      await lifecycle.admit(tx, auth.user.id);
    });
    lifecycle.debited(cost);
    try {
      await this.deps.queue.add(jobOf('upscale', id));
    } catch (err) {
      const message = `could not queue the upscale: ${err instanceof Error ? err.message : String(err)}`;
      await this.fail(id, message);
      throw new GenerationFailedError(message);
    }
    return cost;
  }

  /** The upscales of these outputs, newest first (Leonardo lists them as the outputs' variations). */
  ofOutputs(outputIds: readonly string[]): Promise<Upscale[]> {
    return ups.upscalesOfOutputs(this.deps.db.kysely, outputIds);
  }

  get(id: string): Promise<Upscale | undefined> {
    return ups.getUpscale(this.deps.db.kysely, id);
  }

  private publishStatus(up: Pick<Upscale, 'id' | 'user_id'>, status: 'running' | 'succeeded' | 'failed', error?: string): void {
    this.deps.lifecycle.publish(channelsOf(up.id, up.user_id), { type: 'status', id: up.id, kind: 'upscale', status, error, at: timestamp() });
  }

  // ---- the worker's side ----

  async claim(id: string): Promise<ClaimResult<Upscale>> {
    const r = await this.deps.lifecycle.claim('upscale', id);
    if (!('claimed' in r)) return r;
    const up = (await this.get(id))!;
    this.publishStatus(up, 'running');
    return { claimed: up };
  }

  /** running → succeeded with the stored image (and the output marked upscaled); false when it was no longer running. */
  async complete(id: string, made: UpscaledOutput): Promise<boolean> {
    const patch = { image_key: made.key, width: made.width, height: made.height };
    const ended = await this.deps.lifecycle.finish('upscale', id, { status: 'succeeded', patch }, async (tx) => {
      const up = (await ups.getUpscale(tx, id))!;
      if (up.output_id) await gens.setOutputUpscaled(tx, up.output_id, made.key, (await gens.nextOutputTimes(tx, up.user_id, 1))[0]!);
      if (up.api_key_id) await keysDb.recordApiKeyUse(tx, up.api_key_id, Number(up.cost));
      return up;
    });
    if (!ended) return false;
    this.publishStatus(ended.result, 'succeeded');
    return true;
  }

  /** queued|running → failed with a full refund, in one transaction; a worker running it is told to stop. */
  async fail(id: string, message: string): Promise<boolean> {
    const row = await this.deps.lifecycle.fail('upscale', id, message);
    if (!row) return false;
    await this.deps.queue.cancel(id).catch(() => false);
    this.publishStatus(row, 'failed', message);
    return true;
  }
}
