import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipTokenizer, type ClipTokenizerData } from '../../../src/engine/tokenizers/clip.ts';
import { byteLevelAlphabet, bytesToUnicode } from '../../../src/engine/tokenizers/byte-level.ts';

// A miniature CLIP vocabulary laid out like the real one: the 256 byte symbols, the same with `</w>`,
// one entry per merge result (in merge order), then <|startoftext|> and <|endoftext|>.
// Expected tokens/ids below were produced by Hugging Face transformers 4.57.6 `CLIPTokenizer`
// (the Python one) on exactly this vocabulary, except where a test says otherwise.
const MERGES = [
  'h e', // 0
  'l l', // 1
  'he ll', // 2
  'hell o</w>', // 3
  'r e', // 4
  're d</w>', // 5
  "' s</w>", // 6
  '! !', // 7
  '!! !</w>', // 8
  'a b', // 9   "abc": 'a b' (rank 9) beats 'b c</w>' (rank 10)
  'b c</w>', // 10
  'ð Ł', // 11  first two bytes of 😀 (F0 9F): merged symbol deliberately left out of the vocab
];
const NOT_IN_VOCAB = new Set(['ðŁ']);

function buildVocab(merges: string[], omit: Set<string> = NOT_IN_VOCAB): Record<string, number> {
  const base = byteLevelAlphabet();
  const symbols = [...base, ...base.map((s) => `${s}</w>`)];
  for (const m of merges) {
    const [a, b] = m.split(' ');
    if (!omit.has(a! + b!)) symbols.push(a! + b!);
  }
  symbols.push('<|startoftext|>', '<|endoftext|>');
  return Object.fromEntries(symbols.map((s, i) => [s, i]));
}

const VOCAB = buildVocab(MERGES);
const BOS = VOCAB['<|startoftext|>']!;
const EOS = VOCAB['<|endoftext|>']!;

function tokenizer(extra: Partial<ClipTokenizerData> = {}): ClipTokenizer {
  return new ClipTokenizer({ vocab: VOCAB, merges: ['#version: 0.2', ...MERGES], ...extra });
}

const id = (token: string): number => {
  const v = VOCAB[token];
  assert.ok(v !== undefined, `test vocab lacks ${token}`);
  return v;
};

test('byte table and alphabet are GPT-2/CLIP order (ids as in the real CLIP vocab)', () => {
  const table = bytesToUnicode();
  assert.equal(table[0x21], '!');
  assert.equal(table[0x20], 'Ġ'); // U+0120
  assert.equal(table[0x0a], 'Ċ');
  assert.equal(table[0x00], '\u0100');
  assert.equal(table[0xad], '\u0143'); // soft hyphen: the last remapped byte
  assert.equal(new Set(table).size, 256);
  // Same ids as openai/clip-vit-large-patch14's vocab.json.
  assert.equal(VOCAB['!'], 0);
  assert.equal(VOCAB['Ġ'], 220);
  assert.equal(VOCAB['!</w>'], 256);
  assert.equal(VOCAB['a</w>'], 320);
  const t = tokenizer();
  assert.equal(t.vocabSize, 256 * 2 + MERGES.length - NOT_IN_VOCAB.size + 2);
  assert.equal(t.bosTokenId, BOS);
  assert.equal(t.eosTokenId, EOS);
  assert.equal(t.padTokenId, EOS, 'CLIPTokenizer pads with <|endoftext|> by default');
});

test('merges apply repeatedly, lowest rank first, and the last symbol carries </w>', () => {
  const t = tokenizer();
  assert.deepEqual(t.tokenize('hello'), ['hello</w>']);
  // 'hell' has no merge with 'o' (only with 'o</w>'), so mid-word 'hello' stays split.
  assert.deepEqual(t.tokenize('helloa'), ['hell', 'o', 'a</w>']);
  assert.deepEqual(t.tokenize('abc'), ['ab', 'c</w>']);
  // Same merges, ranks 9 and 10 swapped: now 'b c</w>' wins.
  const swapped = [...MERGES];
  [swapped[9], swapped[10]] = [swapped[10]!, swapped[9]!];
  const t2 = new ClipTokenizer({ vocab: VOCAB, merges: swapped });
  assert.deepEqual(t2.tokenize('abc'), ['a', 'bc</w>']);
  // A one-character word is just that character with </w>.
  assert.deepEqual(t.tokenize('x'), ['x</w>']);
});

test('every occurrence of the best pair merges in one pass, left to right, without overlaps', () => {
  const t = tokenizer();
  // '!','!','!','!</w>': '! !' (rank 7) merges the first two only ('!' before '!</w>' is another pair),
  // and '!! !</w>' (rank 8) needs '!!' next to '!</w>', which never happens.
  assert.deepEqual(t.tokenize('!!!!'), ['!!', '!', '!</w>']);
  assert.deepEqual(t.tokenize('!!!'), ['!!!</w>']);
  assert.deepEqual(t.tokenize('hello hello'), ['hello</w>', 'hello</w>']);
});

test('bytes of characters outside the vocab still map; a merged symbol missing from the vocab is unk', () => {
  const t = tokenizer();
  // 😀 = F0 9F 98 80. 'ð Ł' merges (rank 11) but 'ðŁ' is not in the vocab → unk (= <|endoftext|>).
  assert.deepEqual(t.tokenize('😀'), ['ðŁ', 'ĺ', 'Ģ</w>']);
  assert.deepEqual(t.encode('😀', { maxLength: 6 }).ids, [BOS, EOS, id('ĺ'), id('Ģ</w>'), EOS, EOS]);
  assert.equal(t.unkTokenId, EOS);
  // Without that merge the four byte symbols are all known: no unk.
  const noEmojiMerge = new ClipTokenizer({ vocab: VOCAB, merges: MERGES.slice(0, 11) });
  assert.deepEqual(noEmojiMerge.encode('😀', { maxLength: 6 }).ids, [BOS, id('ð'), id('Ł'), id('ĺ'), id('Ģ</w>'), EOS]);
  // A CJK run is one word of UTF-8 byte symbols (你 = E4 BD A0, 好 = E5 A5 BD); </w> only at its end.
  assert.deepEqual(t.tokenize('你好'), ['ä', '½', 'ł', 'å', '¥', '½</w>']);
  // A vocabulary lacking a byte symbol: that symbol is unk.
  const partial = { ...VOCAB };
  delete partial['Ģ</w>'];
  const t3 = new ClipTokenizer({ vocab: partial, merges: MERGES.slice(0, 11) });
  assert.deepEqual(t3.encode('😀', { maxLength: 6 }).ids, [BOS, id('ð'), id('Ł'), id('ĺ'), EOS, EOS]);
});

test('whitespace is collapsed and stripped, text is lowercased and NFC-composed', () => {
  const t = tokenizer();
  const expected = ['a</w>', 'red</w>', 'c', 'i', 'r', 'c', 'l', 'e</w>'];
  assert.deepEqual(t.tokenize('a red circle'), expected);
  assert.deepEqual(t.tokenize('  A   RED\tcircle '), expected);
  assert.deepEqual(t.tokenize('A\u00a0RED\n\u3000CIRCLE'), expected);
  assert.deepEqual(t.encode('  A   RED\tcircle ').ids, t.encode('a red circle').ids);
  // e + COMBINING ACUTE → é (C3 A9) → 'Ã', '©</w>'.
  assert.deepEqual(t.tokenize('e\u0301'), ['Ã', '©</w>']);
  assert.deepEqual(t.tokenize('É'), ['Ã', '©</w>']);
  assert.deepEqual(t.tokenize(''), []);
  assert.deepEqual(t.tokenize(' \t\n '), []);
});

test('punctuation runs, single digits and contractions are their own words', () => {
  const t = tokenizer();
  assert.deepEqual(t.tokenize('Hello, world!!!'), ['hello</w>', ',</w>', 'w', 'o', 'r', 'l', 'd</w>', '!!!</w>']);
  assert.deepEqual(t.tokenize('red-hello...'), ['red</w>', '-</w>', 'hello</w>', '.', '.', '.</w>']);
  assert.deepEqual(t.tokenize('x1234y'), ['x</w>', '1</w>', '2</w>', '3</w>', '4</w>', 'y</w>']);
  assert.deepEqual(t.tokenize("it's red"), ['i', 't</w>', "'s</w>", 'red</w>']);
  assert.deepEqual(t.tokenize("IT'S"), ['i', 't</w>', "'s</w>"]);
  // The regex tries the contractions first, so "'sun" is "'s" + "un", as in CLIP.
  assert.deepEqual(t.tokenize("'sun"), ["'s</w>", 'u', 'n</w>']);
});

test('special tokens written in the prompt become their ids', () => {
  const t = tokenizer();
  assert.deepEqual(t.encode('a <|endoftext|> b', { maxLength: 6 }).ids, [BOS, id('a</w>'), EOS, id('b</w>'), EOS, EOS]);
  assert.deepEqual(t.tokenize('hello<|startoftext|>x'), ['hello</w>', '<|startoftext|>', 'x</w>']);
  // Only as written: in another case it is text, lowercased and split like any other (transformers 5).
  assert.deepEqual(t.tokenize('A <|ENDOFTEXT|> b'), ['a</w>', '<', '|</w>', ...'endoftex'.split(''), 't</w>', '|', '></w>', 'b</w>']);
});

test('encode: [bos, tokens, eos, pad…] exactly maxLength long, with the attention mask', () => {
  const t = tokenizer();
  const e = t.encode('Hello red');
  assert.equal(e.ids.length, 77);
  assert.deepEqual(e.ids.slice(0, 5), [BOS, id('hello</w>'), id('red</w>'), EOS, EOS]);
  assert.ok(e.ids.slice(3).every((x) => x === EOS));
  assert.deepEqual(e.attentionMask.slice(0, 5), [1, 1, 1, 1, 0]);
  assert.equal(e.attentionMask.reduce((a, b) => a + b, 0), 4);
  assert.equal(e.attentionMask.length, 77);
  assert.equal(e.truncated, false);
  const empty = t.encode('', { maxLength: 4 });
  assert.deepEqual(empty, { ids: [BOS, EOS, EOS, EOS], attentionMask: [1, 1, 0, 0], truncated: false });
});

test('truncates to maxLength - 2 tokens and says so', () => {
  const t = tokenizer();
  const exactly75 = t.encode('a '.repeat(75));
  assert.equal(exactly75.truncated, false);
  assert.deepEqual(exactly75.ids, [BOS, ...new Array(75).fill(id('a</w>')), EOS]);
  assert.ok(exactly75.attentionMask.every((m) => m === 1));

  const long = t.encode('a '.repeat(75) + 'red hello');
  assert.equal(long.truncated, true);
  assert.equal(long.ids.length, 77);
  assert.deepEqual(long.ids, exactly75.ids);

  const short = t.encode('hello red hello', { maxLength: 4 });
  assert.deepEqual(short.ids, [BOS, id('hello</w>'), id('red</w>'), EOS]);
  assert.equal(short.truncated, true);
  assert.throws(() => t.encode('x', { maxLength: 1 }), RangeError);
});

test('pads with the configured pad token: <|endoftext|> (SD 1.x) or "!" (SD 2.x, id 0)', () => {
  const sd1 = tokenizer();
  const sd2 = tokenizer({ padToken: '!' });
  assert.equal(sd2.padTokenId, 0);
  assert.deepEqual(sd1.encode('red', { maxLength: 5 }).ids, [BOS, id('red</w>'), EOS, EOS, EOS]);
  assert.deepEqual(sd2.encode('red', { maxLength: 5 }).ids, [BOS, id('red</w>'), EOS, 0, 0]);
  // As in Hugging Face, a special token typed in the prompt is that token: with pad "!", each "!" is id 0.
  assert.deepEqual(sd1.tokenize('hello!'), ['hello</w>', '!</w>']);
  assert.deepEqual(sd2.tokenize('hello!'), ['hello</w>', '!']);
  assert.deepEqual(sd2.encode('Hello, world!!!', { maxLength: 12 }).ids.slice(7), [id('d</w>'), 0, 0, 0, EOS]);
});

test('decode inverts encode (word ends become spaces; specials skipped)', () => {
  const t = tokenizer();
  assert.equal(t.decode(t.encode('A red   circle, hello!').ids), 'a red circle , hello !');
  assert.equal(t.decode(t.encode('你好').ids), '你好');
  assert.equal(t.decode([BOS, id('red</w>'), EOS], { skipSpecialTokens: false }), '<|startoftext|>red <|endoftext|>');
});

test('constructor errors name the missing special token', () => {
  const noBos = { ...VOCAB };
  delete noBos['<|startoftext|>'];
  assert.throws(() => new ClipTokenizer({ vocab: noBos, merges: MERGES }), /bos token "<\|startoftext\|>"/);
  const noEos = { ...VOCAB };
  delete noEos['<|endoftext|>'];
  assert.throws(() => new ClipTokenizer({ vocab: noEos, merges: MERGES }), /eos token "<\|endoftext\|>"/);
  assert.throws(() => tokenizer({ padToken: '<pad>' }), /pad token "<pad>"/);
  assert.throws(() => new ClipTokenizer({ vocab: VOCAB, merges: ['a b c'] }), /merge 1 is not two symbols/);
});

async function withFolder(files: Record<string, string>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-clip-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const VOCAB_JSON = JSON.stringify(VOCAB);
// The real file: a version header, one merge per line, a trailing newline (CRLF tolerated).
const MERGES_TXT = `#version: 0.2\r\n${MERGES.join('\r\n')}\r\n`;
const addedToken = (content: string) => ({ __type: 'AddedToken', content, lstrip: false, normalized: true, rstrip: false, single_word: false });

test('fromFolder reads vocab.json and merges.txt; SD 1.x config', async () => {
  await withFolder(
    {
      'vocab.json': VOCAB_JSON,
      'merges.txt': MERGES_TXT,
      'tokenizer_config.json': JSON.stringify({
        bos_token: addedToken('<|startoftext|>'),
        eos_token: addedToken('<|endoftext|>'),
        pad_token: '<|endoftext|>',
        unk_token: addedToken('<|endoftext|>'),
        model_max_length: 77,
      }),
    },
    async (dir) => {
      const t = await ClipTokenizer.fromFolder(dir);
      assert.equal(t.vocabSize, Object.keys(VOCAB).length);
      assert.equal(t.padTokenId, EOS);
      assert.deepEqual(t.tokenize('abc hello'), ['ab', 'c</w>', 'hello</w>']);
      assert.equal(t.encode('abc').ids.length, 77);
    },
  );
});

test('fromFolder: pad token as an AddedToken object; special_tokens_map.json overrides tokenizer_config.json', async () => {
  await withFolder(
    {
      'vocab.json': VOCAB_JSON,
      'merges.txt': MERGES_TXT,
      'tokenizer_config.json': JSON.stringify({ pad_token: addedToken('!'), model_max_length: 8 }),
    },
    async (dir) => {
      const t = await ClipTokenizer.fromFolder(dir);
      assert.equal(t.padTokenId, 0);
      assert.equal(t.modelMaxLength, 8);
      assert.deepEqual(t.encode('red').ids, [BOS, id('red</w>'), EOS, 0, 0, 0, 0, 0]);
    },
  );
  // stabilityai/stable-diffusion-2-1: the config says <|endoftext|>, the map says "!"; Hugging Face uses "!".
  await withFolder(
    {
      'vocab.json': VOCAB_JSON,
      'merges.txt': MERGES_TXT,
      'tokenizer_config.json': JSON.stringify({ pad_token: '<|endoftext|>', bos_token: addedToken('<|startoftext|>') }),
      'special_tokens_map.json': JSON.stringify({ pad_token: '!', eos_token: addedToken('<|endoftext|>') }),
    },
    async (dir) => {
      const t = await ClipTokenizer.fromFolder(dir);
      assert.equal(t.padTokenId, 0);
      assert.equal(t.modelMaxLength, 77);
    },
  );
});

test('fromFolder errors name the missing or broken file', async () => {
  await withFolder({ 'merges.txt': MERGES_TXT }, async (dir) => {
    await assert.rejects(ClipTokenizer.fromFolder(dir), (err: Error) => err.message.includes(join(dir, 'vocab.json')));
  });
  await withFolder({ 'vocab.json': VOCAB_JSON }, async (dir) => {
    await assert.rejects(ClipTokenizer.fromFolder(dir), (err: Error) => err.message.includes(join(dir, 'merges.txt')));
  });
  await withFolder({ 'vocab.json': '{"a": ', 'merges.txt': MERGES_TXT }, async (dir) => {
    await assert.rejects(ClipTokenizer.fromFolder(dir), (err: Error) => err.message.includes('vocab.json is not valid JSON'));
  });
  const noBos = { ...VOCAB };
  delete noBos['<|startoftext|>'];
  await withFolder({ 'vocab.json': JSON.stringify(noBos), 'merges.txt': MERGES_TXT }, async (dir) => {
    await assert.rejects(ClipTokenizer.fromFolder(dir), /bos token "<\|startoftext\|>"/);
  });
});
