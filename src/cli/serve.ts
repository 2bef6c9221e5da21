/** `darkroom serve` (what `npm start` runs): the API and an in-process worker. */
import type { Command } from 'commander';
import { startServer } from '../server/server.ts';
import { configFromFlags, withConfigFlags } from './config-flags.ts';

export function registerServe(program: Command): void {
  withConfigFlags(program.command('serve').description('serve the API (Stablecog dialect) with an in-process worker')).action(
    async (opts: Record<string, unknown>) => {
      const config = configFromFlags(opts);
      const server = await startServer(config);
      process.stderr.write(
        `darkroom: listening on ${server.url} (docs: ${server.url}/docs), data in ${config.dataDir}, default model ${server.defaultModel}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`darkroom: ${signal}: no new requests; running jobs get ${config.shutdownGrace} s to finish (DARKROOM_SHUTDOWN_GRACE), the rest are refunded\n`);
          server.close({ graceMs: config.shutdownGrace * 1000 }).then(resolve, resolve);
          // A second signal does not wait for the grace.
          const now = (again: string) => {
            process.stderr.write(`darkroom: ${again} again: stopping now\n`);
            process.exit(1);
          };
          process.once('SIGINT', now);
          process.once('SIGTERM', now);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      process.stderr.write('darkroom: stopped\n');
      process.exit(0); // every service is closed: whatever handle a native library keeps open must not hold the process
    },
  );
}
