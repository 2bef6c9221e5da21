/**
 * `darkroom loras`: the LoRA adapters in the LoRA folder; `loras install`: one from a .safetensors file
 * or the Hugging Face Hub. Also the `--lora name[:weight]` flag of `darkroom generate`.
 */
import type { Command } from 'commander';
import { configFromFlags, withConfigFlags } from './config-flags.ts';
import { FlagError } from './flag-error.ts';

/** What the LoRA commands read: where the LoRA folder is (beside the models by default). */
export const LORA_SETTINGS = ['DARKROOM_DATA_DIR', 'DARKROOM_MODELS_DIR', 'DARKROOM_LORAS_DIR'] as const;

/** `--lora name[:weight]`, repeatable: each one adds to the list. */
export function loraFlag(value: string, previous: { name: string; weight: number }[] = []): { name: string; weight: number }[] {
  const at = value.lastIndexOf(':');
  const name = at > 0 ? value.slice(0, at) : value;
  const weight = at > 0 ? Number(value.slice(at + 1)) : 1;
  if (name.trim() === '' || (at > 0 && (value.slice(at + 1).trim() === '' || !Number.isFinite(weight)))) {
    throw new FlagError('--lora', `expected name or name:weight, the weight a number, got ${JSON.stringify(value)}`);
  }
  return [...previous, { name, weight }];
}

export function registerLoras(program: Command): void {
  const loras = withConfigFlags(program.command('loras').description('list installed LoRA adapters').option('--json', 'print JSON'), LORA_SETTINGS).action(
    async (opts: Record<string, unknown>) => {
      const config = configFromFlags(opts);
      const { LoraLibrary } = await import('../engine/lora/library.ts');
      const { loraUuid } = await import('../core/loras.ts');
      const listed = await new LoraLibrary(config.lorasDir).list();
      if (opts['json']) {
        const rows = listed.map((l) =>
          l.adapter ? { name: l.name, uuid: loraUuid(l.name), family: l.adapter.family ?? null, bytes: l.adapter.bytes, path: l.adapter.path } : { name: l.name, error: l.error },
        );
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      if (listed.length === 0) process.stdout.write(`no LoRAs in ${config.lorasDir}\n`);
      for (const l of listed) {
        if (!l.adapter) process.stdout.write(`!  ${l.name}: ${l.error}\n`);
        else process.stdout.write(`${l.name.padEnd(28)} ${(l.adapter.family ?? '?').padEnd(5)} ${(l.adapter.bytes / 1e6).toFixed(1).padStart(7)} MB  ${loraUuid(l.name)}\n`);
      }
    },
  );

  withConfigFlags(
    loras
      .command('install')
      .description(
        'install a LoRA adapter (.safetensors, kohya or diffusers/PEFT layout) into the LoRA folder from a file or the Hugging Face Hub ' +
          '(hf:owner/name[/file.safetensors][@revision]; HF_TOKEN for gated ones, HF_ENDPOINT for a mirror)',
      )
      .argument('<source>')
      .option('--name <name>', 'the name requests use (default: the file name without .safetensors)'),
    LORA_SETTINGS,
  ).action(async (source: string, _opts: unknown, cmd: Command) => {
    if (cmd.parent?.opts()['json']) throw new FlagError('--json', 'only `darkroom loras` (the list) prints JSON, not `loras install`');
    const opts = cmd.optsWithGlobals();
    const config = configFromFlags(opts);
    const { installLora } = await import('../engine/lora/install.ts');
    const { EngineInputError } = await import('../engine/errors.ts');
    try {
      const adapter = await installLora(source, config.lorasDir, typeof opts['name'] === 'string' ? opts['name'] : undefined, {
        onFile: (file, bytes) => process.stdout.write(`  ${file} (${(bytes / 1e6).toFixed(1)} MB)\n`),
      });
      const parts = new Set(adapter.modules.map((m) => m.component));
      process.stdout.write(`installed ${adapter.name} (${adapter.modules.length} modules: ${[...parts].join(', ')}; ${adapter.family ?? 'family not stated'}) in ${adapter.path}\n`);
    } catch (err) {
      if (err instanceof EngineInputError) throw new FlagError(err.field === 'name' ? '--name' : '<source>', err.message);
      throw err;
    }
  });
}
