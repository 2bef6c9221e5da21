import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import { GenerationTimeoutError, QueueLimitError, UnknownSchedulerError, ValidationError } from '../../src/core/errors.ts';
import { jobChannel } from '../../src/queue/types.ts';
import { Generations, type GenerationDeps, type GenerationSpec } from '../../src/core/generations.ts';
import { ModelCatalog } from '../../src/core/models.ts';
import { claimed, consume, coreServices, fakeManifest, fakeModelSource, spec, userWith } from '../helpers/core.ts';
import { tempSqlite } from '../helpers/databases.ts';

let db: Database;
let cleanup: () => Promise<void>;
before(async () => ({ db, cleanup } = await tempSqlite()));
after(() => cleanup());

test('model rules are checked before anything is charged, naming the field', async () => {
  const core = coreServices(db);
  try {
    await assert.rejects(core.generations.check(spec({ width: 1032 })), (e) => e instanceof ValidationError && e.field === 'width');
    await assert.rejects(core.generations.check(spec({ height: 250 })), (e) => e instanceof ValidationError && e.field === 'height');
    await assert.rejects(core.generations.check(spec({ scheduler: 'lms' })), UnknownSchedulerError);
    await assert.rejects(core.generations.check(spec({ model: 'nope' })), (e) => e instanceof ValidationError && e.field === 'model');
    await assert.rejects(core.generations.check(spec({ seed: 2 ** 32 })), (e) => e instanceof ValidationError && e.field === 'seed');
    await core.generations.check(spec());
  } finally {
    await core.close();
  }
});

test("check runs the engine's own rules over the model's manifest, as ValidationErrors with the engine's field names", async () => {
  const catalog = new ModelCatalog(
    fakeModelSource([fakeManifest({ id: 'turbo', maxSteps: 8, defaults: { width: 512, height: 512, steps: 4, guidance: 0, scheduler: 'euler' } })], false),
    'turbo',
  );
  const generations = new Generations({ catalog } as unknown as GenerationDeps, { timeoutMs: 1000, outputsPublic: false });
  const refused = (over: Partial<GenerationSpec>, field: string, message?: string) =>
    assert.rejects(generations.check(spec({ model: 'turbo', steps: 4, ...over })), (e) =>
      e instanceof ValidationError && e.field === field && (message === undefined || e.message === message),
    );
  await refused({ steps: 9 }, 'steps', 'model turbo takes at most 8 steps, got 9');
  await refused({ initImageUrl: 'https://example.com/a.png', strength: 0.5 }, 'initImage', 'model turbo has no VAE encoder, so it cannot start from an init image');
  await refused({ maskUrl: 'https://example.com/m.png' }, 'mask');
  await refused({ tiling: true }, 'tiling', 'model turbo does not support seamless tiling');
  await refused({ guidance: 31 }, 'guidance');
  await refused({ numOutputs: 9 }, 'numOutputs');
  await refused({ scheduler: 'warp' as never }, 'scheduler');
  await generations.check(spec({ model: 'turbo', steps: 8 }));
});

test('a timeout fails and refunds the generation; a late result changes nothing', async () => {
  const core = coreServices(db, { timeoutMs: 100 });
  try {
    const auth = await userWith(core, 4);
    let late: Promise<boolean> | undefined;
    core.queue.process(async (job, signal) => {
      if (job.type !== 'generate') return;
      const gen = await claimed(core.generations.claim(job.generationId));
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(signal.aborted, 'the running job was told to stop');
      late = core.generations.complete(gen!.id, [{ id: randomUUID(), idx: 0, seed: 1, key: 'outputs/x.png', width: 512, height: 512 }]);
    });
    await assert.rejects(core.generations.run(auth, spec({ numOutputs: 2 }), { source: 'test' }), GenerationTimeoutError);
    assert.equal(await core.credits.balance(auth.user.id), 4);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await late, false);
    assert.equal(await core.credits.balance(auth.user.id), 4);
    const outputs = await db.kysely.selectFrom('generation_outputs').selectAll().where('user_id', '=', auth.user.id).execute();
    assert.equal(outputs.length, 0);
  } finally {
    await core.close();
  }
});

test('per-user in-flight limit, counted in the database: one runs, one is accepted and waits, the next is refused uncharged', async () => {
  const core = coreServices(db, { maxInFlight: 1, maxWaiting: 1 });
  try {
    const auth = await userWith(core, 10);
    const order: string[] = [];
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((r) => (releaseFirst = r));
    let running = 0;
    let maxRunning = 0;
    consume(core, async (gen) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      order.push(gen.prompt);
      if (gen.prompt === 'first') await firstHeld;
      running--;
      await core.generations.complete(gen.id, [{ id: randomUUID(), idx: 0, seed: 1, key: `outputs/${randomUUID()}.png`, width: 512, height: 512 }]);
    });
    const first = core.generations.run(auth, spec({ prompt: 'first', numOutputs: 1 }), { source: 'test' });
    await new Promise((r) => setTimeout(r, 30));
    const second = core.generations.run(auth, spec({ prompt: 'second', numOutputs: 1 }), { source: 'test' });
    await new Promise((r) => setTimeout(r, 60));
    const statuses = await db.kysely.selectFrom('generations').select(['prompt', 'status']).where('user_id', '=', auth.user.id).orderBy('created_at').execute();
    assert.deepEqual(statuses.map((g) => [g.prompt, g.status]), [['first', 'running'], ['second', 'queued']]);
    assert.equal(await core.credits.balance(auth.user.id), 8, 'both accepted, both charged');
    await assert.rejects(core.generations.run(auth, spec({ prompt: 'third', numOutputs: 1 }), { source: 'test' }), QueueLimitError);
    assert.equal(await core.credits.balance(auth.user.id), 8, 'nothing charged for the refused one');
    releaseFirst();
    await first;
    await second;
    assert.deepEqual(order, ['first', 'second']);
    assert.equal(maxRunning, 1);
    assert.equal(await core.credits.balance(auth.user.id), 8);
  } finally {
    await core.close();
  }
});

test('status and progress events are published in order on the job channel', async () => {
  const core = coreServices(db);
  try {
    const auth = await userWith(core, 2);
    const seen: string[] = [];
    core.queue.process(async (job) => {
      if (job.type !== 'generate') return;
      const gen = await claimed(core.generations.claim(job.generationId));
      for (let s = 1; s <= 3; s++) core.generations.progress(gen, s, 3);
      await core.generations.complete(gen.id, [{ id: randomUUID(), idx: 0, seed: 1, key: 'outputs/y.png', width: 512, height: 512 }]);
    });
    const original = core.events.publish.bind(core.events);
    core.events.publish = (channel, e) => {
      if (channel === jobChannel(e.id)) seen.push(e.type === 'status' ? e.status : `step ${e.step}/${e.total}`);
      original(channel, e);
    };
    await core.generations.run(auth, spec({ numOutputs: 1 }), { source: 'test' });
    assert.deepEqual(seen, ['queued', 'running', 'step 1/3', 'step 2/3', 'step 3/3', 'succeeded']);
  } finally {
    await core.close();
  }
});

