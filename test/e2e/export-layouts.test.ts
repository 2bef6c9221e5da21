/**
 * Model folders as exporters write them (optimum's layouts without darkroom.json, and transformers 5's
 * tokenizer.json-only tokenizer; tools/test-models/exports.ts) load with their own configs through
 * `darkroom generate --model <folder>` and through a server pointed at a models folder holding them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { exportModelDir } from '../../tools/test-models/cache.ts';
import { EXPORT_LAYOUTS } from '../../tools/test-models/exports.ts';
import { cliHome, type CliHome } from '../helpers/cli.ts';
import { SCALED, startTestServer, type TestServer } from '../helpers/server.ts';

let home: CliHome;
let dir: string;
let models: string;
let initImage: string;

before(async () => {
  const folders: Record<string, string> = {};
  for (const layout of EXPORT_LAYOUTS) folders[layout] = await exportModelDir(layout);
  home = cliHome('exports-e2e', { models: folders });
  dir = home.dir;
  models = join(dir, 'models');
  initImage = join(dir, 'red.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 220, g: 20, b: 20 } } }).png().toFile(initImage);
});
after(() => home.remove());

function generate(layout: string, ...extra: string[]) {
  const out = join(dir, `${layout}-${extra.length}.png`);
  const run = home.run(['generate', 'a red cat on the blue house', '--model', join(models, layout), '--seed', '3', '--steps', '2', '--width', '64', '--height', '64', '-o', out, ...extra]);
  return { ...run, out };
}

test('darkroom generate draws with every export layout but the refiner from text alone', { skip: SCALED }, () => {
  for (const layout of EXPORT_LAYOUTS.filter((l) => l !== 'export-refiner')) {
    const run = generate(layout);
    assert.equal(run.status, 0, `${layout}: ${run.stderr}`);
    assert.ok(existsSync(run.out), layout);
  }
});

test('darkroom generate: the SDXL refiner needs an init image, named in the refusal, and redraws one', { skip: SCALED }, () => {
  const refused = generate('export-refiner');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /export-refiner is an SDXL refiner/);
  const run = generate('export-refiner', '--init-image', initImage, '--strength', '0.5');
  assert.equal(run.status, 0, run.stderr);
  assert.ok(existsSync(run.out));
});

test('a server over a models folder of exports lists them and draws with each (OpenAI dialect, by model id)', { skip: SCALED }, async () => {
  // The layouts, not the safety checker (test/e2e/safety-checker.test.ts): export-sd1's checker, which
  // export-tokenizer-json shares, flags images over a brightness threshold that a tiny model's picture may cross.
  const t: TestServer = await startTestServer({ DARKROOM_MODELS_DIR: models, DARKROOM_DEFAULT_MODEL: 'export-sd1', DARKROOM_SAFETY_CHECKER: 'off' });
  try {
    const listed = (await (await fetch(`${t.url}/v1/image/generation/models`)).json()) as { models: { darkroom_id: string }[] };
    for (const layout of EXPORT_LAYOUTS) assert.ok(listed.models.some((m) => m.darkroom_id === layout), `${layout} listed`);
    for (const layout of ['export-sdxl', 'export-inpaint', 'export-turbo', 'export-lcm', 'export-tokenizer-json']) {
      const res = await t.api('/v1/images/generations', { method: 'POST', json: { prompt: 'a red fox', model: layout, size: '64x64', response_format: 'b64_json' } });
      assert.equal(res.status, 200, `${layout}: ${await res.clone().text()}`);
      const body = (await res.json()) as { data: { b64_json: string }[] };
      assert.equal((await sharp(Buffer.from(body.data[0]!.b64_json, 'base64')).metadata()).width, 64);
    }
    const refused = await t.api('/v1/images/generations', { method: 'POST', json: { prompt: 'a red fox', model: 'export-refiner', size: '64x64' } });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /export-refiner is an SDXL refiner/);
  } finally {
    await t.close();
  }
});
