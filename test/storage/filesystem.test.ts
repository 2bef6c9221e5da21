import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemStore } from '../../src/storage/filesystem.ts';
import { listed, storeContract } from './contract.ts';

storeContract('the local disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-store-'));
  return { store: new FilesystemStore(join(dir, 'images')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

test('local disk: a key is a file under the root, nothing is written beside it, a crashed write shows in list, empty folders go', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-store-'));
  try {
    const store = new FilesystemStore(join(dir, 'images'));
    await store.put('outputs/a.png', new Uint8Array([1, 2, 3]), 'image/png');
    assert.deepEqual(readdirSync(join(dir, 'images', 'outputs')), ['a.png'], 'no temp or metadata file stays');
    await assert.rejects(store.put('../escape.png', new Uint8Array([1]), 'image/png'));
    assert.equal(existsSync(join(dir, 'escape.png')), false);
    // What a crash between write and rename leaves: it is listed, so the orphan sweep can remove it.
    writeFileSync(join(dir, 'images', 'outputs', 'b.png.tmp-0a1b2c3d'), 'half');
    assert.deepEqual([...(await listed(store, 'outputs/')).keys()].sort(), ['outputs/a.png', 'outputs/b.png.tmp-0a1b2c3d']);
    // Folders go with their last key (nothing is left behind on disk), and come back for the next put.
    await store.put('uploads/u1/x.png', new Uint8Array([1]), 'image/png');
    await store.put('uploads/u2/y.png', new Uint8Array([1]), 'image/png');
    await store.delete('uploads/u1/x.png');
    assert.deepEqual(readdirSync(join(dir, 'images', 'uploads')), ['u2']);
    await store.delete('uploads/u2/y.png');
    assert.deepEqual(readdirSync(join(dir, 'images')).sort(), ['outputs']);
    assert.ok(existsSync(join(dir, 'images')), 'the root stays');
    // Puts and deletes in one folder at once: every put lands.
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await store.put(`race/k${i}.png`, new Uint8Array([i]), 'image/png');
        if (i % 2) await store.delete(`race/k${i}.png`);
      }),
    );
    assert.equal(readdirSync(join(dir, 'images', 'race')).length, 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
