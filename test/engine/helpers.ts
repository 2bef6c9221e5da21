/** Shared by the engine tests: tiny test models loaded through the real loading code. */
import { LoadedModel } from '../../src/engine/models/loaded-model.ts';
import { readModelFolder } from '../../src/engine/models/model-folder.ts';
import { withDefaults, type GenerationInput } from '../../src/engine/pipelines/defaults.ts';
import type { GenerationRequest } from '../../src/engine/pipelines/request.ts';
import { testModelDir } from '../../tools/test-models/cache.ts';
import type { TestModelVariant } from '../../tools/test-models/variants.ts';

const loaded = new Map<string, Promise<LoadedModel>>();

export function tinyModel(variant: TestModelVariant): Promise<LoadedModel> {
  let m = loaded.get(variant);
  if (!m) {
    m = testModelDir(variant).then(async (dir) => LoadedModel.load(await readModelFolder(dir), { provider: 'cpu', threads: 1 }));
    loaded.set(variant, m);
  }
  return m;
}

export function request(model: LoadedModel, input: Partial<GenerationInput> = {}): GenerationRequest {
  return withDefaults(model.info.manifest, { prompt: 'a red circle on a blue background', seed: 42, ...input });
}

export function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export async function disposeAll(): Promise<void> {
  for (const m of loaded.values()) await (await m).dispose();
  loaded.clear();
}
