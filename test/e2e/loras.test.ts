/**
 * LoRA adapters per request over HTTP against the real server, on a copy of the demo model with the
 * blue-to-red LoRA (tools/lora/make.ts) installed: GET /v1/loras and Leonardo's GET /elements list
 * it; Stablecog's loras field, an A1111 <lora:...> prompt tag and Leonardo's elements each turn a
 * blue square red (read by the demo model's detector); a LoRA that is not installed, or does not
 * fit the model, is a 400 naming it that costs nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { SHIPPED_MODELS_DIR } from '../../src/config/config.ts';
import { writeSafetensors } from '../../src/engine/lora/safetensors.ts';
import { detect } from '../../tools/demo-model/detector.ts';
import { blueToRed, loraTensors } from '../../tools/lora/make.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'darkroom-e2e-lora-'));
  const models = join(root, 'models');
  await cp(join(SHIPPED_MODELS_DIR, 'darkroom-demo'), join(models, 'darkroom-demo'), { recursive: true }); // merged twins go beside it
  await mkdir(join(root, 'loras'));
  const factors = await blueToRed(join(models, 'darkroom-demo'));
  await writeSafetensors(join(root, 'loras', 'blue-to-red.safetensors'), loraTensors(factors, 'kohya'), { ss_base_model_version: 'sd_v1' });
  // Made for another UNet: its module is not in the demo model.
  await writeSafetensors(join(root, 'loras', 'other-model.safetensors'), {
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': { shape: [2, 320], data: new Float32Array(640) },
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': { shape: [320, 2], data: new Float32Array(640) },
  });
  t = await startTestServer({ DARKROOM_MODELS_DIR: models, DARKROOM_LORAS_DIR: join(root, 'loras'), DARKROOM_DEFAULT_MODEL: 'darkroom-demo' });
});
after(async () => {
  await t?.close();
  await rm(root, { recursive: true, force: true });
});

async function balance(): Promise<number> {
  return ((await (await t.api('/v1/credits')).json()) as { total_remaining_credits: number }).total_remaining_credits;
}

async function read(url: string): Promise<string> {
  const { data, info } = await sharp(Buffer.from(await (await fetch(url)).arrayBuffer())).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const d = detect(new Uint8Array(data), info.width, info.height);
  return `${d.color} ${d.shape} on ${d.background}`;
}

async function stablecog(body: Record<string, unknown>): Promise<string> {
  const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { num_outputs: 1, seed: 1, inference_steps: 20, scheduler_id: undefined, ...body } });
  assert.equal(res.status, 200, await res.clone().text());
  return read(((await res.json()) as { outputs: { url: string }[] }).outputs[0]!.url);
}

const SQUARE = 'a blue square on the left on black';

test('GET /v1/loras lists the installed LoRAs with UUID, family and size; Leonardo GET /elements too', async () => {
  const res = await t.api('/v1/loras', { key: '' });
  assert.equal(res.status, 200);
  const { loras } = (await res.json()) as { loras: { name: string; id: string; base_model_family: string | null; size_bytes: number }[] };
  assert.deepEqual(loras.map((l) => [l.name, l.base_model_family]), [['blue-to-red', 'sd1'], ['other-model', null]]);
  assert.match(loras[0]!.id, /^[0-9a-f-]{36}$/);
  assert.ok(loras[0]!.size_bytes > 100_000);
  const elements = (await (await t.api('/api/rest/v1/elements')).json()) as { loras: { akUUID: string; name: string; baseModel: string | null }[] };
  assert.deepEqual(elements.loras.map((l) => [l.name, l.akUUID, l.baseModel]), [['blue-to-red', loras[0]!.id, 'v1_5'], ['other-model', loras[1]!.id, null]]);
});

test('Stablecog: the loras field and a <lora:name:weight> prompt tag apply the LoRA; without it the square stays blue', async () => {
  assert.equal(await stablecog({ prompt: SQUARE }), 'blue square on black');
  assert.equal(await stablecog({ prompt: SQUARE, loras: [{ name: 'blue-to-red', weight: 1 }] }), 'red square on black');
  assert.equal(await stablecog({ prompt: `${SQUARE} <lora:blue-to-red:1>` }), 'red square on black');
});

test('a LoRA that is not installed or does not fit the model is a 400 naming it, and costs nothing', async () => {
  const before = await balance();
  const absent = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: SQUARE, num_outputs: 1, loras: [{ name: 'nope' }] } });
  assert.equal(absent.status, 400);
  assert.match(JSON.stringify(await absent.json()), /unknown LoRA \\"nope\\" \(installed: blue-to-red, other-model\)/);
  const misfit = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: `${SQUARE} <lora:other-model:0.5>`, num_outputs: 1 } });
  assert.equal(misfit.status, 400);
  assert.match(JSON.stringify(await misfit.json()), /LoRA \\"other-model\\" does not fit.*lora_unet_down_blocks_0_attentions_0_proj_in/);
  const badWeight = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: SQUARE, num_outputs: 1, loras: [{ name: 'blue-to-red', weight: 50 }] } });
  assert.equal(badWeight.status, 400);
  assert.match(JSON.stringify(await badWeight.json()), /loras\[\]\.weight must be between -10 and 10/);
  const leonardo = await t.api('/api/rest/v1/generations', { method: 'POST', json: { prompt: SQUARE, width: 256, height: 256, num_images: 1, elements: [{ akUUID: '00000000-0000-4000-8000-000000000000', weight: 1 }] } });
  assert.equal(leonardo.status, 400);
  assert.deepEqual(await leonardo.json(), { error: 'elements: unknown LoRA 00000000-0000-4000-8000-000000000000', path: '$', code: 'unexpected' });
  assert.equal(await balance(), before);
});

test("Leonardo: elements [{ akUUID, weight }] apply the LoRA, and the generation lists what it applied", async () => {
  const { loras } = (await (await t.api('/api/rest/v1/elements')).json()) as { loras: { akUUID: string }[] };
  const res = await t.api('/api/rest/v1/generations', {
    method: 'POST',
    json: { prompt: SQUARE, width: 256, height: 256, num_images: 1, seed: 1, num_inference_steps: 20, scheduler: 'EULER_ANCESTRAL_DISCRETE', presetStyle: 'NONE', elements: [{ akUUID: loras[0]!.akUUID, weight: 1 }] },
  });
  assert.equal(res.status, 200, await res.clone().text());
  const id = ((await res.json()) as { sdGenerationJob: { generationId: string } }).sdGenerationJob.generationId;
  for (const end = Date.now() + 120_000; ; ) {
    const g = (
      (await (await t.api(`/api/rest/v1/generations/${id}`)).json()) as {
        generations_by_pk: { status: string; generated_images: { url: string }[]; generation_elements: { weightApplied: number; lora: { akUUID: string; name: string } }[] };
      }
    ).generations_by_pk;
    if (g.status === 'COMPLETE') {
      assert.equal(await read(g.generated_images[0]!.url), 'red square on black');
      assert.deepEqual(g.generation_elements.map((e) => [e.lora.akUUID, e.lora.name, e.weightApplied]), [[loras[0]!.akUUID, 'blue-to-red', 1]]);
      break;
    }
    assert.equal(g.status, 'PENDING');
    assert.ok(Date.now() < end, 'finished in time');
    await new Promise((r) => setTimeout(r, 200));
  }
});
