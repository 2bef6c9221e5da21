/** `darkroom serve` (what `npm start` runs): the API and, unless --no-worker, a worker in the same process. */
import type { Command } from 'commander';
import { configFromFlags, settingsExcept, withConfigFlags } from './config-flags.ts';
import { untilSignal } from './signals.ts';

export function registerServe(program: Command): void {
  withConfigFlags(
    program
      .command('serve')
      .description('serve the API (Stablecog, Stability, Leonardo, OpenAI dialects) with a worker in the same process')
      .option('--no-worker', 'the API only: jobs go to `darkroom worker` processes (needs DARKROOM_REDIS_URL and Postgres)'),
    // The health port is a worker process's; serve answers /healthz and /readyz on its API port.
    settingsExcept('DARKROOM_HEALTH_PORT'),
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const { startServer } = await import('../server/server.ts');
    const server = await startServer(config, { worker: opts['worker'] !== false });
    process.stderr.write(
      `darkroom: listening on ${server.url} (docs: ${server.url}/docs), data in ${config.dataDir}, default model ${server.defaultModel}\n`,
    );
    await untilSignal(config.shutdownGrace, 'no new requests; running jobs get', 'the rest are requeued or refunded', (graceMs) => server.close({ graceMs }));
  });
}
