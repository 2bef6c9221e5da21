/**
 * The hires fix over HTTP and from the CLI: Stablecog's create body takes Darkroom's `hires` field
 * (the outputs have the target size, charged as any image), a target over the model's size limit is
 * a 400 naming hires.scale that costs nothing; `darkroom generate --hires` writes the target size and
 * refuses a scale the model cannot draw, naming the flag.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { BIN, cliHome } from '../helpers/cli.ts';
import { startDialectServer } from '../helpers/dialects.ts';
import type { TestServer } from '../helpers/server.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';

const run = promisify(execFile);
let t: TestServer;
const home = cliHome('hires');
const dir = home.dir;
// tiny-wide: the tiny test model drawing 32-1536 px, so Stablecog's 256 px minimum can be scaled up.
before(async () => (t = await startDialectServer()));
after(async () => {
  await t.close();
  home.remove();
});

async function balance(): Promise<number> {
  const r = await t.api('/v1/credits');
  return ((await r.json()) as { total_remaining_credits: number }).total_remaining_credits;
}

test('Stablecog hires: outputs at the target size (sides scaled, down to a multiple of 8), one credit each', async () => {
  const before = await balance();
  const res = await t.api('/v1/image/generation/create', {
    method: 'POST',
    json: { prompt: 'a red circle', width: 256, height: 264, inference_steps: 10, num_outputs: 2, seed: 3, hires: { scale: 1.7, strength: 0.6 } },
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { outputs: { url: string }[] };
  assert.equal(body.outputs.length, 2);
  for (const o of body.outputs) {
    const meta = await sharp(Buffer.from(await (await fetch(o.url)).arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [432, 448]);
  }
  assert.equal(await balance(), before - 2);
});

test('Stablecog hires over the model\'s size limit, or a bad strength: 400 naming the field, nothing charged', async () => {
  const before = await balance();
  for (const [hires, field] of [[{ scale: 2 }, 'hires.scale'], [{ scale: 1.5, strength: 1.5 }, 'hires.strength'], [{ scale: 0.5 }, 'hires.scale']] as const) {
    const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'x', width: 1024, height: 256, hires } });
    const err = (await res.json()) as { error: string; field?: string };
    assert.equal(res.status, 400, JSON.stringify(err));
    assert.match(`${err.field} ${err.error}`, new RegExp(field.replace('.', '\\.')), JSON.stringify(err));
  }
  assert.equal(await balance(), before);
});

test('darkroom generate --hires writes the target size; a scale past the model\'s limit names --hires and writes nothing', async () => {
  const model = await testModelDir('tiny-sd1');
  const out = join(dir, 'hires.png');
  const { env } = home;
  await run(process.execPath, [BIN, 'generate', 'a red circle', '--model', model, '--seed', '1', '--steps', '3', '--width', '64', '--height', '48', '--hires', '2', '--out', out], { env });
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height], [128, 96]);
  const bad = join(dir, 'bad.png');
  await assert.rejects(
    run(process.execPath, [BIN, 'generate', 'a red circle', '--model', model, '--width', '256', '--hires', '2', '--out', bad], { env }),
    (err: { code: number; stderr: string }) => err.code === 1 && /--hires: 2 makes the width 512, over 256, the most model tiny-sd1 draws/.test(err.stderr),
  );
  assert.equal(existsSync(bad), false);
});
