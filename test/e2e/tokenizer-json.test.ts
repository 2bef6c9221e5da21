/**
 * A model whose tokenizer folder holds only tokenizer.json (what transformers 5 save_pretrained
 * writes) loads and draws, through `darkroom generate`, exactly the picture of the same model with
 * vocab.json and merges.txt.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testModelDir } from '../../tools/test-models/cache.ts';
import { cliHome, type CliHome } from '../helpers/cli.ts';

let home: CliHome;
let dir: string;
let original: string;
let jsonOnly: string;

before(async () => {
  home = cliHome('tokenizer-json');
  dir = home.dir;
  original = await testModelDir('tiny-sd1');
  jsonOnly = join(dir, 'tiny-sd1-tokenizer-json');
  mkdirSync(join(jsonOnly, 'tokenizer'), { recursive: true });
  for (const entry of readdirSync(original)) if (entry !== 'tokenizer') symlinkSync(join(original, entry), join(jsonOnly, entry));
  const tok = join(original, 'tokenizer');
  const vocab = JSON.parse(readFileSync(join(tok, 'vocab.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(tok, 'merges.txt'), 'utf8')
    .split('\n')
    .filter((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#version')))
    .map((l) => l.split(' '));
  writeFileSync(join(jsonOnly, 'tokenizer', 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: [], model: { type: 'BPE', end_of_word_suffix: '</w>', vocab, merges } }));
  writeFileSync(join(jsonOnly, 'tokenizer', 'tokenizer_config.json'), readFileSync(join(tok, 'tokenizer_config.json')));
});
after(() => home.remove());

function generate(model: string, out: string) {
  return home.run(['generate', 'a red cat on the blue house', '--model', model, '--seed', '3', '--steps', '4', '--width', '64', '--height', '64', '-o', out]);
}

test('darkroom generate: tokenizer.json alone gives the picture vocab.json + merges.txt give', () => {
  const a = generate(original, join(dir, 'vocab.png'));
  assert.equal(a.status, 0, a.stderr);
  const b = generate(jsonOnly, join(dir, 'json.png'));
  assert.equal(b.status, 0, b.stderr);
  assert.ok(readFileSync(join(dir, 'vocab.png')).equals(readFileSync(join(dir, 'json.png'))));
});
