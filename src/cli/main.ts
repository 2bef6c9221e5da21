/** `darkroom <command>`: the one entry point for serving, working and one-shot generation. */
import { Command } from 'commander';
import { registerGenerate } from './generate.ts';
import { registerModels } from './models.ts';

const program = new Command('darkroom').description('Self-hostable text-to-image generation on ONNX Runtime');
registerGenerate(program);
registerModels(program);
await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`darkroom: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
