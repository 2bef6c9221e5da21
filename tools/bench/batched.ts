/**
 * The bench's throughput at n images per UNet call, above what one request may ask for: the images
 * are split into requests of at most the engine's per-request limit and joined by the worker's own
 * dynamic batching (src/worker/batching-engine.ts) into one denoising batch, as concurrent users'
 * requests are on a server with DARKROOM_BATCH_MAX=n.
 */
import type { LoadedModel } from '../../src/engine/models/loaded-model.ts';
import { MAX_OUTPUTS } from '../../src/engine/pipelines/check-request.ts';
import { withDefaults, type GenerationInput } from '../../src/engine/pipelines/defaults.ts';
import { generate, generateBatch } from '../../src/engine/pipelines/generate.ts';
import type { GeneratedImage, GenerationRequest } from '../../src/engine/pipelines/request.ts';
import { batchKey } from '../../src/engine/pipelines/text-to-image.ts';
import { BatchingEngine, type BatchableEngine } from '../../src/worker/batching-engine.ts';

/** One loaded model as the engine the worker's batching wraps (the bench has no model registry). */
function engineOf(model: LoadedModel, onBatch: (images: number) => void): BatchableEngine {
  const request = (input: GenerationInput) => withDefaults(model.info.manifest, input);
  return {
    async generate(_id, input, options) {
      const r = request(input);
      onBatch(r.numOutputs);
      return { request: r, images: await generate(model, r, options) };
    },
    async generateBatch(_id, inputs, options) {
      const rs = inputs.map(request);
      onBatch(rs.reduce((n, r) => n + r.numOutputs, 0));
      const images = await generateBatch(model, rs, options);
      return rs.map((r, i) => ({ request: r, images: images[i]! }));
    },
    async batchKeyOf(_id, input) {
      return batchKey(model, request({ ...input, seed: input.seed ?? 0 }));
    },
  };
}

/** Sizes of requests of at most `perRequest` images that add up to `images`. */
export function splitRequests(images: number, perRequest = MAX_OUTPUTS): number[] {
  const sizes: number[] = [];
  for (let left = images; left > 0; left -= perRequest) sizes.push(Math.min(perRequest, left));
  return sizes;
}

export interface BatchedRun {
  images: GeneratedImage[][];
  /** Images in each denoising batch that ran: [n] when the requests met in one. */
  batches: number[];
}

/**
 * `images` images of `base` (seeds base.seed, base.seed + perRequest, ...) as concurrent requests
 * through the worker's batching with a limit of `images`, so they fill one batch.
 */
export async function generateBatched(model: LoadedModel, base: GenerationRequest, images: number, perRequest = MAX_OUTPUTS): Promise<BatchedRun> {
  const batches: number[] = [];
  // A long window: the batch runs when its last request fills it, never on a timer.
  const batcher = new BatchingEngine(engineOf(model, (n) => batches.push(n)), { maxBatch: images, windowMs: 60_000 });
  const sizes = splitRequests(images, perRequest);
  const results = await Promise.all(sizes.map((n, i) => batcher.generate(model.id, { ...base, seed: base.seed + i * perRequest, numOutputs: n })));
  return { images: results.map((r) => r.images), batches };
}
