/**
 * The model requests get when they name none (DARKROOM_DEFAULT_MODEL, the shipped demo model by
 * default). A name that is not installed stops start-up, naming the setting and what is installed.
 * Only when no model exists at all (the shipped demo model's folder removed, nothing installed) is the
 * tiny random-weight test model made, so that a server still starts, and it says it draws noise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelRegistry } from '../engine/models/registry.ts';
import { DeploymentError } from './deployment-error.ts';

export const FALLBACK_MODEL = 'tiny-sd1';

export async function ensureDefaultModel(
  registry: Pick<ModelRegistry, 'list'>,
  modelsDir: string,
  wanted: string,
  log: (message: string) => void,
): Promise<string> {
  const installed = (await registry.list()).flatMap((m) => (m.info ? [m.info.manifest.id] : []));
  if (installed.includes(wanted)) return wanted;
  if (installed.length && !(installed.length === 1 && installed[0] === FALLBACK_MODEL)) {
    throw new DeploymentError(
      `DARKROOM_DEFAULT_MODEL="${wanted}": no such model is installed; installed: ${installed.join(', ')} (see npx darkroom models; install more with npx darkroom models install)`,
    );
  }
  const dir = join(modelsDir, FALLBACK_MODEL);
  if (!existsSync(join(dir, 'darkroom.json'))) {
    log(`no model is installed (not even the shipped demo model, "${wanted}"): making ${FALLBACK_MODEL} in ${dir}, a tiny random-weight TEST model that draws noise, not pictures`);
    const { makeTestModel } = await import('../../tools/test-models/make.ts');
    const tmp = `${dir}.tmp-${process.pid}`;
    await makeTestModel(tmp, FALLBACK_MODEL);
    const { rename, rm } = await import('node:fs/promises');
    try {
      await rename(tmp, dir);
    } catch {
      await rm(tmp, { recursive: true, force: true }); // another process made it first
    }
  } else {
    log(`no model but ${FALLBACK_MODEL} is installed (not even the shipped demo model, "${wanted}"): using ${FALLBACK_MODEL}, a tiny random-weight TEST model that draws noise, not pictures`);
  }
  return FALLBACK_MODEL;
}
