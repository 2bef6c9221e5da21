/**
 * Idempotency keys against both databases (SQLite here, Postgres where installed): the reservation is
 * exclusive under concurrent requests, a waiter gets the first answer, another request under the key
 * is refused, a wait runs out as "in progress", a claim whose process died is taken over (and the dead
 * owner's late answer is not saved), refused requests give their key back, expired keys are purged,
 * and the fingerprint ignores a multipart boundary but nothing else.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import { openDatabase } from '../../src/db/database.ts';
import * as rows from '../../src/db/idempotency.ts';
import { timestamp } from '../../src/db/clock.ts';
import { Idempotency, parseIdempotencyKey, requestFingerprint, type IdempotencyClaim, type IdempotentAnswer } from '../../src/core/idempotency.ts';
import { IdempotencyInProgressError, IdempotencyKeyReusedError, ValidationError } from '../../src/core/errors.ts';
import { startPostgres, tempSqlite } from '../helpers/databases.ts';

const answer = (text: string, status = 200): IdempotentAnswer => ({
  status,
  headers: [
    ['content-type', 'application/json'],
    ['seed', '42'],
  ],
  body: new Uint8Array(Buffer.from(text)),
});

function claimOf(outcome: Awaited<ReturnType<Idempotency['begin']>>): IdempotencyClaim {
  assert.ok('claim' in outcome, 'the request runs');
  return outcome.claim;
}

function replayOf(outcome: Awaited<ReturnType<Idempotency['begin']>>): IdempotentAnswer {
  assert.ok('replay' in outcome, 'the saved answer is replayed');
  return outcome.replay;
}

function idempotencyContract(name: string, open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>): void {
  describe(`idempotency keys on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    const logs: string[] = [];
    const service = (o: Partial<ConstructorParameters<typeof Idempotency>[1]> = {}) =>
      new Idempotency(db, { ttlMs: 86_400_000, waitMs: 5_000, pollMs: 10, log: (m) => logs.push(m), ...o });
    const newUser = async () => {
      const id = randomUUID();
      const now = timestamp();
      await db.kysely.insertInto('users').values({ id, name: `u-${id.slice(0, 8)}`, role: 'user', created_at: now, updated_at: now }).execute();
      return id;
    };

    before(async () => ({ db, cleanup } = await open()));
    after(() => cleanup?.());

    test('the reservation is exclusive: of 20 concurrent inserts of one key, one wins; another user has the same key to itself', async () => {
      const [u, v] = [await newUser(), await newUser()];
      const now = rows.isoAt(Date.now());
      const row = (userId: string) => ({ user_id: userId, key: 'k', fingerprint: 'f', owner: randomUUID(), now, expires_at: rows.isoAt(Date.now() + 60_000) });
      const wins = await Promise.all(Array.from({ length: 20 }, () => rows.reserveIdempotencyKey(db.kysely, row(u))));
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await rows.reserveIdempotencyKey(db.kysely, row(v)), true);
    });

    test('the first request runs; the rest wait for its answer and get it, headers and bytes; the key is per user', async () => {
      const [u, v] = [await newUser(), await newUser()];
      const idem = service();
      const first = claimOf(await idem.begin(u, 'order-7', 'fp'));
      const waiting = Promise.all([idem.begin(u, 'order-7', 'fp'), service().begin(u, 'order-7', 'fp')]);
      claimOf(await idem.begin(v, 'order-7', 'fp')); // another user: runs
      await new Promise((r) => setTimeout(r, 50));
      await first.save(answer('{"images":1}', 200));
      for (const outcome of await waiting) {
        const replayed = replayOf(outcome);
        assert.equal(replayed.status, 200);
        assert.deepEqual(replayed.headers, answer('').headers);
        assert.equal(Buffer.from(replayed.body).toString(), '{"images":1}');
      }
      assert.equal(Buffer.from(replayOf(await idem.begin(u, 'order-7', 'fp')).body).toString(), '{"images":1}');
    });

    test('the key with another request is refused, while running and once done', async () => {
      const u = await newUser();
      const idem = service();
      const claim = claimOf(await idem.begin(u, 'k', 'fp-a'));
      await assert.rejects(idem.begin(u, 'k', 'fp-b'), IdempotencyKeyReusedError);
      await claim.save(answer('done'));
      await assert.rejects(idem.begin(u, 'k', 'fp-b'), IdempotencyKeyReusedError);
    });

    test('a wait that runs out while the first still runs is "in progress"; the first still saves its answer', async () => {
      const u = await newUser();
      const claim = claimOf(await service().begin(u, 'slow', 'fp'));
      const started = Date.now();
      await assert.rejects(service({ waitMs: 150 }).begin(u, 'slow', 'fp'), IdempotencyInProgressError);
      assert.ok(Date.now() - started >= 150);
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(service().begin(u, 'slow', 'fp', aborted.signal), IdempotencyInProgressError, 'a waiter whose client left stops waiting');
      await claim.save(answer('late'));
      assert.equal(Buffer.from(replayOf(await service().begin(u, 'slow', 'fp')).body).toString(), 'late');
    });

    test('a running claim is renewed while it runs, so nobody takes it over', async () => {
      const u = await newUser();
      const idem = service({ leaseMs: 300 });
      const claim = claimOf(await idem.begin(u, 'long', 'fp'));
      await new Promise((r) => setTimeout(r, 1000));
      await assert.rejects(service({ leaseMs: 300, waitMs: 50 }).begin(u, 'long', 'fp'), IdempotencyInProgressError);
      await claim.save(answer('mine'));
      assert.equal(Buffer.from(replayOf(await idem.begin(u, 'long', 'fp')).body).toString(), 'mine');
    });

    test('a claim not renewed (its process died) is taken over by one retry; the dead owner cannot save over it', async () => {
      const u = await newUser();
      const deadOwner = randomUUID();
      const long = Date.now() - 120_000;
      assert.ok(await rows.reserveIdempotencyKey(db.kysely, { user_id: u, key: 'orphan', fingerprint: 'fp', owner: deadOwner, now: rows.isoAt(long), expires_at: rows.isoAt(Date.now() + 60_000) }));
      const both = [service().begin(u, 'orphan', 'fp'), service().begin(u, 'orphan', 'fp')];
      const claim = claimOf(await Promise.race(both)); // the one that took over runs; the other waits for it
      await claim.save(answer('retried'));
      const [a, b] = await Promise.all(both);
      assert.equal([a, b].filter((o) => 'claim' in o).length, 1, 'one takeover');
      assert.equal(Buffer.from(replayOf('claim' in a ? b : a).body).toString(), 'retried');
      assert.ok(logs.some((l) => /stopped renewing its claim; taken over/.test(l)));
      assert.equal(
        await rows.saveIdempotentAnswer(db.kysely, u, 'orphan', deadOwner, { status: 200, headers: '[]', body: '' }),
        false,
        'the old claim no longer holds',
      );
      assert.equal(Buffer.from(replayOf(await service().begin(u, 'orphan', 'fp')).body).toString(), 'retried');
    });

    test('a released key (the request was refused) is free again: the next request runs, also one that was waiting', async () => {
      const u = await newUser();
      const idem = service();
      const first = claimOf(await idem.begin(u, 'refused', 'fp'));
      const waiter = idem.begin(u, 'refused', 'fp');
      await new Promise((r) => setTimeout(r, 30));
      await first.release();
      const next = claimOf(await waiter);
      await next.save(answer('second try'));
      assert.equal(Buffer.from(replayOf(await idem.begin(u, 'refused', 'fp')).body).toString(), 'second try');
      await assert.rejects(next.save(answer('twice')), /already ended/);
    });

    test('expired keys: met again they run afresh; the sweep deletes done and abandoned ones, not live ones', async () => {
      const u = await newUser();
      const short = service({ ttlMs: 50 });
      const claim = claimOf(await short.begin(u, 'old', 'fp'));
      await claim.save(answer('yesterday'));
      const live = claimOf(await short.begin(u, 'still-running', 'fp'));
      await new Promise((r) => setTimeout(r, 80));
      const again = claimOf(await short.begin(u, 'old', 'fp-other')); // expired: not even a mismatch
      await again.save(answer('today'));
      const gone = claimOf(await short.begin(u, 'gone', 'fp'));
      await gone.save(answer('x'));
      await new Promise((r) => setTimeout(r, 80));
      const purged = await service({ ttlMs: 50 }).purgeExpired();
      assert.ok(purged >= 2, `purged ${purged}`);
      const left = await db.kysely.selectFrom('idempotency_keys').select(['key', 'state']).where('user_id', '=', u).orderBy('key').execute();
      assert.deepEqual(left, [{ key: 'still-running', state: 'running' }], 'a request still running keeps its key past the TTL');
      await live.save(answer('finally'));
    });

    test('keys are checked: 1-255 printable ASCII characters; quotes are not part of the key', () => {
      assert.equal(parseIdempotencyKey('abc-123'), 'abc-123');
      assert.equal(parseIdempotencyKey('"abc-123"'), 'abc-123');
      assert.equal(parseIdempotencyKey('x'.repeat(255)), 'x'.repeat(255));
      for (const bad of ['', '   ', '""', 'x'.repeat(256), 'tab\tin', 'caf\u00e9']) {
        assert.throws(() => parseIdempotencyKey(bad), (err: unknown) => err instanceof ValidationError && err.field === 'Idempotency-Key', JSON.stringify(bad));
      }
    });

    test("the fingerprint: a multipart boundary does not count; method, path, Accept and every body byte do", () => {
      const multipart = (boundary: string, value: string) => ({
        method: 'POST',
        path: '/v1/images/edits',
        accept: 'application/json',
        contentType: `multipart/form-data; boundary=${boundary}`,
        body: new Uint8Array(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n${value}\r\n--${boundary}--\r\n`)),
      });
      const fp = requestFingerprint;
      assert.equal(fp(multipart('----a1', 'sun')), fp(multipart('----zz99', 'sun')));
      assert.notEqual(fp(multipart('----a1', 'sun')), fp(multipart('----a1', 'moon')));
      const json = { method: 'POST', path: '/v1/images/generations', accept: '*/*', contentType: 'application/json', body: new Uint8Array(Buffer.from('{"prompt":"x"}')) };
      assert.equal(fp(json), fp({ ...json, contentType: 'application/json; charset=utf-8' }));
      assert.notEqual(fp(json), fp({ ...json, body: new Uint8Array(Buffer.from('{"prompt":"y"}')) }));
      assert.notEqual(fp(json), fp({ ...json, path: '/v1/image/generation/create' }));
      assert.notEqual(fp(json), fp({ ...json, method: 'PUT' }));
      assert.notEqual(fp(json), fp({ ...json, accept: 'image/*' }));
    });
  });
}

idempotencyContract('SQLite', tempSqlite);

const pg = startPostgres();
if ('skip' in pg) {
  test('idempotency keys on Postgres', { skip: pg.skip }, () => {});
} else {
  after(() => pg.stop());
  idempotencyContract('Postgres', async () => {
    const db = await openDatabase(pg.url);
    return { db, cleanup: () => db.close() };
  });
}
