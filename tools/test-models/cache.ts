/**
 * Test models made once and reused: `await testModelDir('tiny-sd1')` returns a folder under
 * `test/.models/` (git-ignored) named after the variant and a hash of the makers' sources, so an
 * edit to the makers gives fresh models. Made in a private temporary folder and renamed into place
 * (atomic), so parallel test processes never see a half-written model: the first rename wins and
 * the others throw their copy away. DARKROOM_TEST_MODELS_DIR overrides the cache folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE } from '../../src/engine/models/manifest.ts';
import { DEFAULT_SEED, makeTestModel } from './make.ts';
import type { TestModelVariant } from './variants.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE_DIRS = [join(REPO_ROOT, 'tools', 'test-models'), join(REPO_ROOT, 'src', 'engine', 'onnx')];

let hashPromise: Promise<string> | undefined;

/** A hash of every maker source (and the default seed): the cache key. */
export function makerSourceHash(): Promise<string> {
  hashPromise ??= (async () => {
    const h = createHash('sha256').update(`seed:${DEFAULT_SEED}\n`);
    for (const dir of SOURCE_DIRS) {
      for (const name of (await readdir(dir)).filter((n) => n.endsWith('.ts')).sort()) {
        h.update(`${name}\n`).update(await readFile(join(dir, name)));
      }
    }
    return h.digest('hex').slice(0, 12);
  })();
  return hashPromise;
}

export function testModelsRoot(): string {
  return process.env.DARKROOM_TEST_MODELS_DIR || join(REPO_ROOT, 'test', '.models');
}

const made = new Map<TestModelVariant, Promise<string>>();

/** The folder of a ready-made test model of `variant`, made on first use (once per process). */
export function testModelDir(variant: TestModelVariant): Promise<string> {
  let dir = made.get(variant);
  if (!dir) {
    dir = ensure(variant);
    made.set(variant, dir);
    dir.catch(() => made.delete(variant));
  }
  return dir;
}

function complete(dir: string): boolean {
  return existsSync(join(dir, MANIFEST_FILE));
}

async function ensure(variant: TestModelVariant): Promise<string> {
  const dir = join(testModelsRoot(), `${variant}-${await makerSourceHash()}`);
  if (complete(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await makeTestModel(tmp, variant);
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, dir);
        return dir;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
        if (complete(dir)) return dir; // another process won the race
        if (attempt > 0) throw err;
        // A leftover without a manifest (not ours: ours appear whole): move it aside and retry.
        const stale = `${dir}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
        await rename(dir, stale).catch(() => undefined);
        await rm(stale, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
