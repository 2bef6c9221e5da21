/**
 * The embedded server: API + in-process worker in one process, SQLite (or Postgres) metadata and
 * images on disk under the data directory. `startServer` wires config → services → HTTP and
 * returns a handle whose `close()` stops everything (idempotent, every step runs even if one fails).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { SHIPPED_MODELS_DIR, type Config } from '../config/config.ts';
import { Engine } from '../engine/engine.ts';
import { engineFromConfig } from '../engine/from-config.ts';
import { ModelRegistry } from '../engine/models/registry.ts';
import { BatchingEngine, isBatchable } from '../worker/batching-engine.ts';
import { openDatabase, type Database } from '../db/database.ts';
import { Accounts } from '../core/accounts.ts';
import { Credits } from '../core/credits.ts';
import { Generations } from '../core/generations.ts';
import { ImageAccess } from '../core/image-access.ts';
import { Idempotency } from '../core/idempotency.ts';
import { ImageInputs } from '../core/images.ts';
import { ModelCatalog } from '../core/models.ts';
import { Outputs } from '../core/outputs.ts';
import { RateLimiter } from '../core/rate-limit.ts';
import { Upscales, type UpscalerBackend } from '../core/upscales.ts';
import { JobLifecycle, type JobKind } from '../core/jobs.ts';
import { Reaper } from '../core/reaper.ts';
import { resamplingBackend } from '../worker/resampling.ts';
import { Usage } from '../core/usage.ts';
import { UploadTokens } from '../core/upload-tokens.ts';
import { UrlGuard } from '../core/url-guard.ts';
import { Webhooks } from '../core/webhooks.ts';
import { leonardoWebhookPayload } from '../api/leonardo/webhook.ts';
import { InProcessEventBus, InProcessJobQueue } from '../queue/in-process.ts';
import { closeStore, openStore } from '../storage/open-store.ts';
import { sweepOrphans } from '../core/orphans.ts';
import { Worker, type ImageEngine } from '../worker/worker.ts';
import { createApp } from '../api/app.ts';
import type { ApiServices } from '../api/env.ts';
import { VERSION } from '../version.ts';
import { ensureDefaultModel } from './default-model.ts';
import { keepIdleConnectionsLonger } from './keep-alive.ts';

export interface ServerOptions {
  log?: (message: string) => void;
  /** Called once, on first start, with the admin key's secret (the default prints it). */
  onAdminKey?: (secret: string, userName: string) => void;
  /** A stand-in engine (tests); by default the real one from the config. */
  engine?: ImageEngine & { dispose?: () => Promise<void> };
  /** Bind the HTTP port (default true); false for tests that call app.request in-process. */
  listen?: boolean;
}

export interface ServerHandle {
  /** http://host:port, with the port actually bound (config port 0 picks a free one). */
  url: string;
  port: number;
  services: ApiServices;
  app: ReturnType<typeof createApp>;
  db: Database;
  /** The model requests get when they name none. */
  defaultModel: string;
  /**
   * Stops: no new connections, running jobs get `graceMs` (default 0) to finish, the rest are failed
   * and refunded with an answer to every waiting client, then the database closes. Idempotent.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** How long a stopping server waits for answers still being written (event streams are cut after it). */
const ANSWER_GRACE_MS = 2000;

export function printAdminKey(secret: string, userName: string, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  const line = '-'.repeat(78);
  write(
    `${line}\nFirst start: created the admin account "${userName}" and its API key. It is shown only this once;\n` +
      `only its hash is stored. Keep it now:\n\n    ${secret}\n\n` +
      `Make more keys with: npx darkroom keys create --user NAME\n${line}\n`,
  );
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<ServerHandle> {
  const log = options.log ?? ((m: string) => process.stderr.write(`darkroom: ${m}\n`));
  mkdirSync(config.dataDir, { recursive: true });

  const engine = options.engine ?? engineFromConfig(config, log);
  // The catalog reads the same folders as the engine, also when a stand-in engine (tests) does the work.
  const registry = new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]);
  const defaultModel = await ensureDefaultModel(registry, config.modelsDir, config.defaultModel, log);

  const db = await openDatabase(config.databaseUrl);
  const cleanups: (() => Promise<void> | void)[] = [() => db.close()];
  try {
    const store = openStore(config); // S3 when DARKROOM_S3_BUCKET is set, else <dataDir>/images
    cleanups.push(() => closeStore(store));
    const queue = new InProcessJobQueue(log);
    const events = new InProcessEventBus();
    const lifecycle = new JobLifecycle(
      { db, events },
      { leaseMs: config.jobLease * 1000, maxAttempts: 2, maxInFlight: config.maxInFlight, maxQueued: config.maxQueued },
    );
    const catalog = new ModelCatalog(registry, defaultModel);
    const guard = new UrlGuard({ allow: config.urlAllowlist });
    const images = new ImageInputs(db, store, guard);
    const accounts = new Accounts(db, { initialCredits: config.initialCredits });
    const credits = new Credits(db);
    const timeoutMs = config.generationTimeout * 1000;
    const generations = new Generations({ db, queue, events, lifecycle, catalog, images, store, log }, { timeoutMs, outputsPublic: config.outputsPublic });
    // A stand-in engine (tests) has no upscaler registry: it resamples.
    const upscaler: UpscalerBackend = engine instanceof Engine ? { list: () => engine.upscalers.list(), upscale: engine.upscale.bind(engine) } : resamplingBackend();
    const upscales = new Upscales({ db, queue, events, lifecycle, images, store }, { timeoutMs, upscalers: upscaler });
    const imageAccess = await ImageAccess.open(db, { ttlSeconds: config.signedUrlTtl });
    const webhooks = new Webhooks({ db, guard, imagePath: (key) => imageAccess.path(key) }, { log });
    webhooks.register('leonardo', leonardoWebhookPayload);
    const services: ApiServices = {
      accounts,
      credits,
      generations,
      upscales,
      catalog,
      images,
      imageAccess,
      outputs: new Outputs(db),
      usage: new Usage(db),
      store,
      events,
      rateLimiter: new RateLimiter(config.rateLimit),
      idempotency: new Idempotency(db, { ttlMs: config.idempotencyTtl * 1000, waitMs: timeoutMs, log }),
      uploadTokens: await UploadTokens.open(db),
    };

    const admin = await accounts.ensureAdmin();
    if (admin) (options.onAdminKey ?? printAdminKey)(admin.secret, admin.user.name);

    const failJob = (kind: JobKind, id: string, message: string) => (kind === 'generate' ? generations.fail(id, message) : upscales.fail(id, message));
    // Embedded mode: the previous process was the only worker; whatever it left unfinished is refunded.
    const failUnfinished = async (message: string) => {
      let n = 0;
      for (const { kind, id } of await lifecycle.unfinished()) if (await failJob(kind, id, message)) n++;
      return n;
    };
    const interrupted = await failUnfinished('interrupted: the server stopped before this job finished');
    if (interrupted) log(`refunded ${interrupted} generation(s)/upscale(s) left unfinished by the previous run`);
    // Stored objects no row names (what a crash or a refused request left): deleted now, before the
    // worker and the HTTP port start, so nothing is in flight and no grace period is needed.
    await sweepOrphans(db, store, { graceMs: 0, log }).catch((err: unknown) => log(`orphan sweep failed: ${err instanceof Error ? err.message : String(err)}`));

    // Dynamic batching: jobs meet in the BatchingEngine, so enough of them must run at once to meet.
    const batching = config.batchMax > 1 && isBatchable(engine);
    const workerEngine = batching ? new BatchingEngine(engine, { maxBatch: config.batchMax, windowMs: config.batchWindowMs, log }) : engine;
    const worker = new Worker({ queue, engine: workerEngine, upscaler, store, lifecycle, generations, upscales, log }, { onShutdown: 'fail' });
    worker.start(batching ? Math.max(config.workerConcurrency, config.batchMax) : config.workerConcurrency);
    const reaper = new Reaper({ lifecycle, queue, fail: failJob, log }, { intervalMs: Math.min(5000, (config.jobLease * 1000) / 2), requeueAfterMs: 30_000, timeoutMs });
    reaper.start();
    webhooks.start();
    // Run in order by close(): stop taking work, let running jobs finish within the grace, answer
    // everyone still waiting (failed and refunded), then release the rest.
    const drain = async (graceMs: number) => {
      await reaper.stop();
      await worker.close(graceMs);
      const dropped = await failUnfinished('the server stopped before this job started');
      if (dropped) log(`refunded ${dropped} queued job(s) at shutdown`);
    };
    cleanups.unshift(() => webhooks.close(), () => events.close(), async () => engine.dispose?.());
    if (config.preload && engine instanceof Engine) {
      // Sessions, and with cuda the model's optimised twins (about 20 s once for a float32 SD 1.5), are made now
      // rather than on the first request; a request meanwhile waits for the same load.
      const started = Date.now();
      engine.model(defaultModel).then(
        (m) => log(`model ${m.id} loaded (${m.provider}) in ${Date.now() - started} ms`),
        (err: unknown) => log(`model ${defaultModel} did not load at start: ${err instanceof Error ? err.message : String(err)}`),
      );
    }

    const app = createApp(services, {
      publicUrl: config.publicUrl,
      version: VERSION,
      log,
      dialects: config.dialects,
      leonardoModels: config.leonardoModels,
      maxInFlight: config.maxInFlight,
    });
    let server: ServerType | undefined;
    let port = config.port;
    if (options.listen !== false) {
      server = await new Promise<ServerType>((resolve, reject) => {
        const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
        keepIdleConnectionsLonger(s);
        s.once('error', reject);
      });
      port = (server.address() as AddressInfo).port;
    }
    const http = server as HttpServer | undefined; // @hono/node-server serves HTTP/1 unless told otherwise
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}`,
      port,
      services,
      app,
      db,
      defaultModel,
      close: (closeOptions = {}) =>
        (closing ??= (async () => {
          const attempt = async (step: () => Promise<void> | void) => {
            try {
              await step();
            } catch (err) {
              log(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
            }
          };
          // No new connections; requests in flight get their answers (the drain fails what it cuts off).
          const answered = http ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve();
          await attempt(() => drain(closeOptions.graceMs ?? 0));
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([answered, new Promise<void>((resolve) => (timer = setTimeout(resolve, ANSWER_GRACE_MS)))]);
          clearTimeout(timer);
          http?.closeAllConnections(); // what is left: event streams and idle keep-alive sockets
          for (const step of cleanups) await attempt(step);
        })()),
    };
  } catch (err) {
    for (const step of cleanups) await Promise.resolve(step()).catch(() => undefined);
    throw err;
  }
}
