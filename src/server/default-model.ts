/**
 * Until the demo model ships (models/darkroom-demo, another issue), a fresh clone must still start:
 * when the configured default model is not installed, make the tiny random-weight test model in the
 * models folder as `tiny-sd1` and use it, saying clearly that it draws noise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelRegistry } from '../engine/models/registry.ts';

export const FALLBACK_MODEL = 'tiny-sd1';

export async function ensureDefaultModel(
  registry: Pick<ModelRegistry, 'list'>,
  modelsDir: string,
  wanted: string,
  log: (message: string) => void,
): Promise<string> {
  const models = await registry.list();
  if (models.some((m) => m.info?.manifest.id === wanted)) return wanted;
  if (models.some((m) => m.info?.manifest.id === FALLBACK_MODEL)) {
    log(`default model "${wanted}" is not installed; using ${FALLBACK_MODEL}, a tiny random-weight TEST model that draws noise, not pictures (the demo model is not shipped yet)`);
    return FALLBACK_MODEL;
  }
  const dir = join(modelsDir, FALLBACK_MODEL);
  if (!existsSync(join(dir, 'darkroom.json'))) {
    log(`default model "${wanted}" is not installed; making ${FALLBACK_MODEL} in ${dir}: a tiny random-weight TEST model that draws noise, not pictures (the demo model is not shipped yet)`);
    const { makeTestModel } = await import('../../tools/test-models/make.ts');
    const tmp = `${dir}.tmp-${process.pid}`;
    await makeTestModel(tmp, FALLBACK_MODEL);
    const { rename, rm } = await import('node:fs/promises');
    try {
      await rename(tmp, dir);
    } catch {
      await rm(tmp, { recursive: true, force: true }); // another process made it first
    }
  }
  return FALLBACK_MODEL;
}
