/**
 * The job consumer, for every job kind: claim the job in the database (its lease renewed while it
 * runs), run the engine with the stored settings (progress published between denoising steps,
 * cancellation through the job's AbortSignal, from any process), store each image, then record the
 * end through the core in one transaction. Whatever goes wrong ends as failed-and-refunded, never
 * lost; a job this worker must drop at shutdown goes back to the queue for another worker (scaled
 * mode) or is failed and refunded (embedded: no other worker will come).
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { encodeImage } from '../engine/image.ts';
import { a1111Parameters } from '../core/a1111.ts';
import { EngineInputError, GenerationCancelledError } from '../engine/errors.ts';
import type { GenerationInput } from '../engine/pipelines/defaults.ts';
import type { GeneratedImage, GenerationRequest, Progress, RunOptions } from '../engine/pipelines/request.ts';
import { CANCELLED, storedSettings, type EngineSettings, type Generations, type MadeOutput } from '../core/generations.ts';
import type { ClaimResult, JobKind, JobLifecycle } from '../core/jobs.ts';
import type { UpscalerBackend, Upscales } from '../core/upscales.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { abortCause, type Job, type JobQueue } from '../queue/types.ts';
import type { Generation, Upscale } from '../db/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { previewDataUrl } from './preview.ts';

/** What the worker needs from the engine (the Engine class, or a stand-in in tests). */
export interface ImageEngine {
  generate(model: string, input: GenerationInput, options?: RunOptions): Promise<{ request: GenerationRequest; images: GeneratedImage[] }>;
}

export interface WorkerDeps {
  queue: JobQueue;
  engine: ImageEngine;
  upscaler: UpscalerBackend;
  store: ObjectStore;
  lifecycle: JobLifecycle;
  generations: Generations;
  upscales: Upscales;
  log?: (message: string) => void;
  /** Job lines carry the job's id, kind, attempt and the id of the request that made it. */
  logger?: Logger;
  /** Images made and denoising step seconds. */
  metrics?: Metrics;
}

export interface WorkerOptions {
  /** What becomes of a job cut off by shutdown: back to the queue (other workers exist) or failed and refunded. */
  onShutdown: 'requeue' | 'fail';
  /** How long a job whose user already has enough running waits before it is offered again. */
  busyRetryMs?: number;
  /** Write each output's settings into its PNG (A1111's `parameters` text chunk); default true. */
  pngMetadata?: boolean;
  /** Publish a preview of the first image every this many steps (not on the last: the image itself follows); 0 or absent: none. */
  previewEvery?: number;
}

/** An output's settings as A1111 writes them (the seed is the output's own). */
function pngParameters(gen: Generation, request: EngineSettings, seed: number, imageToImage: boolean): string {
  return a1111Parameters({
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    steps: request.steps,
    scheduler: request.scheduler,
    guidance: request.guidance,
    seed,
    width: request.width,
    height: request.height,
    model: gen.model,
    strength: imageToImage ? request.strength : undefined,
    tiling: request.tiling,
  });
}

/** Thrown inside a job when the database says it is no longer this worker's to run. */
class LeaseLostError extends Error {
  constructor() {
    super('the job was failed or taken over while it ran');
  }
}

export class Worker {
  private started = false;
  private readonly retries = new Set<NodeJS.Timeout>();

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {}

  start(concurrency = 1): void {
    if (this.started) return;
    this.started = true;
    this.deps.queue.process((job, signal) => this.handle(job, signal), { concurrency });
  }

  /** Stops taking jobs; running ones get `graceMs`, then are cut off (see WorkerOptions.onShutdown). */
  async close(graceMs = 0): Promise<void> {
    for (const t of this.retries) clearTimeout(t);
    await this.deps.queue.close({ graceMs });
  }

  async handle(job: Job, signal: AbortSignal): Promise<void> {
    switch (job.type) {
      case 'generate':
        return this.run('generate', job, this.deps.generations.claim(job.generationId), (gen, s) => this.generate(gen, s), signal);
      case 'upscale':
        return this.run('upscale', job, this.deps.upscales.claim(job.upscaleId), (up, s) => this.upscale(up, s), signal);
      default:
        return assertNever(job);
    }
  }

  /** Claim, hold the lease while `work` runs, and see that the job ends however `work` does. */
  private async run<R extends { id: string }>(kind: JobKind, job: Job, claiming: Promise<ClaimResult<R>>, work: (row: R, signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    const claim = await claiming;
    if ('busy' in claim) return this.offerLater(job);
    if ('gone' in claim) return; // ended, deleted, or another worker holds it
    const row = claim.claimed as R & { request_id: string | null; attempts: number };
    const started = Date.now();
    const log = this.deps.logger?.child({ kind, jobId: row.id, requestId: row.request_id, attempt: row.attempts });
    log?.info('job started');
    const lost = new AbortController();
    const lease = this.holdLease(kind, row.id, lost);
    const both = AbortSignal.any([signal, lost.signal]);
    try {
      await work(row, both);
    } catch (err) {
      await this.end(kind, row.id, err, signal, lost.signal);
    } finally {
      clearInterval(lease);
      log?.info({ seconds: (Date.now() - started) / 1000 }, 'job ended');
    }
  }

  /** Renews the lease at a third of its length; aborts `lost` when the job is no longer ours. */
  private holdLease(kind: JobKind, id: string, lost: AbortController): NodeJS.Timeout {
    const every = Math.max(50, Math.floor(this.deps.lifecycle.options.leaseMs / 3));
    const timer = setInterval(() => {
      this.deps.lifecycle.renew(kind, id).then(
        (ours) => (ours ? undefined : lost.abort(new LeaseLostError())),
        (err: unknown) => this.deps.log?.(`${kind} ${id}: could not renew its lease: ${err instanceof Error ? err.message : String(err)}`),
      );
    }, every);
    timer.unref();
    return timer;
  }

  /** How a job that threw ends: put back at shutdown, or failed (and refunded) with the right message. */
  private async end(kind: JobKind, id: string, err: unknown, signal: AbortSignal, lost: AbortSignal): Promise<void> {
    if (lost.aborted) return; // failed or taken over elsewhere: nothing left to record here
    const fail = (message: string, field?: string) => (kind === 'generate' ? this.deps.generations.fail(id, message, field) : this.deps.upscales.fail(id, message));
    const cause = abortCause(signal);
    if (cause === 'shutdown') {
      if (this.options.onShutdown === 'requeue' && (await this.deps.lifecycle.release(kind, id))) return;
      await fail('the server stopped before this job finished');
      return;
    }
    if (err instanceof GenerationCancelledError || signal.aborted) {
      await fail(CANCELLED);
      return;
    }
    if (err instanceof EngineInputError) {
      await fail(err.message, err.field);
      return;
    }
    this.deps.log?.(`${kind} ${id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await fail(err instanceof Error ? err.message : String(err));
  }

  /** The user already has enough running: offer the job again shortly (the queue dedups by id). */
  private offerLater(job: Job): void {
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.deps.queue.add(job).catch(() => undefined); // a closed queue: the database still has it queued
    }, this.options.busyRetryMs ?? 500);
    this.retries.add(timer);
  }

  private async generate(gen: Generation, signal: AbortSignal): Promise<void> {
    const { generations, store, engine } = this.deps;
    const id = gen.id;
    const { request, initImageKey, maskImageKey, upscaleInitWith, controlImageKeys } = storedSettings(gen);
    const made: MadeOutput[] = [];
    let lastStep = Date.now();
    const every = this.options.previewEvery ?? 0;
    const onProgress = async (p: Progress) => {
      const now = Date.now();
      this.deps.metrics?.step((now - lastStep) / 1000);
      // Only these steps pay for the VAE decode a preview costs.
      const preview = every > 0 && p.step % every === 0 && p.step < p.total ? await this.preview(id, p) : undefined;
      lastStep = Date.now();
      generations.progress(gen, p.step, p.total, preview);
    };
    try {
      const read = initImageKey ? await this.read(initImageKey, 'initImage', 'the init image') : undefined;
      const initImage = read && upscaleInitWith ? await this.upscaleTo(upscaleInitWith, read, request.width, request.height, signal) : read;
      const mask = maskImageKey ? await this.read(maskImageKey, 'mask', 'the mask') : undefined;
      const controlnets = request.controlnets
        ? await Promise.all(request.controlnets.map(async (c, i) => ({ ...c, image: await this.read(controlImageKeys![i]!, `controlnets[${i}].image`, 'a control image') })))
        : undefined;
      // The stored request is the engine's own: handed over as it is, with the image bytes added.
      const { images } = await engine.generate(
        gen.model,
        { ...request, initImage, mask, controlnets },
        // The device loop runs as many steps per call as there are between previews (0: none, its default).
        { signal, onProgress, ...(every > 0 ? { progressEvery: every } : {}) },
      );
      if (signal.aborted) throw signal.reason;
      let failures = Math.max(0, gen.num_outputs - images.length);
      for (const [idx, image] of images.entries()) {
        const outputId = randomUUID();
        const key = `outputs/${outputId}.png`;
        try {
          const text = this.options.pngMetadata === false ? undefined : { parameters: pngParameters(gen, request, image.seed, initImageKey !== undefined) };
          await store.put(key, await encodeImage(image.pixels, image.width, image.height, 'png', undefined, text), 'image/png');
          made.push({ id: outputId, idx, seed: image.seed, key, width: image.width, height: image.height, nsfw: image.nsfw === true });
        } catch (err) {
          failures++;
          this.deps.log?.(`generation ${id}: output ${idx} could not be stored: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      if (await generations.complete(id, made, failures ? `${failures} of ${gen.num_outputs} outputs failed` : undefined)) this.deps.metrics?.images(made.length);
      else await this.discard(made.map((o) => o.key));
    } catch (err) {
      await this.discard(made.map((o) => o.key));
      throw err;
    }
  }

  private async upscale(up: Upscale, signal: AbortSignal): Promise<void> {
    const key = `upscaled/${up.output_id ?? up.id}.png`;
    try {
      const source = await this.deps.store.get(up.source_key);
      if (!source) throw new Error('the image to upscale is no longer in the store');
      const { png, width, height } = await this.deps.upscaler.upscale(up.model, source.bytes, signal);
      if (signal.aborted) throw signal.reason;
      await this.deps.store.put(key, png, 'image/png');
      if (!(await this.deps.upscales.complete(up.id, { key, width, height }))) await this.discard([key]);
    } catch (err) {
      await this.discard([key]);
      throw err;
    }
  }

  /** The image through the upscaler, resized to exactly width x height (the upscaler has its own fixed factor). */
  private async upscaleTo(upscaler: string, image: Uint8Array, width: number, height: number, signal: AbortSignal): Promise<Uint8Array> {
    const { png } = await this.deps.upscaler.upscale(upscaler, image, signal);
    return new Uint8Array(await sharp(png).resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer());
  }

  /** A preview that cannot be made is left out; the generation goes on. */
  private async preview(id: string, p: Progress): Promise<string | undefined> {
    try {
      return await previewDataUrl(await p.preview());
    } catch (err) {
      this.deps.log?.(`generation ${id}: no preview at step ${p.step}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  private async read(key: string, field: string, what: string): Promise<Uint8Array> {
    const obj = await this.deps.store.get(key);
    if (!obj) throw new EngineInputError(field, `${what} is no longer in the store`);
    return obj.bytes;
  }

  private async discard(keys: string[]): Promise<void> {
    await Promise.allSettled(keys.map((k) => this.deps.store.delete(k)));
  }
}

function assertNever(job: never): never {
  throw new Error(`unknown job type: ${JSON.stringify(job)}`);
}
