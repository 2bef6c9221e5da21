/**
 * Prompt weighting as AUTOMATIC1111's web UI reads it (modules/prompt_parser.py,
 * parse_prompt_attention), so prompts written for A1111, ComfyUI or Civitai mean here what
 * they meant there:
 *
 *   (text)       weight × 1.1, nesting multiplies: ((text)) × 1.21
 *   (text:1.3)   weight × 1.3
 *   [text]       weight ÷ 1.1
 *   \( \) \[ \]  the bracket itself, as text; \\ a backslash
 *   BREAK        (a whole word, upper case) ends the current 75-token chunk
 *
 * A1111's rules for what does not balance are kept too: a `)` or `]` with nothing open is plain
 * text, and a `(` or `[` never closed weights everything after it (× 1.1 or ÷ 1.1). Runs of equal
 * weight are merged, and an empty prompt is one empty piece.
 */
import { EngineInputError } from '../errors.ts';

export const PROMPT_SYNTAXES = ['a1111', 'literal'] as const;
/** `a1111`: weights, escapes and BREAK as above; `literal`: every character is text. */
export type PromptSyntax = (typeof PROMPT_SYNTAXES)[number];
export const DEFAULT_PROMPT_SYNTAX: PromptSyntax = 'a1111';

export function isPromptSyntax(s: unknown): s is PromptSyntax {
  return (PROMPT_SYNTAXES as readonly unknown[]).includes(s);
}

/**
 * One run of text and its weight: A1111's `[text, weight]` pair. BREAK is the pair `['BREAK', -1]`
 * exactly as there (and, as there, a BREAK inside brackets gets its weight multiplied and is then
 * read as the word BREAK).
 */
export interface WeightedText {
  text: string;
  weight: number;
}

export const BREAK_TEXT = 'BREAK';
const BREAK_WEIGHT = -1;

export function isBreak(piece: WeightedText): boolean {
  return piece.text === BREAK_TEXT && piece.weight === BREAK_WEIGHT;
}

/** A1111's re_attention, alternative for alternative; group 1 is the weight of `:w)`. */
const ATTENTION = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/gu;
/** A1111's re_break (`\s*\bBREAK\b\s*`), with Python's Unicode word boundary (letters, digits, _). */
const BREAK_SPLIT = /\s*(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])\s*/u;

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

/** A weight written as `(text:w)` that is no number (`(a:1.2.3)`): A1111 fails on it; we name it. */
export class PromptWeightError extends EngineInputError {
  constructor(field: string, written: string) {
    super(field, `${field}: "(…:${written})" has a weight that is not a number; write it like (red:1.3), or \\( \\) for literal brackets`);
    this.name = 'PromptWeightError';
  }
}

/** Pieces of `text` with their weights, under `syntax`; `field` names the prompt in errors. */
export function parsePrompt(text: string, syntax: PromptSyntax, field = 'prompt'): WeightedText[] {
  if (syntax === 'literal') return [{ text, weight: 1 }];
  return parseAttention(text, field);
}

/** parse_prompt_attention, step for step. */
export function parseAttention(text: string, field = 'prompt'): WeightedText[] {
  const res: WeightedText[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyRange = (start: number, multiplier: number): void => {
    for (let p = start; p < res.length; p++) res[p]!.weight *= multiplier;
  };

  for (const m of text.matchAll(ATTENTION)) {
    const token = m[0];
    const weight = m[1];
    if (token.startsWith('\\')) {
      res.push({ text: token.slice(1), weight: 1 });
    } else if (token === '(') {
      round.push(res.length);
    } else if (token === '[') {
      square.push(res.length);
    } else if (weight !== undefined && round.length > 0) {
      const w = Number(weight);
      if (Number.isNaN(w)) throw new PromptWeightError(field, weight);
      multiplyRange(round.pop()!, w);
    } else if (token === ')' && round.length > 0) {
      multiplyRange(round.pop()!, ROUND);
    } else if (token === ']' && square.length > 0) {
      multiplyRange(square.pop()!, SQUARE);
    } else {
      token.split(BREAK_SPLIT).forEach((part, i) => {
        if (i > 0) res.push({ text: BREAK_TEXT, weight: BREAK_WEIGHT });
        res.push({ text: part, weight: 1 });
      });
    }
  }
  for (const pos of round) multiplyRange(pos, ROUND);
  for (const pos of square) multiplyRange(pos, SQUARE);
  if (res.length === 0) res.push({ text: '', weight: 1 });

  // Merge runs of identical weights.
  for (let i = 0; i + 1 < res.length; ) {
    if (res[i]!.weight === res[i + 1]!.weight) {
      res[i]!.text += res[i + 1]!.text;
      res.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return res;
}
