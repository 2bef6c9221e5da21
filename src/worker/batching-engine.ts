/**
 * Dynamic batching: generation jobs that can share a denoising batch (same model and batch key: size,
 * steps, scheduler, kind of guidance) are collected for a short window, up to a size limit, and run
 * as one engine batch; each job still gets exactly its own images. It is an ImageEngine, so the worker
 * does not change: with enough worker concurrency, jobs arriving together meet here.
 *
 * The limit counts images (a job asking for 4 counts 4), since images are what take accelerator memory.
 * When a batch runs out of memory, the limit for its kind of batch (model, size, steps...) drops to half
 * of what failed and the jobs are run again in batches under it: the server learns what fits instead
 * of failing the same way again.
 */
import { GenerationCancelledError } from '../engine/errors.ts';
import type { GenerationInput } from '../engine/pipelines/defaults.ts';
import type { GeneratedImage, GenerationRequest, RunOptions } from '../engine/pipelines/request.ts';
import type { ImageEngine } from './worker.ts';
import { loraSetKey } from '../engine/lora/library.ts';

type Result = { request: GenerationRequest; images: GeneratedImage[] };

/** What batching needs of the engine (the Engine class has it). */
export interface BatchableEngine extends ImageEngine {
  generateBatch(model: string, inputs: readonly GenerationInput[], options?: RunOptions): Promise<Result[]>;
  batchKeyOf(model: string, input: GenerationInput): Promise<string | undefined>;
}

export function isBatchable(engine: ImageEngine): engine is BatchableEngine {
  const e = engine as Partial<BatchableEngine>;
  return typeof e.generateBatch === 'function' && typeof e.batchKeyOf === 'function';
}

export interface BatchingOptions {
  /** Most images in one batch. */
  maxBatch: number;
  /** How long the first job of a batch waits for company, in ms. */
  windowMs: number;
  log?: (message: string) => void;
}

interface Entry {
  input: GenerationInput;
  options: RunOptions;
  resolve: (r: Result) => void;
  reject: (e: unknown) => void;
  settled: boolean;
}

interface Pending {
  model: string;
  entries: Entry[];
  timer: NodeJS.Timeout;
}

/** ONNX Runtime's words for an allocation that failed (CUDA, cuDNN, WebGPU, the CPU arena). */
const OUT_OF_MEMORY = /out of memory|failed to allocate|bad_alloc|allocation failed|CUDNN_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation/i;

export function isOutOfMemory(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return OUT_OF_MEMORY.test(message) || /\bOOM\b/.test(message);
}

const imagesOf = (e: Entry): number => e.input.numOutputs ?? 1;
const imagesIn = (entries: readonly Entry[]): number => entries.reduce((n, e) => n + imagesOf(e), 0);

export class BatchingEngine implements ImageEngine {
  private readonly pending = new Map<string, Pending>();
  /** Limits learned from out-of-memory failures, by group key; absent: options.maxBatch. */
  private readonly learned = new Map<string, number>();

  constructor(
    private readonly engine: BatchableEngine,
    private readonly options: BatchingOptions,
  ) {}

  async generate(model: string, input: GenerationInput, options: RunOptions = {}): Promise<Result> {
    const key = this.options.maxBatch > 1 ? await this.engine.batchKeyOf(model, input) : undefined;
    if (key === undefined) return this.engine.generate(model, input, options);
    if (options.signal?.aborted) throw new GenerationCancelledError();
    return new Promise<Result>((resolve, reject) => {
      const entry: Entry = { input, options, resolve, reject, settled: false };
      options.signal?.addEventListener('abort', () => this.settle(entry, () => reject(new GenerationCancelledError())), { once: true });
      // Requests with different LoRAs run different weights: they never share a batch.
      const groupKey = `${model}\n${loraSetKey(input.loras)}\n${key}`;
      const limit = this.limitFor(groupKey);
      let group = this.pending.get(groupKey);
      if (group && imagesIn(group.entries) + imagesOf(entry) > limit) this.flush(groupKey);
      group = this.pending.get(groupKey);
      if (!group) {
        group = { model, entries: [], timer: setTimeout(() => this.flush(groupKey), this.options.windowMs) };
        this.pending.set(groupKey, group);
      }
      group.entries.push(entry);
      if (imagesIn(group.entries) >= limit) this.flush(groupKey);
    });
  }

  /** The most images one batch of this kind may hold now. */
  limitFor(groupKey: string): number {
    return this.learned.get(groupKey) ?? this.options.maxBatch;
  }

  private settle(entry: Entry, action: () => void): void {
    if (entry.settled) return;
    entry.settled = true;
    action();
  }

  private flush(groupKey: string): void {
    const group = this.pending.get(groupKey);
    if (!group) return;
    this.pending.delete(groupKey);
    clearTimeout(group.timer);
    void this.run(groupKey, group.model, group.entries.filter((e) => !e.settled));
  }

  private async run(groupKey: string, model: string, entries: Entry[]): Promise<void> {
    if (entries.length === 0) return;
    // The batch stops only when every job in it was cancelled; one cancelled job just drops its images.
    const controller = new AbortController();
    const live = () => entries.filter((e) => !e.options.signal?.aborted);
    const firstImage = new Map(entries.map((e, i) => [e, imagesIn(entries.slice(0, i))]));
    for (const e of entries) e.options.signal?.addEventListener('abort', () => live().length === 0 && controller.abort(), { once: true });
    try {
      const results = await this.engine.generateBatch(
        model,
        entries.map((e) => e.input),
        {
          signal: controller.signal,
          // Each job's preview is of its own first image, never of another job's in the batch.
          onProgress: async (p) => {
            await Promise.all(live().map((e) => e.options.onProgress?.({ ...p, preview: () => p.preview(firstImage.get(e)) })));
          },
        },
      );
      entries.forEach((e, i) => this.settle(e, () => e.resolve(results[i]!)));
    } catch (err) {
      if (entries.length === 1) {
        this.settle(entries[0]!, () => entries[0]!.reject(err));
        return;
      }
      if (isOutOfMemory(err)) {
        await this.rerunSmaller(groupKey, model, entries);
        return;
      }
      // Which job made the batch fail is not known: each runs alone, so an error reaches only its own job.
      this.options.log?.(`a batch of ${entries.length} failed (${err instanceof Error ? err.message : String(err)}); running its jobs one by one`);
      await Promise.all(
        entries.map(async (e) => {
          if (e.settled) return;
          try {
            const r = await this.engine.generate(model, e.input, e.options);
            this.settle(e, () => e.resolve(r));
          } catch (single) {
            this.settle(e, () => e.reject(single));
          }
        }),
      );
    }
  }

  /** After an out-of-memory failure: halve the limit for this kind of batch and run the jobs again under it. */
  private async rerunSmaller(groupKey: string, model: string, entries: Entry[]): Promise<void> {
    const failed = imagesIn(entries);
    const limit = Math.max(1, Math.min(this.limitFor(groupKey), Math.floor(failed / 2)));
    this.learned.set(groupKey, limit);
    this.options.log?.(`a batch of ${failed} images ran out of memory; batches of this kind now hold at most ${limit}`);
    const chunks: Entry[][] = [];
    let images = Infinity;
    for (const e of entries.filter((x) => !x.settled)) {
      if (images + imagesOf(e) > limit) {
        chunks.push([]);
        images = 0;
      }
      chunks.at(-1)!.push(e);
      images += imagesOf(e);
    }
    // One after another: running them side by side would need the memory that just ran out.
    for (const chunk of chunks) await this.run(groupKey, model, chunk);
  }
}
