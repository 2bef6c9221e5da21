/**
 * `darkroom <command>`: the one entry point for serving, working and one-shot generation. Commands
 * register their flags from light modules and import what they run inside their action, so
 * `--help` and `--version` load neither onnxruntime, sharp nor the database.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { registerBench } from './bench.ts';
import { registerGenerate } from './generate.ts';
import { registerModels } from './models.ts';
import { registerLoras } from './loras.ts';
import { registerServe } from './serve.ts';
import { registerWorker } from './worker.ts';
import { registerKeys } from './keys.ts';
import { registerCredits } from './credits.ts';
import { registerOpenApi } from './openapi.ts';

const program = new Command('darkroom').description('Self-hostable text-to-image generation on ONNX Runtime').version(VERSION);
registerGenerate(program);
registerModels(program);
registerLoras(program);
registerBench(program);
registerServe(program);
registerWorker(program);
registerKeys(program);
registerCredits(program);
registerOpenApi(program);
await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`darkroom: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
