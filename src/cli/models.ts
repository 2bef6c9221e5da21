/**
 * `darkroom models`: what the configured model folders hold; `models install`: a model from a folder or
 * the Hugging Face Hub; `models optimize`: the install-time rewrites made ahead of time.
 */
import type { Command } from 'commander';
import { SHIPPED_MODELS_DIR, type Config } from '../config/config.ts';
import { basename, resolve } from 'node:path';
import { fusionsFor } from '../engine/models/fuse-names.ts';
import type { ComponentReport } from '../engine/models/optimized.ts';
import { configFromFlags, MODEL_SETTINGS, withConfigFlags } from './config-flags.ts';
import { FlagError } from './flag-error.ts';

/** What optimising reads: the models, and the provider whose default decides float16. */
const OPTIMIZE_SETTINGS = [...MODEL_SETTINGS, 'DARKROOM_EXECUTION_PROVIDER', 'DARKROOM_FP16', 'DARKROOM_FUSIONS'];

// The model modules (and the ONNX protobuf code under them) load only when a command runs.
async function registryFor(config: Config) {
  const { ModelRegistry } = await import('../engine/models/registry.ts');
  return new ModelRegistry([config.modelsDir, SHIPPED_MODELS_DIR]);
}

/** `models --json optimize` parses --json as the list's flag, which the subcommands would ignore. */
function refuseListFlags(cmd: Command): void {
  if (cmd.parent?.opts()['json']) throw new FlagError('--json', `only \`darkroom models\` (the list) prints JSON, not \`models ${cmd.name()}\``);
}

export function registerModels(program: Command): void {
  const models = withConfigFlags(
    program.command('models').description('list installed models').option('--json', 'print JSON'),
    MODEL_SETTINGS,
  ).action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(opts);
    const models = await (await registryFor(config)).list();
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
    OPTIMIZE_SETTINGS,
  ).action(async (ids: string[], _opts: unknown, cmd: Command) => {
    refuseListFlags(cmd);
    // `models` takes the same flags, and commander gives a flag to the parent when both know it.
    const config = configFromFlags(cmd.optsWithGlobals());
    const { optimizeModel } = await import('../engine/models/optimized.ts');
    const registry = await registryFor(config);
    const infos = ids.length ? await Promise.all(ids.map((id) => registry.resolve(id))) : (await registry.list()).flatMap((m) => (m.info ? [m.info] : []));
    for (const info of infos) {
      printReports(info.manifest.id, await optimizeModel(info, { fuse: true, fp16: config.fp16, fusions: fusionsFor(config.executionProvider, config.fusions) }));
    }
  });
  registerInstall(models);
}

const STEP_NAMES = { fuse: 'attention', fp16: 'float16' } as const;

function printReports(id: string, components: ComponentReport[]): void {
  for (const c of components) {
    let input = c.original;
    const what = c.reports.map((r) => {
      const text = r.did ?? (r.path === input ? `${STEP_NAMES[r.step]}: nothing to do (checked before)` : `${STEP_NAMES[r.step]}: up to date`);
      input = r.path;
      return text;
    });
    process.stdout.write(`${id} ${c.component}: ${what.join('; ')}${c.path === c.original ? '' : ` (${c.path})`}\n`);
  }
}

function registerInstall(models: Command): void {
  withConfigFlags(
    models
      .command('install')
      .description(
        'install a model into the models folder from a local folder or a Hugging Face repository in the ONNX layout ' +
          '(hf:owner/name[@revision]; HF_TOKEN for gated ones, HF_ENDPOINT for a mirror), then make its optimised twins as the config asks',
      )
      .argument('<source>')
      .option('--name <folder>', 'folder name under the models folder (default: the repository or folder name)'),
    [...OPTIMIZE_SETTINGS, 'DARKROOM_OPTIMIZE_MODELS'],
  ).action(async (source: string, _opts: unknown, cmd: Command) => {
    refuseListFlags(cmd);
    const opts = cmd.optsWithGlobals();
    const config = configFromFlags(opts);
    const { installModel, parseHubSource } = await import('../engine/models/install.ts');
    const { optimizeModel } = await import('../engine/models/optimized.ts');
    const hub = parseHubSource(source);
    const name = typeof opts['name'] === 'string' ? opts['name'] : basename(hub ? hub.repo : resolve(source));
    const info = await installModel(source, config.modelsDir, name, {
      onFile: (file, bytes) => process.stdout.write(`  ${file} (${(bytes / 1e6).toFixed(1)} MB)\n`),
    });
    process.stdout.write(`installed ${info.manifest.id} (${info.manifest.family}) in ${info.dir}\n`);
    if (config.optimizeModels || config.fp16) printReports(info.manifest.id, await optimizeModel(info, { fuse: config.optimizeModels, fp16: config.fp16, fusions: fusionsFor(config.executionProvider, config.fusions) }));
  });
}

