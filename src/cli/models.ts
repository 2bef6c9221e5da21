/** `darkroom models`: what the configured model folders hold; `darkroom models optimize`: fuse their attention ahead of time. */
import type { Command } from 'commander';
import { SHIPPED_MODELS_DIR } from '../config/config.ts';
import { optimizeModel } from '../engine/models/optimized.ts';
import { ModelRegistry } from '../engine/models/registry.ts';
import { configFromFlags, withConfigFlags } from './config-flags.ts';

export function registerModels(program: Command): void {
  const models = withConfigFlags(
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

  withConfigFlags(
    models
      .command('optimize')
      .description('fuse the attention of models (id, folder name or path; all installed models when none) into MultiHeadAttention, cached next to each model file')
      .argument('[models...]'),
  ).action(async (ids: string[], opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const registry = new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]);
    const infos = ids.length ? await Promise.all(ids.map((id) => registry.resolve(id))) : (await registry.list()).flatMap((m) => (m.info ? [m.info] : []));
    for (const info of infos) {
      for (const r of await optimizeModel(info)) {
        const what = !r.fused
          ? r.path === r.original ? 'nothing to fuse (checked before)' : 'up to date'
          : r.fused.attention === 0 ? 'nothing to fuse' : `${r.fused.attention} attention blocks fused, ${r.fused.nodesBefore} → ${r.fused.nodesAfter} nodes`;
        process.stdout.write(`${info.manifest.id} ${r.component}: ${what}${r.path === r.original ? '' : ` (${r.path})`}\n`);
      }
    }
  });
}
