/**
 * The job consumer: takes a generation (or upscale) job, runs the engine with the request's
 * settings (progress published between denoising steps, cancellation through the job's
 * AbortSignal), stores each image as a PNG, then records outputs + status + refunds in one
 * transaction through the core. Whatever goes wrong ends as failed-and-refunded, never lost.
 */
import { randomUUID } from 'node:crypto';
import { encodeImage } from '../engine/image.ts';
import { EngineInputError, GenerationCancelledError } from '../engine/errors.ts';
import type { GenerationInput } from '../engine/pipelines/defaults.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from '../engine/pipelines/request.ts';
import { storedSettings, type Generations, type MadeOutput } from '../core/generations.ts';
import type { Upscales } from '../core/upscales.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { Job, JobQueue } from '../queue/types.ts';
import type { Generation } from '../db/schema.ts';

/** What the worker needs from the engine (the Engine class, or a stand-in in tests). */
export interface ImageEngine {
  generate(model: string, input: GenerationInput, options?: RunOptions): Promise<{ request: GenerationRequest; images: GeneratedImage[] }>;
}

export interface WorkerDeps {
  queue: JobQueue;
  engine: ImageEngine;
  store: ObjectStore;
  generations: Generations;
  upscales?: Upscales;
  log?: (message: string) => void;
  /** Called once a generation has ended, succeeded or failed (webhooks). Errors are logged, never thrown. */
  onGenerationFinished?: (generationId: string) => Promise<void> | void;
}

/** Engine field names → the core's request field names. */
const FIELD: Record<string, string> = { initImage: 'initImage', strength: 'strength', numOutputs: 'numOutputs', mask: 'mask', tiling: 'tiling' };

export class Worker {
  private started = false;

  constructor(private readonly deps: WorkerDeps) {}

  start(concurrency = 1): void {
    if (this.started) return;
    this.started = true;
    this.deps.queue.process((job, signal) => this.handle(job, signal), { concurrency });
  }

  async handle(job: Job, signal: AbortSignal): Promise<void> {
    if (job.type === 'generate') return this.generate(job.generationId, signal);
    if (job.type === 'upscale') {
      if (!this.deps.upscales) throw new Error('this worker has no upscaler');
      return this.deps.upscales.process(job.upscaleId, signal);
    }
  }

  private async generate(id: string, signal: AbortSignal): Promise<void> {
    const gen = await this.deps.generations.markRunning(id);
    if (!gen) return; // cancelled or timed out while waiting
    try {
      await this.run(gen, signal);
    } finally {
      if (this.deps.onGenerationFinished) {
        try {
          await this.deps.onGenerationFinished(id);
        } catch (err) {
          this.deps.log?.(`generation ${id}: after it finished: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
  }

  private async run(gen: Generation, signal: AbortSignal): Promise<void> {
    const { generations, store, engine } = this.deps;
    const id = gen.id;
    const { spec, initImageKey, maskImageKey } = storedSettings(gen);
    const made: MadeOutput[] = [];
    try {
      let initImage: Uint8Array | undefined;
      if (initImageKey) {
        const obj = await store.get(initImageKey);
        if (!obj) throw new EngineInputError('initImage', 'the init image is no longer in the store');
        initImage = obj.bytes;
      }
      let mask: Uint8Array | undefined;
      if (maskImageKey) {
        const obj = await store.get(maskImageKey);
        if (!obj) throw new EngineInputError('mask', 'the mask is no longer in the store');
        mask = obj.bytes;
      }
      const { images } = await engine.generate(
        spec.model,
        {
          prompt: spec.prompt,
          negativePrompt: spec.negativePrompt,
          width: spec.width,
          height: spec.height,
          steps: spec.steps,
          guidance: spec.guidance,
          scheduler: spec.scheduler,
          seed: spec.seed,
          numOutputs: spec.numOutputs,
          initImage,
          strength: initImage ? spec.strength : undefined,
          ...(mask ? { mask, maskSource: spec.maskSource ?? 'luminance' } : {}),
          ...(spec.tiling ? { tiling: true } : {}),
        },
        { signal, onProgress: (p) => generations.progress(gen, p.step, p.total) },
      );
      let failures = 0;
      for (const [idx, image] of images.entries()) {
        const outputId = randomUUID();
        const key = `outputs/${outputId}.png`;
        try {
          await store.put(key, await encodeImage(image.pixels, image.width, image.height, 'png'), 'image/png');
          made.push({ id: outputId, idx, seed: image.seed, key, width: image.width, height: image.height });
        } catch (err) {
          failures++;
          this.deps.log?.(`generation ${id}: output ${idx} could not be stored: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      failures += Math.max(0, gen.num_outputs - images.length);
      const ok = await generations.complete(id, made, failures ? `${failures} of ${gen.num_outputs} outputs failed` : undefined);
      if (!ok) await this.discard(made);
    } catch (err) {
      await this.discard(made);
      if (err instanceof GenerationCancelledError || signal.aborted) {
        await generations.fail(id, 'cancelled');
        return;
      }
      if (err instanceof EngineInputError) {
        await generations.fail(id, err.message, FIELD[err.field] ?? err.field);
        return;
      }
      this.deps.log?.(`generation ${id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await generations.fail(id, err instanceof Error ? err.message : String(err));
    }
  }

  private async discard(made: MadeOutput[]): Promise<void> {
    await Promise.allSettled(made.map((o) => this.deps.store.delete(o.key)));
  }
}
