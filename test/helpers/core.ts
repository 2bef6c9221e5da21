/** Core services over a real database with a fake model catalog and an in-process queue, for unit tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ListedModel } from '../../src/engine/models/registry.ts';
import type { ModelManifest } from '../../src/engine/models/manifest.ts';
import type { Database } from '../../src/db/database.ts';
import { Accounts } from '../../src/core/accounts.ts';
import { Credits } from '../../src/core/credits.ts';
import { Generations, type GenerationSpec } from '../../src/core/generations.ts';
import { ImageInputs } from '../../src/core/images.ts';
import { ModelCatalog } from '../../src/core/models.ts';
import { InProcessEventBus, InProcessGate, InProcessJobQueue } from '../../src/queue/in-process.ts';
import { FilesystemStore } from '../../src/storage/filesystem.ts';

export function fakeManifest(over: Partial<ModelManifest> = {}): ModelManifest {
  return {
    id: 'fake-sd1',
    name: 'Fake SD 1.x',
    family: 'sd1',
    defaults: { width: 512, height: 512, steps: 20, guidance: 7.5, scheduler: 'euler' },
    schedulers: ['euler', 'euler_a', 'ddim', 'pndm'],
    minSize: 256,
    maxSize: 1024,
    ...over,
  };
}

export function fakeModelSource(manifests: ModelManifest[], imageToImage = true): { list: () => Promise<ListedModel[]> } {
  return {
    list: async () =>
      manifests.map(
        (manifest) =>
          ({
            dir: `/models/${manifest.id}`,
            info: { dir: `/models/${manifest.id}`, manifest, components: imageToImage ? { vaeEncoder: 'vae_encoder/model.onnx' } : {} },
          }) as unknown as ListedModel,
      ),
  };
}

export interface CoreOptions {
  initialCredits?: number;
  timeoutMs?: number;
  maxInFlight?: number;
  maxWaiting?: number;
}

export function coreServices(db: Database, options: CoreOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-store-'));
  const store = new FilesystemStore(dir);
  const queue = new InProcessJobQueue();
  const events = new InProcessEventBus();
  const gate = new InProcessGate(options.maxInFlight ?? 4, options.maxWaiting ?? 50);
  const catalog = new ModelCatalog(fakeModelSource([fakeManifest()]), 'fake-sd1');
  const images = new ImageInputs(db, store);
  const accounts = new Accounts(db, { initialCredits: options.initialCredits ?? 0 });
  const credits = new Credits(db);
  const generations = new Generations({ db, queue, events, gate, catalog, images }, { timeoutMs: options.timeoutMs ?? 10_000, outputsPublic: false });
  return {
    store,
    queue,
    events,
    gate,
    catalog,
    images,
    accounts,
    credits,
    generations,
    close: async () => {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function spec(over: Partial<GenerationSpec> = {}): GenerationSpec {
  return {
    model: 'fake-sd1',
    scheduler: 'euler',
    prompt: 'a red cat',
    negativePrompt: '',
    width: 512,
    height: 512,
    steps: 20,
    guidance: 7,
    seed: 42,
    numOutputs: 2,
    ...over,
  };
}
