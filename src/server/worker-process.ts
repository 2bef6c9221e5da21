/**
 * `darkroom worker`: a process that runs jobs and serves no API. It takes jobs from the shared
 * queue (BullMQ), announces the models it serves, and answers /healthz, /readyz (database, store,
 * Redis, default model loaded) and /metrics on its health port. close() lets running jobs finish
 * within the grace, then puts the rest back on the queue for another worker.
 */
import type { Config } from '../config/config.ts';
import { Engine } from '../engine/engine.ts';
import { databaseCheck, redisCheck, startHealthServer, storeCheck, type HealthServer } from '../api/ops.ts';
import { createLogger, loggerWritingTo, toLogFunction } from '../observability/logger.ts';
import type { ImageEngine } from '../worker/worker.ts';
import { checkDeployment, openCore, openEngines, runJobs } from './compose.ts';

export interface WorkerProcessOptions {
  log?: (message: string) => void;
  /** A stand-in engine (tests); by default the real one from the config. */
  engine?: ImageEngine & { dispose?: () => Promise<void> };
}

export interface WorkerHandle {
  /** The health port's URL. */
  healthUrl: string;
  defaultModel: string;
  close(options?: { graceMs?: number }): Promise<void>;
}

export async function startWorker(config: Config, options: WorkerProcessOptions = {}): Promise<WorkerHandle> {
  const logger = options.log ? loggerWritingTo(options.log, config.logLevel) : createLogger(config, { base: { role: 'worker' } });
  const log = toLogFunction(logger);
  checkDeployment(config, 'worker');
  const engines = await openEngines(config, log, options.engine);
  const core = await openCore(config, logger, log, engines);
  let health: HealthServer | undefined;
  try {
    const runner = await runJobs(core, engines);
    core.reaper.start();
    const engine = engines.engine;
    const modelLoaded = {
      name: 'model',
      // A real engine is ready once the default model's sessions are made (preloaded at start).
      check: async () => {
        if (engine instanceof Engine) await engine.model(engines.defaultModel);
      },
      timeoutMs: 1000,
    };
    health = await startHealthServer({
      port: config.healthPort,
      host: config.host,
      checks: [databaseCheck(core.db), storeCheck(core.store), redisCheck(core.backend), modelLoaded],
      metrics: core.metrics,
      logger,
    });
    let closing: Promise<void> | undefined;
    const server = health;
    return {
      healthUrl: server.url,
      defaultModel: engines.defaultModel,
      close: (closeOptions = {}) =>
        (closing ??= (async () => {
          await core.reaper.stop();
          await runner.close(closeOptions.graceMs ?? 0);
          await server.close();
          await core.close();
        })()),
    };
  } catch (err) {
    await health?.close().catch(() => undefined);
    await core.close();
    throw err;
  }
}
