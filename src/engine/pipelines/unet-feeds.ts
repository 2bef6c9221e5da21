/**
 * Builds the UNet's inputs from what its session declares: exports differ in the timestep's dtype
 * and shape ([1] in older ones, [batch] in newer), SDXL adds pooled text and size ids, LCM a
 * guidance embedding.
 */
import type { LoadedModel } from '../models/loaded-model.ts';
import type { Feed } from '../runtime/session.ts';
import { repeatBatch } from './tensors.ts';
import type { Conditioning, PromptEmbedding } from './prompt.ts';

/** Per-call inputs that do not change between steps: text states for the whole (CFG-doubled) batch. */
export interface StaticFeeds {
  batch: number;
  feeds: Record<string, Feed>;
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

/**
 * Text feeds for `images` outputs. With a negative embedding the batch is [uncond x images, cond x images]
 * so one UNet call does both passes of classifier-free guidance.
 */
export function staticFeeds(model: LoadedModel, cond: Conditioning, images: number, width: number, height: number, guidance: number): StaticFeeds {
  const parts: PromptEmbedding[] = cond.negative ? [cond.negative, cond.positive] : [cond.positive];
  const batch = parts.length * images;
  const per = parts[0]!;
  const hidden = new Float32Array(batch * per.tokens * per.dim);
  parts.forEach((p, i) => hidden.set(repeatBatch(p.hidden, images), i * images * p.hidden.length));
  const feeds: Record<string, Feed> = { encoder_hidden_states: { data: hidden, dims: [batch, per.tokens, per.dim] } };

  if (model.unet.hasInput('text_embeds')) {
    const pooledDim = per.pooled?.length ?? 0;
    const pooled = new Float32Array(batch * pooledDim);
    parts.forEach((p, i) => pooled.set(repeatBatch(p.pooled!, images), i * images * pooledDim));
    feeds['text_embeds'] = { data: pooled, dims: [batch, pooledDim] };
  }
  if (model.unet.hasInput('time_ids')) {
    // SDXL micro-conditioning: original size, crop top-left, target size (no crop, no resize here).
    const ids = Float32Array.from([height, width, 0, 0, height, width]);
    feeds['time_ids'] = { data: repeatBatch(ids, batch), dims: [batch, 6] };
  }
  if (usesGuidanceEmbedding(model)) {
    const dim = model.unet.input('timestep_cond')!.shape[1];
    feeds['timestep_cond'] = guidanceEmbedding(guidance, typeof dim === 'number' ? dim : 256, batch);
  }
  return { batch, feeds };
}
