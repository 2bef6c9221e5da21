/**
 * The database contract, run against every dialect (SQLite here, Postgres where installed): the
 * same migrations, the same queries, the same guarantees under concurrency.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/database.ts';
import { MIGRATIONS } from '../../src/db/migrations/index.ts';
import * as ledger from '../../src/db/ledger.ts';
import * as gens from '../../src/db/generations.ts';
import { timestamp } from '../../src/db/clock.ts';
import { InsufficientCreditsError, TooManyTokensError, UnauthorizedError } from '../../src/core/errors.ts';
import { claimed, coreServices, spec } from '../helpers/core.ts';
import { listOperations } from '../../src/db/operations.ts';
import { deleteUpload, findUploadById, insertUpload, setSettingOnce } from '../../src/db/uploads.ts';
import { findActiveKeyByHash, getApiKey } from '../../src/db/api-keys.ts';
import { Upscales } from '../../src/core/upscales.ts';
import { InProcessJobQueue } from '../../src/queue/in-process.ts';
import { Worker } from '../../src/worker/worker.ts';
import { resamplingBackend } from '../../src/worker/resampling.ts';

export function databaseConformance(name: string, open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>): void {
  describe(`database contract on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    let core: ReturnType<typeof coreServices>;

    before(async () => {
      ({ db, cleanup } = await open());
      core = coreServices(db, { initialCredits: 0 });
    });
    after(async () => {
      await core?.close();
      await cleanup?.();
    });

    test('migrations are recorded and running them again changes nothing', async () => {
      await migrate(db);
      const rows = await sql<{ name: string }>`select name from darkroom_migrations`.execute(db.kysely);
      assert.deepEqual(rows.rows.map((r) => r.name), Object.keys(MIGRATIONS));
    });

    test('a key is stored as its SHA-256 only and authenticates its user', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      const { key, secret } = await core.accounts.createKey(user.id, 'laptop');
      assert.match(secret, /^dr-[0-9a-f]{64}$/);
      assert.equal(key.hash, createHash('sha256').update(secret).digest('hex'));
      const stored = await db.kysely.selectFrom('api_keys').selectAll().execute();
      assert.ok(!JSON.stringify(stored).includes(secret.slice(3)), 'the secret is not in the database');
      const auth = await core.accounts.authenticate(secret);
      assert.equal(auth.user.id, user.id);
      await core.accounts.revokeKey(user.id, key.id);
      await assert.rejects(core.accounts.authenticate(secret), UnauthorizedError);
    });

    test('the key lookup brings the key with its user and balance, for each hash asked, and nothing once revoked', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      await core.credits.grant(user.id, 42);
      const laptop = await core.accounts.createKey(user.id, 'laptop');
      const phone = await core.accounts.createKey(user.id, 'phone');
      const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');
      const found = await findActiveKeyByHash(db.kysely, hash(laptop.secret));
      assert.deepEqual(found?.user, await core.accounts.userById(user.id));
      assert.equal(found?.user.credits, 42);
      assert.deepEqual(found?.key, laptop.key);
      // The lookup is compiled once per handle: the next hash must still find its own key.
      assert.equal((await findActiveKeyByHash(db.kysely, hash(phone.secret)))?.key.id, phone.key.id);
      // Inside a transaction the lookup goes through Kysely (on SQLite the handle's own reads it directly): the same answer.
      assert.deepEqual(await db.transaction((tx) => findActiveKeyByHash(tx, hash(phone.secret))), await findActiveKeyByHash(db.kysely, hash(phone.secret)));
      assert.deepEqual((await findActiveKeyByHash(db.kysely, hash(phone.secret)))?.key, phone.key);
      assert.equal(await findActiveKeyByHash(db.kysely, hash('dr-unknown')), undefined);
      await core.accounts.revokeKey(user.id, laptop.key.id);
      assert.equal(await findActiveKeyByHash(db.kysely, hash(laptop.secret)), undefined);
    });

    test('at most 10 active keys, also when 15 are created at once', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      const results = await Promise.allSettled(Array.from({ length: 15 }, (_, i) => core.accounts.createKey(user.id, `k${i}`)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof TooManyTokensError);
      const keys = await core.accounts.listKeys(user.id);
      await core.accounts.revokeKey(user.id, keys[0]!.id);
      await core.accounts.createKey(user.id, 'after a revoke'); // room again
      await assert.rejects(core.accounts.createKey(user.id), TooManyTokensError);
    });

    test('concurrent debits never take the balance below zero; the cache equals the ledger sum', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      await core.credits.grant(user.id, 10);
      const attempts = await Promise.all(
        Array.from({ length: 25 }, () => db.transaction((tx) => ledger.debit(tx, user.id, 1, 'generation'))),
      );
      assert.equal(attempts.filter((a) => a !== null).length, 10);
      assert.deepEqual(await core.credits.audit(user.id), { balance: 0, ledgerSum: 0 });
      // The CHECK constraint is the last line: a direct write below zero is refused.
      await assert.rejects(db.kysely.updateTable('users').set({ credits: -1 }).where('id', '=', user.id).execute());
    });

    test('generation: debit on accept, outputs and refunds on completion, all in the ledger', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      await core.credits.grant(user.id, 5);
      const { secret } = await core.accounts.createKey(user.id);
      const auth = await core.accounts.authenticate(secret);
      let call = 0;
      core.queue.process(async (job) => {
        if (job.type !== 'generate') return;
        const gen = await claimed(core.generations.claim(job.generationId));
        if (!gen) return;
        call++;
        if (call === 2) {
          await core.generations.fail(gen.id, 'the engine broke');
          return;
        }
        // First call: 2 of 3 outputs made. Later calls: all made.
        const n = call === 1 ? gen.num_outputs - 1 : gen.num_outputs;
        const made = Array.from({ length: n }, (_, idx) => ({ id: randomUUID(), idx, seed: gen.seed + idx, key: `outputs/${randomUUID()}.png`, width: gen.width, height: gen.height }));
        await core.generations.complete(gen.id, made, n < gen.num_outputs ? 'one output failed' : undefined);
      });

      const r1 = await core.generations.run(auth, spec({ numOutputs: 3 }), { source: 'test' });
      assert.equal(r1.outputs.length, 2);
      assert.equal(r1.balance, 5 - 3 + 1);
      await assert.rejects(core.generations.run(auth, spec({ numOutputs: 1 }), { source: 'test' }), /the engine broke/);
      assert.equal(await core.credits.balance(user.id), 3);
      await assert.rejects(core.generations.run(auth, spec({ numOutputs: 4 }), { source: 'test' }), InsufficientCreditsError);
      const r3 = await core.generations.run(auth, spec({ numOutputs: 3 }), { source: 'test' });
      assert.equal(r3.outputs.length, 3);
      assert.equal(r3.balance, 0);

      const entries = await core.credits.entries(user.id);
      const byReason = (r: string) => entries.filter((e) => e.reason === r).reduce((s, e) => s + Number(e.delta), 0);
      assert.equal(byReason('generation'), -(3 + 1 + 3));
      assert.equal(byReason('refund'), 1 + 1);
      const outputs = await db.kysely.selectFrom('generation_outputs').selectAll().where('user_id', '=', user.id).execute();
      // sum of debits - refunds = outputs made
      assert.equal(-byReason('generation') - byReason('refund'), outputs.length);
      assert.deepEqual(await core.credits.audit(user.id), { balance: 0, ledgerSum: 0 });
      // the refused request left no generation behind
      const generations = await db.kysely.selectFrom('generations').select('status').where('user_id', '=', user.id).execute();
      assert.equal(generations.length, 3);
      const key = (await core.accounts.listKeys(user.id))[0]!;
      assert.equal(Number(key.uses), 2);
      assert.equal(Number(key.credits_spent), 5);
    });

    test('server settings: the first writer wins', async () => {
      const a = await setSettingOnce(db.kysely, 'k', 'first');
      const b = await setSettingOnce(db.kysely, 'k', 'second');
      assert.deepEqual([a, b], ['first', 'first']);
    });

    test('upscales: debit, failure refund, and the usage list with net costs', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      await core.credits.grant(user.id, 3);
      const auth = await core.accounts.authenticate((await core.accounts.createKey(user.id)).secret);
      const queue = new InProcessJobQueue();
      const upscaler = resamplingBackend();
      const upscales = new Upscales({ db, queue, events: core.events, lifecycle: core.lifecycle, images: core.images, store: core.store }, { timeoutMs: 5000, upscalers: upscaler });
      // An output to upscale whose image is missing from the store: the worker fails it, and it is refunded.
      const genId = randomUUID();
      await gens.insertGeneration(db.kysely, {
        id: genId, user_id: user.id, api_key_id: null, status: 'succeeded', model: 'fake-sd1', scheduler: 'euler', prompt: 'p', negative_prompt: '',
        width: 512, height: 512, steps: 20, guidance: 7, seed: 1, num_outputs: 1, init_image_url: null, prompt_strength: null,
        settings: '{}', cost: 1, source: 'test', error: null, created_at: timestamp(), started_at: null, completed_at: null,
      });
      const outId = randomUUID();
      const at = timestamp();
      await gens.insertOutputs(db.kysely, [{ id: outId, generation_id: genId, user_id: user.id, idx: 0, seed: 1, image_key: `outputs/${outId}.png`, width: 512, height: 512, created_at: at, updated_at: at }]);
      const engine = { generate: () => Promise.reject(new Error('not used')) };
      const worker = new Worker({ queue, engine, upscaler, store: core.store, lifecycle: core.lifecycle, generations: core.generations, upscales }, { onShutdown: 'fail' });
      worker.start();
      after(() => worker.close());
      await assert.rejects(upscales.run(auth, outId, undefined, { source: 'test' }), /no longer in the store/);
      assert.equal(await core.credits.balance(user.id), 3);
      const ops = await listOperations(db.kysely, user.id, 10);
      assert.deepEqual(ops.map((o) => [o.type, o.status, o.cost, o.refunded]), [['upscale', 'failed', 1, 1], ['generate', 'succeeded', 1, 0]]);
      assert.deepEqual(await core.credits.audit(user.id), { balance: 3, ledgerSum: 3 });
    });

    test('output timestamps never tie or go back for a user, whichever process (or clock) writes them: the cursor pages over every output once', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      const genId = randomUUID();
      await gens.insertGeneration(db.kysely, {
        id: genId, user_id: user.id, api_key_id: null, status: 'succeeded', model: 'fake-sd1', scheduler: 'euler', prompt: 'p', negative_prompt: '',
        width: 512, height: 512, steps: 20, guidance: 7, seed: 1, num_outputs: 1, init_image_url: null, prompt_strength: null,
        settings: '{}', cost: 1, source: 'test', error: null, created_at: timestamp(), started_at: null, completed_at: null,
      });
      // Another process whose clock runs a minute ahead wrote one already.
      const ahead = new Date(Date.now() + 60_000).toISOString().replace('Z', '000Z');
      const first = randomUUID();
      await gens.insertOutputs(db.kysely, [{ id: first, generation_id: genId, user_id: user.id, idx: 0, seed: 1, image_key: `outputs/${first}.png`, width: 512, height: 512, created_at: ahead, updated_at: ahead }]);
      // Writers of this user's outputs at once, each asking for times in its own transaction.
      const batches = await Promise.all(
        [3, 2, 4].map((n) =>
          db.transaction(async (tx) => {
            const times = await gens.nextOutputTimes(tx, user.id, n);
            await gens.insertOutputs(tx, times.map((t, i) => ({ id: randomUUID(), generation_id: genId, user_id: user.id, idx: i + 1, seed: 1, image_key: `outputs/${randomUUID()}.png`, width: 512, height: 512, created_at: t, updated_at: t })));
            return times;
          }),
        ),
      );
      const all = batches.flat();
      assert.ok(all.every((t) => t > ahead), 'after the output written by the clock ahead');
      // Each transaction saw what the ones before it committed: no time is handed out twice.
      assert.equal(new Set(all).size, all.length);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await gens.queryOutputs(db.kysely, { userId: user.id, perPage: 2, order: 'desc', orderBy: 'created_at', cursor }, false);
        seen.push(...page.rows.map((o) => o.id));
        if (page.rows.length < 2) break;
        cursor = page.rows.at(-1)!.created_at;
      }
      assert.equal(seen.length, 1 + all.length);
      assert.equal(new Set(seen).size, seen.length);
    });

    test('outputs page by cursor, newest first, with filters', async () => {
      const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
      const ids: string[] = [];
      for (let g = 0; g < 4; g++) {
        const id = randomUUID();
        await gens.insertGeneration(db.kysely, {
          id, user_id: user.id, api_key_id: null, status: 'succeeded', model: g % 2 ? 'a' : 'b', scheduler: 'euler', prompt: `p${g}`, negative_prompt: '',
          width: g < 2 ? 512 : 768, height: 512, steps: 20 + g, guidance: 7, seed: g, num_outputs: 2, init_image_url: null, prompt_strength: null,
          settings: '{}', cost: 2, source: 'test', error: null, created_at: timestamp(), started_at: null, completed_at: null,
        });
        for (let k = 0; k < 2; k++) {
          const oid = randomUUID();
          ids.push(oid);
          const at = timestamp();
          await gens.insertOutputs(db.kysely, [{ id: oid, generation_id: id, user_id: user.id, idx: k, seed: g + k, image_key: `outputs/${oid}.png`, width: 512, height: 512, created_at: at, updated_at: at }]);
        }
      }
      const base = { userId: user.id, perPage: 3, order: 'desc', orderBy: 'created_at' } as const;
      const p1 = await gens.queryOutputs(db.kysely, base, true);
      assert.equal(p1.total, 8);
      assert.deepEqual(p1.rows.map((r) => r.id), ids.slice().reverse().slice(0, 3));
      const p2 = await gens.queryOutputs(db.kysely, { ...base, cursor: p1.rows.at(-1)!.created_at }, false);
      assert.deepEqual(p2.rows.map((r) => r.id), ids.slice().reverse().slice(3, 6));
      assert.equal(p2.total, undefined);
      const wide = await gens.queryOutputs(db.kysely, { ...base, perPage: 50, minWidth: 768 }, true);
      assert.equal(wide.total, 4);
      assert.ok(wide.rows.every((r) => r.generation.width === 768));
      const model = await gens.queryOutputs(db.kysely, { ...base, perPage: 50, models: ['a'], steps: [21] }, true);
      assert.equal(model.total, 2);
      assert.equal(model.rows[0]!.generation.prompt, 'p1');
      assert.equal(typeof model.rows[0]!.generation.seed, 'number');
      assert.equal(typeof model.rows[0]!.generation.guidance, 'number');
    });

    test('dialect additions: webhook columns on keys, generations listed by offset and soft-deleted, uploads by id', async () => {
      const user = await core.accounts.createUser(`w-${randomUUID().slice(0, 8)}`);
      const { key } = await core.accounts.createKey(user.id, 'hooked', { url: 'https://example.com/hook', apiKey: 'secret' });
      const stored = await getApiKey(db.kysely, key.id);
      assert.equal(stored?.webhook_url, 'https://example.com/hook');
      assert.equal(stored?.webhook_api_key, 'secret');
      const plain = (await core.accounts.createKey(user.id)).key;
      assert.equal(plain.webhook_url, null);
      const ids: string[] = [];
      for (let g = 0; g < 3; g++) {
        const id = randomUUID();
        ids.push(id);
        await gens.insertGeneration(db.kysely, {
          id, user_id: user.id, api_key_id: key.id, status: 'succeeded', model: 'a', scheduler: 'euler', prompt: `p${g}`, negative_prompt: '',
          width: 512, height: 512, steps: 20, guidance: 7, seed: g, num_outputs: 1, init_image_url: null, prompt_strength: null,
          settings: '{}', cost: 1, source: 'test', error: null, created_at: timestamp(), started_at: null, completed_at: null,
        });
        const at = timestamp();
        await gens.insertOutputs(db.kysely, [{ id: randomUUID(), generation_id: id, user_id: user.id, idx: 0, seed: g, image_key: `outputs/${id}.png`, width: 512, height: 512, created_at: at, updated_at: at }]);
      }
      assert.deepEqual((await gens.listGenerations(db.kysely, user.id, 1, 5)).map((g) => g.id), [ids[1], ids[0]]);
      assert.equal((await gens.outputsOfMany(db.kysely, ids)).length, 3);
      assert.equal(await gens.markGenerationDeleted(db.kysely, ids[2]!, timestamp()), true);
      assert.equal(await gens.markGenerationDeleted(db.kysely, ids[2]!, timestamp()), false);
      assert.deepEqual((await gens.listGenerations(db.kysely, user.id, 0, 5)).map((g) => g.id), [ids[1], ids[0]]);
      const page = await gens.queryOutputs(db.kysely, { userId: user.id, perPage: 10, order: 'desc', orderBy: 'created_at' }, true);
      assert.equal(page.total, 2, 'deleted generations leave the outputs listing');
      const up = randomUUID();
      await insertUpload(db.kysely, { id: up, user_id: user.id, object_key: `uploads/x/${up}.png`, content_type: 'image/png', bytes: 1, width: 1, height: 1, created_at: timestamp() });
      assert.equal((await findUploadById(db.kysely, up))?.object_key, `uploads/x/${up}.png`);
      assert.equal(await deleteUpload(db.kysely, up), true);
      assert.equal(await findUploadById(db.kysely, up), undefined);
    });
  });
}
