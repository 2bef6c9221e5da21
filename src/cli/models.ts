/** `darkroom models`: what the configured model folders hold; `darkroom models optimize`: their install-time rewrites made ahead of time. */
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
      .description(
        'rewrite models (id, folder name or path; all installed models when none) for speed, cached next to each model file: ' +
          'attention fused into MultiHeadAttention, and with --fp16 true (the default with --execution-provider cuda) float32 converted to float16',
      )
      .argument('[models...]'),
  ).action(async (ids: string[], _opts: unknown, cmd: Command) => {
    // `models` takes the same flags, and commander gives a flag to the parent when both know it.
    const config = configFromFlags(cmd.optsWithGlobals());
    const registry = new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]);
    const infos = ids.length ? await Promise.all(ids.map((id) => registry.resolve(id))) : (await registry.list()).flatMap((m) => (m.info ? [m.info] : []));
    for (const info of infos) {
      for (const c of await optimizeModel(info, { fuse: true, fp16: config.fp16 })) {
        let input = c.original;
        const what = c.reports.map((r) => {
          const text = r.did ?? (r.path === input ? `${STEP_NAMES[r.step]}: nothing to do (checked before)` : `${STEP_NAMES[r.step]}: up to date`);
          input = r.path;
          return text;
        });
        process.stdout.write(`${info.manifest.id} ${c.component}: ${what.join('; ')}${c.path === c.original ? '' : ` (${c.path})`}\n`);
      }
    }
  });
}

const STEP_NAMES = { fuse: 'attention', fp16: 'float16' } as const;
