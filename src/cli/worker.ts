/** `darkroom worker`: runs jobs from the shared queue (scaled mode); no public API, a health port. */
import type { Command } from 'commander';
import { configFromFlags, settingsExcept, withConfigFlags } from './config-flags.ts';
import { untilSignal } from './signals.ts';

export function registerWorker(program: Command): void {
  withConfigFlags(
    program.command('worker').description('run jobs from the shared queue (needs DARKROOM_REDIS_URL and Postgres); health on DARKROOM_HEALTH_PORT'),
    // A worker serves no API: its one port is --health-port.
    settingsExcept('DARKROOM_PORT'),
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const { startWorker } = await import('../server/worker-process.ts');
    const worker = await startWorker(config);
    process.stderr.write(`darkroom worker: running (health: ${worker.healthUrl}/readyz), default model ${worker.defaultModel}\n`);
    await untilSignal(config.shutdownGrace, 'running jobs get', 'the rest go back to the queue', (graceMs) => worker.close({ graceMs }));
  });
}
