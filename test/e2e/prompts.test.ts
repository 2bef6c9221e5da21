/**
 * Prompts as A1111 users write them, end to end: a 200-token prompt runs on the demo model over
 * HTTP and through `darkroom generate`, and the tokens past the first 77 change the picture;
 * weights are read by default and literally with prompt_syntax; bad syntax costs nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ConfigError, loadConfig, SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { ClipTokenizer } from '../../src/engine/tokenizers/clip.ts';
import { cliHome } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const MODEL = 'darkroom-demo';

/** One chunk's worth: 8 words, then dense commas (a, = two tokens in two characters). */
const SHORT = `a large red star on a blue background, ${'a,'.repeat(30)}`;
/** 200+ tokens, under Stablecog's 500-character cut: the first chunk as SHORT, then more. */
const LONG = `${SHORT} ${'a,'.repeat(60)} a yellow ring on the left, a large purple square at the bottom`;

let t: TestServer;
let tokenizer: ClipTokenizer;
before(async () => {
  t = await startTestServer();
  tokenizer = await ClipTokenizer.fromFolder(join(SHIPPED_MODELS_DIR, MODEL, 'tokenizer'));
});
after(() => t.close());

async function pixels(png: Uint8Array): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

async function balance(): Promise<number> {
  return ((await (await t.api('/v1/credits')).json()) as { total_remaining_credits: number }).total_remaining_credits;
}

async function create(fields: Record<string, unknown>): Promise<Response> {
  return t.api('/v1/image/generation/create', {
    method: 'POST',
    json: { model_id: MODEL, width: 256, height: 256, inference_steps: 10, num_outputs: 1, seed: 11, ...fields },
  });
}

async function image(fields: Record<string, unknown>, server = t): Promise<Buffer> {
  const res = await server.api('/v1/image/generation/create', {
    method: 'POST',
    json: { model_id: MODEL, width: 256, height: 256, inference_steps: 10, num_outputs: 1, seed: 11, ...fields },
  });
  const body = (await res.json()) as { outputs: { url: string }[] };
  assert.equal(res.status, 200, JSON.stringify(body));
  return pixels(new Uint8Array(await (await fetch(body.outputs[0]!.url)).arrayBuffer()));
}

test('the prompts are what they claim: one chunk, and over 200 tokens within 500 characters', () => {
  assert.ok(tokenizer.tokenize(SHORT).length <= 75, `${tokenizer.tokenize(SHORT).length}`);
  assert.ok(tokenizer.tokenize(LONG).length >= 200, `${tokenizer.tokenize(LONG).length}`);
  assert.ok(LONG.length <= 500, `${LONG.length}`);
});

test('HTTP: a 200-token prompt runs on the demo model; the tokens past 77 change the picture', async () => {
  const short = await image({ prompt: SHORT });
  const long = await image({ prompt: LONG });
  const again = await image({ prompt: LONG });
  assert.ok(meanAbsDiff(short, long) > 1, `mean pixel difference ${meanAbsDiff(short, long)}`);
  assert.ok(long.equals(again), 'the same long prompt and seed give the same picture');
});

test('HTTP: weights are read by default; prompt_syntax literal reads the brackets as text', async () => {
  const prompt = 'a (large:1.6) red star on a [[blue]] background';
  const plain = await image({ prompt: 'a large red star on a blue background' });
  const weighted = await image({ prompt });
  const asA1111 = await image({ prompt, prompt_syntax: 'a1111' });
  const literal = await image({ prompt, prompt_syntax: 'literal' });
  assert.ok(weighted.equals(asA1111), 'a1111 is the default');
  assert.ok(meanAbsDiff(weighted, plain) > 0, 'the weights change the picture');
  assert.ok(meanAbsDiff(weighted, literal) > 0, 'literal reads the brackets as characters');
});

test('HTTP: a bad prompt_syntax or a weight that is no number is a 400 naming the field, and costs nothing', async () => {
  for (const [fields, field] of [
    [{ prompt: 'a red star', prompt_syntax: 'comfy' }, 'prompt_syntax'],
    [{ prompt: 'a (red:1.2.3) star' }, 'prompt'],
    [{ prompt: 'a red star', negative_prompt: '(blue:.)' }, 'negative_prompt'],
  ] as const) {
    const before = await balance();
    const res = await create(fields);
    const body = (await res.json()) as { field?: string; error: string };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.field, field, JSON.stringify(body));
    assert.equal(await balance(), before);
  }
  // Read literally, the same characters are a fine prompt.
  assert.equal((await create({ prompt: 'a (red:1.2.3) star', prompt_syntax: 'literal' })).status, 200);
});

test('DARKROOM_PROMPT_SYNTAX=literal: requests that do not say are read literally; a bad value stops start-up naming it', async () => {
  assert.throws(() => loadConfig({ DARKROOM_PROMPT_SYNTAX: 'comfy' }), (err: unknown) => err instanceof ConfigError && /DARKROOM_PROMPT_SYNTAX="comfy": must be one of a1111, literal/.test(err.message));
  const prompt = 'a (red:1.2.3) star on a ((blue)) background';
  const literalServer = await startTestServer({ DARKROOM_PROMPT_SYNTAX: 'literal' });
  try {
    const fromSetting = await image({ prompt }, literalServer);
    assert.ok(fromSetting.equals(await image({ prompt, prompt_syntax: 'literal' })));
    assert.ok(!fromSetting.equals(await image({ prompt: 'a (red:1.2) star on a ((blue)) background', prompt_syntax: 'a1111' }, literalServer)));
  } finally {
    await literalServer.close();
  }
});

test('darkroom generate: a 200-token prompt runs on the demo model; the tail changes the picture', async () => {
  const home = cliHome('prompts-cli');
  const dir = home.dir;
  try {
    const run = (prompt: string, out: string) => {
      const r = home.run(['generate', prompt, '--model', MODEL, '--seed', '5', '--steps', '6', '--out', join(dir, out)]);
      assert.equal(r.status, 0, r.stderr);
      return pixels(readFileSync(join(dir, out)));
    };
    const short = await run(SHORT, 'short.png');
    const long = await run(LONG, 'long.png');
    assert.ok(meanAbsDiff(short, long) > 1, `mean pixel difference ${meanAbsDiff(short, long)}`);
  } finally {
    home.remove();
  }
});
