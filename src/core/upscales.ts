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
import { LanczosUpscaler } from '../engine/upscale/resample.ts';
import type { UpscaledImage, UpscalerInfo } from '../engine/upscale/types.ts';
import { jobChannel, type EventBus, type InFlightGate, type JobQueue } from '../queue/types.ts';
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

export interface UpscalerModel extends UpscalerInfo {
  uuid: string;
  isDefault: boolean;
}

/** What Upscales needs of the engine: its upscalers, the first being the default, and a way to run one. */
export interface UpscalerBackend {
  list(): Promise<{ info: UpscalerInfo }[]>;
  upscale(id: string, image: Uint8Array, signal?: AbortSignal): Promise<UpscaledImage>;
}

/** Resampling only: for deployments (and tests) without the engine's upscaler registry. */
export function resamplingBackend(): UpscalerBackend {
  const lanczos = new LanczosUpscaler(4);
  return {
    list: async () => [{ info: lanczos.info }],
    upscale: (_id, image) => lanczos.upscale(image),
  };
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
  gate: InFlightGate;
  images: ImageInputs;
  store: ObjectStore;
}

export class Upscales {
  constructor(
    private readonly deps: UpscaleDeps,
    private readonly options: { timeoutMs: number; upscaler?: UpscalerBackend },
  ) {}

  private get backend(): UpscalerBackend {
    this.options.upscaler ??= resamplingBackend();
    return this.options.upscaler;
  }

  /** Read at each call, so a model dropped into the models folder is offered without a restart. */
  async models(): Promise<UpscalerModel[]> {
    return (await this.backend.list()).map(({ info }, i) => ({ ...info, uuid: uuidV5(`upscaler:${info.id}`), isDefault: i === 0 }));
  }

  async resolveModel(ref: string | undefined, field = 'model'): Promise<UpscalerModel> {
    const models = await this.models();
    if (ref === undefined || ref === '') return models.find((m) => m.isDefault)!;
    const hit = models.find((m) => (isUuid(ref) ? m.uuid === ref.toLowerCase() : m.id === ref));
    if (!hit) throw new UnknownModelError(ref, models.map((m) => m.id), field);
    return hit;
  }

  async run(auth: Auth, input: string, modelRef: string | undefined, options: { source: string; signal?: AbortSignal }): Promise<UpscaleResult> {
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

    const release = await this.deps.gate.acquire(auth.user.id, options.signal);
    try {
      const id = randomUUID();
      const cost = upscaleCost();
      let unsubscribe = () => {};
      const ended = new Promise<string>((resolve) => {
        unsubscribe = this.deps.events.subscribe(jobChannel(id), (e) => {
          if (e.type === 'status' && (e.status === 'succeeded' || e.status === 'failed')) resolve(e.status);
        });
      });
      try {
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
          });
          const after = await ledger.debit(tx, auth.user.id, cost, 'upscale', { upscale_id: id, api_key_id: auth.key.id });
          if (after === null) throw new InsufficientCreditsError(cost, await ledger.balance(tx, auth.user.id));
        });
        await this.deps.queue.add({ id, type: 'upscale', upscaleId: id });
        let timer: NodeJS.Timeout | undefined;
        const end = await Promise.race([ended, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.options.timeoutMs)))]);
        clearTimeout(timer);
        if (end === 'timeout') {
          await this.deps.queue.cancel(id);
          if (await this.fail(id, `TIMEOUT: no result within ${this.options.timeoutMs / 1000} s`)) {
            throw new GenerationTimeoutError(this.options.timeoutMs / 1000);
          }
        }
      } finally {
        unsubscribe();
      }
      const upscale = (await ups.getUpscale(db, id))!;
      if (upscale.status !== 'succeeded' || !upscale.image_key) throw new GenerationFailedError(upscale.error ?? 'upscale failed');
      return { upscale, id: outputId ?? id, imageKey: upscale.image_key, sourceKey, balance: await ledger.balance(db, auth.user.id) };
    } finally {
      release();
    }
  }

  /** The worker's side: run the upscaler on the source and record the result (or fail and refund). */
  async process(id: string, signal: AbortSignal): Promise<void> {
    const db = this.deps.db.kysely;
    const at = timestamp();
    if (!(await ups.updateUpscaleIf(db, id, ['queued'], { status: 'running', started_at: at }))) return;
    this.deps.events.publish(jobChannel(id), { type: 'status', id, kind: 'upscale', status: 'running', at });
    const up = (await ups.getUpscale(db, id))!;
    const key = `upscaled/${up.output_id ?? id}.png`;
    try {
      const source = await this.deps.store.get(up.source_key);
      if (!source) throw new Error('the image to upscale is no longer in the store');
      const model = await this.resolveModel(up.model);
      const { png, width, height } = await this.backend.upscale(model.id, source.bytes, signal);
      if (signal.aborted) throw new Error('cancelled');
      await this.deps.store.put(key, png, 'image/png');
      const done = timestamp();
      const ok = await this.deps.db.transaction(async (tx) => {
        if (!(await ups.updateUpscaleIf(tx, id, ['running'], { status: 'succeeded', image_key: key, width, height, completed_at: done }))) return false;
        if (up.output_id) await gens.setOutputUpscaled(tx, up.output_id, key, done);
        if (up.api_key_id) await keysDb.recordApiKeyUse(tx, up.api_key_id, Number(up.cost));
        return true;
      });
      if (!ok) {
        await this.deps.store.delete(key);
        return;
      }
      this.deps.events.publish(jobChannel(id), { type: 'status', id, kind: 'upscale', status: 'succeeded', at: done });
    } catch (err) {
      await this.deps.store.delete(key).catch(() => undefined);
      await this.fail(id, err instanceof Error ? err.message : String(err));
    }
  }

  /** queued|running → failed with a full refund, in one transaction. */
  async fail(id: string, message: string): Promise<boolean> {
    const at = timestamp();
    const up = await this.deps.db.transaction(async (tx) => {
      const up = await ups.getUpscale(tx, id);
      if (!up) return undefined;
      if (!(await ups.updateUpscaleIf(tx, id, ['queued', 'running'], { status: 'failed', error: message, completed_at: at }))) return undefined;
      const refund = Number(up.cost) - (await ledger.refundedFor(tx, { upscale_id: id }));
      if (refund > 0) await ledger.credit(tx, up.user_id, refund, 'refund', { upscale_id: id, api_key_id: up.api_key_id, note: message.slice(0, 200) });
      return up;
    });
    if (!up) return false;
    this.deps.events.publish(jobChannel(id), { type: 'status', id, kind: 'upscale', status: 'failed', error: message, at });
    return true;
  }

  async failInterrupted(): Promise<number> {
    let n = 0;
    for (const up of await ups.unfinishedUpscales(this.deps.db.kysely)) if (await this.fail(up.id, 'interrupted: the server stopped before this upscale finished')) n++;
    return n;
  }
}
