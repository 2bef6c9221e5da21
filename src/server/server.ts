/**
 * The API process: the dialects over HTTP, on the services of the composition root (compose.ts),
 * and by default a worker in the same process (embedded mode: `npm start`, SQLite, images on disk,
 * the in-process queue). With `worker: false` it is an API replica that only records and enqueues
 * jobs (scaled mode: Postgres, Redis, S3). `close()` drains: see ServerHandle.close.
 */
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type Http2Bindings, type HttpBindings, type ServerType } from '@hono/node-server';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { Accounts } from '../core/accounts.ts';
import { Credits } from '../core/credits.ts';
import { ImageAccess } from '../core/image-access.ts';
import { Idempotency } from '../core/idempotency.ts';
import { Outputs } from '../core/outputs.ts';
import { Usage } from '../core/usage.ts';
import { UploadTokens } from '../core/upload-tokens.ts';
import { Webhooks } from '../core/webhooks.ts';
import { sweepOrphans } from '../core/orphans.ts';
import { leonardoWebhookPayload } from '../api/leonardo/webhook.ts';
import { databaseCheck, redisCheck, storeCheck } from '../api/ops.ts';
import { createLogger, loggerWritingTo, toLogFunction } from '../observability/logger.ts';
import type { ImageEngine } from '../worker/worker.ts';
import { createApp } from '../api/app.ts';
import type { ApiServices } from '../api/env.ts';
import { VERSION } from '../version.ts';
import { checkDeployment, openCore, openEngines, runJobs, type JobRunner } from './compose.ts';
import { keepIdleConnectionsLonger } from './keep-alive.ts';
import { DeploymentError } from './deployment-error.ts';
import { answerServerOptions } from '../api/answer-header.ts';
export interface ServerOptions {
  log?: (message: string) => void;
  /** Called once, on first start, with the admin key's secret (the default prints it). */
  onAdminKey?: (secret: string, userName: string) => void;
  /** A stand-in engine (tests); by default the real one from the config. */
  engine?: ImageEngine & { dispose?: () => Promise<void> };
  /** Bind the HTTP port (default true); false for tests that call app.request in-process. */
  listen?: boolean;
  /** Run jobs in this process too (default true: `darkroom serve`); false: the API only (`serve --no-worker`). */
  worker?: boolean;
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
  // JSON lines (pino) on stderr; a test's `log` gets the same lines.
  const logger = options.log ? loggerWritingTo(options.log, config.logLevel) : createLogger(config, { base: { role: 'api' } });
  const log = toLogFunction(logger);
  const runsJobs = options.worker !== false;
  checkDeployment(config, runsJobs ? 'serve' : 'api');
  // The port first: one in use stops start-up before anything is written (the first-start admin key included).
  // The Node request and response travel with the request (Hono's c.env): src/api/answer-header.ts sets headers on the latter.
  let handler: ((request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>) | undefined;
  const server = options.listen === false ? undefined : await listen(config, (request, env) => handler?.(request, env) ?? new Response('starting', { status: 503 }));
  const http = server as HttpServer | undefined; // @hono/node-server serves HTTP/1 unless told otherwise
  let engines: Awaited<ReturnType<typeof openEngines>> | undefined;
  let core: Awaited<ReturnType<typeof openCore>>;
  try {
    engines = runsJobs ? await openEngines(config, log, options.engine) : undefined;
    core = await openCore(config, logger, log, engines);
  } catch (err) {
    http?.close();
    throw err;
  }
  const { db, store, backend, generations, upscales, images, guard, catalog, loras } = core;
  let runner: JobRunner | undefined;
  let webhooks: Webhooks | undefined;
  try {
    const accounts = new Accounts(db, { initialCredits: config.initialCredits });
    const imageAccess = await ImageAccess.open(db, { ttlSeconds: config.signedUrlTtl });
    // Webhooks leave from API processes only: a worker never calls into a dialect.
    webhooks = new Webhooks({ db, guard, imagePath: (key) => imageAccess.path(key) }, { log });
    webhooks.register('leonardo', leonardoWebhookPayload);
    const services: ApiServices = {
      accounts,
      credits: new Credits(db),
      generations,
      upscales,
      catalog,
      loras,
      images,
      imageAccess,
      outputs: new Outputs(db),
      usage: new Usage(db),
      store,
      events: backend.events,
      rateLimiter: backend.rateLimiter,
      idempotency: new Idempotency(db, { ttlMs: config.idempotencyTtl * 1000, waitMs: config.generationTimeout * 1000, log }),
      uploadTokens: await UploadTokens.open(db),
    };

    const admin = await accounts.ensureAdmin();
    if (admin) (options.onAdminKey ?? printAdminKey)(admin.secret, admin.user.name);

    if (core.embedded) {
      // The previous process was the only worker; whatever it left unfinished is refunded.
      const interrupted = await core.failUnfinished('interrupted: the server stopped before this job finished');
      if (interrupted) log(`refunded ${interrupted} generation(s)/upscale(s) left unfinished by the previous run`);
    }
    // Stored objects no row names (what a crash or a refused request left). Embedded, before the worker
    // and the port start, nothing is in flight; with other processes at work, only old ones go.
    await sweepOrphans(db, store, { ...(core.embedded ? { graceMs: 0 } : {}), log }).catch((err: unknown) =>
      log(`orphan sweep failed: ${err instanceof Error ? err.message : String(err)}`),
    );
    if (engines) runner = await runJobs(core, engines);
    core.reaper.start();
    webhooks.start();

    const app = createApp(services, {
      publicUrl: config.publicUrl,
      version: VERSION,
      log,
      dialects: config.dialects,
      leonardoModels: config.leonardoModels,
      maxInFlight: config.maxInFlight,
      limits: { json: config.maxJsonBytes, upload: config.maxUploadBytes },
      metrics: core.metrics,
      logger,
      readiness: [databaseCheck(db), storeCheck(store), ...(backend.kind === 'redis' ? [redisCheck(backend)] : [])],
    });
    handler = app.fetch;
    const port = server ? (server.address() as AddressInfo).port : config.port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}`,
      port,
      services,
      app,
      db,
      defaultModel: engines?.defaultModel ?? config.defaultModel,
      close: (closeOptions = {}) =>
        (closing ??= (async () => {
          const attempt = async (step: () => Promise<unknown> | void) => {
            try {
              await step();
            } catch (err) {
              log(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
            }
          };
          // No new connections; requests in flight get their answers.
          const answered = http ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve();
          await attempt(() => core.reaper.stop());
          // Running jobs get the grace; what it cuts off goes back to the queue (scaled) or is refunded (embedded).
          await attempt(() => runner?.close(closeOptions.graceMs ?? 0));
          if (core.embedded) {
            await attempt(async () => {
              const dropped = await core.failUnfinished('the server stopped before this job started');
              if (dropped) log(`refunded ${dropped} queued job(s) at shutdown`);
            });
          }
          // An API-only process has jobs running elsewhere: its waiting clients get the whole grace for their answers.
          const answerMs = runner ? ANSWER_GRACE_MS : Math.max(ANSWER_GRACE_MS, closeOptions.graceMs ?? 0);
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([answered, new Promise<void>((resolve) => (timer = setTimeout(resolve, answerMs)))]);
          clearTimeout(timer);
          http?.closeAllConnections(); // what is left: event streams and idle keep-alive sockets
          await attempt(() => webhooks!.close());
          await core.close();
        })()),
    };
  } catch (err) {
    http?.close();
    await runner?.close(0).catch(() => undefined);
    await webhooks?.close().catch(() => undefined);
    await core.close();
    throw err;
  }
}

/** Binds the port, naming the setting when it cannot be had. */
async function listen(config: Config, fetch: (request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>): Promise<ServerType> {
  try {
    return await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch, port: config.port, hostname: config.host, serverOptions: answerServerOptions }, () => resolve(s));
      keepIdleConnectionsLonger(s);
      s.once('error', reject);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new DeploymentError(`DARKROOM_PORT=${config.port} on DARKROOM_HOST=${config.host}: ${code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'not allowed to bind it' : 'no such address here'} (${(err as Error).message})`);
    }
    throw err;
  }
}
