import { SHIPPED_MODELS_DIR, type Config } from '../config/config.ts';
import { Engine } from './engine.ts';

export function engineFromConfig(config: Config, log: (message: string) => void = (m) => void process.stderr.write(`darkroom: ${m}\n`)): Engine {
  return new Engine({
    modelDirs: [config.modelsDir, SHIPPED_MODELS_DIR],
    lorasDir: config.lorasDir,
    provider: config.executionProvider,
    threads: config.threads,
    optimize: config.optimizeModels,
    fusions: config.fusions,
    fp16: config.fp16,
    deviceLoop: config.deviceLoop,
    safetyChecker: config.safetyChecker,
    log,
  });
}
