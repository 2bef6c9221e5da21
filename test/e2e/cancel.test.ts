/**
 * POST /v1/image/generation/{id}/cancel over HTTP: a queued and a running generation end failed
 * (`cancelled`) with their credits back exactly once, the SSE stream hears it, a second cancel is a
 * 409, another user's or an unknown id a 404. A stand-in engine holds prompts containing "hold" at
 * their first step until cancelled, so "running" and "queued" are states the test controls.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { GenerationCancelledError } from '../../src/engine/errors.ts';
import type { ServerOptions } from '../../src/server/server.ts';
import { fastEngine } from '../helpers/fast-engine.ts';
import { makeUser, startTestServer, type TestServer } from '../helpers/server.ts';
import { openStream } from '../helpers/sse-stream.ts';

const holdingEngine: NonNullable<ServerOptions['engine']> = {
  generate: async (model, input, options = {}) => {
    if (input.prompt.includes('hold')) {
      const blank = { pixels: new Float32Array(3 * 64 * 64), width: 64, height: 64 };
      await options.onProgress?.({ step: 1, total: input.steps ?? 10, preview: async () => blank });
      await new Promise<never>((_, reject) => {
        const stop = () => reject(new GenerationCancelledError());
        if (options.signal?.aborted) stop();
        options.signal?.addEventListener('abort', stop, { once: true });
      });
    }
    return fastEngine.generate(model, input, options);
  },
};

let t: TestServer;
before(async () => (t = await startTestServer({ DARKROOM_WORKER_CONCURRENCY: '1' }, { engine: holdingEngine })));
after(() => t.close());

const balance = async (key: string) => ((await (await t.api('/v1/credits', { key })).json()) as { total_remaining_credits: number }).total_remaining_credits;
const cancel = (id: string, key: string) => t.api(`/v1/image/generation/${id}/cancel`, { method: 'POST', key });

test('cancel: a running and a queued generation are failed and refunded once; again is 409; not yours is 404', async () => {
  const user = await makeUser(t, 'canceller', 10);
  const other = await makeUser(t, 'bystander', 10);
  const streamA = randomBytes(20).toString('hex');
  const streamB = randomBytes(20).toString('hex');
  const sseA = await openStream(t, streamA, user.key);
  const sseB = await openStream(t, streamB, user.key);
  const create = (prompt: string, numOutputs: number, streamId: string) =>
    t.api('/v1/image/generation/create', { method: 'POST', key: user.key, json: { prompt, num_outputs: numOutputs, width: 256, height: 256, stream_id: streamId } });

  // A runs (held at its first step); B waits behind it (one job at a time).
  const answerA = create('hold A', 2, streamA);
  const idA = String((await sseA.next((f) => f['message_type'] === 'creation_progress'))['id']);
  const answerB = create('hold B', 3, streamB);
  const idB = String((await sseB.next((f) => f['status'] === 'queued'))['id']);
  assert.equal(await balance(user.key), 5);

  for (const [id, key] of [[idB, other.key], [randomUUID(), user.key], ['not-an-id', user.key]] as const) {
    const res = await cancel(id, key);
    assert.equal(res.status, 404, `${id} with ${key === other.key ? "another user's" : 'its own'} key`);
    assert.equal(((await res.json()) as { error: string }).error, 'generation_not_found');
  }
  assert.equal(await balance(other.key), 10);

  const queued = await cancel(idB, user.key);
  assert.equal(queued.status, 200);
  assert.deepEqual(await queued.json(), { id: idB, status: 'failed', failure_reason: 'cancelled', refunded_credits: 3 });
  assert.equal(await balance(user.key), 8);
  const endB = await sseB.next((f) => f['message_type'] === 'creation_process' && f['status'] === 'failed');
  assert.equal(endB['error'], 'cancelled');
  const b = await answerB;
  assert.equal(b.status, 500);
  assert.equal(((await b.json()) as { error: string }).error, 'cancelled');

  const again = await cancel(idB, user.key);
  assert.equal(again.status, 409);
  const conflict = (await again.json()) as { error: string; description: string };
  assert.equal(conflict.error, 'conflict');
  assert.match(conflict.description, /already failed \(cancelled\)/);

  const running = await cancel(idA, user.key);
  assert.equal(running.status, 200);
  assert.deepEqual(await running.json(), { id: idA, status: 'failed', failure_reason: 'cancelled', refunded_credits: 2 });
  assert.equal((await sseA.next((f) => f['message_type'] === 'creation_process' && f['status'] === 'failed'))['error'], 'cancelled');
  assert.equal((await answerA).status, 500);

  // The worker has let go of A once the next job runs (one at a time): its own end of A refunded nothing more.
  const c = await create('plain C', 1, streamA);
  assert.equal(c.status, 200);
  assert.equal(await balance(user.key), 9);
  const ops = (await (await t.api('/v1/user/operations', { key: user.key })).json()) as { operations: { id: string; status: string; cost: number }[] };
  assert.deepEqual(
    ops.operations.filter((o) => o.id === idA || o.id === idB).map((o) => [o.id, o.status, o.cost]).sort(),
    [[idA, 'failed', 0], [idB, 'failed', 0]].sort(),
  );

  const done = (await sseA.next((f) => f['status'] === 'succeeded'))['id'] as string;
  const late = await cancel(done, user.key);
  assert.equal(late.status, 409);
  assert.match(((await late.json()) as { description: string }).description, /already succeeded/);
  assert.equal(await balance(user.key), 9);
  await Promise.all([sseA.close(), sseB.close()]);
});
