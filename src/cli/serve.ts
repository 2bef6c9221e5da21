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
          process.stderr.write(`darkroom: ${signal}, stopping\n`);
          server.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    },
  );
}
