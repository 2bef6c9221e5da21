/** Core services over a real database with a fake model catalog and an in-process queue, for unit tests. */
import { randomUUID } from 'node:crypto';
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
import { InProcessEventBus, InProcessJobQueue } from '../../src/queue/in-process.ts';
import { JobLifecycle, type ClaimResult } from '../../src/core/jobs.ts';
import { Reaper } from '../../src/core/reaper.ts';
import type { Generation } from '../../src/db/schema.ts';
import type { Auth } from '../../src/core/accounts.ts';
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
  leaseMs?: number;
}

export function coreServices(db: Database, options: CoreOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'darkroom-store-'));
  const store = new FilesystemStore(dir);
  const queue = new InProcessJobQueue();
  const events = new InProcessEventBus();
  const lifecycle = new JobLifecycle({ db, events }, { leaseMs: options.leaseMs ?? 30_000, maxAttempts: 2, maxInFlight: options.maxInFlight ?? 4, maxQueued: options.maxWaiting ?? 50 });
  const catalog = new ModelCatalog(fakeModelSource([fakeManifest()]), 'fake-sd1');
  const images = new ImageInputs(db, store);
  const accounts = new Accounts(db, { initialCredits: options.initialCredits ?? 0 });
  const credits = new Credits(db);
  const generations = new Generations({ db, queue, events, lifecycle, catalog, images }, { timeoutMs: options.timeoutMs ?? 10_000, outputsPublic: false });
  // Deadlines and lapsed leases are the reaper's, as in the server.
  const reaper = new Reaper({ lifecycle, queue, fail: (_kind, id, message) => generations.fail(id, message) }, { intervalMs: 25, requeueAfterMs: 60_000, timeoutMs: options.timeoutMs ?? 10_000 });
  reaper.start();
  return {
    store,
    queue,
    reaper,
    events,
    lifecycle,
    catalog,
    images,
    accounts,
    credits,
    generations,
    close: async () => {
      await reaper.stop();
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

/** The claimed row, or an error saying why the claim did not take (busy, gone). */
export async function claimed<R>(claim: Promise<ClaimResult<R>>): Promise<R> {
  const r = await claim;
  if (!('claimed' in r)) throw new Error(`not claimed: ${JSON.stringify(r)}`);
  return r.claimed;
}

/**
 * A stand-in worker for core tests: claims each generation job (a busy one is offered again shortly,
 * as the real worker does) and hands the claimed row to `work`.
 */
export function consume(core: ReturnType<typeof coreServices>, work: (gen: Generation, signal: AbortSignal) => Promise<void>, concurrency = 4): void {
  core.queue.process(
    async (job, signal) => {
      if (job.type !== 'generate') return;
      const r = await core.generations.claim(job.generationId);
      if ('busy' in r) {
        setTimeout(() => core.queue.add(job).catch(() => undefined), 10);
        return;
      }
      if ('claimed' in r) await work(r.claimed, signal);
    },
    { concurrency },
  );
}

/** A new user with `credits` credits, authenticated with a fresh key of theirs. */
export async function userWith(core: ReturnType<typeof coreServices>, credits: number): Promise<Auth> {
  const user = await core.accounts.createUser(`u-${randomUUID().slice(0, 8)}`);
  if (credits) await core.credits.grant(user.id, credits);
  return core.accounts.authenticate((await core.accounts.createKey(user.id)).secret);
}
