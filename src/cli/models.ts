/** `darkroom models`: what the configured model folders hold. */
import type { Command } from 'commander';
import { SHIPPED_MODELS_DIR } from '../config/config.ts';
import { ModelRegistry } from '../engine/models/registry.ts';
import { configFromFlags, withConfigFlags } from './config-flags.ts';

export function registerModels(program: Command): void {
  withConfigFlags(
    program.command('models').description('list installed models').option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const models = await new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]).list();
    if (opts['json']) {
      process.stdout.write(JSON.stringify(models.map((m) => (m.info ? { ...m.info.manifest, dir: m.dir } : m)), null, 2) + '\n');
      return;
    }
    if (models.length === 0) process.stdout.write(`no models in ${config.modelsDir} or ${SHIPPED_MODELS_DIR}\n`);
    for (const m of models) {
      if (!m.info) {
        process.stdout.write(`!  ${m.dir}: ${m.error}\n`);
        continue;
      }
      const { id, name, family, defaults } = m.info.manifest;
      const mark = id === config.defaultModel ? '*' : ' ';
      process.stdout.write(
        `${mark} ${id.padEnd(24)} ${family.padEnd(6)} ${defaults.width}x${defaults.height} ${defaults.steps} steps ${defaults.scheduler.padEnd(10)} ${name}${m.info.inferred ? ' (no darkroom.json: defaults inferred)' : ''}\n`,
      );
    }
  });
}
