/**
 * Prompt encoding: weighted pieces (prompts/weighting.ts) → 75-token chunks (prompts/chunks.ts) →
 * text encoder(s), one chunk at a time → each chunk's hidden states weighted (prompts/emphasis.ts)
 * → chunks concatenated along the sequence axis. One prompt serves every output of a request, so it
 * is encoded once (batch 1) and the UNet feed repeats it; that also keeps image k of a batch equal
 * to the single image made with seed + k.
 */
import { EngineInputError } from '../errors.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { promptChunks, padChunks, type PromptChunk } from '../prompts/chunks.ts';
import { applyWeights } from '../prompts/emphasis.ts';
import { DEFAULT_PROMPT_SYNTAX, parsePrompt, type PromptSyntax } from '../prompts/weighting.ts';
import type { OnnxSession, Output } from '../runtime/session.ts';
import type { ClipTokenizer } from '../tokenizers/clip.ts';
import { checkFinite } from './finite.ts';
import type { GenerationRequest } from './request.ts';

/** Text conditioning for one prompt: hidden states [1, tokens, dim] and, for SDXL, pooled [1, pooledDim]. */
export interface PromptEmbedding {
  hidden: Float32Array;
  tokens: number;
  dim: number;
  pooled?: Float32Array;
}

export interface Conditioning {
  positive: PromptEmbedding;
  /** Absent when guidance is off (no unconditional pass). */
  negative?: PromptEmbedding;
}

/** What of a request the text conditioning reads. */
export type PromptRequest = Pick<GenerationRequest, 'prompt' | 'negativePrompt' | 'promptSyntax'>;

/** One prompt cut into chunks for each of the model's tokenizers (SDXL has two), every list as long. */
type EncoderChunks = PromptChunk[][];

function tokenizers(model: LoadedModel): ClipTokenizer[] {
  return model.tokenizer2 ? [model.tokenizer, model.tokenizer2] : [model.tokenizer];
}

function chunksOf(model: LoadedModel, text: string, syntax: PromptSyntax, field: string): EncoderChunks {
  const pieces = parsePrompt(text, syntax, field);
  const lists = tokenizers(model).map((t) => promptChunks(t, pieces));
  return equalLength(model, lists, Math.max(...lists.map((l) => l.length)));
}

function equalLength(model: LoadedModel, lists: EncoderChunks, count: number): EncoderChunks {
  const toks = tokenizers(model);
  return lists.map((l, i) => padChunks(l, count, toks[i]!));
}

/**
 * How many 77-token chunks the text of `req` takes: the prompt's, or with guidance the longer of the
 * prompt's and the negative prompt's (the shorter is padded to it). Requests share a denoising batch
 * only with this equal (their encoder_hidden_states must have one length).
 */
export function promptChunkCount(model: LoadedModel, req: PromptRequest, withNegative: boolean): number {
  const syntax = req.promptSyntax ?? DEFAULT_PROMPT_SYNTAX;
  const positive = chunksOf(model, req.prompt, syntax, 'prompt')[0]!.length;
  return withNegative ? Math.max(positive, chunksOf(model, req.negativePrompt ?? '', syntax, 'negativePrompt')[0]!.length) : positive;
}

async function runEncoder(encoder: OnnxSession, ids: number[], component: string): Promise<Record<string, Output>> {
  const outputs = await encoder.run({ input_ids: { data: ids, dims: [1, ids.length] } });
  for (const o of Object.values(outputs)) checkFinite(o.data, component, encoder);
  return outputs;
}

/** SDXL conditions on the penultimate layer (diffusers' hidden_states[-2]); exports name them hidden_states.N. */
function penultimate(outputs: Record<string, Output>): Output {
  const layers = Object.keys(outputs)
    .map((n) => /^hidden_states\.(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const key = layers.length >= 2 ? `hidden_states.${layers[layers.length - 2]}` : 'last_hidden_state';
  const out = outputs[key];
  if (!out) throw new Error(`text encoder has neither hidden_states.N nor last_hidden_state outputs`);
  return out;
}

function lastHidden(outputs: Record<string, Output>): Output {
  return outputs['last_hidden_state'] ?? Object.values(outputs)[0]!;
}

/** One chunk through one encoder: its hidden states [tokens, dim], weighted. */
async function encodeChunk(encoder: OnnxSession, chunk: PromptChunk, pick: (o: Record<string, Output>) => Output, component: string) {
  const outputs = await runEncoder(encoder, chunk.ids, component);
  const h = pick(outputs);
  const dim = h.dims[2]!;
  return { hidden: applyWeights(h.data, chunk.weights, dim), tokens: h.dims[1]!, dim, outputs };
}

/** Chunks one after the other on the sequence axis. */
function concatTokens(parts: readonly { hidden: Float32Array; tokens: number }[]): { hidden: Float32Array; tokens: number } {
  const tokens = parts.reduce((n, p) => n + p.tokens, 0);
  const hidden = new Float32Array(parts.reduce((n, p) => n + p.hidden.length, 0));
  let at = 0;
  for (const p of parts) {
    hidden.set(p.hidden, at);
    at += p.hidden.length;
  }
  return { hidden, tokens };
}

async function encodeSingle(model: LoadedModel, chunks: EncoderChunks): Promise<PromptEmbedding> {
  // One chunk per run: each chunk's encoding is then exactly that of a one-chunk prompt.
  const parts = [];
  for (const chunk of chunks[0]!) parts.push(await encodeChunk(model.textEncoder, chunk, lastHidden, 'textEncoder'));
  return { ...concatTokens(parts), dim: parts[0]!.dim };
}

async function encodeSdxl(model: LoadedModel, chunks: EncoderChunks): Promise<PromptEmbedding> {
  const parts = [];
  let pooled: Float32Array | undefined;
  for (let c = 0; c < chunks[0]!.length; c++) {
    const a = await encodeChunk(model.textEncoder, chunks[0]![c]!, penultimate, 'textEncoder');
    const b = await encodeChunk(model.textEncoder2!, chunks[1]![c]!, penultimate, 'textEncoder2');
    const width = a.dim + b.dim;
    const hidden = new Float32Array(a.tokens * width);
    for (let t = 0; t < a.tokens; t++) {
      hidden.set(a.hidden.subarray(t * a.dim, (t + 1) * a.dim), t * width);
      hidden.set(b.hidden.subarray(t * b.dim, (t + 1) * b.dim), t * width + a.dim);
    }
    parts.push({ hidden, tokens: a.tokens, dim: width });
    // The pooled projection comes from the first chunk only, as A1111 takes it.
    if (c === 0) {
      const p = b.outputs['text_embeds'] ?? b.outputs['pooler_output'];
      if (!p) throw new Error('text_encoder_2 has no text_embeds output (SDXL needs the pooled projection)');
      pooled = p.data;
    }
  }
  return { ...concatTokens(parts), dim: parts[0]!.dim, pooled };
}

/** The SDXL refiner conditions on OpenCLIP bigG alone: its penultimate layer and its pooled projection. */
async function encodeRefiner(model: LoadedModel, chunks: EncoderChunks): Promise<PromptEmbedding> {
  const parts = [];
  let pooled: Float32Array | undefined;
  for (const chunk of chunks[0]!) {
    const part = await encodeChunk(model.textEncoder, chunk, penultimate, 'textEncoder');
    pooled ??= (part.outputs['text_embeds'] ?? part.outputs['pooler_output'])?.data;
    parts.push(part);
  }
  if (!pooled) throw new Error('text_encoder_2 has no text_embeds output (the SDXL refiner needs the pooled projection)');
  return { ...concatTokens(parts), dim: parts[0]!.dim, pooled };
}

function encodeChunks(model: LoadedModel, chunks: EncoderChunks): Promise<PromptEmbedding> {
  if (model.info.refiner) return encodeRefiner(model, chunks);
  return model.textEncoder2 ? encodeSdxl(model, chunks) : encodeSingle(model, chunks);
}

/**
 * A UNet exported with a fixed text axis (77) takes one chunk only: a longer prompt is refused,
 * naming the model, rather than cut without a word.
 */
function checkTextAxis(model: LoadedModel, chunks: number, field: string): void {
  const axis = model.unet.input('encoder_hidden_states')?.shape[1];
  const tokens = chunks * model.tokenizer.modelMaxLength;
  if (typeof axis === 'number' && tokens > axis) {
    throw new EngineInputError(
      field,
      `model ${model.id} takes at most ${model.tokenizer.modelMaxLength - 2} prompt tokens (its UNet was exported with a fixed ${axis}-token text axis); ` +
        `this ${field === 'negativePrompt' ? 'negative prompt' : 'prompt'} needs ${chunks} chunks of ${model.tokenizer.modelMaxLength - 2}: shorten it, or use an export whose encoder_hidden_states sequence axis is dynamic`,
    );
  }
}

function zerosLike(e: PromptEmbedding): PromptEmbedding {
  return { ...e, hidden: new Float32Array(e.hidden.length), pooled: e.pooled ? new Float32Array(e.pooled.length) : undefined };
}

export async function encodePrompt(model: LoadedModel, text: string, syntax: PromptSyntax = DEFAULT_PROMPT_SYNTAX): Promise<PromptEmbedding> {
  const chunks = chunksOf(model, text, syntax, 'prompt');
  checkTextAxis(model, chunks[0]!.length, 'prompt');
  return encodeChunks(model, chunks);
}

/**
 * The classifier-free guidance pair: the prompt and the negative prompt, the shorter padded with
 * empty chunks to the other's length (A1111's "pad prompt/negative prompt to be same length").
 */
export async function encodeConditioning(model: LoadedModel, req: PromptRequest, withNegative: boolean): Promise<Conditioning> {
  const { prompt, negativePrompt = '', promptSyntax: syntax = DEFAULT_PROMPT_SYNTAX } = req;
  let positiveChunks = chunksOf(model, prompt, syntax, 'prompt');
  // SDXL base was trained with zeroed embeddings for "no negative prompt" (force_zeros_for_empty_prompt).
  const zeros = (model.textEncoder2 || model.info.refiner) && negativePrompt === '' && model.info.modelIndex['force_zeros_for_empty_prompt'] !== false;
  let negativeChunks = withNegative && !zeros ? chunksOf(model, negativePrompt, syntax, 'negativePrompt') : undefined;
  const count = Math.max(positiveChunks[0]!.length, negativeChunks?.[0]!.length ?? 0);
  checkTextAxis(model, positiveChunks[0]!.length, 'prompt');
  if (negativeChunks) checkTextAxis(model, negativeChunks[0]!.length, 'negativePrompt');
  positiveChunks = equalLength(model, positiveChunks, count);
  negativeChunks = negativeChunks && equalLength(model, negativeChunks, count);

  const positive = await encodeChunks(model, positiveChunks);
  if (!withNegative) return { positive };
  const negative = negativeChunks ? await encodeChunks(model, negativeChunks) : zerosLike(positive);
  return { positive, negative };
}
