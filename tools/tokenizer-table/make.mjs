/**
 * Writes test/engine/fixtures/clip-tokenizer-table.json: 2,000+ prompts and the CLIP token ids a
 * reference implementation gives them on the demo model's tokenizer (models/darkroom-demo/tokenizer,
 * the only CLIP vocabulary the repository ships), for test/engine/tokenizer-table.test.ts.
 *
 * The reference is transformers.js (`@huggingface/transformers` on npm; Python's transformers cannot be
 * installed here), loading the vocabulary as the `tokenizer.json` transformers 5 writes for a CLIP
 * tokenizer: NFC, whitespace runs → " ", lowercase; CLIP's split regex; byte-level BPE with `</w>`;
 * bos and eos as special tokens matched as written. Where transformers.js and Python's CLIPTokenizer
 * (transformers 5, the `tokenizers` library) differ, the table follows Python, and the header lists the
 * entries. Two rules differ:
 * - `tokenizers` lowercases one character at a time, so a word-final Σ is σ there, while
 *   transformers.js's `String.toLowerCase` writes the final ς. Prompts are given to transformers.js
 *   with Σ already lowered to σ, which is exactly the per-character rule (Σ is the only character whose
 *   JavaScript lowercase depends on its neighbours).
 * - `tokenizers` matches bos and eos (unnormalised added tokens) only as written; transformers.js also
 *   returns a stretch of text that normalises to exactly one (`<|ENDOFTEXT|>`) as the special token.
 *   Such text goes through transformers.js one section at a time (sectionIds below).
 *
 * transformers.js brings its own onnxruntime-node, so it is installed in a scratch folder, not here:
 *
 *   mkdir -p /tmp/ttab && cd /tmp/ttab && npm init -y && npm install --ignore-scripts @huggingface/transformers@4.3.2
 *   cd <repo> && node --import tsx tools/tokenizer-table/make.mjs /tmp/ttab > test/engine/fixtures/clip-tokenizer-table.json
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prng } from '../demo-model/scenes.ts';

const scratch = process.argv[2];
if (!scratch) {
  console.error('usage: node --import tsx tools/tokenizer-table/make.mjs <folder where @huggingface/transformers is installed>');
  process.exit(2);
}
const transformersPath = createRequire(join(scratch, 'package.json')).resolve('@huggingface/transformers');
const transformersVersion = JSON.parse(readFileSync(join(transformersPath.slice(0, transformersPath.lastIndexOf('/dist/')), 'package.json'), 'utf8')).version;
const { AutoTokenizer, env } = await import(pathToFileURL(transformersPath).href);

const TOKENIZER_DIR = new URL('../../models/darkroom-demo/tokenizer/', import.meta.url);
const vocab = JSON.parse(readFileSync(new URL('vocab.json', TOKENIZER_DIR), 'utf8'));
const merges = readFileSync(new URL('merges.txt', TOKENIZER_DIR), 'utf8')
  .split('\n')
  .filter((line, i) => line.trim() !== '' && !(i === 0 && line.startsWith('#version')));
const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';

/** The tokenizer.json transformers 5's CLIPTokenizer saves, over the demo vocabulary. */
function tokenizerJson() {
  const special = (content) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(BOS), special(EOS)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [EOS, vocab[EOS]], cls: [BOS, vocab[BOS]], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: EOS, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

async function loadReference() {
  const dir = mkdtempSync(join(tmpdir(), 'clip-table-'));
  const name = 'demo-clip';
  const folder = join(dir, name);
  await import('node:fs/promises').then((fs) => fs.mkdir(folder));
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(tokenizerJson()));
  writeFileSync(
    join(folder, 'tokenizer_config.json'),
    JSON.stringify({ tokenizer_class: 'CLIPTokenizer', model_max_length: 77, bos_token: BOS, eos_token: EOS, pad_token: EOS, unk_token: EOS, do_lower_case: true }),
  );
  env.allowRemoteModels = false;
  env.localModelPath = dir;
  try {
    return await AutoTokenizer.from_pretrained(name);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- Prompts -------------------------------------------------------------------------------------

const WORDS = {
  latin: ['a', 'red', 'cat', 'on', 'the', 'blue', 'house', 'sunset', 'mountain', 'portrait', 'painting', 'photo', 'with', 'green', 'tree', 'sky', 'Straße', 'garçon', 'naïve', 'œuvre', 'Ærø', 'fjörd', 'ĳssel', 'ſtraße', 'İstanbul', 'DŽemal', 'ǅ', 'ﬁre', 'Ångström'],
  greek: ['ΟΔΟΣ', 'ΚΟΣΜΟΣ', 'Σ', 'σοφία', 'ΣΟΦΙΑ', 'ΑΣ', 'ΣΑΣ', 'λόγος', 'ΛΟΓΟΣ.', 'ᾼ', 'ᾳ', 'ἈΘΗΝᾹ', 'ΐ', 'Ὀδυσσεύς', 'ΑΣ\u0345', 'ΑΣ\u0301Α'],
  cyrillic: ['Москва', 'КОТ', 'ёлка', 'Ёж', 'Україна', 'Ґанок', 'Ѣ', 'Җ', 'щука', 'ПРИВЕТ'],
  cjk: ['猫', '赤い猫', '山の夕日', '東京タワー', '한국어', '고양이', '中文字符', '𠀋', '〇', 'ｶﾀｶﾅ', '々', '漢字かな交じり'],
  arabic: ['قطة', 'العربية', 'مَرْحَبًا', 'سماء', '٣', 'ـ', 'لا'],
  devanagari: ['बिल्ली', 'नमस्ते', 'हिन्दी', 'क्ष', '३', 'ॐ', 'कि'],
  emoji: ['😀', '🐱', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇯🇵', '❤️', '1️⃣', '🧑🏿‍🚀', '🫠', '☕', '✨'],
  marks: ['e\u0301', 'a\u0300\u0301', 'n\u0303', 'A\u030a', '\u0301', 'o\u0308\u0304', 'z\u0336', 'i\u0307', 'I\u0307', 'ι\u0345', '\u0345', 'e\u0345', 'Z\u0345'],
  case: ['RED CAT', 'Red Cat', 'rEd cAt', 'ǄEMAL', 'ß', 'ẞ', 'ΣΊΣΥΦΟΣ', 'İ', 'ﬀ', 'Ω', 'K', 'Å'],
  whitespace: ['\t', '\n', '\r\n', '\u00a0', '\u2003', '\u3000', '\u200b', '\u2028', '\u205f', '  ', '\u180e', '\u0085'],
  specials: ['<|endoftext|>', '<|startoftext|>', '<|ENDOFTEXT|>', '<|EndOfText|>', '<|endoftext', 'endoftext|>', '<|endoftext|>x', 'x<|startoftext|>', '< |endoftext| >', '<|endoftext|><|endoftext|>', '<||>', '<|startoftext|>red', '<|Startoftext|>'],
  numbers: ['0', '42', '3.14', '1,000,000', '-7', '1e10', '½', '²', '٣٤', '१२३', 'Ⅻ', '①', '0x1F', '2024-01-01', '12:30', '99%', '$5', '€10'],
  punctuation: ['!', '!!!', '?!', '...', ',', '—', '–', '«»', '“quoted”', "it's", "we're", "they've", "I'm", "you'll", "he'd", "'s", "''", '#hashtag', '@user', 'a/b', '(parens)', '[brackets]', '{braces}', '<angle>', '|pipe|', '~tilde', '^caret', '&amp;', '\\back', '*star*', '_under_', '`tick`', '"dq"', ';', ':', '•', '·', '¿', '¡'],
};

function longWord(rand) {
  const letters = 'abcdefghijklmnopqrstuvwxyzαβγδεζηθабвгдеж';
  const n = 30 + Math.floor(rand() * 200);
  let w = '';
  for (let i = 0; i < n; i++) w += letters[Math.floor(rand() * letters.length)];
  return rand() < 0.5 ? w : w.toUpperCase();
}

function pick(rand, list) {
  return list[Math.floor(rand() * list.length)];
}

const SEPARATORS = [' ', ' ', ' ', '', ', ', '  ', '\t', '\n', '-', '_'];

function prompts() {
  const out = new Set();
  // Every pool entry alone, and next to a plain word on each side.
  for (const list of Object.values(WORDS)) {
    for (const w of list) {
      out.add(w);
      out.add(`a ${w} b`);
      out.add(`${w}${w}`);
    }
  }
  const rand = prng(2204);
  const pools = Object.keys(WORDS);
  while (out.size < 2100) {
    const parts = 1 + Math.floor(rand() * 8);
    let text = '';
    for (let i = 0; i < parts; i++) {
      const pool = rand() < 0.35 ? 'latin' : pick(rand, pools);
      text += (i > 0 ? pick(rand, SEPARATORS) : '') + pick(rand, WORDS[pool]);
    }
    if (rand() < 0.04) text += ' ' + longWord(rand);
    if (rand() < 0.05) text = ` ${text}  `;
    out.add(text);
  }
  out.add('');
  out.add('   ');
  out.add(longWord(prng(1)));
  out.add(Array.from({ length: 120 }, (_, i) => WORDS.latin[i % WORDS.latin.length]).join(' '));
  return [...out];
}

// ---- Table ---------------------------------------------------------------------------------------

const tokenizer = await loadReference();
const SPECIALS = [BOS, EOS];
const SPECIAL_SPLIT = /(<\|startoftext\|>|<\|endoftext\|>)/;
const X_IDS = tokenizer.encode('x', { add_special_tokens: false });

/** NFC, whitespace runs → " ", lowercase: the normaliser (transformers.js's own, through the tokenizer). */
const normalizes = (text) => tokenizer._tokenizer.normalizer(text);

/**
 * Python's rule for the special tokens: split off as written (case-sensitive), every other section
 * normalised and split like any text, even one that normalises to a special token's text (transformers.js
 * returns that section as the special token). Each section goes through transformers.js followed by
 * " x", whose ids are then dropped: the space ends the section's last word, so its ids are its own.
 */
function sectionIds(prompt) {
  const ids = [vocab[BOS]];
  prompt.split(SPECIAL_SPLIT).forEach((section, i) => {
    if (i % 2 === 1) ids.push(vocab[section]);
    else if (section !== '') ids.push(...tokenizer.encode(`${section} x`, { add_special_tokens: false }).slice(0, -X_IDS.length));
  });
  ids.push(vocab[EOS]);
  return ids;
}

const entries = [];
const finalSigma = [];
const specialLookAlike = [];
for (const prompt of prompts()) {
  const direct = tokenizer.encode(prompt);
  const lookAlike = prompt.split(SPECIAL_SPLIT).some((section, i) => i % 2 === 0 && SPECIALS.includes(normalizes(section)));
  // The section-wise ids are transformers.js's own wherever no section looks like a special token.
  if (!lookAlike && sectionIds(prompt).join() !== direct.join()) throw new Error(`section-wise ids differ for ${JSON.stringify(prompt)}`);
  // tokenizers lowercases each character alone: Σ is σ wherever it stands.
  const python = sectionIds(prompt.replaceAll('Σ', 'σ'));
  if (python.join() !== direct.join()) (lookAlike ? specialLookAlike : finalSigma).push(entries.length);
  entries.push({ prompt, ids: python.join(' ') });
}

process.stdout.write(
  JSON.stringify(
    {
      producedBy: `tools/tokenizer-table/make.mjs with transformers.js ${transformersVersion} (@huggingface/transformers), loading models/darkroom-demo/tokenizer as the tokenizer.json transformers 5 writes for CLIPTokenizer`,
      ids: 'bos, every token, eos: no truncation, no padding',
      pythonRuleOverTransformersJs: [
        {
          rule: "Python's CLIPTokenizer (transformers 5, the tokenizers library) lowercases one character at a time: a word-final Σ is σ, where transformers.js writes ς",
          entries: finalSigma,
        },
        {
          rule: "Python's CLIPTokenizer matches bos and eos only as written; text that only normalises to one (<|ENDOFTEXT|>) is split like any text, where transformers.js returns the special token",
          entries: specialLookAlike,
        },
      ],
      entries,
    },
    null,
    0,
  ).replace(/\},\{"prompt"/g, '},\n{"prompt"') + '\n',
);
