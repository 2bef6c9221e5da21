import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { promptChunks, padChunks } from '../../../src/engine/prompts/chunks.ts';
import { parseAttention, parsePrompt, PromptWeightError } from '../../../src/engine/prompts/weighting.ts';

// Expected pieces: the output of AUTOMATIC1111's parse_prompt_attention (modules/prompt_parser.py)
// on each prompt, run in Python; weights are its float64 products, written as Python printed them.
const PARSE_CASES: [string, [string, number][]][] = [
  ["normal text", [["normal text", 1.0]]],
  ["an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]],
  ["(unbalanced", [["unbalanced", 1.1]]],
  ["\\(literal\\]", [["(literal]", 1.0]]],
  ["(unnecessary)(parens)", [["unnecessaryparens", 1.1]]],
  ["a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55], [", sun, ", 1.1], ["sky", 1.4641000000000006], [".", 1.1]]],
  ["(red:1.3)", [["red", 1.3]]],
  ["((castle))", [["castle", 1.2100000000000002]]],
  ["[fog]", [["fog", 0.9090909090909091]]],
  ["[[fog]]", [["fog", 0.8264462809917354]]],
  ["((a) b)", [["a", 1.2100000000000002], [" b", 1.1]]],
  ["(a [b] c)", [["a ", 1.1], ["b", 1.0], [" c", 1.1]]],
  ["(a:1.5) (b:0.5)", [["a", 1.5], [" ", 1.0], ["b", 0.5]]],
  ["(a : 1.5 )", [["a ", 1.5]]],
  ["(a:+.5)", [["a", 0.5]]],
  ["(a:-1)", [["a", -1.0]]],
  ["(a:2.)", [["a", 2.0]]],
  ["a) b] c", [["a) b] c", 1.0]]],
  ["a ( b", [["a ", 1.0], [" b", 1.1]]],
  ["[a", [["a", 0.9090909090909091]]],
  ["a ]", [["a ]", 1.0]]],
  ["((a)", [["a", 1.2100000000000002]]],
  ["(a))", [["a", 1.1], [")", 1.0]]],
  ["[(a]", [["a", 1.0]]],
  ["(a:1.2", [["a:1.2", 1.1]]],
  ["a:1.2)", [["a:1.2)", 1.0]]],
  [":", [[":", 1.0]]],
  ["a:b", [["a:b", 1.0]]],
  ["\\\\ back\\\\slash", [["\\ back\\slash", 1.0]]],
  ["trailing \\", [["trailing ", 1.0]]],
  ["\\x", [["x", 1.0]]],
  ["a BREAK b", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]],
  ["aBREAK b", [["aBREAK b", 1.0]]],
  ["a BREAKING b", [["a BREAKING b", 1.0]]],
  ["a break b", [["a break b", 1.0]]],
  ["BREAK", [["", 1.0], ["BREAK", -1], ["", 1.0]]],
  ["a BREAK BREAK b", [["a", 1.0], ["BREAK", -1], ["", 1.0], ["BREAK", -1], ["b", 1.0]]],
  ["(a BREAK b)", [["a", 1.1], ["BREAK", -1.1], ["b", 1.1]]],
  ["(x BREAK) y", [["x", 1.1], ["BREAK", -1.1], ["", 1.1], [" y", 1.0]]],
  ["éBREAK b", [["éBREAK b", 1.0]]],
  ["a\nBREAK\nb", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]],
  ["", [["", 1.0]]],
  ["   ", [["   ", 1.0]]],
  ["(", [["", 1.0]]],
  [")", [[")", 1.0]]],
  ["[]", [["", 1.0]]],
  ["()", [["", 1.0]]],
  ["(:1.5)", [["", 1.0]]],
  ["<lora:detail:0.8> a cat", [["<lora:detail:0.8> a cat", 1.0]]],
  ["émoji 🐱 (chat:1.2)", [["émoji 🐱 ", 1.0], ["chat", 1.2]]],
];

test('parse_prompt_attention: pieces and weights as A1111 computes them', () => {
  for (const [prompt, expected] of PARSE_CASES) {
    assert.deepEqual(
      parseAttention(prompt).map((p) => [p.text, p.weight]),
      expected,
      `prompt ${JSON.stringify(prompt)}`,
    );
  }
});

test('literal syntax: the whole prompt is one piece of weight 1, brackets and BREAK included', () => {
  const prompt = '((castle)) [fog] BREAK (red:1.3) \\( x';
  assert.deepEqual(parsePrompt(prompt, 'literal'), [{ text: prompt, weight: 1 }]);
  assert.deepEqual(parsePrompt(prompt, 'a1111'), parseAttention(prompt));
});

test('a weight that is no number is refused, naming the field (A1111 raises on float("1.2.3"))', () => {
  assert.throws(() => parsePrompt('a (red:1.2.3) cat', 'a1111', 'negativePrompt'), (err: unknown) => {
    assert.ok(err instanceof PromptWeightError);
    assert.equal(err.field, 'negativePrompt');
    assert.match(err.message, /1\.2\.3/);
    return true;
  });
  assert.throws(() => parsePrompt('(a:.)', 'a1111'), PromptWeightError);
  // Without an open bracket the same text is plain text, as in A1111.
  assert.deepEqual(parsePrompt('a:1.2.3)', 'a1111'), [{ text: 'a:1.2.3)', weight: 1 }]);
  assert.deepEqual(parsePrompt('(a:1.2.3)', 'literal'), [{ text: '(a:1.2.3)', weight: 1 }]);
});

// A tokenizer whose ids can be read off the prompt: the word wN is id N, ',' is 1000, others 1500.
const BOS = 2000;
const EOS = 2001;
const mock = {
  bosTokenId: BOS,
  eosTokenId: EOS,
  padTokenId: EOS,
  unkTokenId: 1500,
  modelMaxLength: 77,
  tokenize: (text: string) => text.replaceAll(',', ' , ').split(/\s+/).filter(Boolean).map((w) => (w === ',' ? ',</w>' : w)),
  tokenToId: (symbol: string) => (symbol === ',</w>' ? 1000 : /^w\d+$/.test(symbol) ? Number(symbol.slice(1)) : undefined),
};

interface ChunkCase {
  prompt: string;
  chunks: { tokens: number[]; weights: number[] }[];
}
const CHUNKS = JSON.parse(readFileSync(new URL('./fixtures/a1111-chunks.json', import.meta.url), 'utf8')) as { cases: ChunkCase[] };

test("tokenize_line: 75-token chunks, the comma backtrack, BREAK, each chunk's weights, as A1111 cuts them", () => {
  assert.ok(CHUNKS.cases.length >= 15);
  for (const { prompt, chunks } of CHUNKS.cases) {
    const got = promptChunks(mock, parseAttention(prompt));
    const expected = chunks.map(({ tokens, weights }) => ({
      ids: [BOS, ...tokens, ...Array<number>(76 - tokens.length).fill(EOS)],
      weights: [1, ...weights, ...Array<number>(76 - tokens.length).fill(1)],
    }));
    assert.deepEqual(got, expected, `prompt ${JSON.stringify(prompt.slice(0, 60))}`);
  }
});

test('every chunk is exactly 77 ids; padding a shorter prompt adds empty chunks', () => {
  const long = promptChunks(mock, parseAttention(Array.from({ length: 200 }, (_, i) => `w${i + 1}`).join(' ')));
  assert.deepEqual(long.map((c) => c.ids.length), [77, 77, 77]);
  const short = promptChunks(mock, parseAttention(''));
  const padded = padChunks(short, 3, mock);
  assert.equal(padded.length, 3);
  assert.deepEqual(padded[1], { ids: [BOS, ...Array<number>(76).fill(EOS)], weights: Array<number>(77).fill(1) });
  assert.deepEqual(padded[0], padded[2]);
});
