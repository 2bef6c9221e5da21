/**
 * Builds the UNet's inputs from what its session declares: exports differ in the timestep's dtype
 * and shape ([1] in older ones, [batch] in newer), SDXL adds pooled text and size ids, LCM a
 * guidance embedding.
 */
import type { LoadedModel } from '../models/loaded-model.ts';
import type { Feed } from '../runtime/session.ts';
import { concatBatch, repeatBatch } from './tensors.ts';
import type { Conditioning, PromptEmbedding } from './prompt.ts';

/** Per-call inputs that do not change between steps: text states for the whole (CFG-doubled) batch. */
export interface StaticFeeds {
  batch: number;
  feeds: Record<string, Feed>;
  /** Guidance scale of each image (not of each UNet row): requests in one batch may differ. */
  guidance: Float32Array;
}

/** One request's share of a batch: its text conditioning, how many images it makes, its guidance. */
export interface BatchPart {
  cond: Conditioning;
  images: number;
  guidance: number;
}

export function timestepFeed(model: LoadedModel, t: number, batch: number): Feed {
  const shape = model.unet.input('timestep')?.shape ?? ['batch'];
  if (shape.length === 0) return { data: [t], dims: [] };
  if (shape[0] === 1) return { data: [t], dims: [1] };
  return { data: new Array<number>(batch).fill(t), dims: [batch] };
}

/** Sinusoidal embedding of (guidance - 1) * 1000, as LCM's distilled UNets take it (arXiv 2310.04378). */
export function guidanceEmbedding(guidance: number, dim: number, batch: number): Feed {
  const half = Math.floor(dim / 2);
  const w = (guidance - 1) * 1000;
  const one = new Float32Array(dim);
  const scale = Math.log(10000) / (half - 1);
  for (let i = 0; i < half; i++) {
    const v = w * Math.exp(-scale * i);
    one[i] = Math.sin(v);
    one[half + i] = Math.cos(v);
  }
  return { data: repeatBatch(one, batch), dims: [batch, dim] };
}

export function usesGuidanceEmbedding(model: LoadedModel): boolean {
  return model.unet.hasInput('timestep_cond');
}

/** diffusers' default aesthetic scores for the refiner's positive and negative rows. */
export const AESTHETIC_SCORE = 6;
export const NEGATIVE_AESTHETIC_SCORE = 2.5;

/**
 * SDXL micro-conditioning (diffusers' _get_add_time_ids): original size, crop top-left, then the target
 * size (6 ids), or for a refiner (requires_aesthetics_score, 5 ids) an aesthetic score, 2.5 on the
 * negative rows; no crop, no resize here. Halves as in staticFeeds: [negative,] positive.
 */
function timeIds(model: LoadedModel, halves: number, images: number, width: number, height: number): Feed {
  const count = model.unet.input('time_ids')?.shape[1];
  const aesthetic = count === 5 || (count !== 6 && model.info.refiner);
  const size = aesthetic ? 5 : 6;
  const out = new Float32Array(halves * images * size);
  for (let half = 0; half < halves; half++) {
    const last = aesthetic ? [halves === 2 && half === 0 ? NEGATIVE_AESTHETIC_SCORE : AESTHETIC_SCORE] : [height, width];
    const ids = Float32Array.from([height, width, 0, 0, ...last]);
    out.set(repeatBatch(ids, images), half * images * size);
  }
  return { data: out, dims: [halves * images, size] };
}

/**
 * Text feeds for a batch made of one or more requests' images. With negative embeddings the rows are
 * [uncond of every image, cond of every image], so one UNet call does both passes of classifier-free
 * guidance; either every part has a negative embedding or none has (see batchKey).
 */
export function staticFeeds(model: LoadedModel, parts: readonly BatchPart[], width: number, height: number): StaticFeeds {
  const images = parts.reduce((n, p) => n + p.images, 0);
  const guided = parts[0]!.cond.negative !== undefined;
  if (parts.some((p) => (p.cond.negative !== undefined) !== guided)) throw new Error('a batch mixes guided and unguided requests');
  const halves: PromptEmbedding[][] = guided ? [parts.map((p) => p.cond.negative!), parts.map((p) => p.cond.positive)] : [parts.map((p) => p.cond.positive)];
  const batch = halves.length * images;
  const { tokens, dim } = parts[0]!.cond.positive;
  /** Each embedding of a half repeated for its part's images, the halves one after the other. */
  const rows = (pick: (e: PromptEmbedding) => Float32Array, size: number): Float32Array => {
    const out = new Float32Array(batch * size);
    let row = 0;
    for (const half of halves) half.forEach((e, i) => {
      out.set(repeatBatch(pick(e), parts[i]!.images), row * size);
      row += parts[i]!.images;
    });
    return out;
  };
  const feeds: Record<string, Feed> = { encoder_hidden_states: { data: rows((e) => e.hidden, tokens * dim), dims: [batch, tokens, dim] } };

  if (model.unet.hasInput('text_embeds')) {
    const pooledDim = parts[0]!.cond.positive.pooled?.length ?? 0;
    feeds['text_embeds'] = { data: rows((e) => e.pooled!, pooledDim), dims: [batch, pooledDim] };
  }
  if (model.unet.hasInput('time_ids')) feeds['time_ids'] = timeIds(model, halves.length, images, width, height);
  if (usesGuidanceEmbedding(model)) {
    const d = model.unet.input('timestep_cond')!.shape[1];
    const size = typeof d === 'number' ? d : 256;
    const embeddings = halves.flatMap(() => parts.map((p) => guidanceEmbedding(p.guidance, size, p.images).data as Float32Array));
    feeds['timestep_cond'] = { data: concatBatch(...embeddings), dims: [batch, size] };
  }
  const guidance = new Float32Array(images);
  let k = 0;
  for (const p of parts) for (let i = 0; i < p.images; i++) guidance[k++] = p.guidance;
  return { batch, feeds, guidance };
}
