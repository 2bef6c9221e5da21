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
import { makeExportModel, type ExportLayout } from './exports.ts';
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

const made = new Map<string, Promise<string>>();

/** The folder of a ready-made test model of `variant`, made on first use (once per process). */
export function testModelDir(variant: TestModelVariant): Promise<string> {
  return cached(variant, (dir) => makeTestModel(dir, variant), MANIFEST_FILE);
}

/** The folder of a ready-made export-layout model (exports.ts), made on first use. */
export function exportModelDir(layout: ExportLayout): Promise<string> {
  return cached(layout, (dir) => makeExportModel(dir, layout), 'model_index.json');
}

function cached(name: string, make: (dir: string) => Promise<void>, lastFile: string): Promise<string> {
  let dir = made.get(name);
  if (!dir) {
    dir = ensure(name, make, lastFile);
    made.set(name, dir);
    dir.catch(() => made.delete(name));
  }
  return dir;
}

/** `lastFile` is the one the maker writes last, so its presence means a whole folder. */
async function ensure(name: string, make: (dir: string) => Promise<void>, lastFile: string): Promise<string> {
  const dir = join(testModelsRoot(), `${name}-${await makerSourceHash()}`);
  const complete = (d: string) => existsSync(join(d, lastFile));
  if (complete(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await make(tmp);
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
