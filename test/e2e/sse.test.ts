/** Live progress over Server-Sent Events: every status and step, in order, then the outputs. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';
import { framesOf, openStream, type Frame } from '../helpers/sse-stream.ts';

let t: TestServer;
before(async () => (t = await startTestServer()));
after(() => t.close());

/** Reads `data:` frames from an SSE response until `until` says stop. */
async function readFrames(res: Response, until: (frame: Frame) => boolean): Promise<Frame[]> {
  const reader = res.body!.getReader();
  const frames: Frame[] = [];
  for await (const frame of framesOf(reader)) {
    frames.push(frame);
    if (until(frame)) {
      await reader.cancel();
      break;
    }
  }
  return frames;
}

test('SSE: version, queued, processing, every step in order, succeeded with the outputs', async () => {
  const streamId = randomBytes(32).toString('hex');
  const sse = await t.api(`/v1/sse?id=${streamId}`);
  assert.equal(sse.status, 200);
  assert.match(sse.headers.get('content-type') ?? '', /text\/event-stream/);
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => (subscribed = r));
  const framesP = readFrames(sse, (f) => {
    if ('version' in f) subscribed(); // the server subscribes before it sends this first frame
    return f['message_type'] === 'creation_process' && (f['status'] === 'succeeded' || f['status'] === 'failed');
  });
  await ready;
  const res = await t.api('/v1/image/generation/create', {
    method: 'POST',
    json: { prompt: 'watch me', num_outputs: 2, inference_steps: 12, scheduler_id: 'K_EULER', stream_id: streamId },
  });
  assert.equal(res.status, 200);
  const created = (await res.json()) as { outputs: { id: string }[] };
  const frames = await framesP;

  assert.ok(typeof frames[0]!['version'] === 'string', 'the first frame names the version');
  const rest = frames.slice(1);
  const id = rest[0]!['id'];
  assert.ok(rest.every((f) => f['id'] === id && f['stream_id'] === streamId && f['process_type'] === 'generate'));
  const kinds = rest.map((f) => (f['message_type'] === 'creation_progress' ? `step ${f['step']}/${f['total_steps']}` : String(f['status'])));
  assert.deepEqual(kinds, ['queued', 'processing', ...Array.from({ length: 12 }, (_, i) => `step ${i + 1}/12`), 'succeeded']);
  const outputs = rest.at(-1)!['outputs'] as { id: string; image_url: string }[];
  assert.deepEqual(outputs.map((o) => o.id).sort(), created.outputs.map((o) => o.id).sort());
  assert.equal((await fetch(outputs[0]!.image_url)).status, 200);
});

test('SSE: a bad stream id is a 400 naming the field', async () => {
  const res = await t.api('/v1/sse?id=short');
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { field: string }).field, 'id');
});

test('SSE: without a valid key the stream is refused (401), and nothing is subscribed', async () => {
  const streamId = randomBytes(32).toString('hex');
  for (const headers of [{}, { Authorization: 'Bearer not-a-key' }] as Record<string, string>[]) {
    const res = await fetch(`${t.url}/v1/sse?id=${streamId}`, { headers });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'Unauthorized');
  }
});

test("SSE: another user listening on the same stream id hears none of the owner's events", async () => {
  const streamId = randomBytes(32).toString('hex');
  const other = await makeUser(t, 'eavesdropper', 10);
  const spy = await t.api(`/v1/sse?id=${streamId}`, { key: other.key });
  assert.equal(spy.status, 200);
  const own = await t.api(`/v1/sse?id=${streamId}`);
  let subscribed = 0;
  let bothReady!: () => void;
  const ready = new Promise<void>((r) => (bothReady = r));
  const onVersion = (f: Record<string, unknown>) => {
    if ('version' in f && ++subscribed === 2) bothReady();
  };
  const spied: Record<string, unknown>[] = [];
  const spyDone = readFrames(spy, (f) => {
    onVersion(f);
    if (!('version' in f)) spied.push(f);
    return false;
  });
  const ownFrames = readFrames(own, (f) => {
    onVersion(f);
    return f['message_type'] === 'creation_process' && (f['status'] === 'succeeded' || f['status'] === 'failed');
  });
  await ready;
  const res = await t.api('/v1/image/generation/create', {
    method: 'POST',
    json: { prompt: 'a secret prompt', num_outputs: 1, inference_steps: 10, stream_id: streamId },
  });
  assert.equal(res.status, 200);
  const frames = await ownFrames;
  assert.equal(frames.at(-1)!['status'], 'succeeded');
  // The owner's stream has ended; whatever the other stream would have carried has been written by now.
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(spied, []);
  spyDone.catch(() => undefined); // ends with "terminated" when the stream is cut
  await spy.body!.cancel().catch(() => undefined);
});

test('SSE: every 5th step but the last carries a preview of the first image, a JPEG at most 256 px a side', async () => {
  const streamId = randomBytes(32).toString('hex');
  const sse = await openStream(t, streamId);
  const res = await t.api('/v1/image/generation/create', { method: 'POST', json: { prompt: 'preview me', num_outputs: 2, inference_steps: 12, width: 256, height: 256, stream_id: streamId } });
  assert.equal(res.status, 200);
  await sse.next((f) => f['status'] === 'succeeded');
  await sse.close();
  const progress = sse.frames.filter((f) => f['message_type'] === 'creation_progress');
  assert.equal(progress.length, 12);
  assert.deepEqual(progress.filter((f) => 'preview' in f).map((f) => f['step']), [5, 10]);
  for (const f of progress.filter((f) => 'preview' in f)) {
    const url = String(f['preview']);
    assert.match(url, /^data:image\/jpeg;base64,/);
    const meta = await sharp(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 256]);
  }
});
