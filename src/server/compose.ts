/**
 * The composition root: from the config, the database, the object store, the queue backend (in
 * this process, or BullMQ + Redis pub/sub) and the one job lifecycle that every role shares. The
 * API (server.ts) and the worker (worker-process.ts) each take what they need from it; only roles
 * that run jobs load an engine (runJobs below).
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { SHIPPED_MODELS_DIR, type Config } from '../config/config.ts';
import { openDatabase, parseDatabaseUrl, type Database } from '../db/database.ts';
import { Announced, Announcer } from '../core/announcements.ts';
import { Generations } from '../core/generations.ts';
import { ImageInputs } from '../core/images.ts';
import { JobLifecycle, type JobKind } from '../core/jobs.ts';
import { ModelCatalog, type ModelSource } from '../core/models.ts';
import { Reaper } from '../core/reaper.ts';
import { Upscales, type UpscalerBackend, type UpscalerList } from '../core/upscales.ts';
import { UrlGuard } from '../core/url-guard.ts';
import { Engine } from '../engine/engine.ts';
import { engineFromConfig } from '../engine/from-config.ts';
import { ModelRegistry } from '../engine/models/registry.ts';
import { LoraLibrary } from '../engine/lora/library.ts';
import { LoraCatalog } from '../core/loras.ts';
import { openQueueBackend, type QueueBackend } from '../queue/backend.ts';
import type { JobQueue } from '../queue/types.ts';
import { openStore } from '../storage/open-store.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { BatchingEngine, isBatchable } from '../worker/batching-engine.ts';
import { resamplingBackend } from '../worker/resampling.ts';
import { Worker, type ImageEngine } from '../worker/worker.ts';
import type { Logger } from '../observability/logger.ts';
import { processMetrics, type Metrics } from '../observability/metrics.ts';
import { ensureDefaultModel } from './default-model.ts';
import { DeploymentError } from './deployment-error.ts';
import { lockSqlite } from './sqlite-lock.ts';

/** The queue every role puts jobs on and takes them from. */
const JOBS_QUEUE = 'jobs';

export type Role = 'serve' | 'api' | 'worker';

/** Checks the roles and backends fit together; the message names the setting to change. */
export function checkDeployment(config: Config, role: Role): void {
  const sqlite = config.databaseUrl.startsWith('sqlite:');
  if (config.redisUrl && sqlite) {
    throw new DeploymentError('DARKROOM_REDIS_URL is set but DARKROOM_DATABASE_URL is SQLite: processes that share a Redis queue must share a database; set DARKROOM_DATABASE_URL=postgres://…');
  }
  if (role !== 'serve' && !config.redisUrl) {
    throw new DeploymentError(`${role === 'worker' ? 'darkroom worker' : 'darkroom serve --no-worker'} needs DARKROOM_REDIS_URL (and Postgres in DARKROOM_DATABASE_URL): without them jobs never leave the process that made them`);
  }
}

/** The data directory, made when missing; one that cannot be written stops start-up naming the setting. */
function writableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new DeploymentError(`DARKROOM_DATA_DIR=${dir}: not a directory Darkroom can write (${(err as Error).message})`);
  }
}

export interface Engines {
  engine: ImageEngine & { dispose?: () => Promise<void> };
  upscaler: UpscalerBackend;
  registry: ModelSource;
  defaultModel: string;
  /** Settles once the default model is loaded (at once when nothing is preloaded); never rejects. */
  loaded: Promise<void>;
}

/** The engine of a role that runs jobs: the real one from the config, or a stand-in (tests). */
export async function openEngines(config: Config, log: (m: string) => void, engine?: Engines['engine']): Promise<Engines> {
  // The registry reads the same folders as the engine, also when a stand-in engine (tests) does the work.
  const registry = new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]);
  const defaultModel = await ensureDefaultModel(registry, config.modelsDir, config.defaultModel, log);
  const real = engine ?? engineFromConfig(config, log);
  // A stand-in engine has no upscaler registry: it resamples.
  const upscaler: UpscalerBackend = real instanceof Engine ? { list: () => real.upscalers.list(), upscale: real.upscale.bind(real) } : resamplingBackend();
  let loaded = Promise.resolve();
  if (config.preload && real instanceof Engine) {
    // Sessions, and with cuda the model's optimised twins (about 20 s once for a float32 SD 1.5), are made now
    // rather than on the first request; a request meanwhile waits for the same load.
    const started = Date.now();
    loaded = real.model(defaultModel).then(
      (m) => log(`model ${m.id} loaded (${m.provider}) in ${Date.now() - started} ms`),
      (err: unknown) => log(`model ${defaultModel} did not load at start: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
  return { engine: real, upscaler, registry, defaultModel, loaded };
}

export interface Core {
  config: Config;
  log: (m: string) => void;
  logger: Logger;
  metrics: Metrics;
  db: Database;
  store: ObjectStore;
  backend: QueueBackend;
  queue: JobQueue;
  lifecycle: JobLifecycle;
  generations: Generations;
  upscales: Upscales;
  images: ImageInputs;
  guard: UrlGuard;
  catalog: ModelCatalog;
  loras: LoraCatalog;
  /** Embedded mode: this process is the only worker there is. */
  embedded: boolean;
  failJob(kind: JobKind, id: string, message: string): Promise<boolean>;
  /** Fails and refunds every unfinished job (embedded mode only: at start and at shutdown). */
  failUnfinished(message: string): Promise<number>;
  reaper: Reaper;
  close(): Promise<void>;
}

/**
 * The services every role shares. `engines` (roles that run jobs) supply the model list; an API-only
 * process lists what the workers announce instead.
 */
export async function openCore(config: Config, logger: Logger, log: (m: string) => void, engines?: Engines): Promise<Core> {
  const metrics = processMetrics();
  writableDir(config.dataDir);
  const parsed = parseDatabaseUrl(config.databaseUrl);
  const unlock = parsed.dialect === 'sqlite' && parsed.file !== ':memory:' ? lockSqlite(parsed.file) : () => undefined;
  const db = await openDatabase(config.databaseUrl).catch((err: unknown) => {
    unlock();
    throw err;
  });
  const cleanups: (() => Promise<void> | void)[] = [() => db.close(), unlock];
  try {
    const store = await openStore(config); // S3 when DARKROOM_S3_BUCKET is set, else <dataDir>/images
    cleanups.unshift(() => store.close?.());
    let failJob: Core['failJob'] = async () => false;
    // BullMQ's lock and the database lease run out together: a dead worker's job goes to another one
    // about DARKROOM_JOB_LEASE seconds later, by whichever notices first (BullMQ's stalled check, or the reaper).
    const backend = await openQueueBackend(config, log, {
      onGiveUp: (job, why) => void failJob(job.type, job.id, `the job could not be run: ${why}`),
      lockDurationMs: config.jobLease * 1000,
    });
    cleanups.unshift(() => backend.close());
    const queue = backend.queue(JOBS_QUEUE);
    const events = backend.events;
    const lifecycle = new JobLifecycle(
      { db, events, metrics },
      { leaseMs: config.jobLease * 1000, maxAttempts: 2, maxInFlight: config.maxInFlight, maxQueued: config.maxQueued },
    );
    const announced = engines ? undefined : new Announced(db);
    const catalog = new ModelCatalog(engines?.registry ?? announced!.models, engines?.defaultModel ?? config.defaultModel);
    const guard = new UrlGuard({ allow: config.urlAllowlist });
    const images = new ImageInputs(db, store, guard, config.maxImagePixels);
    const timeoutMs = config.generationTimeout * 1000;
    // Roles with the model files check that a request's LoRAs fit its model; an API-only one leaves that to the worker.
    const loras = new LoraCatalog(new LoraLibrary(config.lorasDir), engines ? new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]) : undefined);
    const generations = new Generations({ db, queue, events, lifecycle, catalog, loras, images, store, log }, { timeoutMs, outputsPublic: config.outputsPublic, noise: config.noise, promptSyntax: config.promptSyntax });
    const upscalers: UpscalerList = engines?.upscaler ?? announced!.upscalers;
    const upscales = new Upscales({ db, queue, events, lifecycle, images, store }, { timeoutMs, upscalers });
    failJob = (kind, id, message) => (kind === 'generate' ? generations.fail(id, message) : upscales.fail(id, message));
    const failUnfinished = async (message: string) => {
      let n = 0;
      for (const { kind, id } of await lifecycle.unfinished()) if (await failJob(kind, id, message)) n++;
      return n;
    };
    const reaper = new Reaper({ lifecycle, queue, fail: failJob, log }, { intervalMs: Math.min(5000, (config.jobLease * 1000) / 2), requeueAfterMs: 10_000, timeoutMs });
    cleanups.unshift(() => reaper.stop());
    let closing: Promise<void> | undefined;
    metrics.setQueueDepth(() => queue.counts());
    metrics.jobsByState(() => lifecycle.countByState());
    return {
      config,
      log,
      logger,
      metrics,
      db,
      store,
      backend,
      queue,
      lifecycle,
      generations,
      upscales,
      images,
      guard,
      catalog,
      loras,
      embedded: backend.kind === 'in-process',
      failJob: (kind, id, message) => failJob(kind, id, message),
      failUnfinished,
      reaper,
      close: () =>
        (closing ??= (async () => {
          for (const step of cleanups) {
            try {
              await step();
            } catch (err) {
              log(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
            }
          }
        })()),
    };
  } catch (err) {
    for (const step of cleanups) await Promise.resolve(step()).catch(() => undefined);
    throw err;
  }
}

export interface JobRunner {
  /** Stops taking jobs; running ones get `graceMs`, then are requeued (scaled) or failed and refunded (embedded). */
  close(graceMs: number): Promise<void>;
}

/** Starts consuming jobs in this process, announcing what it serves, with dynamic batching when the engine allows. */
export async function runJobs(core: Core, engines: Engines): Promise<JobRunner> {
  const { config, log } = core;
  // Dynamic batching: jobs meet in the BatchingEngine, so enough of them must run at once to meet.
  const base = engines.engine;
  const batching = config.batchMax > 1 && isBatchable(base);
  const engine = batching ? new BatchingEngine(base, { maxBatch: config.batchMax, windowMs: config.batchWindowMs, log }) : base;
  const worker = new Worker(
    { queue: core.queue, engine, upscaler: engines.upscaler, store: core.store, lifecycle: core.lifecycle, generations: core.generations, upscales: core.upscales, log, logger: core.logger, metrics: core.metrics },
    { onShutdown: core.embedded ? 'fail' : 'requeue', pngMetadata: config.pngMetadata, previewEvery: config.previewEvery },
  );
  const announcer = new Announcer(core.db, { models: () => engines.registry.list(), upscalers: engines.upscaler }, log);
  await announcer.start();
  // Loading a model keeps the process busy for seconds, which would let the leases of jobs taken before it lapse.
  if (!core.embedded) await engines.loaded;
  worker.start(batching ? Math.max(config.workerConcurrency, config.batchMax) : config.workerConcurrency);
  return {
    close: async (graceMs) => {
      await announcer.stop().catch(() => undefined);
      await worker.close(graceMs);
      await engines.engine.dispose?.();
    },
  };
}
