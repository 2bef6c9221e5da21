/**
 * Prompts of any length, as AUTOMATIC1111's web UI cuts them (modules/sd_hijack_clip.py,
 * tokenize_line): the tokens of the weighted pieces go into chunks of 75 (the text encoder's 77 less
 * its start and end tokens); a chunk that fills up while a comma lies within its last 20 tokens ends
 * just after that comma instead, and the words after it move on to the next chunk; BREAK ends a
 * chunk where it stands. Each chunk is framed `[bos, …tokens, eos, pad…]` to 77 and encoded on its
 * own; the encodings are concatenated along the sequence axis.
 */
import type { ClipTokenizer } from '../tokenizers/clip.ts';
import { isBreak, type WeightedText } from './weighting.ts';

/** A1111's comma_padding_backtrack default: how far back a full chunk looks for a comma to end at. */
export const COMMA_BACKTRACK = 20;

/** One encoder input: exactly the tokenizer's model length (77) ids and a weight for each. */
export interface PromptChunk {
  ids: number[];
  weights: number[];
}

type Tokenizer = Pick<ClipTokenizer, 'tokenize' | 'tokenToId' | 'bosTokenId' | 'eosTokenId' | 'padTokenId' | 'unkTokenId' | 'modelMaxLength'>;

function ids(tokenizer: Tokenizer, text: string): number[] {
  return tokenizer.tokenize(text).map((t) => tokenizer.tokenToId(t) ?? tokenizer.unkTokenId);
}

function frame(tokenizer: Tokenizer, tokens: number[], weights: number[]): PromptChunk {
  const length = tokenizer.modelMaxLength;
  const chunk: PromptChunk = { ids: [tokenizer.bosTokenId, ...tokens, tokenizer.eosTokenId], weights: [1, ...weights, 1] };
  while (chunk.ids.length < length) {
    chunk.ids.push(tokenizer.padTokenId);
    chunk.weights.push(1);
  }
  return chunk;
}

/** The chunk of an empty prompt: what pads the shorter prompt of a guidance pair. */
export function emptyChunk(tokenizer: Tokenizer): PromptChunk {
  return frame(tokenizer, [], []);
}

/** tokenize_line: the weighted pieces of one prompt as framed chunks (at least one). */
export function promptChunks(tokenizer: Tokenizer, pieces: readonly WeightedText[]): PromptChunk[] {
  const size = tokenizer.modelMaxLength - 2;
  const comma = tokenizer.tokenToId(',</w>');
  const chunks: PromptChunk[] = [];
  let tokens: number[] = [];
  let weights: number[] = [];
  let lastComma = -1;
  const next = (): void => {
    chunks.push(frame(tokenizer, tokens, weights));
    tokens = [];
    weights = [];
    lastComma = -1;
  };

  for (const piece of pieces) {
    if (isBreak(piece)) {
      next();
      continue;
    }
    for (const token of ids(tokenizer, piece.text)) {
      if (token === comma) {
        lastComma = tokens.length;
      } else if (tokens.length === size && lastComma !== -1 && tokens.length - lastComma <= COMMA_BACKTRACK) {
        const at = lastComma + 1;
        const movedTokens = tokens.slice(at);
        const movedWeights = weights.slice(at);
        tokens = tokens.slice(0, at);
        weights = weights.slice(0, at);
        next();
        tokens = movedTokens;
        weights = movedWeights;
      }
      if (tokens.length === size) next();
      tokens.push(token);
      weights.push(piece.weight);
    }
  }
  if (tokens.length > 0 || chunks.length === 0) next();
  return chunks;
}

/** Pads the shorter list with empty chunks, so a prompt and its negative have the same length. */
export function padChunks(chunks: readonly PromptChunk[], count: number, tokenizer: Tokenizer): PromptChunk[] {
  const out = [...chunks];
  while (out.length < count) out.push(emptyChunk(tokenizer));
  return out;
}
