/**
 * The CLIP tokenizer against a reference table: 2,000+ prompts (scripts, emoji and ZWJ sequences,
 * combining marks, case, whitespace, special-token look-alikes, numbers, punctuation, long words)
 * with the ids transformers.js gives on the demo model's vocabulary, Python's CLIPTokenizer rule where
 * the two differ (tools/tokenizer-table/make.mjs writes the table and says how to run it). The same
 * ids must come from the tokenizer folder as vocab.json + merges.txt and as tokenizer.json alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClipTokenizer } from '../../src/engine/tokenizers/clip.ts';

interface Table {
  producedBy: string;
  /** Where Python's CLIPTokenizer rule was followed over transformers.js: each rule and its entries. */
  pythonRuleOverTransformersJs: { rule: string; entries: number[] }[];
  entries: { prompt: string; ids: string }[];
}
const table = JSON.parse(readFileSync(new URL('./fixtures/clip-tokenizer-table.json', import.meta.url), 'utf8')) as Table;
const DEMO_TOKENIZER = fileURLToPath(new URL('../../models/darkroom-demo/tokenizer/', import.meta.url));

/** Entries whose ids differ: prompt, expected and actual ids, for a readable failure. */
function mismatches(t: ClipTokenizer): { prompt: string; expected: string; actual: string }[] {
  const out = [];
  for (const { prompt, ids } of table.entries) {
    const actual = [t.bosTokenId, ...t.tokenize(prompt).map((s) => t.tokenToId(s) ?? t.unkTokenId), t.eosTokenId].join(' ');
    if (actual !== ids) out.push({ prompt, expected: ids, actual });
  }
  return out;
}

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'darkroom-tokenizer-table-'))));
after(() => rm(dir, { recursive: true, force: true }));

test('the table: 2,000+ prompts over every script and edge the generator draws from', () => {
  assert.ok(table.entries.length >= 2000, `${table.entries.length} entries`);
  const all = table.entries.map((e) => e.prompt).join('\n');
  for (const sample of ['Σ', 'Москва', '猫', 'قطة', 'नमस्ते', '👨‍👩‍👧‍👦', '\u0301', '<|ENDOFTEXT|>', '\u3000', "it's", '१२३']) {
    assert.ok(all.includes(sample), `no prompt holds ${JSON.stringify(sample)}`);
  }
  const [sigma, lookAlike] = table.pythonRuleOverTransformersJs;
  assert.ok(sigma!.entries.length > 0 && sigma!.entries.every((i) => table.entries[i]!.prompt.includes('Σ')));
  assert.ok(lookAlike!.entries.length > 0 && lookAlike!.entries.every((i) => table.entries[i]!.prompt.includes('<|')));
});

test('vocab.json + merges.txt: every prompt gives the reference ids', async () => {
  const bad = mismatches(await ClipTokenizer.fromFolder(DEMO_TOKENIZER));
  assert.deepEqual(bad.slice(0, 10), [], `${bad.length} of ${table.entries.length} prompts differ`);
});

test('encode: the reference ids truncated to 76 tokens then eos, padded to 77', async () => {
  const t = await ClipTokenizer.fromFolder(DEMO_TOKENIZER);
  for (const { prompt, ids } of table.entries) {
    const ref = ids.split(' ').map(Number);
    const expected = ref.length > 77 ? [...ref.slice(0, 76), t.eosTokenId] : [...ref, ...Array<number>(77 - ref.length).fill(t.padTokenId)];
    assert.deepEqual(t.encode(prompt).ids, expected, JSON.stringify(prompt));
  }
});

for (const encoding of ['"a b" strings', '["a", "b"] pairs'] as const) {
  test(`a folder with only tokenizer.json (merges as ${encoding}) gives the same ids`, async () => {
    const vocab = JSON.parse(await readFile(join(DEMO_TOKENIZER, 'vocab.json'), 'utf8')) as Record<string, number>;
    const lines = (await readFile(join(DEMO_TOKENIZER, 'merges.txt'), 'utf8')).split('\n').filter((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#version')));
    const merges = encoding === '"a b" strings' ? lines : lines.map((l) => l.split(' '));
    const folder = join(dir, encoding.startsWith('"') ? 'strings' : 'pairs');
    await mkdir(folder);
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: [], model: { type: 'BPE', end_of_word_suffix: '</w>', unk_token: '<|endoftext|>', vocab, merges } }));
    await writeFile(join(folder, 'tokenizer_config.json'), await readFile(join(DEMO_TOKENIZER, 'tokenizer_config.json')));
    const bad = mismatches(await ClipTokenizer.fromFolder(folder));
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} of ${table.entries.length} prompts differ`);
  });
}

test('the three rules transformers 5 follows, each on its own', async () => {
  const t = await ClipTokenizer.fromFolder(DEMO_TOKENIZER);
  // One character at a time: word-final Σ lowercases to σ, as elsewhere in the word.
  assert.deepEqual(t.tokenize('ΑΣ'), t.tokenize('ασ'));
  // Only <|endoftext|> as written is the special token.
  assert.deepEqual(t.tokenize('<|endoftext|>'), ['<|endoftext|>']);
  assert.notDeepEqual(t.tokenize('<|ENDOFTEXT|>'), ['<|endoftext|>']);
  // U+0345 is a combining mark, not a letter: it is not part of the word before it.
  assert.equal(t.tokenize('a\u0345').length, t.tokenize('a').length + t.tokenize('\u0345').length);
});
