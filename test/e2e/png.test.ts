/**
 * Generation settings in PNG outputs over HTTP against the real server: every output downloaded
 * from its URL carries A1111's `parameters` tEXt chunk (prompt, negative prompt, steps, sampler,
 * CFG scale, its own seed, size, model), and none with DARKROOM_PNG_METADATA=false.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Every chunk of a PNG, type and data, checking the signature and each CRC. */
function chunks(png: Buffer): { type: string; data: Buffer }[] {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
  const out: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    out.push({ type, data: png.subarray(at + 8, at + 8 + len) });
    at += 12 + len;
    if (type === 'IEND') break;
  }
  return out;
}

const textChunks = (png: Buffer) =>
  chunks(png)
    .filter((c) => c.type === 'tEXt')
    .map((c) => {
      const nul = c.data.indexOf(0);
      return { keyword: c.data.toString('latin1', 0, nul), text: c.data.toString('latin1', nul + 1) };
    });

async function generate(t: TestServer, body: Record<string, unknown>): Promise<Buffer[]> {
  const res = await t.api('/v1/image/generation/create', { method: 'POST', json: body });
  assert.equal(res.status, 200, await res.clone().text());
  const { outputs } = (await res.json()) as { outputs: { url: string }[] };
  return Promise.all(outputs.map(async (o) => Buffer.from(await (await fetch(o.url)).arrayBuffer())));
}

const request = { prompt: 'a red fox, in snow', negative_prompt: 'blurry', num_outputs: 2, seed: 777, inference_steps: 10, guidance_scale: 6.5, width: 256, height: 256 };

describe('on by default', () => {
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(() => t.close());

  test("each output has A1111's parameters chunk, with its own seed; the image still decodes", async () => {
    const pngs = await generate(t, request);
    assert.equal(pngs.length, 2);
    for (const [k, png] of pngs.entries()) {
      assert.equal(chunks(png)[1]!.type, 'tEXt', 'the text chunk comes right after IHDR');
      const texts = textChunks(png);
      assert.deepEqual(texts.map((x) => x.keyword), ['parameters']);
      const [prompt, negative, settings] = texts[0]!.text.split('\n');
      assert.equal(prompt, request.prompt);
      assert.equal(negative, 'Negative prompt: blurry');
      assert.match(settings!, /^Steps: 10, Sampler: [^,]+, CFG scale: 6\.5, Seed: (\d+), Size: 256x256, Model: tiny-sd1$/);
      assert.equal(/Seed: (\d+)/.exec(settings!)![1], String(request.seed + k));
      const meta = await sharp(png).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
    }
  });
});

describe('DARKROOM_PNG_METADATA=false', () => {
  let t: TestServer;
  before(async () => (t = await startTestServer({ DARKROOM_PNG_METADATA: 'false' })));
  after(() => t.close());

  test('outputs carry no text chunk', async () => {
    const [png] = await generate(t, { ...request, num_outputs: 1 });
    const types = chunks(png!).map((c) => c.type);
    assert.deepEqual(types.filter((x) => x === 'tEXt' || x === 'iTXt' || x === 'zTXt'), []);
    assert.equal(types[0], 'IHDR');
  });
});
