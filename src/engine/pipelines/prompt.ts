/**
 * Prompt encoding: tokenizer → text encoder(s). One prompt serves every output of a request, so it
 * is encoded once (batch 1) and the UNet feed repeats it; that also keeps image k of a batch equal
 * to the single image made with seed + k.
 */
import type { LoadedModel } from '../models/loaded-model.ts';
import type { OnnxSession, Output } from '../runtime/session.ts';
import type { ClipTokenizer } from '../tokenizers/clip.ts';
import { checkFinite } from './finite.ts';

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

async function runEncoder(tokenizer: ClipTokenizer, encoder: OnnxSession, text: string, component = 'textEncoder'): Promise<Record<string, Output>> {
  const { ids } = tokenizer.encode(text);
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

function single(outputs: Record<string, Output>): PromptEmbedding {
  const h = outputs['last_hidden_state'] ?? Object.values(outputs)[0]!;
  return { hidden: h.data, tokens: h.dims[1]!, dim: h.dims[2]! };
}

async function encodeSdxl(model: LoadedModel, text: string): Promise<PromptEmbedding> {
  const first = await runEncoder(model.tokenizer, model.textEncoder, text);
  const second = await runEncoder(model.tokenizer2!, model.textEncoder2!, text, 'textEncoder2');
  const a = penultimate(first);
  const b = penultimate(second);
  const tokens = a.dims[1]!;
  const da = a.dims[2]!;
  const db = b.dims[2]!;
  const hidden = new Float32Array(tokens * (da + db));
  for (let t = 0; t < tokens; t++) {
    hidden.set(a.data.subarray(t * da, (t + 1) * da), t * (da + db));
    hidden.set(b.data.subarray(t * db, (t + 1) * db), t * (da + db) + da);
  }
  const pooled = second['text_embeds'] ?? second['pooler_output'];
  if (!pooled) throw new Error('text_encoder_2 has no text_embeds output (SDXL needs the pooled projection)');
  return { hidden, tokens, dim: da + db, pooled: pooled.data };
}

function zerosLike(e: PromptEmbedding): PromptEmbedding {
  return { ...e, hidden: new Float32Array(e.hidden.length), pooled: e.pooled ? new Float32Array(e.pooled.length) : undefined };
}

export async function encodePrompt(model: LoadedModel, text: string): Promise<PromptEmbedding> {
  if (model.textEncoder2) return encodeSdxl(model, text);
  return single(await runEncoder(model.tokenizer, model.textEncoder, text));
}

export async function encodeConditioning(
  model: LoadedModel,
  prompt: string,
  negativePrompt: string,
  withNegative: boolean,
): Promise<Conditioning> {
  const positive = await encodePrompt(model, prompt);
  if (!withNegative) return { positive };
  // SDXL base was trained with zeroed embeddings for "no negative prompt" (force_zeros_for_empty_prompt).
  const zeros = model.textEncoder2 && negativePrompt === '' && model.info.modelIndex['force_zeros_for_empty_prompt'] !== false;
  const negative = zeros ? zerosLike(positive) : await encodePrompt(model, negativePrompt);
  return { positive, negative };
}
