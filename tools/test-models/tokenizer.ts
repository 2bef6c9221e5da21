/**
 * A tiny CLIP-style byte-level BPE tokenizer, built from scratch: the 256 byte symbols of GPT-2's
 * bytes_to_unicode, each also with a `</w>` (end of word) suffix, merges that build each word of a
 * small word list into one token, then `<|startoftext|>` and `<|endoftext|>`, in the order of
 * OpenAI's CLIP vocabulary (so `!` is id 0, as the SD 2.x pad token relies on, and the two special
 * tokens are the last two ids). Written as the Hugging Face CLIPTokenizer files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BOS = '<|startoftext|>';
export const EOS = '<|endoftext|>';
export const MAX_LENGTH = 77;

/** The words that get whole-word tokens; anything else still tokenizes, byte by byte. */
export const WORDS = [
  'a', 'an', 'the', 'of', 'on', 'in', 'with', 'and', 'photo', 'painting', 'portrait', 'red', 'green', 'blue',
  'yellow', 'white', 'black', 'circle', 'square', 'triangle', 'cat', 'dog', 'house', 'tree', 'sky',
  'background', 'sunset', 'mountain', 'small', 'big',
] as const;

/** GPT-2's reversible map from bytes to printable unicode characters, in its own order. */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i]!)]));
}

export interface TinyTokenizer {
  /** token → id; ids are 0..size-1. */
  vocab: Map<string, number>;
  /** "left right" pairs, lowest rank first. */
  merges: string[];
  bosId: number;
  eosId: number;
}

/** CLIP's BPE on one word's symbols: repeatedly merge the lowest-ranked adjacent pair, all occurrences. */
export function bpe(symbols: readonly string[], ranks: ReadonlyMap<string, number>): string[] {
  let word = [...symbols];
  for (;;) {
    let best: string | undefined;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const r = ranks.get(`${word[i]} ${word[i + 1]}`);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = `${word[i]} ${word[i + 1]}`;
      }
    }
    if (best === undefined) return word;
    const [a, b] = best.split(' ') as [string, string];
    const next: string[] = [];
    for (let i = 0; i < word.length; i++) {
      if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
        next.push(a + b);
        i++;
      } else next.push(word[i]!);
    }
    word = next;
  }
}

function wordSymbols(word: string, byteMap: Map<number, string>): string[] {
  const chars = Array.from(new TextEncoder().encode(word), (b) => byteMap.get(b)!);
  chars[chars.length - 1] += '</w>';
  return chars;
}

export function buildTokenizer(words: readonly string[] = WORDS): TinyTokenizer {
  const byteMap = bytesToUnicode();
  const tokens = [...byteMap.values()];
  tokens.push(...tokens.map((t) => `${t}</w>`));
  const merges: string[] = [];
  const ranks = new Map<string, number>();
  const known = new Set(tokens);
  for (const w of words) {
    // Add merges until BPE (with every merge so far) turns the word into one token. A later merge
    // never changes an earlier word: BPE only takes it once no lower-ranked pair applies.
    for (;;) {
      const s = bpe(wordSymbols(w, byteMap), ranks);
      if (s.length === 1) break;
      const pair = `${s[0]} ${s[1]}`;
      ranks.set(pair, merges.length);
      merges.push(pair);
      const merged = s[0]! + s[1]!;
      if (!known.has(merged)) {
        known.add(merged);
        tokens.push(merged);
      }
    }
  }
  tokens.push(BOS, EOS);
  const vocab = new Map(tokens.map((t, i) => [t, i]));
  return { vocab, merges, bosId: vocab.get(BOS)!, eosId: vocab.get(EOS)! };
}

/**
 * Tokenizes like CLIPTokenizer (lower case, CLIP's word pattern, BPE), then frames and pads to 77
 * ids: [BOS, ...tokens (at most 75), EOS, pad...]. For tests; the engine has its own tokenizer.
 */
export function encodePrompt(tok: TinyTokenizer, text: string, padToken: string = EOS): number[] {
  const byteMap = bytesToUnicode();
  const ranks = new Map(tok.merges.map((m, i) => [m, i]));
  const pieces = text.toLowerCase().replace(/\s+/g, ' ').trim().match(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu) ?? [];
  const ids: number[] = [];
  for (const piece of pieces) for (const t of bpe(wordSymbols(piece, byteMap), ranks)) ids.push(tok.vocab.get(t)!);
  const pad = tok.vocab.get(padToken);
  if (pad === undefined) throw new Error(`pad token ${padToken} is not in the vocabulary`);
  const framed = [tok.bosId, ...ids.slice(0, MAX_LENGTH - 2), tok.eosId];
  while (framed.length < MAX_LENGTH) framed.push(pad);
  return framed;
}

/** Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json into `dir`. */
export async function writeTokenizer(dir: string, tok: TinyTokenizer, padToken: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'vocab.json'), JSON.stringify(Object.fromEntries(tok.vocab)));
  await writeFile(join(dir, 'merges.txt'), `#version: 0.2\n${tok.merges.join('\n')}\n`);
  const special = { bos_token: BOS, eos_token: EOS, pad_token: padToken, unk_token: EOS };
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      {
        add_prefix_space: false,
        clean_up_tokenization_spaces: true,
        do_lower_case: true,
        errors: 'replace',
        model_max_length: MAX_LENGTH,
        tokenizer_class: 'CLIPTokenizer',
        ...special,
      },
      null,
      2,
    ),
  );
  await writeFile(join(dir, 'special_tokens_map.json'), JSON.stringify(special, null, 2));
}
