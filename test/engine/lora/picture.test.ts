import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPED_MODELS_DIR } from '../../../src/config/config.ts';
import { Engine } from '../../../src/engine/engine.ts';
import type { GeneratedImage } from '../../../src/engine/pipelines/request.ts';
import { writeSafetensors } from '../../../src/engine/lora/safetensors.ts';
import { detect } from '../../../tools/demo-model/detector.ts';
import { blueToRed, loraTensors } from '../../../tools/lora/make.ts';

let root = '';
let engine: Engine;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-lora-pic-'));
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), join(root, 'models', 'darkroom-demo'), { recursive: true });
  await mkdir(join(root, 'loras'));
  const factors = await blueToRed(join(root, 'models', 'darkroom-demo'));
  await writeSafetensors(join(root, 'loras', 'blue-to-red.safetensors'), loraTensors(factors, 'kohya'));
  await writeSafetensors(join(root, 'loras', 'blue-to-red-peft.safetensors'), loraTensors(factors, 'peft'));
  engine = new Engine({ modelDirs: [join(root, 'models')], lorasDir: join(root, 'loras'), provider: 'cpu', threads: 1 });
});
after(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

function rgb(image: GeneratedImage): Uint8Array {
  const n = image.width * image.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.max(0, Math.min(255, Math.round((image.pixels[c * n + i]! + 1) * 127.5)));
  return out;
}

async function picture(prompt: string, loras?: { name: string; weight: number }[]): Promise<GeneratedImage> {
  const { images } = await engine.generate('darkroom-demo', { prompt, seed: 1, ...(loras ? { loras } : {}) });
  return images[0]!;
}

const read = (image: GeneratedImage) => {
  const d = detect(rgb(image), image.width, image.height);
  return `${d.color} ${d.shape} on ${d.background}`;
};

test('at weight 0 the picture is the base model’s, bit for bit (the LoRA merged, times zero)', async () => {
  const base = await picture('a blue square on the left on black');
  const zero = await picture('a blue square on the left on black', [{ name: 'blue-to-red', weight: 0 }]);
  assert.deepEqual(zero.pixels, base.pixels);
});

test('blue-to-red paints red what the prompt paints blue, and leaves other colours alone, in either key layout', async () => {
  assert.equal(read(await picture('a blue square on the left on black')), 'blue square on black');
  assert.equal(read(await picture('a blue square on the left on black', [{ name: 'blue-to-red', weight: 1 }])), 'red square on black');
  assert.equal(read(await picture('a green star on the right on a blue background', [{ name: 'blue-to-red-peft', weight: 1 }])), 'green star on red');
  assert.equal(read(await picture('a yellow triangle at the top, purple background', [{ name: 'blue-to-red', weight: 1 }])), 'yellow triangle on purple');
});
