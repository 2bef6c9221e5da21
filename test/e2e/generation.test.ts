/**
 * POST /v1/image/generation/create over HTTP against the real server (tiny test model): the seed
 * 000 example request, the defaults it fills, every validation rule (400, the field named, no
 * credit taken), insufficient credits, and the image behind the returned URL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, makeUser, type TestServer } from '../helpers/server.ts';

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

async function balance(key: string): Promise<number> {
  const r = await t.api('/v1/credits', { key });
  return ((await r.json()) as { total_remaining_credits: number }).total_remaining_credits;
}

test('seed 000: the simplest request, exactly as the documented clients send it', async () => {
  // Same call as the curl / TypeScript / Python examples: only host and key differ.
  const before = await balance(t.adminKey);
  const res = await fetch(`${t.url}/v1/image/generation/create`, {
    method: 'POST',
    body: JSON.stringify({ prompt: 'red cat wearing a purple hat' }),
    headers: { Authorization: `Bearer ${t.adminKey}`, 'Content-Type': 'application/json' },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    outputs: { id: string; url: string; image_url: string }[];
    remaining_credits: number;
    settings: Record<string, unknown>;
  };
  assert.deepEqual(Object.keys(body).sort(), ['outputs', 'remaining_credits', 'settings']);
  const defaults = (await (await fetch(`${t.url}/v1/image/generation/defaults`)).json()) as Record<string, unknown>;
  assert.equal(body.outputs.length, defaults['num_outputs']);
  assert.equal(body.remaining_credits, before - body.outputs.length);
  // Every default is filled in.
  for (const k of ['model_id', 'scheduler_id', 'width', 'height', 'num_outputs', 'guidance_scale', 'inference_steps']) {
    assert.equal(body.settings[k], defaults[k], k);
  }
  assert.equal(typeof body.settings['seed'], 'number');
  for (const o of body.outputs) {
    assert.match(o.id, /^[0-9a-f-]{36}$/);
    assert.equal(o.url, o.image_url);
    const img = await fetch(o.url); // no headers: the URL itself is enough
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/png');
    const bytes = new Uint8Array(await img.arrayBuffer());
    assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  }
});

test('the deprecated alias /v1/image/generate works the same; models can be named by UUID or plain id', async () => {
  const models = (await (await fetch(`${t.url}/v1/image/models/generate`)).json()) as { models: { id: string; darkroom_id: string; available_schedulers: { id: string; name: string }[] }[] };
  const m = models.models[0]!;
  const euler = m.available_schedulers.find((s) => s.name === 'K_EULER')!;
  for (const model_id of [m.id, m.darkroom_id]) {
    const r = await t.api('/v1/image/generate', { method: 'POST', json: { prompt: 'a dog', model_id, scheduler_id: euler.id, num_outputs: 1, width: 256, height: 256, inference_steps: 10, seed: 5 } });
    assert.equal(r.status, 200, await r.clone().text());
    const body = (await r.json()) as { settings: Record<string, unknown> };
    assert.equal(body.settings['model_id'], m.id);
    assert.equal(body.settings['scheduler_id'], euler.id);
    assert.equal(body.settings['seed'], 5);
  }
});

test('same seed and settings give the same image bytes; output k uses seed + k', async () => {
  const req = { prompt: 'determinism', num_outputs: 2, seed: 1234, inference_steps: 10 };
  const a = (await (await t.api('/v1/image/generation/create', { method: 'POST', json: req })).json()) as { outputs: { url: string }[] };
  const b = (await (await t.api('/v1/image/generation/create', { method: 'POST', json: { ...req, num_outputs: 1, seed: 1235 } })).json()) as { outputs: { url: string }[] };
  const bytes = async (u: string) => Buffer.from(await (await fetch(u)).arrayBuffer());
  assert.ok((await bytes(a.outputs[1]!.url)).equals(await bytes(b.outputs[0]!.url)));
});

describe('each validation rule: 400, the field named, nothing charged', () => {
  const cases: [string, Record<string, unknown>, string, RegExp | string][] = [
    ['width below 256', { width: 248 }, 'width', 'Width is too small, min is: 256'],
    ['width above 1024', { width: 1032 }, 'width', 'Width is too large, max is: 1024'],
    ['width not a multiple of 8', { width: 260 }, 'width', 'Width must be a multiple of 8'],
    ['height below 256', { height: 128 }, 'height', 'Height is too small, min is: 256'],
    ['height above 1024', { height: 2048 }, 'height', 'Height is too large, max is: 1024'],
    ['height not a multiple of 8', { height: 300 }, 'height', 'Height must be a multiple of 8'],
    ['width * height * steps over 1024*1024*30', { width: 1024, height: 1024, inference_steps: 40 }, 'inference_steps', 'Pick fewer inference steps or smaller dimensions: 1024 - 1024 - 40'],
    ['num_outputs 0', { num_outputs: 0 }, 'num_outputs', "Number of outputs can't be less than 1"],
    ['num_outputs 5', { num_outputs: 5 }, 'num_outputs', "Number of outputs can't be more than 4"],
    ['guidance_scale below 1', { guidance_scale: 0.5 }, 'guidance_scale', 'Guidance scale is too small, min is: 1.000000'],
    ['guidance_scale above 20', { guidance_scale: 20.5 }, 'guidance_scale', 'Guidance scale is too large, max is: 20.000000'],
    ['inference_steps below 10', { inference_steps: 9 }, 'inference_steps', 'Inference steps is too small, min is: 10'],
    ['inference_steps above 50', { inference_steps: 51 }, 'inference_steps', 'Inference steps is too large, max is: 50'],
    ['prompt_strength below 0', { prompt_strength: -0.1 }, 'prompt_strength', 'Prompt strength must be between 0 and 1'],
    ['prompt_strength above 1', { prompt_strength: 1.5 }, 'prompt_strength', 'Prompt strength must be between 0 and 1'],
    ['seed above 2^32 - 1', { seed: 4294967296 }, 'seed', 'Seed is too large, max is: 4294967295'],
    ['prompt missing', { prompt: undefined }, 'prompt', 'Prompt is required'],
    ['prompt blank', { prompt: '   ' }, 'prompt', 'Prompt is required'],
    ['width not a number', { width: 'wide' }, 'width', 'json_parse_error'],
    ['steps not an integer', { inference_steps: 20.5 }, 'inference_steps', 'json_parse_error'],
    ['unknown model', { model_id: '0a99668b-45bd-4f7e-aa9c-f9aaa41ef13b' }, 'model_id', 'invalid_model_id'],
    ['unknown scheduler', { scheduler_id: 'b7224e56-1440-43b9-ac86-66d66f9e8c91' }, 'scheduler_id', 'invalid_scheduler_id'],
    ['init image with a bad scheme', { init_image_url: 'ftp://example.com/x.png' }, 'init_image_url', 'invalid_init_image_url'],
    ['size the model cannot draw', { width: 512, height: 512 }, 'width', /between 32 and 256 for model tiny-sd1/],
  ];
  for (const [name, fields, field, error] of cases) {
    test(name, async () => {
      const before = await balance(t.adminKey);
      const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'a cat', ...fields } });
      const body = (await res.json()) as { error: string; field?: string; description?: string };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.field, field);
      if (typeof error === 'string') assert.equal(body.error, error);
      else assert.match(body.error, error);
      assert.equal(await balance(t.adminKey), before);
    });
  }

  test('a body that is not JSON is json_parse_error', async () => {
    const res = await t.api('/v1/image/generation/create', { method: 'POST', body: '{"prompt": ', headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'json_parse_error');
  });
});

test('insufficient credits: 400 insufficient_credits with the settings, nothing recorded', async () => {
  const { key } = await makeUser(t, 'poor', 1);
  const res = await t.api('/v1/image/generation/create', { method: 'POST', key, json: { prompt: 'two please', num_outputs: 2 } });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: string; settings?: Record<string, unknown> };
  assert.equal(body.error, 'insufficient_credits');
  assert.equal(body.settings?.['num_outputs'], 2);
  assert.equal(await balance(key), 1);
  const ok = await t.api('/v1/image/generation/create', { method: 'POST', key, json: { prompt: 'one is fine', num_outputs: 1 } });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { remaining_credits: number }).remaining_credits, 0);
});

test('no key or a wrong key: 401 Unauthorized', async () => {
  for (const key of ['', 'dr-0000000000000000000000000000000000000000000000000000000000000000']) {
    const res = await t.api('/v1/image/generation/create', { method: 'POST', key, json: { prompt: 'x' } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'Unauthorized');
  }
});
