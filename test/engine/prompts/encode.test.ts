import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineInputError } from '../../../src/engine/errors.ts';
import { LoadedModel } from '../../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../../src/engine/models/model-folder.ts';
import { decodeModel, encodeModel } from '../../../src/engine/onnx/proto.ts';
import { generateBatch } from '../../../src/engine/pipelines/generate.ts';
import { encodeConditioning, encodePrompt } from '../../../src/engine/pipelines/prompt.ts';
import { batchKey, textToImage } from '../../../src/engine/pipelines/text-to-image.ts';
import { testModelDir } from '../../../tools/test-models/cache.ts';
import { disposeAll, maxAbsDiff, meanAbsDiff, request, tinyModel } from '../helpers.ts';

after(disposeAll);

type Model = Awaited<ReturnType<typeof tinyModel>>;

/** The encoder's output for ids, run directly: what the engine gave before weighting and chunks. */
async function rawHidden(model: Model, ids: number[]): Promise<Float32Array> {
  const out = await model.textEncoder.run({ input_ids: { data: ids, dims: [1, ids.length] } });
  return out['last_hidden_state']!.data;
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A prompt of `n` single-token words of the test vocabulary, commas every 7 words. */
function wordsPrompt(n: number, offset = 0): string {
  const words = ['red', 'green', 'blue', 'circle', 'square', 'triangle', 'cat', 'dog', 'house', 'tree', 'sky', 'sunset', 'mountain'];
  return Array.from({ length: n }, (_, i) => words[(i + offset) % words.length]).join(' ');
}

test('weights of 1 give the plain embedding bit for bit, in both syntaxes', async () => {
  const model = await tinyModel('tiny-sd1');
  for (const prompt of ['a red circle on a blue background', '', 'a cat, a dog']) {
    const plain = await rawHidden(model, model.tokenizer.encode(prompt).ids);
    for (const syntax of ['a1111', 'literal'] as const) {
      const e = await encodePrompt(model, prompt, syntax);
      assert.equal(e.tokens, 77);
      assert.ok(bitEqual(e.hidden, plain), `${syntax}: ${JSON.stringify(prompt)}`);
    }
  }
});

test('literal syntax: a prompt with brackets gives the plain embedding of its characters bit for bit', async () => {
  const model = await tinyModel('tiny-sd1');
  const prompt = 'a ((red)) circle [on] (a blue:1.4) background BREAK \\(x\\)';
  const plain = await rawHidden(model, model.tokenizer.encode(prompt).ids);
  assert.ok(bitEqual((await encodePrompt(model, prompt, 'literal')).hidden, plain));
  assert.ok(!bitEqual((await encodePrompt(model, prompt, 'a1111')).hidden, plain), 'read as A1111, the same prompt weighs and breaks');
});

test('(word:1.5) scales that token position by 1.5, then the chunk is rescaled to its original mean', async () => {
  const model = await tinyModel('tiny-sd1');
  const weighted = await encodePrompt(model, 'a (red:1.5) circle');
  // The pieces 'a ', 'red', ' circle' tokenize to the same ids as the plain prompt: one word each.
  const ids = model.tokenizer.encode('a red circle').ids;
  const z = await rawHidden(model, ids);
  const dim = weighted.dim;
  const red = 2; // bos, a, red
  const mean = (x: ArrayLike<number>) => {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i]!;
    return sum / x.length;
  };
  // In float32, as torch runs A1111's step: z * w, then z * (original mean / new mean).
  const scaled = Float32Array.from(z, (v, i) => (Math.floor(i / dim) === red ? v * 1.5 : v));
  const restore = Math.fround(Math.fround(mean(z)) / Math.fround(mean(scaled)));
  const expected = Float32Array.from(scaled, (v) => v * restore);
  assert.ok(bitEqual(weighted.hidden, expected), `max difference ${maxAbsDiff(weighted.hidden, expected)}`);
  assert.ok(Math.abs(mean(weighted.hidden) - mean(z)) < 1e-6, 'the mean is restored');
  assert.notEqual(restore, 1);
  // Against the unweighted tokens, the weighted one stands 1.5 times taller.
  const ratio = (t: number) => weighted.hidden[t * dim + 3]! / z[t * dim + 3]!;
  assert.ok(Math.abs(ratio(red) / ratio(1) - 1.5) < 1e-4);
  assert.ok(Math.abs(ratio(5) / ratio(1) - 1) < 1e-5);
});

test('a 200-token prompt is three chunks of 77, each the encoding of its own chunk', async () => {
  const model = await tinyModel('tiny-sd1');
  const prompt = wordsPrompt(200);
  const e = await encodePrompt(model, prompt);
  assert.equal(e.tokens, 3 * 77);
  assert.equal(e.hidden.length, 3 * 77 * e.dim);
  const first = await encodePrompt(model, wordsPrompt(75));
  assert.ok(bitEqual(e.hidden.subarray(0, 77 * e.dim), first.hidden), 'the first chunk is the first 75 tokens');
  const tail = await encodePrompt(model, wordsPrompt(50, 150));
  assert.ok(bitEqual(e.hidden.subarray(2 * 77 * e.dim), tail.hidden), 'the third chunk is tokens 151-200');
});

test('the guidance pair: the shorter prompt is padded with empty chunks to the longer', async () => {
  const model = await tinyModel('tiny-sd1');
  const empty = await encodePrompt(model, '');
  const cond = await encodeConditioning(model, { prompt: wordsPrompt(160), negativePrompt: 'green' }, true);
  assert.equal(cond.positive.tokens, 3 * 77);
  assert.equal(cond.negative!.tokens, 3 * 77);
  const size = 77 * empty.dim;
  assert.ok(bitEqual(cond.negative!.hidden.subarray(0, size), (await encodePrompt(model, 'green')).hidden));
  assert.ok(bitEqual(cond.negative!.hidden.subarray(size, 2 * size), empty.hidden));
  assert.ok(bitEqual(cond.negative!.hidden.subarray(2 * size), empty.hidden));
  const reverse = await encodeConditioning(model, { prompt: 'green', negativePrompt: wordsPrompt(100) }, true);
  assert.equal(reverse.positive.tokens, 2 * 77);
  assert.ok(bitEqual(reverse.positive.hidden.subarray(size), empty.hidden));
});

test('SDXL: both encoders chunked, weighted and joined per token; pooled from the first chunk', async () => {
  const model = await tinyModel('tiny-sdxl');
  const long = await encodePrompt(model, wordsPrompt(200));
  const head = await encodePrompt(model, wordsPrompt(75));
  assert.equal(long.tokens, 3 * 77);
  assert.equal(long.dim, 80);
  assert.ok(bitEqual(long.pooled!, head.pooled!), 'pooled = the first chunk’s');
  assert.ok(bitEqual(long.hidden.subarray(0, 77 * 80), head.hidden));
  const weighted = await encodePrompt(model, 'a (red:1.5) circle');
  const plain = await encodePrompt(model, 'a red circle');
  assert.ok(bitEqual(weighted.pooled!, plain.pooled!), 'weights leave the pooled projection alone, as in A1111');
  assert.ok(meanAbsDiff(weighted.hidden, plain.hidden) > 0);
});

for (const variant of ['tiny-sd1', 'tiny-sdxl'] as const) {
  test(`${variant}: tokens past 77 change the picture; the same long prompt gives the same picture`, async () => {
    const model = await tinyModel(variant);
    const head = wordsPrompt(70);
    const base = { steps: 3, seed: 7, scheduler: 'euler' as const, guidance: 6 };
    const [short] = await textToImage(model, request(model, { ...base, prompt: head }));
    const [long] = await textToImage(model, request(model, { ...base, prompt: `${head}, ${wordsPrompt(130, 3)}` }));
    const [again] = await textToImage(model, request(model, { ...base, prompt: `${head}, ${wordsPrompt(130, 3)}` }));
    assert.ok(meanAbsDiff(short!.pixels, long!.pixels) > 1e-3, `difference ${meanAbsDiff(short!.pixels, long!.pixels)}`);
    assert.ok(bitEqual(long!.pixels, again!.pixels));
  });
}

test('batching: prompts of different chunk counts never share a UNet batch; equal counts do, each as alone', async () => {
  const model = await tinyModel('tiny-sd1');
  const base = { steps: 3, scheduler: 'euler' as const, guidance: 6 };
  const short = request(model, { ...base, prompt: 'a red circle', seed: 1 });
  const long = request(model, { ...base, prompt: wordsPrompt(120), seed: 2 });
  const longNegative = request(model, { ...base, prompt: 'a cat', negativePrompt: wordsPrompt(90), seed: 3 });
  assert.notEqual(batchKey(model, short), batchKey(model, long));
  assert.equal(batchKey(model, long), batchKey(model, longNegative));
  await assert.rejects(generateBatch(model, [short, long]), EngineInputError);
  const batched = await generateBatch(model, [long, longNegative]);
  for (const [i, req] of [long, longNegative].entries()) {
    const [alone] = await textToImage(model, req);
    assert.ok(maxAbsDiff(batched[i]![0]!.pixels, alone!.pixels) < 1 / 255);
  }
});

test('a UNet with a fixed 77-token text axis: one chunk runs, a longer prompt is refused naming the model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'darkroom-fixed-axis-'));
  try {
    await cp(await testModelDir('tiny-sd1'), dir, { recursive: true });
    const path = join(dir, 'unet', 'model.onnx');
    const onnx = decodeModel(await readFile(path));
    onnx.graph!.input!.find((i) => i.name === 'encoder_hidden_states')!.type!.tensor_type!.shape!.dim![1] = { dim_value: 77 };
    await writeFile(path, encodeModel(onnx));
    const model = await LoadedModel.load(await readModelFolder(dir), { provider: 'cpu', threads: 1 });
    try {
      const base = { steps: 2, seed: 1, scheduler: 'euler' as const, guidance: 6 };
      assert.equal((await textToImage(model, request(model, { ...base, prompt: wordsPrompt(75) }))).length, 1);
      await assert.rejects(textToImage(model, request(model, { ...base, prompt: wordsPrompt(76) })), (err: unknown) => {
        assert.ok(err instanceof EngineInputError);
        assert.equal(err.field, 'prompt');
        assert.match(err.message, new RegExp(`model ${model.id} takes at most 75 prompt tokens`));
        return true;
      });
      await assert.rejects(textToImage(model, request(model, { ...base, prompt: 'a cat', negativePrompt: wordsPrompt(80) })), (err: unknown) => {
        assert.ok(err instanceof EngineInputError && err.field === 'negativePrompt');
        return true;
      });
    } finally {
      await model.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a weight that is no number fails the request check, naming the field', async () => {
  const model = await tinyModel('tiny-sd1');
  await assert.rejects(textToImage(model, request(model, { prompt: 'a (red:1.2.3) cat', steps: 1 })), (err: unknown) => {
    assert.ok(err instanceof EngineInputError && err.field === 'prompt');
    return true;
  });
  await assert.rejects(textToImage(model, request(model, { prompt: 'a cat', promptSyntax: 'fancy' as never, steps: 1 })), (err: unknown) => {
    assert.ok(err instanceof EngineInputError && err.field === 'promptSyntax');
    return true;
  });
});
