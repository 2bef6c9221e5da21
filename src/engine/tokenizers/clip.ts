/**
 * CLIP's byte-level BPE tokenizer, as Stable Diffusion's text encoders expect it.
 *
 * Gives the ids of Hugging Face's `CLIPTokenizer` as transformers 5 builds it (the `tokenizers`-backed
 * one, also `CLIPTokenizerFast` before it) on a Stable Diffusion `tokenizer/` folder: `vocab.json` and
 * `merges.txt`, or only `tokenizer.json` (what transformers 5 `save_pretrained` writes), with optional
 * `tokenizer_config.json` and `special_tokens_map.json`. test/engine/tokenizer-table.test.ts checks it
 * against a table of 2,000+ prompts (tools/tokenizer-table/make.mjs):
 *
 * 1. The raw text is split on the special tokens (bos, eos, unk, pad) first, exactly as written
 *    (case-sensitive, as `tokenizers` matches its unnormalised added tokens): they become their own ids.
 *    `<|ENDOFTEXT|>` is not one: it is lowercased and split like any text. With SD 2.x's pad token `!`,
 *    every `!` in a prompt is the pad id 0, as in Hugging Face.
 * 2. Each remaining piece is normalised: NFC, whitespace runs → one space, lowercased one code point at
 *    a time (Rust's `char::to_lowercase`, so a word-final `Σ` is `σ`, not the `ς` of JavaScript's
 *    context-sensitive `toLowerCase`). No ftfy and no HTML unescaping; a run of CJK characters stays one word.
 * 3. Pre-tokenised by CLIP's regex (below), case-sensitively: contractions, letter runs, single digits,
 *    runs of anything else but whitespace (so a combining mark such as U+0345 is not a letter).
 * 4. Each pre-token's UTF-8 bytes are mapped through GPT-2's byte table; the last symbol gets `</w>`;
 *    merges apply lowest rank (line order of merges.txt) first, each merging every non-overlapping
 *    occurrence left to right, until none applies.
 * 5. Symbols not in the vocabulary become the unk id.
 *
 * `encode` gives `[bos, …tokens (truncated to maxLength - 2), eos, pad…]`, exactly maxLength long.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { byteDecode, byteEncode } from './byte-level.ts';
import { parseTokenizerJson, type BpeModel } from './tokenizer-json.ts';

export interface ClipTokenizerData {
  /** vocab.json: symbol → id. */
  vocab: Record<string, number>;
  /** merges.txt lines, `'a b'` (a leading `#version` line and blank lines are skipped), or `[a, b]` pairs. */
  merges: (string | readonly [string, string])[];
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  unkToken?: string;
  /** Default `maxLength` of `encode` (tokenizer_config.json `model_max_length`); 77 when absent. */
  modelMaxLength?: number;
}

export interface ClipEncoding {
  /** Exactly maxLength ids. */
  ids: number[];
  /** 1 for bos, tokens and eos; 0 for padding. */
  attentionMask: number[];
  /** True when prompt tokens were dropped to fit. */
  truncated: boolean;
}

export interface ClipEncodeOptions {
  /** Total length including bos and eos; default modelMaxLength (77). */
  maxLength?: number;
}

export const DEFAULT_MAX_LENGTH = 77;
const END_OF_WORD = '</w>';
const CACHE_LIMIT = 10_000;

/**
 * CLIP's pre-tokeniser. Without the `i` flag: under it a `u` class also matches what case-folds into
 * it (U+0345 folds to a Greek iota). The special tokens' alternatives of OpenAI's pattern are left out:
 * they were split off before, and text that only lowercases to one is split like any other text.
 */
const PRE_TOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/gu;
const WHITESPACE_RUN = /\p{White_Space}+/gu;

export class ClipTokenizer {
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;
  readonly vocabSize: number;
  readonly modelMaxLength: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly unkToken: string;

  private readonly encoder: Map<string, number>;
  private readonly decoder: Map<number, string>;
  private readonly ranks: Map<string, number>;
  private readonly specialSplit: RegExp;
  private readonly cache = new Map<string, string[]>();

  constructor(data: ClipTokenizerData) {
    this.encoder = new Map(Object.entries(data.vocab));
    this.decoder = new Map();
    for (const [token, id] of this.encoder) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`CLIP tokenizer: vocabulary id of ${JSON.stringify(token)} is not a non-negative integer`);
      this.decoder.set(id, token);
    }
    this.vocabSize = this.encoder.size;

    this.ranks = new Map();
    let rank = 0;
    data.merges.forEach((line, i) => {
      if (typeof line !== 'string') {
        this.ranks.set(`${line[0]} ${line[1]}`, rank++);
        return;
      }
      const trimmed = line.trim();
      if (trimmed === '' || (i === 0 && trimmed.startsWith('#version'))) return;
      const parts = trimmed.split(/ +/);
      if (parts.length !== 2) throw new Error(`CLIP tokenizer: merge ${i + 1} is not two symbols: ${JSON.stringify(line)}`);
      // A repeated pair keeps its last rank, like Python's dict(zip(merges, range(n))).
      this.ranks.set(`${parts[0]} ${parts[1]}`, rank++);
    });

    this.bosToken = data.bosToken ?? '<|startoftext|>';
    this.eosToken = data.eosToken ?? '<|endoftext|>';
    this.padToken = data.padToken ?? '<|endoftext|>';
    this.unkToken = data.unkToken ?? '<|endoftext|>';
    this.bosTokenId = this.requireId('bos', this.bosToken);
    this.eosTokenId = this.requireId('eos', this.eosToken);
    this.padTokenId = this.requireId('pad', this.padToken);
    this.unkTokenId = this.requireId('unk', this.unkToken);

    const max = data.modelMaxLength;
    this.modelMaxLength = max !== undefined && Number.isInteger(max) && max >= 2 && max <= 1_000_000 ? max : DEFAULT_MAX_LENGTH;

    // Longest first, so that at one position the longest special token wins.
    const specials = [...new Set([this.bosToken, this.eosToken, this.unkToken, this.padToken])].sort((a, b) => b.length - a.length);
    this.specialSplit = new RegExp(`(${specials.map(escapeRegExp).join('|')})`, 'u');
  }

  /**
   * Reads a Hugging Face tokenizer folder (Stable Diffusion's `tokenizer/` or `tokenizer_2/`): its
   * vocab.json and merges.txt, or without them its tokenizer.json.
   */
  static async fromFolder(dir: string): Promise<ClipTokenizer> {
    const { vocab, merges } = await readBpeModel(dir);
    // tokenizer_config.json first, then special_tokens_map.json overrides it (Hugging Face's order).
    const config = await readOptionalJson(join(dir, 'tokenizer_config.json'));
    const map = await readOptionalJson(join(dir, 'special_tokens_map.json'));
    const token = (key: string) => tokenContent(map[key]) ?? tokenContent(config[key]);
    const maxLength = config['model_max_length'];
    return new ClipTokenizer({
      vocab,
      merges,
      bosToken: token('bos_token'),
      eosToken: token('eos_token'),
      padToken: token('pad_token'),
      unkToken: token('unk_token'),
      modelMaxLength: typeof maxLength === 'number' ? maxLength : undefined,
    });
  }

  /** The BPE symbols of `text`, special tokens included as written; no bos/eos/padding. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    // With a capturing group, split puts the special tokens at the odd indexes.
    text.split(this.specialSplit).forEach((piece, i) => {
      if (i % 2 === 1) {
        out.push(piece);
        return;
      }
      for (const match of normalize(piece).matchAll(PRE_TOKENIZE)) {
        for (const symbol of this.bpe(byteEncode(match[0]))) out.push(symbol);
      }
    });
    return out;
  }

  encode(text: string, options: ClipEncodeOptions = {}): ClipEncoding {
    const maxLength = options.maxLength ?? this.modelMaxLength;
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new RangeError(`maxLength must be an integer >= 2, got ${maxLength}`);
    const tokens = this.tokenize(text).map((t) => this.encoder.get(t) ?? this.unkTokenId);
    const kept = tokens.slice(0, maxLength - 2);
    const ids = [this.bosTokenId, ...kept, this.eosTokenId];
    const attentionMask = ids.map(() => 1);
    while (ids.length < maxLength) {
      ids.push(this.padTokenId);
      attentionMask.push(0);
    }
    return { ids, attentionMask, truncated: kept.length < tokens.length };
  }

  /** Text of `ids` (word ends become spaces); bos, eos and pad are skipped unless asked for. */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const special = new Set([this.bosTokenId, this.eosTokenId, this.padTokenId]);
    const text = ids
      .filter((id) => !(skip && special.has(id)))
      .map((id) => this.decoder.get(id) ?? '')
      .join('');
    return byteDecode(text).replaceAll(END_OF_WORD, ' ').trim();
  }

  /** Id of a vocabulary symbol, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.encoder.get(token);
  }

  private requireId(role: string, token: string): number {
    const id = this.encoder.get(token);
    if (id === undefined) throw new Error(`CLIP tokenizer: vocabulary has no ${role} token ${JSON.stringify(token)}`);
    return id;
  }

  /** BPE of one byte-encoded word. */
  private bpe(word: string): string[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    let symbols = Array.from(word);
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          at = i;
        }
      }
      if (at < 0) break;
      const first = symbols[at]!;
      const second = symbols[at + 1]!;
      const merged: string[] = symbols.slice(0, at);
      for (let i = at; i < symbols.length; ) {
        if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(symbols[i]!);
          i += 1;
        }
      }
      symbols = merged;
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(word, symbols);
    return symbols;
  }
}

async function readBpeModel(dir: string): Promise<BpeModel> {
  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const jsonPath = join(dir, 'tokenizer.json');
  const vocabText = await readOptional(vocabPath);
  if (vocabText === undefined) {
    const jsonText = await readOptional(jsonPath);
    if (jsonText === undefined) throw new Error(`CLIP tokenizer: missing ${vocabPath} and ${mergesPath} (or ${jsonPath})`);
    return parseTokenizerJson(jsonPath, parseJson(jsonPath, jsonText));
  }
  const mergesText = await readOptional(mergesPath);
  if (mergesText === undefined) throw new Error(`CLIP tokenizer: missing ${mergesPath}`);
  const vocab = parseJson(vocabPath, vocabText);
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) {
    throw new Error(`CLIP tokenizer: ${vocabPath} is not a JSON object of token → id`);
  }
  return { vocab: vocab as Record<string, number>, merges: mergesText.split('\n') };
}

function normalize(text: string): string {
  return lowercaseEach(text.normalize('NFC').replace(WHITESPACE_RUN, ' ').trim());
}

/** Each code point lowercased alone, without the context rules of String.prototype.toLowerCase. */
function lowercaseEach(text: string): string {
  let out = '';
  for (const ch of text) out += ch.toLowerCase();
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readOptionalJson(path: string): Promise<Record<string, unknown>> {
  const text = await readOptional(path);
  if (text === undefined) return {};
  const value = parseJson(path, text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`CLIP tokenizer: ${path} is not a JSON object`);
  return value as Record<string, unknown>;
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`CLIP tokenizer: ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A special token as stored in the JSON files: a string or an AddedToken object `{content: …}`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}
