import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { chwToRgb, encodeImage, rgbToChw } from '../../src/engine/image.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { ClipTokenizer } from '../../src/engine/tokenizers/clip.ts';
import { detect } from '../../tools/demo-model/detector.ts';
import { CI_FLOOR, DEMO_MODEL_DIR, evaluate } from '../../tools/demo-model/evaluate.ts';
import { COLORS, GRAMMAR, renderScene } from '../../tools/demo-model/scenes.ts';

const run = promisify(execFile);
const engine = new Engine({ modelDirs: [SHIPPED_MODELS_DIR], provider: 'cpu' });
after(() => engine.dispose());

/**
 * Bytes of the shipped files: those git tracks. The twins and caches the engine writes beside model
 * files (optimised, tiling, fp16, LoRA-merged, device-loop graphs, .ort-graphs) are ignored, not shipped.
 */
async function folderSize(dir: string): Promise<number> {
  const { stdout } = await run('git', ['ls-files', '-z', '--', dir], { cwd: dir });
  const files = stdout.split('\0').filter(Boolean);
  assert.ok(files.length > 0, `git tracks no file in ${dir}`);
  const sizes = await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size));
  return sizes.reduce((a, b) => a + b, 0);
}

test('the shipped demo model is found by id, is an sd1 model with a manifest, and is at most 25 MB', async () => {
  const info = await readModelFolder(DEMO_MODEL_DIR);
  assert.equal(info.manifest.id, 'darkroom-demo');
  assert.equal(info.manifest.family, 'sd1');
  assert.equal(info.inferred, false);
  assert.deepEqual([info.manifest.defaults.width, info.manifest.defaults.height, info.manifest.defaults.steps], [256, 256, 20]);
  assert.ok(!info.manifest.schedulers.includes('lcm'));
  assert.ok(info.components.vaeEncoder, 'image-to-image and inpainting need the VAE encoder');
  const model = await engine.model('darkroom-demo');
  assert.equal(model.info.dir, DEMO_MODEL_DIR);
  assert.ok((await folderSize(DEMO_MODEL_DIR)) <= 25 * 1024 * 1024);
});

test('the engine tokenizer reads every caption word of the grammar as one token', async () => {
  const tok = await ClipTokenizer.fromFolder(join(DEMO_MODEL_DIR, 'tokenizer'));
  const words = new Set<string>(['background', 'and', 'a', 'an', 'the', ...COLORS, ...Object.values(GRAMMAR.shapeWords).flat()]);
  for (const s of Object.values(GRAMMAR.sizes)) s.words.forEach((w) => words.add(w));
  for (const p of Object.values(GRAMMAR.positions)) p.words.forEach((w) => w.split(' ').forEach((x) => words.add(x)));
  for (const w of words) assert.deepEqual(tok.tokenize(w), [`${w}</w>`], w);
  const { ids } = tok.encode('A big yellow star on black, red square, green background');
  assert.equal(ids.indexOf(tok.eosTokenId), 13);
});

/** Mean absolute difference in 0..255 between two RGB buffers over columns [x0, x1). */
function diff(a: Uint8Array, b: Uint8Array, size: number, x0 = 0, x1 = size): number {
  let total = 0;
  let n = 0;
  for (let y = 0; y < size; y++) for (let x = x0; x < x1; x++) for (let c = 0; c < 3; c++) {
    const i = 3 * (y * size + x) + c;
    total += Math.abs(a[i]! - b[i]!);
    n++;
  }
  return total / n;
}

function spread(rgb: Uint8Array): number {
  let min = 255;
  let max = 0;
  for (const v of rgb) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return max - min;
}

// The accuracy floors of issue 3 (the shipped checkpoint measures 99/100/97/100 % at n=100, docs/demo-model.md).
test('the demo model draws what single-object prompts ask (CI floor 80/80/60/60)', async () => {
  const result = await evaluate({ n: 24, seed: 11 });
  for (const [a, min] of Object.entries(CI_FLOOR)) {
    const got = result.accuracy[a as keyof typeof CI_FLOOR];
    assert.ok(got >= min, `${a}: ${got} < ${min} (${JSON.stringify(result.accuracy)})`);
  }
});

test('every scheduler the demo model offers draws a 256x256 image, the same one again for the same seed', async () => {
  const { manifest } = await readModelFolder(DEMO_MODEL_DIR);
  for (const scheduler of manifest.schedulers) {
    const input = { prompt: 'a large white circle in the center on a purple background', scheduler, seed: 5, steps: 12 };
    const a = (await engine.generate('darkroom-demo', input)).images[0]!;
    const b = (await engine.generate('darkroom-demo', input)).images[0]!;
    assert.equal(a.width, 256);
    const rgb = chwToRgb(a.pixels, 256, 256);
    assert.ok(spread(rgb) > 60, `${scheduler}: a flat image`);
    assert.deepEqual(rgb, chwToRgb(b.pixels, 256, 256), scheduler);
  }
});

test('sizes from 128 to 512 give images of that size', async () => {
  for (const size of [128, 384, 512]) {
    const { images } = await engine.generate('darkroom-demo', { prompt: 'a red square on a green background', width: size, height: size, seed: 3, steps: 8 });
    assert.equal(images[0]!.width, size);
    assert.ok(spread(chwToRgb(images[0]!.pixels, size, size)) > 60, `${size}px`);
  }
});

test('image-to-image at low strength keeps the init scene; inpainting keeps what the mask leaves out', async () => {
  const scene = { bg: 'blue', objects: [{ shape: 'square', color: 'yellow', r: 0.18, x: 0.27, y: 0.5 }] };
  const initRgb = renderScene(scene, 256);
  const init = await encodeImage(rgbToChw(initRgb, 256, 256), 256, 256, 'png');
  const i2i = await engine.generate('darkroom-demo', { prompt: 'a yellow square on the left on a blue background', initImage: init, strength: 0.3, seed: 1 });
  const out = chwToRgb(i2i.images[0]!.pixels, 256, 256);
  assert.ok(diff(out, initRgb, 256) < 20, `image-to-image moved too far: ${diff(out, initRgb, 256)}`);
  const d = detect(out, 256, 256);
  assert.deepEqual([d.color, d.background, d.shape, d.position], ['yellow', 'blue', 'square', 'left']);

  // Mask: the right half, repainted; the left half (the square) must survive.
  const mask = Buffer.alloc(256 * 256 * 3);
  for (let y = 0; y < 256; y++) for (let x = 128; x < 256; x++) mask.fill(255, 3 * (y * 256 + x), 3 * (y * 256 + x) + 3);
  const painted = await engine.generate('darkroom-demo', {
    prompt: 'a yellow square on the left and a white circle on the right on a blue background',
    initImage: init,
    mask: await encodeImage(rgbToChw(mask, 256, 256), 256, 256, 'png'),
    seed: 2,
  });
  const rgb = chwToRgb(painted.images[0]!.pixels, 256, 256);
  assert.ok(diff(rgb, initRgb, 256, 0, 112) < 12, `the unmasked half changed: ${diff(rgb, initRgb, 256, 0, 112)}`);
  assert.ok(diff(rgb, initRgb, 256, 144, 256) > diff(rgb, initRgb, 256, 0, 112), 'the masked half was not repainted');
});
