/**
 * Live previews over HTTP with the real engine: every DARKROOM_PREVIEW_EVERY steps (but the last)
 * a progress frame carries a JPEG data URL of the first image so far, at most 256 px on its longest
 * side; in a shared denoising batch each job's preview is of its own image; 0 turns them off.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { startDialectServer } from '../helpers/dialects.ts';
import { makeUser, type TestServer } from '../helpers/server.ts';
import { openStream, type Frame } from '../helpers/sse-stream.ts';

let t: TestServer;
let off: TestServer;
before(async () => {
  // Batches of up to 4 images, with time to meet: the two users' jobs below share one.
  t = await startDialectServer({ DARKROOM_PREVIEW_EVERY: '3', DARKROOM_BATCH_MAX: '4', DARKROOM_BATCH_WINDOW_MS: '500' });
  off = await startDialectServer({ DARKROOM_PREVIEW_EVERY: '0' });
});
after(async () => {
  await t.close();
  await off.close();
});

/** Generates with `body` on a fresh stream of `key`; the progress frames. */
async function progressOf(server: TestServer, key: string, body: Record<string, unknown>): Promise<Frame[]> {
  const streamId = randomBytes(20).toString('hex');
  const sse = await openStream(server, streamId, key);
  const res = await server.api('/v1/image/generation/create', { method: 'POST', key, json: { ...body, stream_id: streamId } });
  assert.equal(res.status, 200, await res.clone().text());
  await sse.next((f) => f['status'] === 'succeeded');
  await sse.close();
  return sse.frames.filter((f) => f['message_type'] === 'creation_progress');
}

async function pixels(dataUrl: string): Promise<{ data: Buffer; width: number; height: number; format: string }> {
  assert.match(dataUrl, /^data:image\/jpeg;base64,/);
  const bytes = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  const { format } = await sharp(bytes).metadata();
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, format: format! };
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

const A = { prompt: 'a harbour at dawn', seed: 11, num_outputs: 2, inference_steps: 10, width: 384, height: 320 };
const B = { prompt: 'a forest path', seed: 4242, num_outputs: 1, inference_steps: 10, width: 384, height: 320 };

test('preview: every 3rd step but the last, a JPEG scaled to 256 px on its longest side; in a batch, each job sees its own image', async () => {
  const alice = await makeUser(t, 'alice', 10);
  const bob = await makeUser(t, 'bob', 10);
  const [a, b] = await Promise.all([progressOf(t, alice.key, A), progressOf(t, bob.key, B)]);
  for (const frames of [a, b]) {
    assert.equal(frames.length, 10);
    assert.deepEqual(frames.filter((f) => 'preview' in f).map((f) => f['step']), [3, 6, 9]);
    for (const f of frames.filter((f) => 'preview' in f)) {
      const img = await pixels(String(f['preview']));
      assert.deepEqual([img.format, img.width, img.height], ['jpeg', 256, 213]);
    }
  }
  // Bob alone makes the same picture as in the batch (the engine's promise): his batched preview must be his, not Alice's.
  const alone = await progressOf(t, bob.key, B);
  const previewAt = async (frames: Frame[], step: number) => (await pixels(String(frames.find((f) => f['step'] === step)!['preview']))).data;
  const batched = await previewAt(b, 6);
  const own = meanAbsDiff(batched, await previewAt(alone, 6));
  const alices = meanAbsDiff(batched, await previewAt(a, 6));
  assert.ok(own * 4 < alices, `bob's batched preview is ${own} from his own picture and ${alices} from alice's`);
});

test('preview: DARKROOM_PREVIEW_EVERY=0 sends none', async () => {
  const frames = await progressOf(off, off.adminKey, { prompt: 'no preview', num_outputs: 1, inference_steps: 10, width: 256, height: 256 });
  assert.equal(frames.length, 10);
  assert.ok(frames.every((f) => !('preview' in f)));
});
