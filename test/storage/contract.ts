/**
 * The ObjectStore contract, run on every implementation (local disk, and S3 against a real
 * S3-compatible server): the same assertions, like test/db/conformance.ts for the databases.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ObjectStore } from '../../src/storage/object-store.ts';

/** Everything a list yields, as key → size. */
export async function listed(store: ObjectStore, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const o of store.list(prefix)) {
    assert.ok(!out.has(o.key), `${o.key} listed once`);
    out.set(o.key, o.size);
  }
  return out;
}

export function storeContract(name: string, open: () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>): void {
  describe(`object store contract on ${name}`, () => {
    let store: ObjectStore;
    let cleanup: () => Promise<void>;
    /** Each test works under a prefix of its own, so none sees another's objects. */
    const space = () => `t${randomUUID().slice(0, 8)}`;

    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await cleanup?.();
    });

    test('the store is reachable', async () => {
      await store.check();
    });

    test('put then get gives back the same bytes and content type (png, jpeg, webp; 1 MB too)', async () => {
      const s = space();
      const cases = [
        { key: `${s}/a.png`, type: 'image/png', bytes: randomBytes(1000) },
        { key: `${s}/b.jpg`, type: 'image/jpeg', bytes: randomBytes(10) },
        { key: `${s}/c.webp`, type: 'image/webp', bytes: randomBytes(1024 * 1024) },
        { key: `${s}/empty.png`, type: 'image/png', bytes: new Uint8Array(0) },
      ];
      for (const c of cases) await store.put(c.key, c.bytes, c.type);
      for (const c of cases) {
        const got = await store.get(c.key);
        assert.ok(got, c.key);
        assert.equal(got.contentType, c.type);
        assert.equal(got.bytes.length, c.bytes.length);
        assert.ok(Buffer.from(got.bytes).equals(Buffer.from(c.bytes)), `${c.key}: same bytes`);
      }
    });

    test('a missing object: get is undefined, exists is false', async () => {
      const s = space();
      assert.equal(await store.get(`${s}/nothing.png`), undefined);
      assert.equal(await store.exists(`${s}/nothing.png`), false);
      await store.put(`${s}/some.png`, randomBytes(8), 'image/png');
      assert.equal(await store.exists(`${s}/some.png`), true);
      assert.equal(await store.exists(`${s}`), false, 'a prefix is not an object');
      assert.equal(await store.get(`${s}`), undefined);
    });

    test('delete removes the object and is idempotent', async () => {
      const s = space();
      await store.put(`${s}/x.png`, randomBytes(8), 'image/png');
      await store.put(`${s}/y.png`, randomBytes(8), 'image/png');
      await store.delete(`${s}/x.png`);
      assert.equal(await store.exists(`${s}/x.png`), false);
      assert.equal(await store.get(`${s}/x.png`), undefined);
      await store.delete(`${s}/x.png`); // again: no error
      await store.delete(`${s}/never-was.png`);
      await store.delete(s); // a prefix, not an object: nothing under it goes
      assert.equal(await store.exists(`${s}/y.png`), true, 'the neighbour stays');
      assert.deepEqual([...(await listed(store, `${s}/`)).keys()], [`${s}/y.png`]);
    });

    test('list names every object under a prefix, with its size and time, and nothing else', async () => {
      const s = space();
      const before = Date.now();
      const objects: Record<string, number> = {
        [`${s}/outputs/a.png`]: 3,
        [`${s}/outputs/b.png`]: 5,
        [`${s}/outputs/sub/c.png`]: 7,
        [`${s}/outputsX/d.png`]: 11,
        [`${s}/inits/e.png`]: 13,
      };
      for (const [key, size] of Object.entries(objects)) await store.put(key, randomBytes(size), 'image/png');
      const sorted = (m: Map<string, number>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
      assert.deepEqual(sorted(await listed(store, `${s}/outputs/`)), [
        [`${s}/outputs/a.png`, 3],
        [`${s}/outputs/b.png`, 5],
        [`${s}/outputs/sub/c.png`, 7],
      ]);
      assert.deepEqual(sorted(await listed(store, `${s}/outputs`)), [
        [`${s}/outputs/a.png`, 3],
        [`${s}/outputs/b.png`, 5],
        [`${s}/outputs/sub/c.png`, 7],
        [`${s}/outputsX/d.png`, 11],
      ], 'a plain string prefix, not a folder');
      assert.deepEqual(sorted(await listed(store, `${s}/outputs/a`)), [[`${s}/outputs/a.png`, 3]]);
      assert.equal((await listed(store, `${s}/`)).size, 5);
      assert.equal((await listed(store, `${s}/none/`)).size, 0);
      assert.equal((await listed(store, `${space()}/`)).size, 0);
      const all = await listed(store, '');
      for (const key of Object.keys(objects)) assert.ok(all.has(key), `the empty prefix lists ${key}`);
      for await (const o of store.list(`${s}/`)) {
        assert.ok(o.lastModified instanceof Date);
        // Second-resolution stores (S3's Last-Modified) round down.
        assert.ok(o.lastModified.getTime() >= before - 2000 && o.lastModified.getTime() <= Date.now() + 2000, `${o.key}: time of the put`);
      }
    });

    test('unsafe keys and prefixes are refused, by every method', async () => {
      const bad = ['../x.png', '/abs.png', 'a//b.png', 'a/../b.png', '', '.hidden.png', 'a/.b.png', 'a\\b.png', 'a b.png', 'a/', 'é.png'];
      for (const key of bad) {
        await assert.rejects(store.put(key, randomBytes(4), 'image/png'), /invalid object key/, `put ${JSON.stringify(key)}`);
        await assert.rejects(store.get(key), /invalid object key/, `get ${JSON.stringify(key)}`);
        await assert.rejects(store.exists(key), /invalid object key/, `exists ${JSON.stringify(key)}`);
        await assert.rejects(store.delete(key), /invalid object key/, `delete ${JSON.stringify(key)}`);
      }
      for (const prefix of ['../', '/x', 'a/../', 'a//', '.x']) {
        await assert.rejects(listed(store, prefix), /invalid object key prefix/, `list ${JSON.stringify(prefix)}`);
      }
    });

    test('put again replaces the object', async () => {
      const s = space();
      const first = randomBytes(100);
      const second = randomBytes(40);
      await store.put(`${s}/o.png`, first, 'image/png');
      await store.put(`${s}/o.png`, second, 'image/png');
      const got = await store.get(`${s}/o.png`);
      assert.ok(got && Buffer.from(got.bytes).equals(second));
      assert.deepEqual([...(await listed(store, `${s}/`)).entries()], [[`${s}/o.png`, 40]]);
    });

    test('concurrent puts of distinct keys all land, each with its own bytes', async () => {
      const s = space();
      const items = Array.from({ length: 24 }, (_, i) => ({ key: `${s}/${i % 3}/img-${i}.png`, bytes: randomBytes(200 + i) }));
      await Promise.all(items.map((it) => store.put(it.key, it.bytes, 'image/png')));
      const got = await Promise.all(items.map((it) => store.get(it.key)));
      got.forEach((g, i) => assert.ok(g && Buffer.from(g.bytes).equals(items[i]!.bytes), items[i]!.key));
      const all = await listed(store, `${s}/`);
      assert.equal(all.size, items.length);
      for (const it of items) assert.equal(all.get(it.key), it.bytes.length);
    });
  });
}
